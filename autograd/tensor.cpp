// Tensor's own methods (metadata, data access, autograd flags) and the creation functions.

#include <cmath>
#include <cstring>

#include "ag/autograd/node.h"
#include "ag/autograd/ops.h"
#include "ag/autograd/ops/kernels.h"
#include "ag/autograd/tensor_impl.h"

namespace ag {

namespace {
const Tensor& undefined_tensor() {
  static const Tensor t;
  return t;
}
const std::shared_ptr<Node>& null_node() {
  static const std::shared_ptr<Node> n;
  return n;
}
[[noreturn, gnu::noinline, gnu::cold]] void throw_undefined(const char* what) {
  throw std::logic_error(detail::cat(what, ": the tensor is undefined (default-constructed or moved from)"));
}
/// Inline, so that shape(), dtype() and the other accessors an op calls dozens of times a step
/// pay a compare for it, not a call that builds the message's arguments.
inline void check_defined(const TensorImpl* impl, const char* what) {
  if (__builtin_expect(impl == nullptr, 0)) throw_undefined(what);
}
}  // namespace

// ---- metadata -------------------------------------------------------------------------------

const Shape& Tensor::shape() const {
  check_defined(impl_.get(), "shape()");
  return impl_->shape;
}
std::int64_t Tensor::size(std::int64_t d) const { return shape()[wrap_dim(d, dim(), "size")]; }
std::int64_t Tensor::numel() const {
  check_defined(impl_.get(), "numel()");
  return impl_->numel;
}
Dtype Tensor::dtype() const {
  check_defined(impl_.get(), "dtype()");
  return impl_->dtype;
}
const Shape& Tensor::strides() const {
  check_defined(impl_.get(), "strides()");
  return impl_->strides;
}
std::int64_t Tensor::stride(std::int64_t d) const { return strides()[wrap_dim(d, dim(), "stride")]; }
std::int64_t Tensor::storage_offset() const {
  check_defined(impl_.get(), "storage_offset()");
  return impl_->offset;
}
bool Tensor::is_contiguous() const {
  check_defined(impl_.get(), "is_contiguous()");
  return impl_->contiguous;
}
bool Tensor::is_view() const { return impl_ && impl_->base != nullptr; }
Tensor Tensor::_base() const { return impl_ && impl_->base ? Tensor(impl_->base) : Tensor(); }
bool Tensor::is_alias_of(const Tensor& other) const {
  return impl_ && other.impl_ && impl_->storage == other.impl_->storage;
}
std::uint32_t Tensor::version() const {
  check_defined(impl_.get(), "version()");
  return impl_->storage->version;
}

// ---- assignment to a view -------------------------------------------------------------------

namespace {
void check_assignable(const TensorImpl* impl) {
  check_defined(impl, "operator=");
  // A temporary whose storage no other tensor shares cannot be read after the assignment:
  // the write would vanish (x.index({mask}) = v copies into such a temporary).
  AG_CHECK_STATE(impl->storage.use_count() > 1, "operator=: assigning to a temporary tensor of shape ", impl->shape,
                 " that is not a view of any other tensor writes into memory nobody can read. x[i] = v and "
                 "x.index({...}) = v with integers and slices write through views; indexing with tensors makes "
                 "a copy: use x.index_put_({...}, v) to write there");
}
}  // namespace

Tensor& Tensor::operator=(const Tensor& other) && {
  check_assignable(impl_.get());
  copy_(other);
  return *this;
}
Tensor& Tensor::operator=(Tensor&& other) && {
  check_assignable(impl_.get());
  copy_(other);
  return *this;
}
Tensor& Tensor::operator=(Scalar value) && {
  check_assignable(impl_.get());
  fill_(value);
  return *this;
}

// ---- data access ----------------------------------------------------------------------------

template <class T>
T* Tensor::data_ptr() const {
  check_defined(impl_.get(), "data_ptr()");
  AG_CHECK(impl_->dtype == dtype_of<T>(), "data_ptr<", cpp_type_name(dtype_of<T>()), ">(): the tensor holds ",
           dtype_name(impl_->dtype), "; use data_ptr<", cpp_type_name(impl_->dtype), ">() or to(",
           dtype_name(dtype_of<T>()), ") first");
  return static_cast<T*>(impl_->data);
}

template <class T>
ArrayRef<T> Tensor::data() const {
  T* p = data_ptr<T>();
  AG_CHECK(impl_->contiguous, "data<", cpp_type_name(dtype_of<T>()), ">(): the tensor of shape ", impl_->shape,
           " and strides ", impl_->strides, " is not contiguous, so its elements are not one row-major run; "
           "call contiguous() first, or index it through data_ptr() and strides()");
  return ArrayRef<T>(p, static_cast<std::size_t>(impl_->numel));
}

namespace {

/// Calls f(storage offset from data, flat row-major index) for every element of t.
template <class F>
void for_each_offset(const TensorImpl& t, F f) {
  if (t.contiguous) {
    for (std::int64_t i = 0; i < t.numel; ++i) f(i, i);
    return;
  }
  const std::size_t nd = t.shape.size();
  std::int64_t idx[Shape::kMaxDims] = {}, off = 0;
  for (std::int64_t i = 0; i < t.numel; ++i) {
    f(off, i);
    for (std::size_t d = nd; d-- > 0;) {
      off += t.strides[d];
      if (++idx[d] < t.shape[d]) break;
      off -= t.strides[d] * t.shape[d];
      idx[d] = 0;
    }
  }
}

}  // namespace

template <class T>
std::vector<T> Tensor::to_vector() const {
  check_defined(impl_.get(), "to_vector()");
  std::vector<T> out(static_cast<std::size_t>(numel()));
  dispatch(dtype(), [&](auto tag) {
    using S = typename decltype(tag)::type;
    const S* p = detail::data<S>(*this);
    for_each_offset(*impl_, [&](std::int64_t off, std::int64_t i) { out[i] = convert<T>(p[off]); });
  });
  return out;
}

template <class T>
T Tensor::item() const {
  AG_CHECK(numel() == 1, "item(): only a one-element tensor converts to a number, this one has shape ", shape(),
           " (", numel(), " elements)");
  return dispatch(dtype(), [&](auto tag) {
    using S = typename decltype(tag)::type;
    return convert<T>(detail::data<S>(*this)[0]);
  });
}

template <class T>
T Tensor::at(std::initializer_list<std::int64_t> index) const {
  const Shape& s = shape();
  AG_CHECK_INDEX(index.size() == s.size(), "at(): a ", s.size(), "-d tensor needs ", s.size(), " indices, got ",
                 index.size());
  std::int64_t off = 0, k = 0;
  for (std::int64_t i : index) {
    std::int64_t n = s[k];
    AG_CHECK_INDEX(i >= -n && i < n, "at(): index ", i, " is out of range for dimension ", k, " of size ", n,
                   " (shape ", s, ")");
    off += (i < 0 ? i + n : i) * impl_->strides[k];
    ++k;
  }
  return dispatch(dtype(), [&](auto tag) {
    using S = typename decltype(tag)::type;
    return convert<T>(detail::data<S>(*this)[off]);
  });
}

#define AG_INSTANTIATE(T)                                                \
  template std::vector<T> Tensor::to_vector<T>() const;                \
  template T Tensor::item<T>() const;                                  \
  template T Tensor::at<T>(std::initializer_list<std::int64_t>) const;
AG_INSTANTIATE(float)
AG_INSTANTIATE(double)
AG_INSTANTIATE(int)
AG_INSTANTIATE(long)
AG_INSTANTIATE(long long)
AG_INSTANTIATE(bool)
#undef AG_INSTANTIATE
template float* Tensor::data_ptr<float>() const;
template double* Tensor::data_ptr<double>() const;
template std::int64_t* Tensor::data_ptr<std::int64_t>() const;
template bool* Tensor::data_ptr<bool>() const;
template ArrayRef<float> Tensor::data<float>() const;
template ArrayRef<double> Tensor::data<double>() const;
template ArrayRef<std::int64_t> Tensor::data<std::int64_t>() const;
template ArrayRef<bool> Tensor::data<bool>() const;

void detail::copy_values(const Tensor& dst, const Tensor& src) {
  const Shape& shape = dst.impl()->shape;
  dispatch(src.dtype(), [&](auto src_tag) {
    using S = typename decltype(src_tag)::type;
    dispatch(dst.dtype(), [&](auto dst_tag) {
      using D = typename decltype(dst_tag)::type;
      // Bools are read as their bytes (0 or 1, the same values): g++ vectorises widening bytes,
      // not bool loads (a mask's .to(kFloat32) went from 7 instructions an element to about 1).
      using L = std::conditional_t<std::is_same_v<S, bool> && !std::is_same_v<D, bool>, unsigned char, S>;
      kernels::map1(kernels::in<L>(src, shape), kernels::out<D>(dst), shape, [](L v) { return convert<D>(v); });
    });
  });
}

// ---- autograd flags -------------------------------------------------------------------------

bool Tensor::requires_grad() const { return impl_ && (impl_->requires_grad || detail::grad_fn_of(*impl_)); }

Tensor& Tensor::requires_grad_(bool requires_grad) {
  check_defined(impl_.get(), "requires_grad_()");
  AG_CHECK_STATE(!detail::grad_fn_of(*impl_), "requires_grad_(): only leaf tensors can change requires_grad; this one was "
                 "computed by ", impl_->grad_fn->name(), ". Use detach() to get a leaf.");
  AG_CHECK(!requires_grad || is_floating(impl_->dtype),
           "requires_grad_(): only floating point tensors can require gradients, this one is ", impl_->dtype,
           " of shape ", impl_->shape);
  impl_->requires_grad = requires_grad;
  return *this;
}

bool Tensor::is_leaf() const { return !impl_ || !detail::grad_fn_of(*impl_); }

const Tensor& Tensor::grad() const {
  if (!impl_) return undefined_tensor();
  AG_CHECK_STATE(!detail::grad_fn_of(*impl_) || impl_->retains_grad,
                 "grad(): this tensor is not a leaf (it was computed by ", impl_->grad_fn->name(),
                 "), so backward does not keep its gradient. Call retain_grad() on it before backward, or use "
                 "ag::grad({output}, {tensor}).");
  return impl_->grad;
}

Tensor& Tensor::mutable_grad() {
  check_defined(impl_.get(), "mutable_grad()");
  return impl_->grad;
}

void Tensor::set_grad(const Tensor& grad) {
  check_defined(impl_.get(), "set_grad()");
  AG_CHECK(!grad.defined() || grad.shape() == shape(), "set_grad(): gradient of shape ", grad.shape(),
           " does not match the tensor's shape ", shape());
  impl_->grad = grad;
}

const std::shared_ptr<Node>& Tensor::grad_fn() const { return impl_ ? detail::grad_fn_of(*impl_) : null_node(); }

bool Tensor::retains_grad() const { return impl_ && impl_->retains_grad; }

Tensor Tensor::detach() const {
  check_defined(impl_.get(), "detach()");
  if (impl_->sparse) return detail::sparse_alias(*this);
  return detail::make_alias(*this);
}

Tensor& Tensor::detach_() {
  check_defined(impl_.get(), "detach_()");
  AG_CHECK_STATE(!impl_->base, "detach_(): a view (of shape ", impl_->shape, ") cannot be detached in place, as "
                 "its base keeps its history; use detach(), which returns a new tensor");
  impl_->grad_fn.reset();
  impl_->requires_grad = false;
  return *this;
}

// ---- conversion -----------------------------------------------------------------------------

Tensor Tensor::clone() const {
  check_defined(impl_.get(), "clone()");
  if (impl_->sparse) return detail::sparse_clone(*this);
  Tensor out = detail::make_tensor_like(*this, impl_->dtype);
  detail::copy_values(out, *this);
  if (needs_grad(*this))
    record("CloneBackward0", out, {*this}, {}, [](const Tensor& g, const BackwardContext&) -> Grads { return {g}; });
  return out;
}

Tensor Tensor::to(Dtype dtype) const {
  check_defined(impl_.get(), "to()");
  if (dtype == impl_->dtype) return *this;
  if (impl_->sparse) return detail::sparse_to(*this, dtype);
  Tensor out = detail::make_tensor(impl_->shape, dtype);
  detail::copy_values(out, *this);
  if (is_floating(dtype) && is_floating(impl_->dtype) && needs_grad(*this)) {
    Dtype from = impl_->dtype;
    record("ToCopyBackward0", out, {*this}, {},
           [from](const Tensor& g, const BackwardContext&) -> Grads { return {g.to(from)}; });
  }
  return out;
}

// ---- creation -------------------------------------------------------------------------------

NestedList::NestedList(std::initializer_list<NestedList> items) {
  bool first = true, first_item = true;
  for (const NestedList& item : items) {
    if (first) {
      shape_ = item.shape_;
      first = false;
    } else {
      AG_CHECK(item.shape_ == shape_, "tensor: nested lists must be rectangular, found an entry of shape ",
               item.shape_, " next to one of shape ", shape_);
    }
    values_.insert(values_.end(), item.values_.begin(), item.values_.end());
    ints_.insert(ints_.end(), item.ints_.begin(), item.ints_.end());
    integral_ = integral_ && item.integral_;
    boolean_ = (first_item || boolean_) && item.boolean_;
    first_item = false;
  }
  shape_.insert(0, static_cast<std::int64_t>(items.size()));
  if (items.size() == 0) integral_ = false;  // [] is float32, as in PyTorch
}

namespace {

void check_shape(const Shape& shape, const char* op) {
  for (std::int64_t d : shape)
    AG_CHECK(d >= 0, op, ": negative dimension ", d, " in shape ", shape);
}

Tensor finish(Tensor t, const TensorOptions& options) {
  if (options.requires_grad()) t.requires_grad_(true);
  return t;
}

template <class F>
Tensor fill_with(const Shape& shape, Dtype dtype, F&& value_at) {
  Tensor out = detail::make_tensor(shape, dtype);
  dispatch(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = detail::data<T>(out);
    for (std::int64_t i = 0, i_end = out.numel(); i < i_end; ++i) p[i] = convert<T>(value_at(i));
  });
  return out;
}

}  // namespace

