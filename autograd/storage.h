#pragma once
// Storage: the memory behind one or more tensors, and its version counter.
// A tensor is a strided window (sizes, strides, offset) onto a Storage; views share their base's
// Storage, and with it the version counter that in-place ops bump. Every non-view op allocates a
// fresh one. The memory is an xtensor buffer, small ones inside the Storage's own block, or memory
// owned elsewhere (from_blob).
// Internal header: ops include it, users do not need to.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <new>
#include <variant>

#include <xtensor/xstorage.hpp>

#include "ag/autograd/dtype.h"
#include "ag/autograd/pool.h"

namespace ag {

struct Storage {
  template <class T>
  using Vector = xt::uvector<T, detail::PoolAllocator<T>>;
  using Buffer = std::variant<std::monostate, Vector<float>, Vector<double>, Vector<std::int64_t>, Vector<bool>>;

  /// `n` uninitialised elements of `dtype`. A small buffer lives in the Storage's own block (one
  /// allocation for both), a bigger one is an xtensor buffer over the pool.
  static std::shared_ptr<Storage> make(Dtype dtype, std::size_t n);

  /// `nbytes` of memory owned elsewhere; `deleter` (may be empty) runs when the last tensor
  /// using it goes away.
  static std::shared_ptr<Storage> wrap(void* data, std::size_t nbytes, std::function<void(void*)> deleter) {
    auto s = std::allocate_shared<Storage>(detail::PoolAllocator<Storage>());
    s->data = data;
    s->nbytes = nbytes;
    s->deleter = std::move(deleter);
    return s;
  }

  Storage() noexcept {}  // user-provided: allocate_shared would otherwise zero the block first
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() {
    if (deleter) deleter(data);
  }

  void* data = nullptr;
  std::size_t nbytes = 0;
  std::function<void(void*)> deleter;
  Buffer buffer;  // a bigger tensor's data (empty when the data is inline or wrapped)
  /// Bumped by every in-place write; saved tensors compare against it in backward. Atomic: threads
  /// that share parameters read it while another may write.
  std::atomic<std::uint32_t> version{0};
};

namespace detail {

/// A Storage with room for `N` bytes of data in the same block.
template <std::size_t N>
struct InlineStorage : Storage {
  InlineStorage() noexcept {}  // leaves `bytes` uninitialised, as every new tensor's data is
  alignas(16) unsigned char bytes[N];
};

template <std::size_t N>
std::shared_ptr<Storage> make_inline_storage(std::size_t nbytes) {
  auto s = std::allocate_shared<InlineStorage<N>>(PoolAllocator<InlineStorage<N>>());
  s->data = s->bytes;
  s->nbytes = nbytes;
  return s;
}

}  // namespace detail

inline std::shared_ptr<Storage> Storage::make(Dtype dtype, std::size_t n) {
  const std::size_t esize = element_size(dtype);
  if (n > static_cast<std::size_t>(PTRDIFF_MAX) / esize) throw std::bad_array_new_length();
  const std::size_t nbytes = n * esize;
  if (nbytes <= 16) return detail::make_inline_storage<16>(nbytes);
  if (nbytes <= 64) return detail::make_inline_storage<64>(nbytes);
  if (nbytes <= 256) return detail::make_inline_storage<256>(nbytes);
  auto s = std::allocate_shared<Storage>(detail::PoolAllocator<Storage>());
  switch (dtype) {
    case Dtype::Float32: s->data = s->buffer.emplace<1>(n).data(); break;
    case Dtype::Float64: s->data = s->buffer.emplace<2>(n).data(); break;
    case Dtype::Int64: s->data = s->buffer.emplace<3>(n).data(); break;
    case Dtype::Bool: s->data = s->buffer.emplace<4>(n).data(); break;
  }
  s->nbytes = nbytes;
  return s;
}

}  // namespace ag
