#pragma once
// Tensor: a cheap, shared handle to an n-d array that can record the operations applied to it.

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "ag/autograd/dtype.h"
#include "ag/autograd/shape.h"

namespace ag {

class Node;
class Generator;
class Tensor;
struct Storage;
class HookRegistry;

/// A number passed to an op: integral or floating, like PyTorch's Python scalars.
///
///     x * 2      // int64 stays int64, float32 stays float32
///     x * 0.5    // int64 becomes float32
class Scalar {
 public:
  Scalar(double v) : d_(v), i_(convert<std::int64_t>(v)), integral_(false) {}
  Scalar(float v) : Scalar(static_cast<double>(v)) {}
  Scalar(int v) : d_(v), i_(v), integral_(true) {}
  Scalar(long v) : d_(static_cast<double>(v)), i_(v), integral_(true) {}
  Scalar(long long v) : d_(static_cast<double>(v)), i_(static_cast<std::int64_t>(v)), integral_(true) {}
  Scalar(unsigned v) : d_(v), i_(v), integral_(true) {}
  Scalar(unsigned long v) : d_(static_cast<double>(v)), i_(static_cast<std::int64_t>(v)), integral_(true) {}
  Scalar(bool v) : d_(v), i_(v), integral_(true), bool_(true) {}

  double to_double() const { return d_; }
  std::int64_t to_int() const { return i_; }
  /// True for integers and bools (a bool is the lowest category, as in PyTorch).
  bool is_integral() const { return integral_; }
  bool is_bool() const { return bool_; }
  template <class T>
  T to() const {
    if constexpr (std::is_same_v<T, bool>) return d_ != 0;
    else if constexpr (std::is_integral_v<T>) return static_cast<T>(i_);  // i_ is d_ converted when not integral
    else return static_cast<T>(d_);
  }

 private:
  double d_;
  std::int64_t i_;
  bool integral_;
  bool bool_ = false;
};

/// How to make a tensor: its dtype and whether it requires grad. Chaining setters, as LibTorch.
///
///     ag::zeros({2, 3}, ag::TensorOptions().dtype(ag::kFloat64).requires_grad(true));
///     ag::randn({2, 5}, ag::requires_grad());
///     ag::ones({3}, ag::kInt64);      // a Dtype converts to options
class TensorOptions {
 public:
  TensorOptions() = default;
  TensorOptions(Dtype d) : dtype_(d), has_dtype_(true) {}
  TensorOptions dtype(Dtype d) const {
    TensorOptions o = *this;
    o.dtype_ = d;
    o.has_dtype_ = true;
    return o;
  }
  TensorOptions requires_grad(bool r) const {
    TensorOptions o = *this;
    o.requires_grad_ = r;
    return o;
  }
  Dtype dtype() const { return dtype_; }
  bool has_dtype() const { return has_dtype_; }
  bool requires_grad() const { return requires_grad_; }

 private:
  Dtype dtype_ = kFloat32;
  bool has_dtype_ = false;
  bool requires_grad_ = false;
};

inline TensorOptions dtype(Dtype d) { return TensorOptions(d); }
inline TensorOptions requires_grad(bool r = true) { return TensorOptions().requires_grad(r); }

/// A read-only or writable window onto a contiguous tensor's elements, in row-major order.
template <class T>
class ArrayRef {
 public:
  ArrayRef(T* data, std::size_t size) : data_(data), size_(size) {}
  T* data() const { return data_; }
  std::size_t size() const { return size_; }
  T& operator[](std::size_t i) const { return data_[i]; }
  T* begin() const { return data_; }
  T* end() const { return data_ + size_; }
  std::vector<std::remove_const_t<T>> vec() const { return {data_, data_ + size_}; }

 private:
  T* data_;
  std::size_t size_;
};

/// A gradient hook: receives the gradient, returns a replacement or an undefined Tensor to keep it.
using HookFn = std::function<Tensor(const Tensor&)>;
/// A hook run after a leaf's .grad was updated by a backward pass; receives the leaf.
using PostAccumulateGradHookFn = std::function<void(const Tensor&)>;

/// Something hooks are registered with (a tensor, a node, a module): removes them by id.
class HookRegistry : public std::enable_shared_from_this<HookRegistry> {
 public:
  virtual ~HookRegistry() = default;
  virtual void remove(std::uint64_t id) = 0;
};

/// Returned by every register_*hook; `remove()` unregisters the hook (a no-op when it, or what
/// it was registered with, is already gone).
///
///     auto h = x.register_hook([](const ag::Tensor& g) { return g * 2; });
///     h.remove();
class HookHandle {
 public:
  HookHandle() = default;
  HookHandle(std::weak_ptr<HookRegistry> registry, std::uint64_t id) : registry_(std::move(registry)), id_(id) {}
  void remove();

