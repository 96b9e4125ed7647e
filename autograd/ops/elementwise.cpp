// Elementwise ops: arithmetic with NumPy broadcasting, unary math, comparisons, in-place ops.
// Each op: checks, forward, then its backward written with ag's own ops (so create_graph
// records it and higher derivatives come for free).

#include <cmath>
#include <cstring>

#include "ag/autograd/node.h"
#include "ag/autograd/ops.h"
#include "ag/autograd/ops/kernels.h"

namespace ag {


namespace {

/// PyTorch's result type: a 0-d tensor yields to a dimensioned one unless it is of a higher
/// category (floating over integral).
Dtype result_type(const Tensor& a, const Tensor& b, const char* op) {
  AG_CHECK(a.defined() && b.defined(), op, ": argument '", a.defined() ? "other" : "input", "' is an undefined tensor");
  Dtype da = a.dtype(), db = b.dtype();
  if (da == db) return da;
  bool za = a.dim() == 0, zb = b.dim() == 0;
  if (za == zb) return promote_types(da, db);
  const Tensor& dimensioned = za ? b : a;
  const Tensor& zero_d = za ? a : b;
  if (is_floating(zero_d.dtype()) && !is_floating(dimensioned.dtype())) return zero_d.dtype();
  return dimensioned.dtype();
}

Dtype scalar_result_type(const Tensor& a, Scalar s) {
  AG_CHECK(a.defined(), "an argument is an undefined tensor");
  if (is_floating(a.dtype())) return a.dtype();
  return s.is_integral() ? kInt64 : kFloat32;
}

/// `t` converted to `dtype` without recording (the op records its original inputs).
Tensor as(const Tensor& t, Dtype dtype) {
  if (t.dtype() == dtype) return t;
  NoGradGuard no_grad;
  return t.to(dtype);
}

void check_defined(const Tensor& t, const char* op, const char* arg) {
  AG_CHECK(t.defined(), op, ": argument '", arg, "' is an undefined tensor");
}

/// out = op(a, b) in `dtype`, broadcast.
template <class Op>
Tensor binary(const Tensor& a, const Tensor& b, const char* name, Dtype dtype, Op op) {
  check_defined(a, name, "input");
  check_defined(b, name, "other");
  Shape so = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor ca = as(a, dtype), cb = as(b, dtype);
  Tensor out = detail::make_tensor(so, dtype);
  dispatch(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    kernels::map2(detail::data<T>(ca), ca.shape(), detail::data<T>(cb), cb.shape(), detail::data<T>(out), so,
                  [&](T x, T y) { return static_cast<T>(op(x, y)); });
  });
  return out;
}

/// out = op(x) elementwise; integer inputs are computed in float32, as PyTorch does.
template <class Op>
Tensor unary_float(const Tensor& x, const char* name, Op op) {
  check_defined(x, name, "input");
  Tensor cx = is_floating(x.dtype()) ? x : as(x, kFloat32);
  Tensor out = detail::make_tensor(cx.shape(), cx.dtype());
  dispatch_floating(cx.dtype(), name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    kernels::map1(detail::data<T>(cx), detail::data<T>(out), cx.numel(), [&](T v) { return static_cast<T>(op(v)); });
  });
  return out;
}

/// out = op(a, s) elementwise for a number s, in `dtype` (by default: a's, or float32 for an
/// int64 tensor and a fractional s).
template <class Op>
Tensor scalar_op(const Tensor& a, Scalar s, const char* name, Op op, std::optional<Dtype> dtype = std::nullopt) {
  check_defined(a, name, "input");
  Dtype dt = dtype ? *dtype : scalar_result_type(a, s);
  Tensor ca = as(a, dt);
  Tensor out = detail::make_tensor(a.shape(), dt);
  dispatch(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T v = s.to<T>();
    kernels::map1(detail::data<T>(ca), detail::data<T>(out), out.numel(), [v, &op](T x) { return op(x, v); });
  });
  return out;
}