Tensor tensor(const NestedList& data, TensorOptions options) {
  Dtype dtype = options.has_dtype() ? options.dtype() : data.boolean() ? kBool : (data.integral() ? kInt64 : kFloat32);
  Tensor out = dtype == kInt64 && data.integral()
                   ? fill_with(data.shape(), dtype, [&](std::int64_t i) { return data.ints()[i]; })
                   : fill_with(data.shape(), dtype, [&](std::int64_t i) { return data.values()[i]; });
  return finish(out, options);
}

template <class T>
Tensor tensor(const std::vector<T>& values, const Shape& shape, TensorOptions options) {
  check_shape(shape, "tensor");
  AG_CHECK(static_cast<std::int64_t>(values.size()) == shape.numel(), "tensor: ", values.size(),
           " values do not fill shape ", shape, " (", shape.numel(), " elements)");
  Dtype dtype = options.has_dtype() ? options.dtype() : dtype_of<T>();
  return finish(fill_with(shape, dtype, [&](std::int64_t i) { return values[i]; }), options);
}
template Tensor tensor<float>(const std::vector<float>&, const Shape&, TensorOptions);
template Tensor tensor<double>(const std::vector<double>&, const Shape&, TensorOptions);
template Tensor tensor<std::int64_t>(const std::vector<std::int64_t>&, const Shape&, TensorOptions);

