#pragma once
// TensorImpl: what a Tensor handle points to. Internal header for ops and the engine.
//
// A tensor is a strided window onto a Storage: element [i0, i1, ...] lives at
// storage[offset + i0 * strides[0] + i1 * strides[1] + ...]. Ops that make new data make it
// contiguous (row-major, offset 0); view ops (transpose, select, slice, expand, ...) make new
// sizes/strides/offset over the same Storage and remember the tensor they view (`base`).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "ag/autograd/storage.h"
#include "ag/autograd/tensor.h"

namespace ag {

struct HookList;
struct PostAccumulateHookList;

/// The parts of a row-sparse tensor (an Embedding's sparse gradient): row indices [nnz] (int64)
/// and their values [nnz, ...]; rows may repeat until coalesced. The tensor's shape is the dense one.
struct SparseParts {
  Tensor indices;
  Tensor values;
  bool coalesced = false;
};

/// How a view was made, for PyTorch's rules on in-place ops through views.
enum class ViewCreation : std::uint8_t {
  Default,
  NoGrad,       // made under NoGradGuard from a tensor that requires grad
  MultiOutput,  // one of several views of one call (split, chunk, unbind)
};

struct TensorImpl {
  // User-provided, so that allocate_shared initialises the fields below one by one instead of
  // zeroing the whole block first.
  TensorImpl() noexcept {}

  std::shared_ptr<Storage> storage;
  void* data = nullptr;  // the element at index [0, ..., 0]: storage->data + offset elements
  Shape shape;
  Shape strides;           // in elements, one per dimension
  std::int64_t offset = 0;  // where the window starts in the storage, in elements
  std::int64_t numel = 0;
  Dtype dtype = kFloat32;
  bool contiguous = true;      // row-major without gaps (strides of size-1 dims do not matter)
  bool requires_grad = false;  // set on leaves by the user
  bool retains_grad = false;   // retain_grad() on a non-leaf
  ViewCreation view_creation = ViewCreation::Default;
  // For a view: the tensor it views (never itself a view: views of views point at the first
  // base), and the storage version at which grad_fn was last derived from it. An in-place
  // change of the base or of another view makes grad_fn stale; detail::grad_fn_of renews it.
  std::shared_ptr<TensorImpl> base;
  std::uint32_t view_version = 0;
  std::shared_ptr<Node> grad_fn;
  std::uint32_t output_nr = 0;  // which output of grad_fn this tensor is
  Tensor grad;
  std::shared_ptr<HookList> hooks;  // gradient hooks of a leaf (a non-leaf's live on its grad_fn)
  std::shared_ptr<PostAccumulateHookList> post_accumulate_hooks;  // of a leaf
  std::shared_ptr<SparseParts> sparse;  // set for a sparse tensor, which has no strided data

