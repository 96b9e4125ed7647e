#pragma once
// A thread-local pool for the small blocks every op allocates (tensor handles, storages, graph
// nodes, the data of small tensors). A training step of a small model allocates and frees the
// same few sizes thousands of times; malloc's own per-thread cache holds only a handful of blocks
// per size, so without a pool most of them go through its slower shared path.

#include <cstddef>
#include <cstdint>
#include <new>

namespace ag::detail {

/// Largest block served from the pool's inline fast path (16-byte classes). Blocks up to 16 KiB
/// have lists of their own in 256-byte classes, bigger ones an exact-size cache (pool.cpp).
inline constexpr std::size_t kPoolMaxBytes = 512;

void* pool_allocate(std::size_t bytes);
void pool_deallocate(void* p, std::size_t bytes) noexcept;

/// A standard allocator over the pool, for std::allocate_shared and xt::uvector.
template <class T>
struct PoolAllocator {
  using value_type = T;
  PoolAllocator() = default;
  template <class U>
  PoolAllocator(const PoolAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    if (n > static_cast<std::size_t>(PTRDIFF_MAX) / sizeof(T)) throw std::bad_array_new_length();
    return static_cast<T*>(pool_allocate(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept { pool_deallocate(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const PoolAllocator<U>&) const noexcept {
    return true;
  }
  template <class U>
  bool operator!=(const PoolAllocator<U>&) const noexcept {
    return false;
  }
};

}  // namespace ag::detail