Tensor from_blob(void* data, const Shape& shape, std::function<void(void*)> deleter, TensorOptions options) {
  check_shape(shape, "from_blob");
  const Dtype dtype = options.dtype();
  const std::int64_t numel = shape.numel();
  AG_CHECK(numel >= 0 && static_cast<std::uint64_t>(numel) <= PTRDIFF_MAX / element_size(dtype),
           "from_blob: shape ", shape, " has too many elements for ", dtype, " (", numel, ")");
  AG_CHECK(data != nullptr || numel == 0, "from_blob: the data pointer is null, for a ", dtype, " tensor of shape ",
           shape);
  AG_CHECK(reinterpret_cast<std::uintptr_t>(data) % element_size(dtype) == 0, "from_blob: the data pointer ", data,
           " is not aligned to ", element_size(dtype), " bytes, as ", dtype, " elements must be");
  auto impl = std::allocate_shared<TensorImpl>(detail::PoolAllocator<TensorImpl>());
  impl->storage = Storage::wrap(data, static_cast<std::size_t>(numel) * element_size(dtype), std::move(deleter));
  impl->dtype = dtype;
  Shape strides = shape;  // row-major
  for (std::size_t i = shape.size(), acc = 1; i-- > 0;) {
    strides[i] = static_cast<std::int64_t>(acc);
    acc *= shape[i] > 1 ? static_cast<std::size_t>(shape[i]) : 1;
  }
  detail::set_geometry(*impl, shape, strides, 0);
  return finish(Tensor(std::move(impl)), options);
}

