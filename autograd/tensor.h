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
struct HookList;

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
  Scalar(bool v) : Scalar(static_cast<int>(v)) {}

  double to_double() const { return d_; }
  std::int64_t to_int() const { return i_; }
  bool is_integral() const { return integral_; }
  template <class T>
  T to() const {
    if constexpr (std::is_integral_v<T>) return static_cast<T>(i_);  // i_ is d_ converted when not integral
    else return static_cast<T>(d_);
  }

 private:
  double d_;
  std::int64_t i_;
  bool integral_;
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

/// A read-only or writable window onto a tensor's elements, in row-major order.
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

/// Returned by register_hook; `remove()` unregisters the hook.
class HookHandle {
 public:
  HookHandle() = default;
  HookHandle(std::weak_ptr<HookList> list, std::uint64_t id) : list_(std::move(list)), id_(id) {}
  void remove();

 private:
  std::weak_ptr<HookList> list_;
  std::uint64_t id_ = 0;
};

/// The state behind a Tensor handle. Users never touch it; ops and the engine do.
struct TensorImpl;

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

  // ---- metadata -------------------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  const Shape& sizes() const { return shape(); }
  std::int64_t size(std::int64_t dim) const;
  std::int64_t dim() const { return static_cast<std::int64_t>(shape().size()); }
  std::int64_t numel() const;
  Dtype dtype() const;
  bool is_floating_point() const { return is_floating(dtype()); }
  /// Version of the underlying data, bumped by every in-place op.
  std::uint32_t version() const;
  /// True when both handles refer to the same tensor.
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

  // ---- data access ----------------------------------------------------------------------
  /// Pointer to the first element; T must match dtype() exactly.
  template <class T>
  T* data_ptr() const;
  /// The elements in row-major order, writable; T must match dtype().
  template <class T>
  ArrayRef<T> data() const {
    return ArrayRef<T>(data_ptr<T>(), static_cast<std::size_t>(numel()));
  }
  /// A copy of the elements converted to T.
  template <class T>
  std::vector<T> to_vector() const;
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
  /// A tensor sharing this data, cut from the graph (requires_grad false).
  Tensor detach() const;
  Tensor& detach_();

  // ---- conversion -----------------------------------------------------------------------
  Tensor clone() const;
  Tensor contiguous() const { return *this; }
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

  // ---- shape ----------------------------------------------------------------------------
  Tensor reshape(const Shape& shape) const;
  Tensor view(const Shape& shape) const;
  Tensor flatten(std::int64_t start_dim = 0, std::int64_t end_dim = -1) const;
  Tensor squeeze() const;
  Tensor squeeze(std::int64_t dim) const;
  Tensor unsqueeze(std::int64_t dim) const;
  Tensor transpose(std::int64_t dim0, std::int64_t dim1) const;
  /// Transpose of a 2-D tensor (a 0-d or 1-d tensor is returned as is).
  Tensor t() const;
  Tensor permute(const std::vector<std::int64_t>& dims) const;
  Tensor expand(const Shape& shape) const;
  Tensor narrow(std::int64_t dim, std::int64_t start, std::int64_t length) const;
  Tensor select(std::int64_t dim, std::int64_t index) const;
  Tensor slice(std::int64_t dim, std::optional<std::int64_t> start, std::optional<std::int64_t> end,
               std::int64_t step = 1) const;
  /// x[i]: select(0, i).
  Tensor operator[](std::int64_t index) const { return select(0, index); }

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

// ---- creation -----------------------------------------------------------------------------

/// Nested braces of numbers, for ag::tensor: `{{1, 2}, {3, 4}}`.
/// Integers give int64, any floating value gives float32, unless a dtype is passed.
class NestedList {
 public:
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

 private:
  struct Int {
    long long v;
  };
  NestedList(Int i) : values_{static_cast<double>(i.v)}, ints_{static_cast<std::int64_t>(i.v)}, integral_(true) {}
  Shape shape_;
  std::vector<double> values_;
  std::vector<std::int64_t> ints_;
  bool integral_ = true;
};

/// A tensor from nested braces: `ag::tensor({{1., 2.}, {3., 4.}})`, `ag::tensor({0, 2}, ag::kInt64)`.
Tensor tensor(const NestedList& data, TensorOptions options = {});
/// A tensor from flat row-major values and a shape: `ag::tensor(std::vector<float>{1, 2, 3, 4}, {2, 2})`.
template <class T>
Tensor tensor(const std::vector<T>& values, const Shape& shape, TensorOptions options = {});
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
