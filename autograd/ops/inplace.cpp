// In-place ops (add_, mul_, clamp_, fill_, copy_, ...) and the Tensor methods that call the free
// elementwise ops.

#include <cmath>
#include <cstring>

#include "ag/autograd/node.h"
#include "ag/autograd/ops.h"
#include "ag/autograd/ops/elementwise_util.h"
#include "ag/autograd/ops/inplace.h"
#include "ag/autograd/ops/kernels.h"

namespace ag {

using namespace elementwise;

// Without a graph to record, an in-place op writes straight into the tensor's storage (through
// its strides: a view writes into its base). When the tensor is part of a graph, the op is
// computed out of place, written back, and the result's node becomes the tensor's grad_fn (its
// history is "rebased"); for a view, the base's history is rebased instead (CopySlices), as in
// PyTorch. Either way the version counter moves, so a backward that saved the old values notices.

void detail::check_inplace(const Tensor& self, const char* op, bool records) {
  AG_CHECK(self.defined(), op, ": the tensor is undefined");
  const TensorImpl& t = *self.impl();
  if (GradMode::is_enabled()) {
    AG_CHECK_STATE(t.base || t.grad_fn || !t.requires_grad, op, ": a leaf tensor of shape ", t.shape,
                   " that requires grad cannot be modified in place (its gradient would be wrong). Wrap the update in "
                   "ag::NoGradGuard, as optimizers do, or work on detach().");
    if (t.base && records) {
      const TensorImpl& b = *t.base;
      AG_CHECK_STATE(b.grad_fn || !b.requires_grad, op, ": the tensor of shape ", t.shape, " is a view of a leaf of shape ",
                     b.shape, " that requires grad, and a leaf cannot be modified in place (its gradient would be "
                     "wrong). Wrap the update in ag::NoGradGuard, or clone() the leaf first.");
      AG_CHECK_STATE(t.view_creation != ViewCreation::MultiOutput, op, ": the tensor of shape ", t.shape,
                     " is one of the views that split, chunk or unbind returned, and those cannot be modified in "
                     "place while grad is recorded (their gradients are computed together); clone() it first");
      AG_CHECK_STATE(t.view_creation != ViewCreation::NoGrad, op, ": the tensor of shape ", t.shape,
                     " is a view made under NoGradGuard of a tensor that requires grad; modifying it in place with "
                     "grad mode on would need a history it does not have. Do it under NoGradGuard too, or make the "
                     "view with grad mode on.");
    }
  }
  for (std::size_t d = 0; d < t.shape.size(); ++d)
    AG_CHECK(t.shape[d] <= 1 || t.strides[d] != 0, op, ": the tensor of shape ", t.shape, " and strides ", t.strides,
             " has several elements at one memory location (it is an expanded view), so writing into it in place is "
             "ambiguous; clone() it first");
}

namespace {

using detail::check_inplace;

/// `src` as read by an in-place op on `self`: a copy when it shares self's storage in another
/// layout, so that the op never reads an element it already overwrote.
Tensor unaliased(const Tensor& self, const Tensor& src) {
  if (!self.is_alias_of(src)) return src;
  const TensorImpl &a = *self.impl(), &b = *src.impl();
  if (a.offset == b.offset && a.shape == b.shape && a.strides == b.strides) return src;
  NoGradGuard no_grad;
  return src.clone();
}

/// After an in-place op recorded as result = op(self, ...): self's (or its base's) new history.
void rebase(const Tensor& self, const Tensor& result) {
  if (self.is_view()) detail::rebase_view(self, result);
  else detail::rebase_history(self, result);
}

void check_writable(const Tensor& self, Dtype value_dtype, const char* op) {
  AG_CHECK(type_category(value_dtype) <= type_category(self.dtype()), op, ": the result is ", value_dtype,
           " and cannot be written into a ", self.dtype(), " tensor");
}

}  // namespace

Tensor& detail::write_back(Tensor& self, const Tensor& result, const char* op) {
  AG_CHECK(result.shape() == self.shape(), op, ": the result of shape ", result.shape(),
           " cannot be written into a tensor of shape ", self.shape());
  check_writable(self, result.dtype(), op);
  detail::copy_values(self, unaliased(self, result));
  detail::bump_version(self);
  if (result.requires_grad()) rebase(self, result.dtype() == self.dtype() ? result : result.to(self.dtype()));
  return self;
}

namespace {

using detail::write_back;

/// self = op(self, other) in place, broadcasting other to self's shape.
template <class Op>
Tensor& inplace_binary(Tensor& self, const Tensor& other, const char* name, Op op) {
  Shape so = broadcast_shapes(self.shape(), other.shape(), name);
  AG_CHECK(so == self.shape(), name, ": the result of shape ", so, " cannot be written into a tensor of shape ",
           self.shape());
  check_writable(self, result_type(self, other, name), name);
  Tensor co = as(unaliased(self, other), self.dtype());
  dispatch(self.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    kernels::map2(kernels::in<T>(self, so), kernels::in<T>(co, so), kernels::out<T>(self), so,
                  [&](T x, T y) { return static_cast<T>(op(x, y)); });
  });
  detail::bump_version(self);
  return self;
}

template <class Op>
Tensor& inplace_scalar(Tensor& self, Scalar s, const char* name, Op op) {
  check_writable(self, scalar_result_type(self, s), name);
  dispatch(self.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T v = s.to<T>();
    kernels::map1(kernels::in<T>(self, self.shape()), kernels::out<T>(self), self.shape(),
                  [&](T x) { return static_cast<T>(op(x, v)); });
  });
  detail::bump_version(self);
  return self;
}

}  // namespace

