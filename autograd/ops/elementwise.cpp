// Elementwise ops: arithmetic with NumPy broadcasting, unary math, comparisons, in-place ops.
// Each op: checks, forward, then its backward written with ag's own ops (so create_graph
// records it and higher derivatives come for free).

#include <cmath>
#include <cstring>

#include "ag/autograd/node.h"
#include "ag/autograd/ops.h"
#include "ag/autograd/ops/inplace.h"
#include "ag/autograd/ops/kernels.h"

namespace ag {


namespace {

/// PyTorch's result type: a 0-d tensor yields to a dimensioned one unless it is of a higher
/// category (bool < integral < floating).
Dtype result_type(const Tensor& a, const Tensor& b, const char* op) {
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
Dtype scalar_result_type(const Tensor& a, Scalar s) {
  AG_CHECK(a.defined(), "an argument is an undefined tensor");
  const Dtype dtype = a.impl()->dtype;
  const int cs = s.is_bool() ? 0 : s.is_integral() ? 1 : 2;
  if (cs > type_category(dtype)) return cs == 1 ? kInt64 : kFloat32;
  return dtype;
}

/// `t` converted to `dtype` without recording (the op records its original inputs).
Tensor as(const Tensor& t, Dtype dtype) {
  if (t.dtype() == dtype) return t;
  NoGradGuard no_grad;
  return t.to(dtype);
}
/// The same without a copy of the handle when t already has `dtype`: a converted copy is kept
/// in `holder`.
const Tensor& as(const Tensor& t, Dtype dtype, Tensor& holder) {
  if (t.impl()->dtype == dtype) return t;  // t is defined: the ops check first
  NoGradGuard no_grad;
  return holder = t.to(dtype);
}

void check_defined(const Tensor& t, const char* op, const char* arg) {
  AG_CHECK(t.defined(), op, ": argument '", arg, "' is an undefined tensor");
}

void check_not_bool(const Tensor& t, const char* op, const char* hint) {
  AG_CHECK(t.dtype() != kBool, op, ": not supported for a bool tensor (shape ", t.shape(), ")", hint);
}

/// out = op(a, b) in `dtype`, broadcast; a and b in any layout, out contiguous.
template <class Op>
Tensor binary(const Tensor& a, const Tensor& b, const char* name, Dtype dtype, Op op) {
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
Tensor unary_float(const Tensor& x, const char* name, Op op) {
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
Tensor unary_same(const Tensor& x, const char* name, Op op) {
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
Tensor scalar_op(const Tensor& a, Scalar s, const char* name, Op op, std::optional<Dtype> dtype = std::nullopt) {
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
Tensor compare(const Tensor& a, const Tensor& b, const char* name, Cmp cmp) {
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
Tensor scalar_like(Scalar s, const Tensor& t) { return scalar_tensor(s, scalar_result_type(t, s)); }

/// A bool tensor that says where f(x) holds, for x of any dtype (bool and int64 read as numbers).
template <class F>
Tensor predicate(const Tensor& x, const char* name, F f) {
  check_defined(x, name, "input");
  Tensor out = detail::make_tensor(x.shape(), kBool);
  dispatch(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    kernels::map1(kernels::in<T>(x, x.shape()), kernels::out<bool>(out), x.shape(), [&](T v) -> bool { return f(v); });
  });
  return out;
}

}  // namespace

// ---- arithmetic -----------------------------------------------------------------------------

Tensor add(const Tensor& a, const Tensor& b, Scalar alpha) {
  // a: [*a], b: [*b] -> out: broadcast(a, b)
  if (detail::is_sparse(a) || detail::is_sparse(b)) return detail::sparse_add(a, b, alpha.to_double());
  Dtype dtype = result_type(a, b, "add");
  double al = alpha.to_double();
  Tensor out = al == 1.0 ? binary(a, b, "add", dtype, [](auto x, auto y) { return kernels::wrap_add(x, y); })
                         : binary(a, b, "add", dtype, [alpha](auto x, auto y) {
                             return kernels::wrap_add(x, kernels::wrap_mul(alpha.to<decltype(y)>(), y));
                           });
  if (needs_grad(a, b))
    record("AddBackward0", out, {a, b}, {}, [sa = a.shape(), sb = b.shape(), al](const Tensor& g, const BackwardContext& ctx) -> Grads {
      return {ctx.needs_grad(0) ? sum_to(g, sa) : Tensor(),
              ctx.needs_grad(1) ? sum_to(al == 1.0 ? g : g * al, sb) : Tensor()};
    });
  return out;
}

Tensor add(const Tensor& a, Scalar b) {
  Tensor out = scalar_op(a, b, "add", [](auto x, auto v) { return kernels::wrap_add(x, v); });
  if (needs_grad(a))
    record("AddBackward1", out, {a}, {}, [](const Tensor& g, const BackwardContext&) -> Grads { return {g}; });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b, Scalar alpha) {
  // a: [*a], b: [*b] -> out: broadcast(a, b)
  if (detail::is_sparse(a) || detail::is_sparse(b)) return detail::sparse_add(a, b, -alpha.to_double());
  Dtype dtype = result_type(a, b, "sub");
  AG_CHECK(a.dtype() != kBool && b.dtype() != kBool, "sub: subtracting with a bool tensor (shapes ", a.shape(), " and ",
           b.shape(), ", dtypes ", a.dtype(), " and ", b.dtype(), ") is not supported; use logical_xor() or the ^ "
           "operator to compare masks, or convert with to(ag::kInt64)");
  double al = alpha.to_double();
  Tensor out = binary(a, b, "sub", dtype, [alpha](auto x, auto y) {
    return kernels::wrap_sub(x, kernels::wrap_mul(alpha.to<decltype(y)>(), y));
  });
  if (needs_grad(a, b))
    record("SubBackward0", out, {a, b}, {}, [sa = a.shape(), sb = b.shape(), al](const Tensor& g, const BackwardContext& ctx) -> Grads {
      return {ctx.needs_grad(0) ? sum_to(g, sa) : Tensor(), ctx.needs_grad(1) ? sum_to(g * -al, sb) : Tensor()};
    });
  return out;
}

Tensor sub(const Tensor& a, Scalar b) {
  check_defined(a, "sub", "input");
  AG_CHECK(a.dtype() != kBool && !b.is_bool(), "sub: subtracting with a bool (tensor of shape ", a.shape(), ", ",
           a.dtype(), ") is not supported; use logical_xor() or the ^ operator instead, or convert with to(ag::kInt64)");
  return add(a, b.is_integral() ? Scalar(kernels::wrap_neg(b.to_int())) : Scalar(-b.to_double()));
}

Tensor rsub(const Tensor& a, Scalar b) {
  check_defined(a, "rsub", "input");
  AG_CHECK(a.dtype() != kBool && !b.is_bool(), "rsub: subtracting a bool tensor (shape ", a.shape(),
           ") is not supported; to invert a mask use logical_not() or the ~ operator, or convert with to(ag::kInt64)");
  Tensor out = scalar_op(a, b, "rsub", [](auto x, auto v) { return kernels::wrap_sub(v, x); });
  if (needs_grad(a))
    record("RsubBackward1", out, {a}, {}, [](const Tensor& g, const BackwardContext&) -> Grads { return {-g}; });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  // a: [*a], b: [*b] -> out: broadcast(a, b)
  Tensor out = binary(a, b, "mul", result_type(a, b, "mul"), [](auto x, auto y) { return kernels::wrap_mul(x, y); });
  if (needs_grad(a, b))
    record("MulBackward0", out, {a, b}, {save(a), save(b)}, [](const Tensor& g, const BackwardContext& ctx) -> Grads {
      const Tensor &a = ctx.saved(0), &b = ctx.saved(1);
      return {ctx.needs_grad(0) ? sum_to(g * b, a.shape()) : Tensor(),
              ctx.needs_grad(1) ? sum_to(g * a, b.shape()) : Tensor()};
    });
  return out;
}

Tensor mul(const Tensor& a, Scalar b) {
  if (detail::is_sparse(a)) return detail::sparse_map_values(a, "mul", [b](const Tensor& v) { return v * b; });
  Tensor out = scalar_op(a, b, "mul", [](auto x, auto v) { return kernels::wrap_mul(x, v); });
  if (needs_grad(a))
    record("MulBackward1", out, {a}, {}, [b](const Tensor& g, const BackwardContext&) -> Grads { return {g * b}; });
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  // a: [*a], b: [*b] -> out: broadcast(a, b); integers divide as floats
  Dtype dtype = result_type(a, b, "div");
  if (!is_floating(dtype)) dtype = kFloat32;
  Tensor out = binary(a, b, "div", dtype, [](auto x, auto y) { return x / y; });
  if (needs_grad(a, b))
    record("DivBackward0", out, {a, b}, {save(a), save(b)}, [](const Tensor& g, const BackwardContext& ctx) -> Grads {
      const Tensor &a = ctx.saved(0), &b = ctx.saved(1);
      return {ctx.needs_grad(0) ? sum_to(g / b, a.shape()) : Tensor(),
              ctx.needs_grad(1) ? sum_to(-g * a / (b * b), b.shape()) : Tensor()};
    });
  return out;
}

Tensor div(const Tensor& a, Scalar b) {
  check_defined(a, "div", "input");
  if (detail::is_sparse(a)) return detail::sparse_map_values(a, "div", [b](const Tensor& v) { return v / b; });
  Tensor out = scalar_op(a, b, "div", [](auto x, auto v) { return x / v; },
                         is_floating(a.dtype()) ? a.dtype() : kFloat32);  // true division
  if (needs_grad(a))
    record("DivBackward1", out, {a}, {}, [b](const Tensor& g, const BackwardContext&) -> Grads { return {g / b}; });
  return out;
}

Tensor atan2(const Tensor& a, const Tensor& b) {
  // a: [*a], b: [*b] -> out: broadcast(a, b), the angle of the point (b, a); integers give float32
  Dtype dtype = result_type(a, b, "atan2");
  if (!is_floating(dtype)) dtype = kFloat32;
  Tensor out = binary(a, b, "atan2", dtype, [](auto y, auto x) { return std::atan2(y, x); });
  if (needs_grad(a, b))
    record("Atan2Backward0", out, {a, b}, {save(a), save(b)}, [](const Tensor& g, const BackwardContext& ctx) -> Grads {
      const Tensor &a = ctx.saved(0), &b = ctx.saved(1);
      Tensor r2 = a * a + b * b;  // d/da = b / (a^2 + b^2), d/db = -a / (a^2 + b^2)
      return {ctx.needs_grad(0) ? sum_to(g * b / r2, a.shape()) : Tensor(),
              ctx.needs_grad(1) ? sum_to(-g * a / r2, b.shape()) : Tensor()};
    });
  return out;
}

Tensor rdiv(const Tensor& a, Scalar b) {
  check_defined(a, "rdiv", "input");
  Tensor out = unary_float(a, "rdiv", [s = b.to_double()](auto x) { return static_cast<decltype(x)>(s) / x; });
  if (needs_grad(a))
    record("ReciprocalBackward0", out, {a}, {save(a)}, [b](const Tensor& g, const BackwardContext& ctx) -> Grads {
      const Tensor& a = ctx.saved(0);
      return {-g * b / (a * a)};
    });
  return out;
}

Tensor neg(const Tensor& x) {
  check_defined(x, "neg", "input");
  if (detail::is_sparse(x)) return detail::sparse_map_values(x, "neg", [](const Tensor& v) { return -v; });
  check_not_bool(x, "neg", "; to invert a mask use logical_not() or the ~ operator");
  Tensor out = unary_same(x, "neg", [](auto v) { return kernels::wrap_neg(v); });
  if (needs_grad(x))
    record("NegBackward0", out, {x}, {}, [](const Tensor& g, const BackwardContext&) -> Grads { return {-g}; });
  return out;
}

Tensor pow(const Tensor& x, Scalar exponent) {
  double e = exponent.to_double();
  Tensor out;
  check_defined(x, "pow", "input");
  if (!is_floating(x.dtype()) && exponent.is_integral() && e >= 0) {  // int64 ** non-negative int stays int64
    Tensor xi = as(x, kInt64);
    out = detail::make_tensor(x.shape(), kInt64);
    kernels::map1(kernels::in<std::int64_t>(xi, x.shape()), kernels::out<std::int64_t>(out), x.shape(),
                  [n = exponent.to_int()](std::int64_t v) {
                    std::int64_t r = 1;
                    for (std::int64_t k = 0; k < n; ++k) r = kernels::wrap_mul(r, v);
                    return r;
                  });
    return out;
  }
  if (e == 2.0) out = unary_float(x, "pow", [](auto v) { return v * v; });
  else if (e == 1.0) out = unary_float(x, "pow", [](auto v) { return v; });
  else out = unary_float(x, "pow", [e](auto v) { return std::pow(v, static_cast<decltype(v)>(e)); });
  if (needs_grad(x))
    record("PowBackward0", out, {x}, {save(x)}, [e](const Tensor& g, const BackwardContext& ctx) -> Grads {
      const Tensor& x = ctx.saved(0);
      if (e == 0.0) return {zeros_like(g)};
      return {g * e * (e == 2.0 ? x : pow(x, e - 1.0))};
    });
  return out;
}

Tensor pow(const Tensor& x, const Tensor& exponent) {
  Dtype dtype = result_type(x, exponent, "pow");
  if (!is_floating(dtype)) dtype = kFloat32;
  Tensor out = binary(x, exponent, "pow", dtype, [](auto b, auto e) { return std::pow(b, e); });
  if (needs_grad(x, exponent))
    record("PowBackward1", out, {x, exponent}, {save(x), save(exponent), save_output(out)},
           [](const Tensor& g, const BackwardContext& ctx) -> Grads {
             const Tensor &x = ctx.saved(0), &e = ctx.saved(1), &out = ctx.saved(2);
             Tensor gx, ge;
             if (ctx.needs_grad(0)) gx = sum_to(g * e * pow(x, e - 1.0), x.shape());
             if (ctx.needs_grad(1)) {
               // d/de x^e = x^e log x, taken as 0 where x == 0 and e >= 0 (PyTorch's convention)
               Tensor zero_base = (x == 0) * (e >= 0);
               ge = sum_to(where(zero_base, zeros_like(g), g * out * log(x)), e.shape());
             }
             return {gx, ge};
           });
  return out;
}

Tensor exp(const Tensor& x) {
  Tensor out = unary_float(x, "exp", [](auto v) { return std::exp(v); });
  if (needs_grad(x))
    record("ExpBackward0", out, {x}, {save_output(out)},
           [](const Tensor& g, const BackwardContext& ctx) -> Grads { return {g * ctx.saved(0)}; });
  return out;
}

Tensor log(const Tensor& x) {
  Tensor out = unary_float(x, "log", [](auto v) { return std::log(v); });
  if (needs_grad(x))
    record("LogBackward0", out, {x}, {save(x)},
           [](const Tensor& g, const BackwardContext& ctx) -> Grads { return {g / ctx.saved(0)}; });
  return out;
}

Tensor sqrt(const Tensor& x) {
  Tensor out = unary_float(x, "sqrt", [](auto v) { return std::sqrt(v); });
  if (needs_grad(x))
    record("SqrtBackward0", out, {x}, {save_output(out)},
           [](const Tensor& g, const BackwardContext& ctx) -> Grads { return {g / (ctx.saved(0) * 2)}; });
  return out;
}

Tensor sign(const Tensor& x) {
  return unary_same(x, "sign", [](auto v) {
    using T = decltype(v);
    return static_cast<T>((T(0) < v) - (v < T(0)));
  });
}

Tensor abs(const Tensor& x) {
  Tensor out = unary_same(x, "abs", [](auto v) { return v < 0 ? kernels::wrap_neg(v) : v; });
  if (needs_grad(x))
    record("AbsBackward0", out, {x}, {save(x)},
           [](const Tensor& g, const BackwardContext& ctx) -> Grads { return {g * sign(ctx.saved(0))}; });
  return out;
}

Tensor tanh(const Tensor& x) {
  Tensor out = unary_float(x, "tanh", [](auto v) { return std::tanh(v); });
  if (needs_grad(x))
    record("TanhBackward0", out, {x}, {save_output(out)}, [](const Tensor& g, const BackwardContext& ctx) -> Grads {
      const Tensor& y = ctx.saved(0);
      return {g * rsub(y * y, 1)};
    });
  return out;
}

Tensor sigmoid(const Tensor& x) {
  Tensor out = unary_float(x, "sigmoid", [](auto v) {
    using T = decltype(v);
    return v >= 0 ? T(1) / (T(1) + std::exp(-v)) : std::exp(v) / (T(1) + std::exp(v));
  });
  if (needs_grad(x))
    record("SigmoidBackward0", out, {x}, {save_output(out)}, [](const Tensor& g, const BackwardContext& ctx) -> Grads {
      const Tensor& y = ctx.saved(0);
      return {g * y * rsub(y, 1)};
    });
  return out;
}

Tensor relu(const Tensor& x) {
  Tensor out = unary_same(x, "relu", [](auto v) { return v > 0 ? v : decltype(v)(0); });
  if (needs_grad(x))
    record("ReluBackward0", out, {x}, {save_output(out)}, [](const Tensor& g, const BackwardContext& ctx) -> Grads {
      const Tensor& y = ctx.saved(0);
      if (GradMode::is_enabled() || g.dtype() != y.dtype()) return {g * (y > 0)};  // create_graph: differentiable
      Tensor gx = detail::make_tensor(g.shape(), g.dtype());  // one pass: g where y > 0
      dispatch_floating(g.dtype(), "relu backward", [&](auto tag) {
        using T = typename decltype(tag)::type;
        kernels::map2(kernels::in<T>(g, g.shape()), kernels::in<T>(y, g.shape()), kernels::out<T>(gx), g.shape(),
                      [](T gv, T yv) { return yv > T(0) ? gv : T(0); });
      });
      return {gx};
    });
  return out;
}

Tensor erf(const Tensor& x) {
  Tensor out = unary_float(x, "erf", [](auto v) { return std::erf(v); });
  if (needs_grad(x))
    record("ErfBackward0", out, {x}, {save(x)}, [](const Tensor& g, const BackwardContext& ctx) -> Grads {
      const Tensor& x = ctx.saved(0);
      return {g * exp(-(x * x)) * M_2_SQRTPI};  // d/dx erf(x) = 2/sqrt(pi) exp(-x^2)
    });
  return out;
}

Tensor gelu(const Tensor& x) {
  Tensor out = unary_float(x, "gelu", [](auto v) {
    using T = decltype(v);
    return v * T(0.5) * (T(1) + std::erf(v * T(M_SQRT1_2)));
  });
  if (needs_grad(x))
    record("GeluBackward0", out, {x}, {save(x)}, [](const Tensor& g, const BackwardContext& ctx) -> Grads {
      // d/dx x Φ(x) = Φ(x) + x φ(x)
      const Tensor& x = ctx.saved(0);
      Tensor cdf = (erf(x * M_SQRT1_2) + 1) * 0.5;
      Tensor pdf = exp(x * x * -0.5) * (0.5 * M_2_SQRTPI * M_SQRT1_2);
      return {g * (cdf + x * pdf)};
    });
  return out;
}

Tensor clamp(const Tensor& x, std::optional<Scalar> min, std::optional<Scalar> max) {
  AG_CHECK(min || max, "clamp: at least one of min and max must be given");
  check_defined(x, "clamp", "input");
  check_not_bool(x, "clamp", "");
  Dtype dtype = x.dtype();
  if (!is_floating(dtype) && ((min && !min->is_integral()) || (max && !max->is_integral()))) dtype = kFloat32;
  Tensor cx = as(x, dtype);
  Tensor out = detail::make_tensor(x.shape(), dtype);
  dispatch_numeric(dtype, "clamp", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T lo = min ? min->to<T>() : std::numeric_limits<T>::lowest();
    T hi = max ? max->to<T>() : std::numeric_limits<T>::max();
    // min(max(x, lo), hi): with lo > hi every element is hi, as PyTorch documents; NaN stays NaN.
    kernels::map1(kernels::in<T>(cx, x.shape()), kernels::out<T>(out), x.shape(),
                  [lo, hi](T v) { return v < lo ? (lo > hi ? hi : lo) : (v > hi ? hi : v); });
  });
  if (needs_grad(x))
    record("ClampBackward1", out, {x}, {save(x)}, [min, max](const Tensor& g, const BackwardContext& ctx) -> Grads {
      // The gradient flows where the output is x itself: min <= x <= max.
      const Tensor& x = ctx.saved(0);
      Tensor pass = ones_like(x, kBool);
      if (min) pass = pass & (x >= *min);
      if (max) pass = pass & (x <= *max);
      return {g * pass};
    });
  return out;
}

Tensor maximum(const Tensor& a, const Tensor& b) {
  Tensor out = binary(a, b, "maximum", result_type(a, b, "maximum"), [](auto x, auto y) { return x > y || x != x ? x : y; });
  if (needs_grad(a, b))
    record("MaximumBackward0", out, {a, b}, {save(a), save(b)}, [](const Tensor& g, const BackwardContext& ctx) -> Grads {
      const Tensor &a = ctx.saved(0), &b = ctx.saved(1);
      Tensor wa = (a > b) + (a == b) * 0.5;  // ties split the gradient
      return {ctx.needs_grad(0) ? sum_to(g * wa, a.shape()) : Tensor(),
              ctx.needs_grad(1) ? sum_to(g * rsub(wa, 1), b.shape()) : Tensor()};
    });
  return out;
}

Tensor minimum(const Tensor& a, const Tensor& b) {
  Tensor out = binary(a, b, "minimum", result_type(a, b, "minimum"), [](auto x, auto y) { return x < y || x != x ? x : y; });
  if (needs_grad(a, b))
    record("MinimumBackward0", out, {a, b}, {save(a), save(b)}, [](const Tensor& g, const BackwardContext& ctx) -> Grads {
      const Tensor &a = ctx.saved(0), &b = ctx.saved(1);
      Tensor wa = (a < b) + (a == b) * 0.5;
      return {ctx.needs_grad(0) ? sum_to(g * wa, a.shape()) : Tensor(),
              ctx.needs_grad(1) ? sum_to(g * rsub(wa, 1), b.shape()) : Tensor()};
    });
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  // cond, a, b broadcast together -> out
  check_defined(cond, "where", "condition");
  AG_CHECK(cond.dtype() == kBool, "where: the condition must be a bool mask (as comparisons return), got ",
           cond.dtype(), " of shape ", cond.shape(), "; convert with `!= 0` or to(ag::kBool)");
  Dtype dtype = result_type(a, b, "where");
  Shape so = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor ca = as(a, dtype), cb = as(b, dtype);
  Tensor out = detail::make_tensor(so, dtype);
  dispatch(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    kernels::map3(kernels::in<bool>(cond, so), kernels::in<T>(ca, so), kernels::in<T>(cb, so), kernels::out<T>(out), so,
                  [](bool c, T x, T y) { return c ? x : y; });
  });
  if (needs_grad(a, b))
    record("WhereBackward0", out, {a, b}, {save(cond)}, [sa = a.shape(), sb = b.shape()](const Tensor& g, const BackwardContext& ctx) -> Grads {
      const Tensor& c = ctx.saved(0);
      Tensor zero = zeros({}, g.dtype());
      return {ctx.needs_grad(0) ? sum_to(where(c, g, zero), sa) : Tensor(),
              ctx.needs_grad(1) ? sum_to(where(c, zero, g), sb) : Tensor()};
    });
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, Scalar b) {
  check_defined(a, "where", "input");
  return where(cond, a, scalar_like(b, a));
}

Tensor where(const Tensor& cond, Scalar a, const Tensor& b) {
  check_defined(b, "where", "other");
  return where(cond, scalar_like(a, b), b);
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, Scalar value) {
  check_defined(x, "masked_fill", "input");
  return masked_fill(x, mask, scalar_tensor(value, x.dtype()));
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, const Tensor& value) {
  // x: [*], mask: broadcast to [*] (bool), value: a 0-d tensor -> [*]
  check_defined(x, "masked_fill", "input");
  check_defined(mask, "masked_fill", "mask");
  check_defined(value, "masked_fill", "value");
  AG_CHECK(mask.dtype() == kBool, "masked_fill: the mask must be a bool tensor, got ", mask.dtype(), " of shape ",
           mask.shape(), "; convert with `!= 0` or to(ag::kBool)");
  AG_CHECK(value.dim() == 0, "masked_fill: the value must be a number or a 0-d tensor, got shape ", value.shape());
  AG_CHECK(broadcast_shapes(mask.shape(), x.shape(), "masked_fill") == x.shape(), "masked_fill: a mask of shape ",
           mask.shape(), " does not broadcast to the input's shape ", x.shape());
  AG_CHECK(is_floating(x.dtype()) || !is_floating(value.dtype()), "masked_fill: cannot fill a ", x.dtype(),
           " tensor with a ", value.dtype(), " value");
  return where(mask, value.dtype() == x.dtype() ? value : value.to(x.dtype()), x);
}

Tensor masked_select(const Tensor& x, const Tensor& mask) {
  // x, mask broadcast together -> [number of true elements]
  check_defined(x, "masked_select", "input");
  check_defined(mask, "masked_select", "mask");
  AG_CHECK(mask.dtype() == kBool, "masked_select: the mask must be a bool tensor, got ", mask.dtype(), " of shape ",
           mask.shape());
  Shape so = broadcast_shapes(x.shape(), mask.shape(), "masked_select");
  return index(expand(x, so), {expand(mask, so)});
}

// ---- logic ------------------------------------------------------------------------------------

Tensor logical_not(const Tensor& x) {
  return predicate(x, "logical_not", [](auto v) { return v == decltype(v)(0); });
}

namespace {
template <class F>
Tensor logical(const Tensor& a, const Tensor& b, const char* name, F f) {
  Tensor ba = predicate(a, name, [](auto v) { return v != decltype(v)(0); });
  Tensor bb = predicate(b, name, [](auto v) { return v != decltype(v)(0); });
  return binary(ba, bb, name, kBool, f);
}

template <class F>
Tensor bitwise(const Tensor& a, const Tensor& b, const char* name, F f) {
  Dtype dtype = result_type(a, b, name);
  AG_CHECK(!is_floating(dtype), name, ": bitwise operations need bool or int64 tensors, got ", a.dtype(), " ",
           a.shape(), " and ", b.dtype(), " ", b.shape(), " (compare first, e.g. x > 0)");
  return binary(a, b, name, dtype, f);
}
}  // namespace

Tensor logical_and(const Tensor& a, const Tensor& b) { return logical(a, b, "logical_and", [](bool x, bool y) { return x && y; }); }
Tensor logical_or(const Tensor& a, const Tensor& b) { return logical(a, b, "logical_or", [](bool x, bool y) { return x || y; }); }
Tensor logical_xor(const Tensor& a, const Tensor& b) { return logical(a, b, "logical_xor", [](bool x, bool y) { return x != y; }); }

Tensor bitwise_not(const Tensor& x) {
  check_defined(x, "bitwise_not", "input");
  AG_CHECK(!is_floating(x.dtype()), "bitwise_not: needs a bool or int64 tensor, got ", x.dtype(), " of shape ",
           x.shape(), " (the ~ operator inverts masks)");
  if (x.dtype() == kBool) return logical_not(x);
  return unary_same(x, "bitwise_not", [](auto v) {
    if constexpr (std::is_integral_v<decltype(v)>) return decltype(v)(~v);
    else return v;  // not reached: floating types are refused above
  });
}
// Floating types are refused before these run; the branches only keep the templates compiling.
Tensor bitwise_and(const Tensor& a, const Tensor& b) {
  return bitwise(a, b, "bitwise_and", [](auto x, auto y) {
    if constexpr (std::is_integral_v<decltype(x)>) return decltype(x)(x & y);
    else return x;
  });
}
Tensor bitwise_or(const Tensor& a, const Tensor& b) {
  return bitwise(a, b, "bitwise_or", [](auto x, auto y) {
    if constexpr (std::is_integral_v<decltype(x)>) return decltype(x)(x | y);
    else return x;
  });
}
Tensor bitwise_xor(const Tensor& a, const Tensor& b) {
  return bitwise(a, b, "bitwise_xor", [](auto x, auto y) {
    if constexpr (std::is_integral_v<decltype(x)>) return decltype(x)(x ^ y);
    else return x;
  });
}

Tensor isnan(const Tensor& x) { return predicate(x, "isnan", [](auto v) { return v != v; }); }
Tensor isinf(const Tensor& x) {
  return predicate(x, "isinf", [](auto v) {
    if constexpr (std::is_floating_point_v<decltype(v)>) return std::isinf(v);
    else return false;
  });
}
Tensor isfinite(const Tensor& x) {
  return predicate(x, "isfinite", [](auto v) {
    if constexpr (std::is_floating_point_v<decltype(v)>) return std::isfinite(v);
    else return true;
  });
}

// ---- comparisons --------------------------------------------------------------------------

Tensor eq(const Tensor& a, const Tensor& b) { return compare(a, b, "eq", [](auto x, auto y) { return x == y; }); }
Tensor ne(const Tensor& a, const Tensor& b) { return compare(a, b, "ne", [](auto x, auto y) { return x != y; }); }
Tensor lt(const Tensor& a, const Tensor& b) { return compare(a, b, "lt", [](auto x, auto y) { return x < y; }); }
Tensor le(const Tensor& a, const Tensor& b) { return compare(a, b, "le", [](auto x, auto y) { return x <= y; }); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare(a, b, "gt", [](auto x, auto y) { return x > y; }); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare(a, b, "ge", [](auto x, auto y) { return x >= y; }); }

bool equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  Tensor n = ne(a, b);
  const bool* p = detail::data<bool>(n);
  for (std::int64_t i = 0, i_end = n.numel(); i < i_end; ++i)
    if (p[i]) return false;
  return true;
}

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol) {
  if (a.shape() != b.shape()) return false;
  std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (x[i] == y[i]) continue;  // equal infinities
    if (!(std::abs(x[i] - y[i]) <= atol + rtol * std::abs(y[i]))) return false;
  }
  return true;
}

// ---- broadcasting's backward ----------------------------------------------------------------

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  const Shape& s = x.shape();
  AG_CHECK(shape.size() <= s.size(), "sum_to: cannot reduce shape ", s, " to the larger rank of ", shape);
  std::size_t lead = s.size() - shape.size();
  std::vector<std::int64_t> dims;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i < lead) {
      dims.push_back(static_cast<std::int64_t>(i));
    } else {
      std::int64_t want = shape[i - lead];
      AG_CHECK(want == s[i] || want == 1, "sum_to: shape ", s, " does not broadcast from ", shape);
      if (want == 1 && s[i] != 1) dims.push_back(static_cast<std::int64_t>(i));
    }
  }
  return reshape(sum(x, dims, true), shape);
}