/// An int64 0/1 mask of cmp(a, b).
template <class Cmp>
Tensor compare(const Tensor& a, const Tensor& b, const char* name, Cmp cmp) {
  check_defined(a, name, "input");
  check_defined(b, name, "other");
  Dtype dtype = result_type(a, b, name);
  Shape so = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor ca = as(a, dtype), cb = as(b, dtype);
  Tensor out = detail::make_tensor(so, kInt64);
  dispatch(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    kernels::map2(detail::data<T>(ca), ca.shape(), detail::data<T>(cb), cb.shape(), detail::data<std::int64_t>(out), so,
                  [&](T x, T y) -> std::int64_t { return cmp(x, y) ? 1 : 0; });
  });
  return out;
}

/// A contiguous copy of `t` broadcast to `shape` (no graph).
Tensor broadcast_raw(const Tensor& t, const Shape& shape) {
  if (t.shape() == shape) return t;
  Tensor out = detail::make_tensor(shape, t.dtype());
  dispatch(t.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    kernels::map2(detail::data<T>(t), t.shape(), detail::data<T>(t), t.shape(), detail::data<T>(out), shape, [](T x, T) { return x; });
  });
  return out;
}

Tensor scalar_like(Scalar s, const Tensor& t) { return scalar_tensor(s, is_floating(t.dtype()) ? t.dtype() : kFloat32); }

}  // namespace

// ---- arithmetic -----------------------------------------------------------------------------

Tensor add(const Tensor& a, const Tensor& b, Scalar alpha) {
  // a: [*a], b: [*b] -> out: broadcast(a, b)
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
  Dtype dtype = result_type(a, b, "sub");
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
  return add(a, b.is_integral() ? Scalar(kernels::wrap_neg(b.to_int())) : Scalar(-b.to_double()));
}

Tensor rsub(const Tensor& a, Scalar b) {
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
  Tensor out = scalar_op(a, b, "div", [](auto x, auto v) { return x / v; },
                         is_floating(a.dtype()) ? a.dtype() : kFloat32);  // true division
  if (needs_grad(a))
    record("DivBackward1", out, {a}, {}, [b](const Tensor& g, const BackwardContext&) -> Grads { return {g / b}; });
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
  Tensor out = detail::make_tensor(x.shape(), x.dtype());
  dispatch(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    kernels::map1(detail::data<T>(x), detail::data<T>(out), x.numel(), [](T v) { return kernels::wrap_neg(v); });
  });
  if (needs_grad(x))
    record("NegBackward0", out, {x}, {}, [](const Tensor& g, const BackwardContext&) -> Grads { return {-g}; });
  return out;
}