Tensor& Tensor::add_(const Tensor& other, Scalar alpha) {
  if (detail::is_sparse(*this) || detail::is_sparse(other)) return detail::sparse_add_(*this, other, alpha.to_double());
  const bool rec = needs_grad(*this, other);
  check_inplace(*this, "add_", rec);
  if (rec) return write_back(*this, ag::add(*this, other, alpha), "add_");
  return inplace_binary(*this, other, "add_", [alpha](auto x, auto y) {
    return kernels::wrap_add(x, kernels::wrap_mul(alpha.to<decltype(y)>(), y));
  });
}
Tensor& Tensor::add_(Scalar other) {
  const bool rec = needs_grad(*this);
  check_inplace(*this, "add_", rec);
  if (rec) return write_back(*this, ag::add(*this, other), "add_");
  return inplace_scalar(*this, other, "add_", [](auto x, auto y) { return kernels::wrap_add(x, y); });
}
Tensor& Tensor::sub_(const Tensor& other, Scalar alpha) {
  AG_CHECK(defined() && other.defined() && !(dtype() == kBool && other.dtype() == kBool), "sub_: subtracting bool "
           "tensors is not supported; use logical_xor() or the ^ operator instead");
  return add_(other, alpha.is_integral() ? Scalar(kernels::wrap_neg(alpha.to_int())) : Scalar(-alpha.to_double()));
}
Tensor& Tensor::sub_(Scalar other) {
  AG_CHECK(defined() && dtype() != kBool, "sub_: subtracting from a bool tensor is not supported; use logical_xor() "
           "or the ^ operator instead");
  return add_(other.is_integral() ? Scalar(kernels::wrap_neg(other.to_int())) : Scalar(-other.to_double()));
}
Tensor& Tensor::mul_(const Tensor& other) {
  const bool rec = needs_grad(*this, other);
  check_inplace(*this, "mul_", rec);
  if (rec) return write_back(*this, ag::mul(clone(), other), "mul_");
  return inplace_binary(*this, other, "mul_", [](auto x, auto y) { return kernels::wrap_mul(x, y); });
}
Tensor& Tensor::mul_(Scalar other) {
  if (detail::is_sparse(*this))
    return detail::sparse_map_values_(*this, "mul_", [other](const Tensor& v) { return v * other; });
  const bool rec = needs_grad(*this);
  check_inplace(*this, "mul_", rec);
  if (rec) return write_back(*this, ag::mul(*this, other), "mul_");
  return inplace_scalar(*this, other, "mul_", [](auto x, auto y) { return kernels::wrap_mul(x, y); });
}
Tensor& Tensor::div_(const Tensor& other) {
  const bool rec = needs_grad(*this, other);
  check_inplace(*this, "div_", rec);
  AG_CHECK(is_floating(dtype()), "div_: true division cannot be written into a ", dtype(), " tensor in place");
  if (rec) return write_back(*this, ag::div(clone(), other), "div_");
  return inplace_binary(*this, other, "div_", [](auto x, auto y) { return x / y; });
}
Tensor& Tensor::div_(Scalar other) {
  if (detail::is_sparse(*this))
    return detail::sparse_map_values_(*this, "div_", [other](const Tensor& v) { return v / other; });
  const bool rec = needs_grad(*this);
  check_inplace(*this, "div_", rec);
  AG_CHECK(is_floating(dtype()), "div_: true division cannot be written into a ", dtype(), " tensor in place");
  if (rec) return write_back(*this, ag::div(*this, other), "div_");
  return inplace_scalar(*this, other, "div_", [](auto x, auto y) { return x / y; });
}