// ---- operators ------------------------------------------------------------------------------

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator+(const Tensor& a, Scalar b) { return add(a, b); }
Tensor operator+(Scalar a, const Tensor& b) { return add(b, a); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator-(const Tensor& a, Scalar b) { return sub(a, b); }
Tensor operator-(Scalar a, const Tensor& b) { return rsub(b, a); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator*(const Tensor& a, Scalar b) { return mul(a, b); }
Tensor operator*(Scalar a, const Tensor& b) { return mul(b, a); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator/(const Tensor& a, Scalar b) { return div(a, b); }
Tensor operator/(Scalar a, const Tensor& b) { return rdiv(b, a); }
Tensor operator-(const Tensor& x) { return neg(x); }
Tensor operator==(const Tensor& a, const Tensor& b) { return eq(a, b); }
Tensor operator!=(const Tensor& a, const Tensor& b) { return ne(a, b); }
Tensor operator<(const Tensor& a, const Tensor& b) { return lt(a, b); }
Tensor operator<=(const Tensor& a, const Tensor& b) { return le(a, b); }
Tensor operator>(const Tensor& a, const Tensor& b) { return gt(a, b); }
Tensor operator>=(const Tensor& a, const Tensor& b) { return ge(a, b); }
Tensor operator==(const Tensor& a, Scalar b) { return eq(a, scalar_like(b, a)); }
Tensor operator!=(const Tensor& a, Scalar b) { return ne(a, scalar_like(b, a)); }
Tensor operator<(const Tensor& a, Scalar b) { return lt(a, scalar_like(b, a)); }
Tensor operator<=(const Tensor& a, Scalar b) { return le(a, scalar_like(b, a)); }
Tensor operator>(const Tensor& a, Scalar b) { return gt(a, scalar_like(b, a)); }
Tensor operator>=(const Tensor& a, Scalar b) { return ge(a, scalar_like(b, a)); }
Tensor operator~(const Tensor& x) { return bitwise_not(x); }
Tensor operator&(const Tensor& a, const Tensor& b) { return bitwise_and(a, b); }
Tensor operator|(const Tensor& a, const Tensor& b) { return bitwise_or(a, b); }
Tensor operator^(const Tensor& a, const Tensor& b) { return bitwise_xor(a, b); }
Tensor& operator+=(Tensor& a, const Tensor& b) { return a.add_(b); }
Tensor& operator+=(Tensor& a, Scalar b) { return a.add_(b); }
Tensor& operator-=(Tensor& a, const Tensor& b) { return a.sub_(b); }
Tensor& operator-=(Tensor& a, Scalar b) { return a.sub_(b); }
Tensor& operator*=(Tensor& a, const Tensor& b) { return a.mul_(b); }
Tensor& operator*=(Tensor& a, Scalar b) { return a.mul_(b); }
Tensor& operator/=(Tensor& a, const Tensor& b) { return a.div_(b); }
Tensor& operator/=(Tensor& a, Scalar b) { return a.div_(b); }
Tensor operator+=(Tensor&& a, const Tensor& b) { return a.add_(b); }
Tensor operator+=(Tensor&& a, Scalar b) { return a.add_(b); }
Tensor operator-=(Tensor&& a, const Tensor& b) { return a.sub_(b); }
Tensor operator-=(Tensor&& a, Scalar b) { return a.sub_(b); }
Tensor operator*=(Tensor&& a, const Tensor& b) { return a.mul_(b); }
Tensor operator*=(Tensor&& a, Scalar b) { return a.mul_(b); }
Tensor operator/=(Tensor&& a, const Tensor& b) { return a.div_(b); }
Tensor operator/=(Tensor&& a, Scalar b) { return a.div_(b); }

// ---- in place ---------------------------------------------------------------------------------
//
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
