#pragma once
// Storage: the memory behind one or more tensors, and its version counter.
// A tensor is a strided window (sizes, strides, offset) onto a Storage; views share their base's
// Storage, and with it the version counter that in-place ops bump. Every non-view op allocates a
// fresh one. The memory is an xtensor buffer, or memory owned elsewhere (from_blob).
// Internal header: ops include it, users do not need to.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <variant>

#include <xtensor/xstorage.hpp>

#include "ag/autograd/dtype.h"
#include "ag/autograd/pool.h"

namespace ag {

struct Storage {
  template <class T>
  using Vector = xt::uvector<T, detail::PoolAllocator<T>>;
  using Buffer = std::variant<std::monostate, Vector<float>, Vector<double>, Vector<std::int64_t>, Vector<bool>>;

  /// `n` uninitialised elements of `dtype`.
  static std::shared_ptr<Storage> make(Dtype dtype, std::size_t n) {
    auto s = std::allocate_shared<Storage>(detail::PoolAllocator<Storage>());
    switch (dtype) {
      case Dtype::Float32: s->buffer.emplace<1>(n); break;
      case Dtype::Float64: s->buffer.emplace<2>(n); break;
      case Dtype::Int64: s->buffer.emplace<3>(n); break;
      case Dtype::Bool: s->buffer.emplace<4>(n); break;
    }
    s->data = std::visit(
        [](auto& b) -> void* {
          if constexpr (std::is_same_v<std::decay_t<decltype(b)>, std::monostate>) return nullptr;
          else return b.data();
        },
        s->buffer);
    s->nbytes = n * element_size(dtype);
    return s;
  }

  /// `nbytes` of memory owned elsewhere; `deleter` (may be empty) runs when the last tensor
  /// using it goes away.
  static std::shared_ptr<Storage> wrap(void* data, std::size_t nbytes, std::function<void(void*)> deleter) {
    auto s = std::allocate_shared<Storage>(detail::PoolAllocator<Storage>());
    s->data = data;
    s->nbytes = nbytes;
    s->deleter = std::move(deleter);
    return s;
  }

  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() {
    if (deleter) deleter(data);
  }

  Buffer buffer;
  void* data = nullptr;
  std::size_t nbytes = 0;
  std::function<void(void*)> deleter;
  /// Bumped by every in-place write; saved tensors compare against it in backward. Atomic: threads
  /// that share parameters read it while another may write.
  std::atomic<std::uint32_t> version{0};
};

}  // namespace ag