Tensor& Tensor::clamp_(std::optional<Scalar> min, std::optional<Scalar> max) {
  const bool rec = needs_grad(*this);
  check_inplace(*this, "clamp_", rec);
  if (rec) return write_back(*this, ag::clamp(clone(), min, max), "clamp_");  // clamp saves its input
  Tensor result = ag::clamp(*this, min, max);
  check_writable(*this, result.dtype(), "clamp_");
  detail::copy_values(*this, result);
  detail::bump_version(*this);
  return *this;
}

Tensor& Tensor::masked_fill_(const Tensor& mask, Scalar value) {
  AG_CHECK(defined(), "masked_fill_: the tensor is undefined");
  return masked_fill_(mask, scalar_tensor(value, scalar_result_type(*this, value)));
}

Tensor& Tensor::masked_fill_(const Tensor& mask, const Tensor& value) {
  const bool rec = needs_grad(*this, value);
  check_inplace(*this, "masked_fill_", rec);
  check_writable(*this, value.defined() ? value.dtype() : dtype(), "masked_fill_");
  Tensor result = ag::masked_fill(*this, unaliased(*this, mask), value.dtype() == dtype() ? value : as(value, dtype()));
  if (rec) return write_back(*this, result, "masked_fill_");
  detail::copy_values(*this, result);
  detail::bump_version(*this);
  return *this;
}

Tensor& Tensor::fill_(Scalar value) {
  if (detail::is_sparse(*this)) {
    AG_CHECK(value.to_double() == 0, "fill_: a sparse tensor (shape ", shape(), ") can only be filled with 0, got ",
             value.to_double(), "; call to_dense() first");
    return detail::sparse_zero_(*this);
  }
  const bool rec = needs_grad(*this);
  check_inplace(*this, "fill_", rec);
  check_writable(*this, scalar_result_type(*this, value), "fill_");
  dispatch(dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T v = value.to<T>();
    if (v == T(0) && !std::signbit(static_cast<double>(v)) && is_contiguous()) {
      // zero_() (zero_grad, zeros): all-zero bytes in every dtype, written by memset in chunks
      T* p = data_ptr<T>();
      parallel_for(0, numel(), kGrainSize, [&](std::int64_t lo, std::int64_t hi) {
        std::memset(p + lo, 0, static_cast<std::size_t>(hi - lo) * sizeof(T));
      });
      return;
    }
    kernels::map1(kernels::in<T>(*this, shape()), kernels::out<T>(*this), shape(), [v](T) { return v; });
  });
  detail::bump_version(*this);
  if (rec) {  // the new values no longer depend on the old ones
    Tensor marker = detail::make_alias(*this);
    record("FillBackward0", marker, {*this}, {},
           [](const Tensor& g, const BackwardContext&) -> Grads { return {zeros_like(g)}; });
    rebase(*this, marker);
  }
  return *this;
}

Tensor& Tensor::zero_() { return fill_(0); }