Tensor pow(const Tensor& x, Scalar exponent) {
  double e = exponent.to_double();
  Tensor out;
  if (!is_floating(x.dtype()) && exponent.is_integral() && e >= 0) {  // int64 ** non-negative int stays int64
    out = detail::make_tensor(x.shape(), kInt64);
    kernels::map1(detail::data<std::int64_t>(x), detail::data<std::int64_t>(out), x.numel(), [n = exponent.to_int()](std::int64_t v) {
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
  check_defined(x, "sign", "input");
  Tensor out = detail::make_tensor(x.shape(), x.dtype());
  dispatch(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    kernels::map1(detail::data<T>(x), detail::data<T>(out), x.numel(), [](T v) { return static_cast<T>((T(0) < v) - (v < T(0))); });
  });
  return out;
}

Tensor abs(const Tensor& x) {
  check_defined(x, "abs", "input");
  Tensor out = detail::make_tensor(x.shape(), x.dtype());
  dispatch(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    kernels::map1(detail::data<T>(x), detail::data<T>(out), x.numel(), [](T v) { return v < 0 ? kernels::wrap_neg(v) : v; });
  });
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
  check_defined(x, "relu", "input");
  Tensor out = detail::make_tensor(x.shape(), x.dtype());
  dispatch(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    kernels::map1(detail::data<T>(x), detail::data<T>(out), x.numel(), [](T v) { return v > T(0) ? v : T(0); });
  });
  if (needs_grad(x))
    record("ReluBackward0", out, {x}, {save_output(out)}, [](const Tensor& g, const BackwardContext& ctx) -> Grads {
      const Tensor& y = ctx.saved(0);
      if (GradMode::is_enabled() || g.dtype() != y.dtype()) return {g * (y > 0)};  // create_graph: differentiable
      Tensor gx = detail::make_tensor(g.shape(), g.dtype());  // one pass: g where y > 0
      dispatch_floating(g.dtype(), "relu backward", [&](auto tag) {
        using T = typename decltype(tag)::type;
        kernels::map2(detail::data<T>(g), g.shape(), detail::data<T>(y), y.shape(), detail::data<T>(gx), g.shape(),
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
  Dtype dtype = x.dtype();
  if (!is_floating(dtype) && ((min && !min->is_integral()) || (max && !max->is_integral()))) dtype = kFloat32;
  Tensor cx = as(x, dtype);
  Tensor out = detail::make_tensor(x.shape(), dtype);
  dispatch(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T lo = min ? min->to<T>() : std::numeric_limits<T>::lowest();
    T hi = max ? max->to<T>() : std::numeric_limits<T>::max();
    kernels::map1(detail::data<T>(cx), detail::data<T>(out), x.numel(), [lo, hi](T v) { return v < lo ? lo : (v > hi ? hi : v); });
  });
  if (needs_grad(x))
    record("ClampBackward1", out, {x}, {save(x)}, [min, max](const Tensor& g, const BackwardContext& ctx) -> Grads {
      const Tensor& x = ctx.saved(0);
      Tensor mask = ones_like(x, kInt64);
      if (min) mask = mask * (x >= *min);
      if (max) mask = mask * (x <= *max);
      return {g * mask};
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
  check_defined(cond, "where", "condition");
  AG_CHECK(cond.dtype() == kInt64, "where: the condition must be an int64 mask (as comparisons return), got ",
           cond.dtype(), " of shape ", cond.shape());
  Dtype dtype = result_type(a, b, "where");
  Shape so = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor ca = as(a, dtype), cb = as(b, dtype);
  Tensor out = detail::make_tensor(so, dtype);
  Tensor c = broadcast_raw(cond, so);
  dispatch(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    Tensor pa = broadcast_raw(ca, so), pb = broadcast_raw(cb, so);
    const std::int64_t* m = detail::data<std::int64_t>(c);
    const T *x = detail::data<T>(pa), *y = detail::data<T>(pb);
    T* o = detail::data<T>(out);
    for (std::int64_t i = 0, i_end = out.numel(); i < i_end; ++i) o[i] = m[i] ? x[i] : y[i];
  });
  if (needs_grad(a, b))
    record("WhereBackward0", out, {a, b}, {save(cond)}, [sa = a.shape(), sb = b.shape()](const Tensor& g, const BackwardContext& ctx) -> Grads {
      Tensor on = ctx.saved(0) != 0;
      return {ctx.needs_grad(0) ? sum_to(g * on, sa) : Tensor(), ctx.needs_grad(1) ? sum_to(g * rsub(on, 1), sb) : Tensor()};
    });
  return out;
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
  const std::int64_t* p = detail::data<std::int64_t>(n);
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
Tensor& operator+=(Tensor& a, const Tensor& b) { return a.add_(b); }
Tensor& operator+=(Tensor& a, Scalar b) { return a.add_(b); }
Tensor& operator-=(Tensor& a, const Tensor& b) { return a.sub_(b); }
Tensor& operator-=(Tensor& a, Scalar b) { return a.sub_(b); }
Tensor& operator*=(Tensor& a, const Tensor& b) { return a.mul_(b); }
Tensor& operator*=(Tensor& a, Scalar b) { return a.mul_(b); }
Tensor& operator/=(Tensor& a, const Tensor& b) { return a.div_(b); }
Tensor& operator/=(Tensor& a, Scalar b) { return a.div_(b); }

// ---- in place ---------------------------------------------------------------------------------
//
// Without a graph to record, an in-place op writes straight into the tensor's storage. When the
// tensor is part of a graph, the op is computed out of place, written back, and the result's
// node becomes the tensor's grad_fn (its history is "rebased"). Either way the version counter
// moves, so a backward that saved the old values notices.

namespace {

void check_inplace(const Tensor& self, const char* op) {
  AG_CHECK(self.defined(), op, ": the tensor is undefined");
  AG_CHECK_STATE(!(self.is_leaf() && self.requires_grad() && GradMode::is_enabled()), op,
                 ": a leaf tensor that requires grad cannot be modified in place (its gradient would be wrong). "
                 "Wrap the update in ag::NoGradGuard, as optimizers do, or work on detach().");
  AG_CHECK_STATE(!(self.impl()->is_view && self.requires_grad() && GradMode::is_enabled()), op,
                 ": in-place ops on a view (reshape/view/squeeze...) of a tensor that requires grad are not "
                 "supported by ag; use the out-of-place op");
}


/// Writes `result` (already of self's shape) into self and makes its history self's.
Tensor& write_back(Tensor& self, Tensor result, const char* op) {
  AG_CHECK(result.shape() == self.shape(), op, ": the result of shape ", result.shape(),
           " cannot be written into a tensor of shape ", self.shape());
  AG_CHECK(is_floating(self.dtype()) || !is_floating(result.dtype()), op, ": the result is ", result.dtype(),
           " and cannot be written into an int64 tensor");
  if (result.dtype() != self.dtype()) result = result.to(self.dtype());
  std::memcpy(self.impl()->data, result.impl()->data, static_cast<std::size_t>(self.numel()) * element_size(self.dtype()));
  detail::bump_version(self);
  if (result.grad_fn()) detail::rebase_history(self, result);
  return self;
}

/// self = op(self, other) in place, broadcasting other to self's shape.
template <class Op>
Tensor& inplace_binary(Tensor& self, const Tensor& other, const char* name, Op op) {
  Shape so = broadcast_shapes(self.shape(), other.shape(), name);
  AG_CHECK(so == self.shape(), name, ": the result of shape ", so, " cannot be written into a tensor of shape ",
           self.shape());
  Dtype rt = result_type(self, other, name);
  AG_CHECK(is_floating(self.dtype()) || !is_floating(rt), name, ": the result is ", rt,
           " and cannot be written into an int64 tensor");
  Tensor co = as(other, self.dtype());
  dispatch(self.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    kernels::map2(detail::data<T>(self), self.shape(), detail::data<T>(co), co.shape(), detail::data<T>(self), so,
                  [&](T x, T y) { return static_cast<T>(op(x, y)); });
  });
  detail::bump_version(self);
  return self;
}

template <class Op>
Tensor& inplace_scalar(Tensor& self, Scalar s, const char* name, Op op) {
  AG_CHECK(is_floating(self.dtype()) || s.is_integral(), name, ": a floating point value cannot be written into an "
           "int64 tensor in place");
  dispatch(self.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T v = s.to<T>();
    T* p = detail::data<T>(self);
    kernels::map1(p, p, self.numel(), [&](T x) { return static_cast<T>(op(x, v)); });
  });
  detail::bump_version(self);
  return self;
}

bool records(const Tensor& self, const Tensor& other) { return needs_grad(self, other); }

}  // namespace

Tensor& Tensor::add_(const Tensor& other, Scalar alpha) {
  check_inplace(*this, "add_");
  if (records(*this, other)) return write_back(*this, ag::add(*this, other, alpha), "add_");
  return inplace_binary(*this, other, "add_", [alpha](auto x, auto y) {
    return kernels::wrap_add(x, kernels::wrap_mul(alpha.to<decltype(y)>(), y));
  });
}
Tensor& Tensor::add_(Scalar other) {
  check_inplace(*this, "add_");
  if (needs_grad(*this)) return write_back(*this, ag::add(*this, other), "add_");
  return inplace_scalar(*this, other, "add_", [](auto x, auto y) { return kernels::wrap_add(x, y); });
}
Tensor& Tensor::sub_(const Tensor& other, Scalar alpha) {
  return add_(other, alpha.is_integral() ? Scalar(kernels::wrap_neg(alpha.to_int())) : Scalar(-alpha.to_double()));
}
Tensor& Tensor::sub_(Scalar other) {
  return add_(other.is_integral() ? Scalar(kernels::wrap_neg(other.to_int())) : Scalar(-other.to_double()));
}
Tensor& Tensor::mul_(const Tensor& other) {
  check_inplace(*this, "mul_");
  if (records(*this, other)) return write_back(*this, ag::mul(clone(), other), "mul_");
  return inplace_binary(*this, other, "mul_", [](auto x, auto y) { return kernels::wrap_mul(x, y); });
}
Tensor& Tensor::mul_(Scalar other) {
  check_inplace(*this, "mul_");
  if (needs_grad(*this)) return write_back(*this, ag::mul(*this, other), "mul_");
  return inplace_scalar(*this, other, "mul_", [](auto x, auto y) { return kernels::wrap_mul(x, y); });
}
Tensor& Tensor::div_(const Tensor& other) {
  check_inplace(*this, "div_");
  AG_CHECK(is_floating(dtype()), "div_: true division cannot be written into an int64 tensor in place");
  if (records(*this, other)) return write_back(*this, ag::div(clone(), other), "div_");
  return inplace_binary(*this, other, "div_", [](auto x, auto y) { return x / y; });
}
Tensor& Tensor::div_(Scalar other) {
  check_inplace(*this, "div_");
  AG_CHECK(is_floating(dtype()), "div_: true division cannot be written into an int64 tensor in place");
  if (needs_grad(*this)) return write_back(*this, ag::div(*this, other), "div_");
  return inplace_scalar(*this, other, "div_", [](auto x, auto y) { return x / y; });
}

Tensor& Tensor::fill_(Scalar value) {
  check_inplace(*this, "fill_");
  AG_CHECK(is_floating(dtype()) || value.is_integral(), "fill_: cannot fill an int64 tensor with ", value.to_double());
  bool recording = needs_grad(*this);
  dispatch(dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = detail::data<T>(*this);
    std::fill(p, p + numel(), value.to<T>());
  });
  detail::bump_version(*this);
  if (recording) {  // the new values no longer depend on the old ones
    Tensor marker = detail::make_alias(*this, shape());
    record("FillBackward0", marker, {*this}, {},
           [](const Tensor& g, const BackwardContext&) -> Grads { return {zeros_like(g)}; });
    detail::rebase_history(*this, marker);
  }
  return *this;
}

Tensor& Tensor::zero_() { return fill_(0); }

Tensor& Tensor::copy_(const Tensor& src) {
  check_inplace(*this, "copy_");
  AG_CHECK(src.defined(), "copy_: the source is undefined");
  Shape so = broadcast_shapes(shape(), src.shape(), "copy_");
  AG_CHECK(so == shape(), "copy_: a source of shape ", src.shape(), " cannot be copied into a tensor of shape ", shape());
  AG_CHECK(is_floating(dtype()) || !is_floating(src.dtype()), "copy_: cannot copy ", src.dtype(), " values into an int64 tensor");
  bool recording = needs_grad(*this, src);
  Tensor cs = as(src, dtype());
  dispatch(dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    kernels::map2(detail::data<T>(*this), shape(), detail::data<T>(cs), cs.shape(), detail::data<T>(*this), so, [](T, T y) { return y; });
  });
  detail::bump_version(*this);
  if (recording) {
    Tensor marker = detail::make_alias(*this, shape());
    record("CopyBackwards", marker, {*this, src}, {}, [ss = src.shape()](const Tensor& g, const BackwardContext& ctx) -> Grads {
      return {ctx.needs_grad(0) ? zeros_like(g) : Tensor(), ctx.needs_grad(1) ? sum_to(g, ss) : Tensor()};
    });
    detail::rebase_history(*this, marker);
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

}  // namespace ag