 private:
  std::weak_ptr<HookRegistry> registry_;
  std::uint64_t id_ = 0;
};

/// The state behind a Tensor handle. Users never touch it; ops and the engine do.
struct TensorImpl;

/// PyTorch's indexing in C++, with LibTorch's names: `x.index({Slice(1, None, 2), 0, None, Ellipsis})`
/// is Python's `x[1::2, 0, None, ...]`.
namespace indexing {

/// `None` in an index list inserts a dimension of size 1; in a Slice it leaves a bound open.
inline constexpr std::nullopt_t None = std::nullopt;

struct EllipsisIndexType {};
/// `...`: as many full slices as the other indices leave dimensions.
inline constexpr EllipsisIndexType Ellipsis;

/// Python's start:stop:step (step > 0); a bound left as None is open.
///
///     x.index({Slice(), Slice(None, 2)})   // x[:, :2]
class Slice {
 public:
  Slice(std::optional<std::int64_t> start = std::nullopt, std::optional<std::int64_t> stop = std::nullopt,
        std::optional<std::int64_t> step = std::nullopt)
      : start_(start), stop_(stop), step_(step.value_or(1)) {}
  std::optional<std::int64_t> start() const { return start_; }
  std::optional<std::int64_t> stop() const { return stop_; }
  std::int64_t step() const { return step_; }

 private:
  std::optional<std::int64_t> start_, stop_;
  std::int64_t step_;
};

/// One entry of an index list: an integer, a Slice, None, Ellipsis, a bool, or a tensor of
/// int64 indices or of a bool mask.
class TensorIndex;

}  // namespace indexing

/// An n-d array of float32, float64 or int64 that records, when asked, how it was computed.
///
/// A Tensor is a handle: copies share the same data and gradient, as in PyTorch
/// (`Tensor b = a; b.add_(1)` changes `a` too). Use `clone()` for an independent copy.
///
///     auto x = ag::tensor({1.0, 2.0, 3.0}, ag::requires_grad());
///     auto y = (x * x).sum();
///     y.backward();
///     std::cout << x.grad();   // tensor([2., 4., 6.])
class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  Tensor(const Tensor&) = default;
  Tensor(Tensor&&) noexcept = default;
  ~Tensor() = default;
  /// Rebinds this handle, as `b = a` does in Python.
  Tensor& operator=(const Tensor& other) & = default;
  Tensor& operator=(Tensor&& other) & noexcept = default;
  /// On a temporary (`x[0] = t`, `x.index({...}) = t`), copies into the view it is, with
  /// broadcasting, as LibTorch does: the same as `x[0].copy_(t)`.
  Tensor& operator=(const Tensor& other) &&;
  Tensor& operator=(Tensor&& other) &&;
  /// `x[0] = 7`: fills the view.
  Tensor& operator=(Scalar value) &&;

  // ---- metadata -------------------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  const Shape& sizes() const { return shape(); }
  std::int64_t size(std::int64_t dim) const;
  std::int64_t dim() const { return static_cast<std::int64_t>(shape().size()); }
  std::int64_t numel() const;
  Dtype dtype() const;
  bool is_floating_point() const { return is_floating(dtype()); }
  /// Steps, in elements, between neighbours along each dimension: {3, 1} for a contiguous
  /// [2, 3] tensor, {1, 3} for its transpose.
  const Shape& strides() const;
  std::int64_t stride(std::int64_t dim) const;
  /// Where this tensor's first element sits in its storage, in elements.
  std::int64_t storage_offset() const;
  /// Row-major without gaps: what `data()` and raw loops over numel() elements need.
  bool is_contiguous() const;
  /// True for the result of a view op (transpose, select, slice, view, expand, ...): it shares
  /// the storage of `_base()`, and writes go through to it.
  bool is_view() const;
  /// The tensor this view views (undefined for a non-view).
  Tensor _base() const;
  /// True when both tensors use the same storage (one is a view of the other, or both of a third).
  bool is_alias_of(const Tensor& other) const;
  /// Version of the underlying data, bumped by every in-place op (shared by a view and its base).
  std::uint32_t version() const;
  /// True when both handles refer to the same tensor.
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

