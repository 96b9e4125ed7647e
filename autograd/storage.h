#pragma once
// Storage: the xtensor buffer behind one or more tensors, and its version counter.
// Views (reshape, view, squeeze, unsqueeze, flatten, detach) share a Storage; every other op
// allocates a fresh one. Internal header: ops include it, users do not need to.

#include <cstdint>
#include <memory>
#include <variant>

#include <xtensor/xstorage.hpp>

#include "ag/autograd/dtype.h"
#include "ag/autograd/pool.h"

namespace ag {

struct Storage {
  template <class T>
  using Vector = xt::uvector<T, detail::PoolAllocator<T>>;
  using Buffer = std::variant<Vector<float>, Vector<double>, Vector<std::int64_t>>;

  /// `n` uninitialised elements of `dtype`.
  static std::shared_ptr<Storage> make(Dtype dtype, std::size_t n) {
    auto s = std::allocate_shared<Storage>(detail::PoolAllocator<Storage>());
    switch (dtype) {
      case Dtype::Float32: s->buffer.emplace<0>(n); break;
      case Dtype::Float64: s->buffer.emplace<1>(n); break;
      case Dtype::Int64: s->buffer.emplace<2>(n); break;
    }
    s->data = std::visit([](auto& b) -> void* { return b.data(); }, s->buffer);
    return s;
  }

  Buffer buffer;
  void* data = nullptr;
  /// Bumped by every in-place write; saved tensors compare against it in backward.
  std::uint32_t version = 0;
};

}  // namespace ag