Tensor from_blob(void* data, const Shape& shape, TensorOptions options) { return from_blob(data, shape, nullptr, options); }

Tensor scalar_tensor(Scalar value, TensorOptions options) {
  Dtype natural = value.is_bool() ? kBool : value.is_integral() ? kInt64 : kFloat32;
  return full({}, value, options.has_dtype() ? options : options.dtype(natural));
}

Tensor empty(const Shape& shape, TensorOptions options) {
  check_shape(shape, "empty");
  return finish(detail::make_tensor(shape, options.dtype()), options);
}

Tensor full(const Shape& shape, Scalar value, TensorOptions options) {
  check_shape(shape, "full");
  Tensor out = detail::make_tensor(shape, options.dtype());
  dispatch(options.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T v = value.to<T>();
    T* p = detail::data<T>(out);
    std::fill(p, p + out.numel(), v);
  });
  return finish(out, options);
}

Tensor zeros(const Shape& shape, TensorOptions options) { return full(shape, 0, options); }
Tensor ones(const Shape& shape, TensorOptions options) { return full(shape, 1, options); }

namespace {
TensorOptions like(const Tensor& t, const std::optional<TensorOptions>& options) {
  return options ? (options->has_dtype() ? *options : options->dtype(t.dtype())) : TensorOptions(t.dtype());
}
}  // namespace