  // ---- data access ----------------------------------------------------------------------
  /// Pointer to the first element (index [0, ..., 0]); T must match dtype() exactly. Element
  /// [i, j] of a 2-d tensor is at data_ptr<T>()[i * stride(0) + j * stride(1)].
  template <class T>
  T* data_ptr() const;
  /// The elements in row-major order, writable; T must match dtype() and the tensor must be
  /// contiguous (call contiguous() first).
  template <class T>
  ArrayRef<T> data() const;
  /// data_ptr for code that writes through the pointer: call mark_modified() after writing, so
  /// that backward passes that saved this data notice (as every in-place op does).
  ///
  ///     float* p = w.mutable_data_ptr<float>();  // w contiguous, under NoGradGuard
  ///     for (std::int64_t i = 0; i < w.numel(); ++i) p[i] *= 0.5f;
  ///     w.mark_modified();
  template <class T>
  T* mutable_data_ptr() const {
    return data_ptr<T>();
  }
  template <class T>
  const T* const_data_ptr() const {
    return data_ptr<T>();
  }
  /// The first element's bytes, whatever the dtype (for file formats and collectives), and the
  /// bytes a contiguous tensor of this size holds: numel() * element_size(dtype()).
  void* mutable_raw_data() const;
  const void* raw_data() const { return mutable_raw_data(); }
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * element_size(dtype()); }
  /// Records a write into the data made through a raw pointer: bumps the version counter shared
  /// with every view of this storage.
  void mark_modified() const;
  /// A copy of the elements converted to T.
  template <class T>
  std::vector<T> to_vector() const;
  /// PyTorch's tolist(): the elements converted to T, flattened in row-major order (the same as
  /// to_vector; C++ has no nested list, so a [2, 3] tensor gives 6 values).
  ///
  ///     ag::tensor({{1, 2}, {3, 4}}).tolist<std::int64_t>();   // {1, 2, 3, 4}
  template <class T>
  std::vector<T> tolist() const {
    return to_vector<T>();
  }
  /// The value of a one-element tensor, converted to T.
  template <class T = double>
  T item() const;
  /// The element at a full index, converted to T (bounds-checked).
  template <class T = double>
  T at(std::initializer_list<std::int64_t> index) const;

  // ---- autograd -------------------------------------------------------------------------
  /// True for leaves created with requires_grad and for results of ops on such tensors.
  bool requires_grad() const;
  /// Makes a leaf tensor track gradients (floating point only).
  Tensor& requires_grad_(bool requires_grad = true);
  bool is_leaf() const;
  /// The accumulated gradient (undefined until a backward reaches this tensor).
  const Tensor& grad() const;
  Tensor& mutable_grad();
  void set_grad(const Tensor& grad);
  /// The node that computed this tensor, or null for a leaf.
  const std::shared_ptr<Node>& grad_fn() const;
  /// Keep the gradient of this non-leaf tensor in grad() during backward.
  void retain_grad();
  bool retains_grad() const;
  /// Reverse-mode differentiation from this tensor; see ag::backward.
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false, bool create_graph = false) const;
  /// Calls `hook(grad)` whenever a gradient for this tensor is computed.
  HookHandle register_hook(HookFn hook) const;
  /// Calls `hook(leaf)` after each backward pass that updated this leaf's .grad (after its
  /// gradient hooks and the accumulation): where data-parallel training starts a bucket's all-reduce.
  HookHandle register_post_accumulate_grad_hook(PostAccumulateGradHookFn hook) const;
  /// A tensor sharing this data, cut from the graph (requires_grad false).
  Tensor detach() const;
  Tensor& detach_();

  // ---- sparse: row-sparse tensors, as an Embedding's gradient with sparse(true) ------------
  /// True for a sparse tensor: rows given by indices() hold values(), the others are zero.
  /// A sparse tensor has no strided data: ops other than those below want to_dense() first.
  bool is_sparse() const;
  /// The dense tensor (repeated rows summed).
  Tensor to_dense() const;
  /// The same sparse tensor with each row once, in increasing order (repeats summed).
  Tensor coalesce() const;
  bool is_coalesced() const;
  /// The rows, int64 [1, nnz] as PyTorch's sparse_dim-1 COO tensors, and their values [nnz, ...].
  Tensor indices() const;
  Tensor values() const;
  /// Number of stored rows (repeats counted until coalesced).
  std::int64_t _nnz() const;

  // ---- conversion -----------------------------------------------------------------------
  /// A copy with its own storage, laid out as this tensor when that layout is dense (a
  /// transposed matrix stays transposed), else contiguous; differentiable.
  Tensor clone() const;
  /// This tensor when it is contiguous, else a contiguous copy (differentiable).
  Tensor contiguous() const;
  Tensor to(Dtype dtype) const;
  Tensor to(TensorOptions options) const { return to(options.dtype()); }
  Tensor float_() const { return to(kFloat32); }

  std::string str() const;
  std::string shape_str() const;

  // ---- elementwise (see ops.h for the free functions) -------------------------------------
  Tensor add(const Tensor& other, Scalar alpha = 1) const;
  Tensor sub(const Tensor& other, Scalar alpha = 1) const;
  Tensor mul(const Tensor& other) const;
  Tensor div(const Tensor& other) const;
  Tensor add(Scalar other) const;
  Tensor sub(Scalar other) const;
  Tensor mul(Scalar other) const;
  Tensor div(Scalar other) const;
  Tensor neg() const;
  Tensor pow(Scalar exponent) const;
  Tensor pow(const Tensor& exponent) const;
  Tensor exp() const;
  Tensor log() const;
  Tensor sqrt() const;
  Tensor abs() const;
  Tensor tanh() const;
  Tensor sigmoid() const;
  Tensor relu() const;
  Tensor clamp(std::optional<Scalar> min, std::optional<Scalar> max = std::nullopt) const;
  Tensor maximum(const Tensor& other) const;
  Tensor minimum(const Tensor& other) const;
  Tensor eq(const Tensor& other) const;
  Tensor ne(const Tensor& other) const;
  Tensor lt(const Tensor& other) const;
  Tensor le(const Tensor& other) const;
  Tensor gt(const Tensor& other) const;
  Tensor ge(const Tensor& other) const;
  Tensor logical_not() const;
  Tensor logical_and(const Tensor& other) const;
  Tensor logical_or(const Tensor& other) const;
  Tensor logical_xor(const Tensor& other) const;
  Tensor isnan() const;
  Tensor isinf() const;
  Tensor isfinite() const;
  Tensor masked_fill(const Tensor& mask, Scalar value) const;
  Tensor masked_fill(const Tensor& mask, const Tensor& value) const;
  Tensor masked_select(const Tensor& mask) const;

  // ---- in place: bump the version; forbidden on leaves that require grad -------------------
  Tensor& add_(const Tensor& other, Scalar alpha = 1);
  Tensor& add_(Scalar other);
  Tensor& sub_(const Tensor& other, Scalar alpha = 1);
  Tensor& sub_(Scalar other);
  Tensor& mul_(const Tensor& other);
  Tensor& mul_(Scalar other);
  Tensor& div_(const Tensor& other);
  Tensor& div_(Scalar other);
  Tensor& zero_();
  Tensor& fill_(Scalar value);
  Tensor& copy_(const Tensor& src);
  Tensor& clamp_(std::optional<Scalar> min, std::optional<Scalar> max = std::nullopt);
  Tensor& masked_fill_(const Tensor& mask, Scalar value);
  Tensor& masked_fill_(const Tensor& mask, const Tensor& value);
  // Random fills (autograd/ops/random.cpp): PyTorch's values for the same seed, drawn from `gen`
  // or the default generator.
  Tensor& uniform_(double from = 0, double to = 1, Generator* gen = nullptr);
  Tensor& normal_(double mean = 0, double std = 1, Generator* gen = nullptr);
  /// 1 with probability p, else 0 (any dtype).
  Tensor& bernoulli_(double p = 0.5, Generator* gen = nullptr);
  /// Integers uniform on [from, to).
  Tensor& random_(std::int64_t from, std::int64_t to, Generator* gen = nullptr);
  /// Integers uniform on [0, 2^63) for int64, [0, 2^24] for float32, [0, 2^53] for float64.
  Tensor& random_(Generator* gen = nullptr);

  // ---- reductions -----------------------------------------------------------------------
  Tensor sum() const;
  Tensor sum(std::int64_t dim, bool keepdim = false) const;
  Tensor sum(const std::vector<std::int64_t>& dims, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(std::int64_t dim, bool keepdim = false) const;
  Tensor mean(const std::vector<std::int64_t>& dims, bool keepdim = false) const;
  Tensor max() const;
  std::tuple<Tensor, Tensor> max(std::int64_t dim, bool keepdim = false) const;
  Tensor min() const;
  std::tuple<Tensor, Tensor> min(std::int64_t dim, bool keepdim = false) const;
  Tensor amax(const std::vector<std::int64_t>& dims = {}, bool keepdim = false) const;
  Tensor amin(const std::vector<std::int64_t>& dims = {}, bool keepdim = false) const;
  Tensor argmax(std::optional<std::int64_t> dim = std::nullopt, bool keepdim = false) const;
  Tensor argmin(std::optional<std::int64_t> dim = std::nullopt, bool keepdim = false) const;
  Tensor logsumexp(std::int64_t dim, bool keepdim = false) const;
  Tensor norm(double p = 2) const;
  Tensor any() const;
  Tensor any(std::int64_t dim, bool keepdim = false) const;
  Tensor all() const;
  Tensor all(std::int64_t dim, bool keepdim = false) const;
  Tensor nonzero() const;
  Tensor count_nonzero(std::optional<std::int64_t> dim = std::nullopt) const;

  // ---- shape: every one of these is a view (see ops.h) ------------------------------------
  Tensor reshape(const Shape& shape) const;
  Tensor view(const Shape& shape) const;
  Tensor flatten(std::int64_t start_dim = 0, std::int64_t end_dim = -1) const;
  Tensor unflatten(std::int64_t dim, const Shape& sizes) const;
  Tensor squeeze() const;
  Tensor squeeze(std::int64_t dim) const;
  Tensor unsqueeze(std::int64_t dim) const;
  Tensor transpose(std::int64_t dim0, std::int64_t dim1) const;
  /// Transpose of a 2-D tensor (a 0-d or 1-d tensor is returned as is).
  Tensor t() const;
  Tensor permute(const std::vector<std::int64_t>& dims) const;
  Tensor expand(const Shape& shape) const;
  Tensor expand_as(const Tensor& other) const;
  Tensor narrow(std::int64_t dim, std::int64_t start, std::int64_t length) const;
  Tensor select(std::int64_t dim, std::int64_t index) const;
  Tensor slice(std::int64_t dim, std::optional<std::int64_t> start, std::optional<std::int64_t> end,
               std::int64_t step = 1) const;
  Tensor diagonal(std::int64_t offset = 0, std::int64_t dim1 = 0, std::int64_t dim2 = 1) const;
  Tensor unfold(std::int64_t dim, std::int64_t size, std::int64_t step) const;
  Tensor as_strided(const Shape& size, const Shape& stride, std::optional<std::int64_t> storage_offset = std::nullopt) const;
  std::vector<Tensor> split(std::int64_t split_size, std::int64_t dim = 0) const;
  std::vector<Tensor> split(const std::vector<std::int64_t>& split_sizes, std::int64_t dim = 0) const;
  std::vector<Tensor> chunk(std::int64_t chunks, std::int64_t dim = 0) const;
  std::vector<Tensor> unbind(std::int64_t dim = 0) const;
  /// x[i]: select(0, i), a view.
  Tensor operator[](std::int64_t index) const { return select(0, index); }

  // ---- indexing (ops/indexing.cpp) --------------------------------------------------------
  /// Python's x[...]: integers and Slices make views, as do None and Ellipsis; an int64 tensor
  /// or a bool mask (advanced indexing) gathers a copy. Differentiable.
  ///
  ///     using namespace ag::indexing;
  ///     x.index({Slice(1, None, 2), 0, None, Ellipsis});
  ///     x.index({x > 0});                     // a 1-d copy of the positive elements
  Tensor index(std::initializer_list<indexing::TensorIndex> indices) const;
  Tensor index(const std::vector<indexing::TensorIndex>& indices) const;
  /// Python's x[...] = value: writes through the same index forms; with tensor indices and
  /// accumulate, repeated positions add up (index_put_ with accumulate=True).
  ///
  ///     x.index_put_({0, Slice()}, ag::ones({3}));
  ///     x.index_put_({idx}, values, /*accumulate=*/true);
  Tensor& index_put_(std::initializer_list<indexing::TensorIndex> indices, const Tensor& values, bool accumulate = false);
  Tensor& index_put_(const std::vector<indexing::TensorIndex>& indices, const Tensor& values, bool accumulate = false);
  Tensor& index_put_(std::initializer_list<indexing::TensorIndex> indices, Scalar value);
  Tensor& index_put_(const std::vector<indexing::TensorIndex>& indices, Scalar value);

  // ---- linear algebra, softmax, indexing ---------------------------------------------------
  Tensor matmul(const Tensor& other) const;
  Tensor mm(const Tensor& other) const;
  Tensor softmax(std::int64_t dim) const;
  Tensor log_softmax(std::int64_t dim) const;
  Tensor index_select(std::int64_t dim, const Tensor& index) const;
  Tensor gather(std::int64_t dim, const Tensor& index) const;

 private:
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

namespace indexing {

class TensorIndex {
 public:
  enum class Kind : std::uint8_t { None, Ellipsis, Integer, Boolean, Slice, Tensor };

  TensorIndex(std::nullopt_t) : kind_(Kind::None) {}
  TensorIndex(EllipsisIndexType) : kind_(Kind::Ellipsis) {}
  /// "..." as in LibTorch.
  TensorIndex(const char* ellipsis);
  template <class T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  TensorIndex(T i) : kind_(Kind::Integer), integer_(static_cast<std::int64_t>(i)) {}
  TensorIndex(bool b) : kind_(Kind::Boolean), boolean_(b) {}
  TensorIndex(Slice s) : kind_(Kind::Slice), slice_(s) {}
  TensorIndex(Tensor t) : kind_(Kind::Tensor), tensor_(std::move(t)) {}

  Kind kind() const { return kind_; }
  std::int64_t integer() const { return integer_; }
  bool boolean() const { return boolean_; }
  const Slice& slice() const { return slice_; }
  const Tensor& tensor() const { return tensor_; }

 private:
  Kind kind_;
  std::int64_t integer_ = 0;
  bool boolean_ = false;
  Slice slice_;
  Tensor tensor_;
};

}  // namespace indexing

// ---- creation -----------------------------------------------------------------------------

/// Nested braces of numbers, for ag::tensor: `{{1, 2}, {3, 4}}`.
/// Integers give int64, any floating value gives float32, all bools give bool, unless a dtype
/// is passed.
class NestedList {
 public:
  NestedList(bool v) : values_{v ? 1.0 : 0.0}, ints_{v ? 1 : 0}, integral_(true), boolean_(true) {}
  NestedList(double v) : values_{v}, ints_{convert<std::int64_t>(v)}, integral_(false) {}
  NestedList(float v) : NestedList(static_cast<double>(v)) {}
  NestedList(int v) : NestedList(Int{v}) {}
  NestedList(long v) : NestedList(Int{v}) {}
  NestedList(long long v) : NestedList(Int{v}) {}
  NestedList(std::initializer_list<NestedList> items);

  const Shape& shape() const { return shape_; }
  const std::vector<double>& values() const { return values_; }
  const std::vector<std::int64_t>& ints() const { return ints_; }
  bool integral() const { return integral_; }
  bool boolean() const { return boolean_; }

 private:
  struct Int {
    long long v;
  };
  NestedList(Int i) : values_{static_cast<double>(i.v)}, ints_{static_cast<std::int64_t>(i.v)}, integral_(true) {}
  Shape shape_;
  std::vector<double> values_;
  std::vector<std::int64_t> ints_;
  bool integral_ = true;
  bool boolean_ = false;
};

/// A tensor from nested braces: `ag::tensor({{1., 2.}, {3., 4.}})`, `ag::tensor({0, 2}, ag::kInt64)`.
Tensor tensor(const NestedList& data, TensorOptions options = {});
/// A tensor from flat row-major values and a shape: `ag::tensor(std::vector<float>{1, 2, 3, 4}, {2, 2})`.
template <class T>
Tensor tensor(const std::vector<T>& values, const Shape& shape, TensorOptions options = {});
/// A 1-d tensor of the values: `ag::tensor(std::vector<float>{1, 2, 3})` is float32 of shape [3]
/// (std::vector<double> gives float64, std::vector<std::int64_t> int64).
template <class T>
Tensor tensor(const std::vector<T>& values, TensorOptions options = {}) {
  return tensor(values, Shape{static_cast<std::int64_t>(values.size())}, options);
}
/// Memory the caller owns, used as a tensor's data without a copy (PyTorch's from_blob): `data`
/// holds shape.numel() contiguous row-major elements of options.dtype() (float32 by default) and
/// must outlive every tensor and view using it, unless `deleter` is given: it runs on `data` when
/// the last of them goes away. Writes through the tensor are writes into the memory, and writes
/// made into the memory directly are seen by the tensor (call mark_modified() after them if the
/// tensor was saved for a backward). Throws for a null or misaligned pointer or a negative size.
///
///     std::vector<float> buf(6, 1.0f);
///     ag::Tensor t = ag::from_blob(buf.data(), {2, 3});   // t.mul_(2) doubles buf
///     auto owned = ag::from_blob(new double[4](), {4}, [](void* p) { delete[] static_cast<double*>(p); },
///                                ag::kFloat64);
Tensor from_blob(void* data, const Shape& shape, TensorOptions options = {});
Tensor from_blob(void* data, const Shape& shape, std::function<void(void*)> deleter, TensorOptions options = {});
/// A 0-d tensor.
Tensor scalar_tensor(Scalar value, TensorOptions options = {});

/// Uninitialised storage (fill it before reading).
Tensor empty(const Shape& shape, TensorOptions options = {});
Tensor zeros(const Shape& shape, TensorOptions options = {});
Tensor ones(const Shape& shape, TensorOptions options = {});
Tensor full(const Shape& shape, Scalar value, TensorOptions options = {});
Tensor zeros_like(const Tensor& t, std::optional<TensorOptions> options = std::nullopt);
Tensor ones_like(const Tensor& t, std::optional<TensorOptions> options = std::nullopt);
Tensor full_like(const Tensor& t, Scalar value, std::optional<TensorOptions> options = std::nullopt);
Tensor empty_like(const Tensor& t, std::optional<TensorOptions> options = std::nullopt);
/// 0, 1, ..., end-1 (int64 when the bounds are integers, else float32).
Tensor arange(Scalar end, TensorOptions options = {});
Tensor arange(Scalar start, Scalar end, Scalar step = 1, TensorOptions options = {});
Tensor linspace(double start, double end, std::int64_t steps, TensorOptions options = {});
Tensor eye(std::int64_t n, std::optional<std::int64_t> m = std::nullopt, TensorOptions options = {});

// Random tensors (autograd/ops/random.cpp), drawn from `gen` or the default generator: for the
// same seed and the same calls, the values torch.rand, torch.randn, ... give.

/// Uniform on [0, 1).
///
///     ag::manual_seed(1);
///     ag::rand({3});   // tensor([0.7576, 0.2793, 0.4031]), as torch.rand(3) after torch.manual_seed(1)
Tensor rand(const Shape& shape, TensorOptions options = {}, Generator* gen = nullptr);
/// Standard normal.
Tensor randn(const Shape& shape, TensorOptions options = {}, Generator* gen = nullptr);
/// Integers uniform on [low, high) (or [0, high)), int64 unless a dtype is given.
Tensor randint(std::int64_t low, std::int64_t high, const Shape& shape, TensorOptions options = kInt64,
               Generator* gen = nullptr);
Tensor randint(std::int64_t high, const Shape& shape, TensorOptions options = kInt64, Generator* gen = nullptr);
/// A random permutation of 0..n-1.
///
///     ag::randperm(5);   // e.g. tensor([2, 0, 4, 1, 3])
Tensor randperm(std::int64_t n, TensorOptions options = kInt64, Generator* gen = nullptr);
Tensor rand_like(const Tensor& t, Generator* gen = nullptr);
Tensor randn_like(const Tensor& t, Generator* gen = nullptr);

}  // namespace ag
