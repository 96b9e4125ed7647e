#pragma once
// TensorImpl: what a Tensor handle points to. Internal header for ops and the engine.

#include <cstddef>
#include <cstdint>
#include <memory>

#include "ag/autograd/storage.h"
#include "ag/autograd/tensor.h"

namespace ag {

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  void* data = nullptr;  // into storage: every tensor is contiguous, a view may start past its beginning
  Shape shape;
  std::int64_t numel = 0;
  Dtype dtype = kFloat32;
  bool requires_grad = false;  // set on leaves by the user
  bool retains_grad = false;   // retain_grad() on a non-leaf
  bool is_view = false;        // shares its storage with the tensor it was viewed from
  std::shared_ptr<Node> grad_fn;
  Tensor grad;
  std::shared_ptr<HookList> hooks;  // hooks of a leaf (a non-leaf's live on its grad_fn)
  std::int32_t backward_slot = -1;  // engine scratch during one backward pass

  ~TensorImpl();
};

namespace detail {

/// A new contiguous tensor with uninitialised data.
inline Tensor make_tensor(const Shape& shape, Dtype dtype) {
  const std::int64_t numel = shape.numel();
  // Sizes come from users (zeros({n}), one_hot(x, n), ...): a negative count or a byte count past
  // what a pointer difference can hold would wrap into a too-small buffer.
  AG_CHECK(numel >= 0 && static_cast<std::uint64_t>(numel) <= PTRDIFF_MAX / element_size(dtype),
           "cannot make a ", dtype, " tensor of shape ", shape, ": ", numel, " elements");
  auto impl = std::allocate_shared<TensorImpl>(PoolAllocator<TensorImpl>());
  impl->numel = numel;
  impl->storage = Storage::make(dtype, static_cast<std::size_t>(impl->numel));
  impl->data = impl->storage->data;
  impl->shape = shape;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

/// A new tensor sharing `src`'s storage (no graph): `shape` over the contiguous elements that
/// start `offset` elements into src.
inline Tensor make_alias(const Tensor& src, const Shape& shape, std::int64_t offset = 0) {
  auto impl = std::allocate_shared<TensorImpl>(PoolAllocator<TensorImpl>());
  const TensorImpl& s = *src.impl();
  impl->storage = s.storage;
  impl->data = static_cast<char*>(s.data) + offset * static_cast<std::int64_t>(element_size(s.dtype));
  impl->shape = shape;
  impl->numel = shape.numel();
  impl->dtype = s.dtype;
  impl->is_view = true;
  return Tensor(std::move(impl));
}

/// Records an in-place write: saved copies of this data (and of its views) are now stale.
inline void bump_version(const Tensor& t) { ++t.impl()->storage->version; }

template <class T>
T* data(const Tensor& t) {
  return static_cast<T*>(t.impl()->data);
}

}  // namespace detail
}  // namespace ag