  ~TensorImpl();
};

namespace detail {

/// Whether sizes/strides describe a row-major layout with no gaps (size-1 dims ignored).
inline bool compute_contiguous(const Shape& shape, const Shape& strides) {
  std::int64_t expected = 1;
  for (std::size_t i = shape.size(); i-- > 0;) {
    if (shape[i] == 0) return true;
    if (shape[i] == 1) continue;
    if (strides[i] != expected) return false;
    expected *= shape[i];
  }
  return true;
}

inline void set_geometry(TensorImpl& t, const Shape& shape, const Shape& strides, std::int64_t offset) {
  t.shape = shape;
  t.strides = strides;
  t.offset = offset;
  t.numel = shape.numel();
  t.contiguous = compute_contiguous(shape, strides);
  t.data = static_cast<char*>(t.storage->data) + offset * static_cast<std::int64_t>(element_size(t.dtype));
}

/// A new contiguous tensor with uninitialised data.
inline Tensor make_tensor(const Shape& shape, Dtype dtype) {
  const std::int64_t numel = shape.numel();
  // Sizes come from users (zeros({n}), one_hot(x, n), ...): a negative count or a byte count past
  // what a pointer difference can hold would wrap into a too-small buffer.
  AG_CHECK(numel >= 0 && static_cast<std::uint64_t>(numel) <= PTRDIFF_MAX / element_size(dtype),
           "cannot make a ", dtype, " tensor of shape ", shape, ": ", numel, " elements");
  auto impl = std::allocate_shared<TensorImpl>(PoolAllocator<TensorImpl>());
  impl->storage = Storage::make(dtype, static_cast<std::size_t>(numel));
  impl->data = impl->storage->data;
  impl->shape = shape;
  impl->strides = shape;  // row-major strides, computed in place
  for (std::size_t i = shape.size(), acc = 1; i-- > 0;) {
    impl->strides[i] = static_cast<std::int64_t>(acc);
    acc *= shape[i] > 1 ? static_cast<std::size_t>(shape[i]) : 1;
  }
  impl->numel = numel;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

/// A new tensor with uninitialised data laid out like `like` when that layout is dense (a
/// permutation of row-major, as a transposed matrix), else contiguous: PyTorch's
/// preserve_format, used by clone and for gradients that must match a parameter's layout.
Tensor make_tensor_like(const Tensor& like, Dtype dtype);

/// A tensor over `src`'s storage with the given window (no graph, no base): for save_output,
/// detach and internal reinterpretation.
inline Tensor make_alias(const Tensor& src, const Shape& shape, const Shape& strides, std::int64_t offset) {
  auto impl = std::allocate_shared<TensorImpl>(PoolAllocator<TensorImpl>());
  const TensorImpl& s = *src.impl();
  impl->storage = s.storage;
  impl->dtype = s.dtype;
  set_geometry(*impl, shape, strides, offset);
  return Tensor(std::move(impl));
}
inline Tensor make_alias(const Tensor& src) {
  const TensorImpl& s = *src.impl();
  return make_alias(src, s.shape, s.strides, s.offset);
}

/// A view of `src` (no graph yet: the view op records its own node): same storage, the given
/// window, `base` set to src's base or src itself.
Tensor make_view(const Tensor& src, const Shape& shape, const Shape& strides, std::int64_t offset,
                 ViewCreation creation = ViewCreation::Default);

/// Records an in-place write: saved copies of this data (and of its views) are now stale.
inline void bump_version(const Tensor& t) { t.mark_modified(); }

/// Gives a view whose base changed in place since its node was made a node from the base's
/// current history (PyTorch regenerates it the same way, as AsStridedBackward0).
void renew_view_grad_fn(TensorImpl& view);

/// The node that computed `t` (null for a leaf), renewed first for a stale view.
inline const std::shared_ptr<Node>& grad_fn_of(TensorImpl& t) {
  if (t.base && t.view_version != t.storage->version) renew_view_grad_fn(t);
  return t.grad_fn;
}

/// Copies src's values into dst (any layouts), src broadcast to dst's shape and converted to
/// its dtype. No graph, no version bump: callers decide.
void copy_values(const Tensor& dst, const Tensor& src);

/// Runs a tensor's gradient hooks in order (each may replace the gradient).
Tensor run_hooks(const HookList* hooks, Tensor grad);
/// Adds one backward pass's total gradient into a leaf's .grad (PyTorch's AccumulateGrad), then
/// runs the leaf's post-accumulate-grad hooks. Serialised per leaf: threads may share leaves.
void accumulate_into_leaf(const std::shared_ptr<TensorImpl>& leaf, Tensor grad, bool create_graph);

[[noreturn]] void throw_sparse(const TensorImpl& t);

/// Whether t is sparse (cheap: for the ops that treat sparse tensors apart).
inline bool is_sparse(const Tensor& t) { return t.impl() && t.impl()->sparse; }

/// `t` itself when contiguous, else a contiguous copy of its values (no graph): for kernels that
/// walk raw rows.
inline Tensor contiguous_data(const Tensor& t) {
  if (t.impl()->sparse) throw_sparse(*t.impl());
  if (t.impl()->contiguous) return t;
  Tensor out = make_tensor(t.impl()->shape, t.impl()->dtype);
  copy_values(out, t);
  return out;
}

template <class T>
T* data(const Tensor& t) {
  if (t.impl()->sparse) throw_sparse(*t.impl());
  return static_cast<T*>(t.impl()->data);
}

/// A sparse tensor of dense shape `shape` from row indices [nnz] and values [nnz, shape[1:]]
/// (both contiguous, checked by the caller).
Tensor make_sparse(Tensor indices, Tensor values, const Shape& shape, bool coalesced);

// The sparse halves of the dense ops (ops/sparse.cpp): the dense op calls them when an argument
// is sparse, so that every user of add/mul/clone/... gets sparse support from the same entry point.
Tensor sparse_add(const Tensor& a, const Tensor& b, double alpha);    // a + alpha * b
Tensor& sparse_add_(Tensor& self, const Tensor& other, double alpha);  // self += alpha * other
/// A sparse tensor with f(values) as values: for the ops that keep zeros zero (mul and div by
/// a number, neg).
Tensor sparse_map_values(const Tensor& t, const char* op, const std::function<Tensor(const Tensor&)>& f);
Tensor& sparse_map_values_(Tensor& t, const char* op, const std::function<Tensor(const Tensor&)>& f);
Tensor& sparse_zero_(Tensor& t);
Tensor sparse_clone(const Tensor& t);
Tensor sparse_alias(const Tensor& t);  // detach
Tensor sparse_to(const Tensor& t, Dtype dtype);
Tensor sparse_norm(const Tensor& t, double p);
std::string sparse_str(const Tensor& t);

}  // namespace detail
}  // namespace ag
