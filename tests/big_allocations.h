#pragma once
// Replaces the global operator new and delete of the test program that includes this header (in
// one file only) to count the requests of 64 KiB and more: where tensor data and big vectors live,
// so that a test can see a copy or a grown buffer that should not be there.

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace big_allocations {

constexpr std::size_t kBig = std::size_t{64} << 10;
inline std::atomic<long> blocks{0};          // requests of kBig bytes and more
inline std::atomic<std::size_t> bytes{0};    // and the bytes they asked for

inline void* allocate(std::size_t n, std::size_t align) {
  if (n >= kBig) {
    blocks.fetch_add(1, std::memory_order_relaxed);
    bytes.fetch_add(n, std::memory_order_relaxed);
  }
  if (n == 0) n = 1;
  void* p = align <= alignof(std::max_align_t) ? std::malloc(n) : std::aligned_alloc(align, (n + align - 1) / align * align);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

}  // namespace big_allocations

void* operator new(std::size_t n) { return big_allocations::allocate(n, alignof(std::max_align_t)); }
void* operator new[](std::size_t n) { return big_allocations::allocate(n, alignof(std::max_align_t)); }
void* operator new(std::size_t n, std::align_val_t a) { return big_allocations::allocate(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return big_allocations::allocate(n, static_cast<std::size_t>(a)); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