Tensor& Tensor::copy_(const Tensor& src) {
  AG_CHECK(defined(), "copy_: the tensor is undefined");
  AG_CHECK(src.defined(), "copy_: the source is undefined");
  const bool rec = needs_grad(*this, src);
  check_inplace(*this, "copy_", rec);
  Shape so = broadcast_shapes(shape(), src.shape(), "copy_");
  AG_CHECK(so == shape(), "copy_: a source of shape ", src.shape(), " cannot be copied into a tensor of shape ", shape());
  AG_CHECK(is_floating(dtype()) || !is_floating(src.dtype()), "copy_: cannot copy ", src.dtype(), " values into a ",
           dtype(), " tensor");
  detail::copy_values(*this, unaliased(*this, src));
  detail::bump_version(*this);
  if (rec) {
    Tensor marker = detail::make_alias(*this);
    record("CopyBackwards", marker, {*this, src}, {}, [ss = src.shape(), sd = src.dtype()](const Tensor& g, const BackwardContext& ctx) -> Grads {
      Tensor gs;
      if (ctx.needs_grad(1)) gs = sum_to(g.dtype() == sd ? g : g.to(sd), ss);
      return {ctx.needs_grad(0) ? zeros_like(g) : Tensor(), gs};
    });
    rebase(*this, marker);
  }
  return *this;
}

// ---- Tensor methods -------------------------------------------------------------------------

Tensor Tensor::add(const Tensor& other, Scalar alpha) const { return ag::add(*this, other, alpha); }
Tensor Tensor::sub(const Tensor& other, Scalar alpha) const { return ag::sub(*this, other, alpha); }
Tensor Tensor::mul(const Tensor& other) const { return ag::mul(*this, other); }
Tensor Tensor::div(const Tensor& other) const { return ag::div(*this, other); }
Tensor Tensor::add(Scalar other) const { return ag::add(*this, other); }
Tensor Tensor::sub(Scalar other) const { return ag::sub(*this, other); }
Tensor Tensor::mul(Scalar other) const { return ag::mul(*this, other); }
Tensor Tensor::div(Scalar other) const { return ag::div(*this, other); }
Tensor Tensor::neg() const { return ag::neg(*this); }
Tensor Tensor::pow(Scalar exponent) const { return ag::pow(*this, exponent); }
Tensor Tensor::pow(const Tensor& exponent) const { return ag::pow(*this, exponent); }
Tensor Tensor::exp() const { return ag::exp(*this); }
Tensor Tensor::log() const { return ag::log(*this); }
Tensor Tensor::sqrt() const { return ag::sqrt(*this); }
Tensor Tensor::abs() const { return ag::abs(*this); }
Tensor Tensor::tanh() const { return ag::tanh(*this); }
Tensor Tensor::sigmoid() const { return ag::sigmoid(*this); }
Tensor Tensor::relu() const { return ag::relu(*this); }
Tensor Tensor::clamp(std::optional<Scalar> min, std::optional<Scalar> max) const { return ag::clamp(*this, min, max); }
Tensor Tensor::maximum(const Tensor& other) const { return ag::maximum(*this, other); }
Tensor Tensor::minimum(const Tensor& other) const { return ag::minimum(*this, other); }
Tensor Tensor::eq(const Tensor& other) const { return ag::eq(*this, other); }
Tensor Tensor::ne(const Tensor& other) const { return ag::ne(*this, other); }
Tensor Tensor::lt(const Tensor& other) const { return ag::lt(*this, other); }
Tensor Tensor::le(const Tensor& other) const { return ag::le(*this, other); }
Tensor Tensor::gt(const Tensor& other) const { return ag::gt(*this, other); }
Tensor Tensor::ge(const Tensor& other) const { return ag::ge(*this, other); }
Tensor Tensor::logical_not() const { return ag::logical_not(*this); }
Tensor Tensor::logical_and(const Tensor& other) const { return ag::logical_and(*this, other); }
Tensor Tensor::logical_or(const Tensor& other) const { return ag::logical_or(*this, other); }
Tensor Tensor::logical_xor(const Tensor& other) const { return ag::logical_xor(*this, other); }
Tensor Tensor::isnan() const { return ag::isnan(*this); }
Tensor Tensor::isinf() const { return ag::isinf(*this); }
Tensor Tensor::isfinite() const { return ag::isfinite(*this); }
Tensor Tensor::masked_fill(const Tensor& mask, Scalar value) const { return ag::masked_fill(*this, mask, value); }
Tensor Tensor::masked_fill(const Tensor& mask, const Tensor& value) const { return ag::masked_fill(*this, mask, value); }
Tensor Tensor::masked_select(const Tensor& mask) const { return ag::masked_select(*this, mask); }

}  // namespace ag