Tensor zeros_like(const Tensor& t, std::optional<TensorOptions> options) { return zeros(t.shape(), like(t, options)); }
Tensor ones_like(const Tensor& t, std::optional<TensorOptions> options) { return ones(t.shape(), like(t, options)); }
Tensor full_like(const Tensor& t, Scalar value, std::optional<TensorOptions> options) {
  return full(t.shape(), value, like(t, options));
}
Tensor empty_like(const Tensor& t, std::optional<TensorOptions> options) { return empty(t.shape(), like(t, options)); }

Tensor arange(Scalar end, TensorOptions options) { return arange(0, end, 1, options); }

Tensor arange(Scalar start, Scalar end, Scalar step, TensorOptions options) {
  double s = start.to_double(), e = end.to_double(), st = step.to_double();
  AG_CHECK(st != 0, "arange: step must be nonzero");
  AG_CHECK((st > 0 && e >= s) || (st < 0 && e <= s), "arange: the step ", st, " points away from end ", e,
           " (start ", s, ")");
  bool integral = start.is_integral() && end.is_integral() && step.is_integral();
  Dtype dtype = options.has_dtype() ? options.dtype() : (integral ? kInt64 : kFloat32);
  const double count = std::ceil((e - s) / st);
  AG_CHECK(count < 0x1p62, "arange: start ", s, ", end ", e, " and step ", st, " give ", count,
           " elements, more than a tensor can hold");
  auto n = static_cast<std::int64_t>(count);
  // start + i * step in unsigned arithmetic: the value is in [start, end), the partial product may not be.
  auto int_at = [a = static_cast<std::uint64_t>(start.to_int()), b = static_cast<std::uint64_t>(step.to_int())](
                    std::int64_t i) { return static_cast<std::int64_t>(a + static_cast<std::uint64_t>(i) * b); };
  Tensor out = integral && dtype == kInt64
                   ? fill_with({n}, dtype, int_at)
                   : fill_with({n}, dtype, [&](std::int64_t i) { return s + static_cast<double>(i) * st; });
  return finish(out, options);
}

Tensor linspace(double start, double end, std::int64_t steps, TensorOptions options) {
  AG_CHECK(steps >= 0, "linspace: number of steps must be non-negative, got ", steps);
  double step = steps > 1 ? (end - start) / static_cast<double>(steps - 1) : 0.0;
  // Fill from both ends so the last value is exactly `end`, as PyTorch does.
  Tensor out = fill_with({steps}, options.dtype(), [&](std::int64_t i) {
    return i < steps / 2 ? start + step * static_cast<double>(i) : end - step * static_cast<double>(steps - 1 - i);
  });
  return finish(out, options);
}

Tensor eye(std::int64_t n, std::optional<std::int64_t> m, TensorOptions options) {
  std::int64_t cols = m.value_or(n);
  AG_CHECK(n >= 0 && cols >= 0, "eye: sizes must be non-negative, got n=", n, " m=", cols);
  return finish(fill_with({n, cols}, options.dtype(), [&](std::int64_t i) { return i / cols == i % cols ? 1 : 0; }),
                options);
}


}  // namespace ag
