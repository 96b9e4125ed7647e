#pragma once
// The helpers the elementwise ops share (elementwise.cpp, unary.cpp, compare.cpp, inplace.cpp):
// PyTorch's result types, dtype conversion without recording, and the forward loops of binary,
// unary, scalar and comparison ops over any layout. Internal to autograd/ops.

#include <optional>

#include "ag/autograd/ops.h"
#include "ag/autograd/ops/kernels.h"

namespace ag::elementwise {

/// PyTorch's result type: a 0-d tensor yields to a dimensioned one unless it is of a higher
/// category (bool < integral < floating).
inline Dtype result_type(const Tensor& a, const Tensor& b, const char* op) {
  AG_CHECK(a.defined() && b.defined(), op, ": argument '", a.defined() ? "other" : "input", "' is an undefined tensor");
  Dtype da = a.dtype(), db = b.dtype();
  if (da == db) return da;
  bool za = a.dim() == 0, zb = b.dim() == 0;
  if (za == zb) return promote_types(da, db);
  const Tensor& dimensioned = za ? b : a;
  const Tensor& zero_d = za ? a : b;
  if (type_category(zero_d.dtype()) > type_category(dimensioned.dtype())) return zero_d.dtype();
  return dimensioned.dtype();
}

/// The dtype of `a op s` for a number s: a's, unless s is of a higher category (an integer with
/// a bool tensor gives int64, a fraction with an integral one float32).
inline Dtype scalar_result_type(const Tensor& a, Scalar s) {
  AG_CHECK(a.defined(), "an argument is an undefined tensor");
  const Dtype dtype = a.impl()->dtype;
  const int cs = s.is_bool() ? 0 : s.is_integral() ? 1 : 2;
  if (cs > type_category(dtype)) return cs == 1 ? kInt64 : kFloat32;
  return dtype;
}

/// `t` converted to `dtype` without recording (the op records its original inputs).
inline Tensor as(const Tensor& t, Dtype dtype) {
  if (t.dtype() == dtype) return t;
  NoGradGuard no_grad;
  return t.to(dtype);
}
/// The same without a copy of the handle when t already has `dtype`: a converted copy is kept
/// in `holder`.
inline const Tensor& as(const Tensor& t, Dtype dtype, Tensor& holder) {
  if (t.impl()->dtype == dtype) return t;  // t is defined: the ops check first
  NoGradGuard no_grad;
  return holder = t.to(dtype);
}

inline void check_defined(const Tensor& t, const char* op, const char* arg) {
  AG_CHECK(t.defined(), op, ": argument '", arg, "' is an undefined tensor");
}

inline void check_not_bool(const Tensor& t, const char* op, const char* hint) {
  AG_CHECK(t.dtype() != kBool, op, ": not supported for a bool tensor (shape ", t.shape(), ")", hint);
}

/// out = op(a, b) in `dtype`, broadcast; a and b in any layout, out contiguous.
template <class Op>
inline Tensor binary(const Tensor& a, const Tensor& b, const char* name, Dtype dtype, Op op) {
  check_defined(a, name, "input");
  check_defined(b, name, "other");
  Shape so = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor ha, hb;
  const Tensor &ca = as(a, dtype, ha), &cb = as(b, dtype, hb);
  Tensor out = detail::make_tensor(so, dtype);
  dispatch(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    kernels::map2(kernels::in<T>(ca, so), kernels::in<T>(cb, so), kernels::out<T>(out), so,
                  [&](T x, T y) { return static_cast<T>(op(x, y)); });
  });
  return out;
}

/// out = op(x) elementwise; integer and bool inputs are computed in float32, as PyTorch does.
template <class Op>
inline Tensor unary_float(const Tensor& x, const char* name, Op op) {
  check_defined(x, name, "input");
  Tensor cx = is_floating(x.dtype()) ? x : as(x, kFloat32);
  Tensor out = detail::make_tensor(cx.shape(), cx.dtype());
  dispatch_floating(cx.dtype(), name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    kernels::map1(kernels::in<T>(cx, cx.shape()), kernels::out<T>(out), cx.shape(), [&](T v) { return static_cast<T>(op(v)); });
  });
  return out;
}

/// out = op(x) in x's own dtype, for the numeric dtypes (bool refused, naming the op).
template <class Op>
inline Tensor unary_same(const Tensor& x, const char* name, Op op) {
  check_defined(x, name, "input");
  Tensor out = detail::make_tensor(x.shape(), x.dtype());
  dispatch_numeric(x.dtype(), name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    kernels::map1(kernels::in<T>(x, x.shape()), kernels::out<T>(out), x.shape(), [&](T v) { return static_cast<T>(op(v)); });
  });
  return out;
}

/// out = op(a, s) elementwise for a number s, in `dtype` (by default: PyTorch's result type).
template <class Op>
inline Tensor scalar_op(const Tensor& a, Scalar s, const char* name, Op op, std::optional<Dtype> dtype = std::nullopt) {
  check_defined(a, name, "input");
  Dtype dt = dtype ? *dtype : scalar_result_type(a, s);
  Tensor holder;
  const Tensor& ca = as(a, dt, holder);
  const Shape& shape = ca.impl()->shape;
  Tensor out = detail::make_tensor(shape, dt);
  dispatch(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T v = s.to<T>();
    kernels::map1(kernels::in<T>(ca, shape), kernels::out<T>(out), shape, [v, &op](T x) { return static_cast<T>(op(x, v)); });
  });
  return out;
}

/// A bool mask of cmp(a, b), compared in their result type.
template <class Cmp>
inline Tensor compare(const Tensor& a, const Tensor& b, const char* name, Cmp cmp) {
  check_defined(a, name, "input");
  check_defined(b, name, "other");
  Dtype dtype = result_type(a, b, name);
  Shape so = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor ca = as(a, dtype), cb = as(b, dtype);
  Tensor out = detail::make_tensor(so, kBool);
  dispatch(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    kernels::map2(kernels::in<T>(ca, so), kernels::in<T>(cb, so), kernels::out<bool>(out), so,
                  [&](T x, T y) -> bool { return cmp(x, y); });
  });
  return out;
}

/// A 0-d tensor holding s, of the dtype that `t op s` computes in.
inline Tensor scalar_like(Scalar s, const Tensor& t) { return scalar_tensor(s, scalar_result_type(t, s)); }

/// A bool tensor that says where f(x) holds, for x of any dtype (bool and int64 read as numbers).
template <class F>
inline Tensor predicate(const Tensor& x, const char* name, F f) {
  check_defined(x, name, "input");
  Tensor out = detail::make_tensor(x.shape(), kBool);
  dispatch(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    kernels::map1(kernels::in<T>(x, x.shape()), kernels::out<bool>(out), x.shape(), [&](T v) -> bool { return f(v); });
  });
  return out;
}

}  // namespace ag::elementwise
