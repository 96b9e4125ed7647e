// Unary math and activations, clamp, maximum/minimum, where and masking: forward and backward
// side by side, as in elementwise.cpp.

#include <cmath>
#include <cstring>

#include "ag/autograd/node.h"
#include "ag/autograd/ops.h"
#include "ag/autograd/ops/elementwise_util.h"
#include "ag/autograd/ops/inplace.h"
#include "ag/autograd/ops/kernels.h"
#include "ag/autograd/ops/vecmath.h"

namespace ag {

using namespace elementwise;

namespace {

/// out = fn(x) through the vectorised kernels of vecmath.h (integer and bool inputs computed in
/// float32, as unary_float does); a strided input is made contiguous first, so that every element
/// gets the same kernel whatever the layout.
Tensor unary_vec(const Tensor& x, const char* name, vecmath::Fn fn) {
  check_defined(x, name, "input");
  Tensor cx = is_floating(x.dtype()) ? x : as(x, kFloat32);
  if (!cx.impl()->contiguous) {
    NoGradGuard no_grad;
    cx = cx.contiguous();
  }
  Tensor out = detail::make_tensor(cx.shape(), cx.dtype());
  dispatch_floating(cx.dtype(), name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = cx.data_ptr<T>();
    T* po = out.data_ptr<T>();
    // An element's result does not depend on its place in the array, so the split is invisible.
    parallel_for(0, cx.numel(), kernels::kParallelGrain / 2,
                 [&](std::int64_t lo, std::int64_t hi) { vecmath::apply(fn, px + lo, po + lo, hi - lo); });
  });
  return out;
}

}  // namespace

Tensor exp(const Tensor& x) {
  Tensor out = unary_vec(x, "exp", vecmath::Fn::Exp);
  if (needs_grad(x))
    record("ExpBackward0", out, {x}, {save_output(out)},
           [](const Tensor& g, const BackwardContext& ctx) -> Grads { return {g * ctx.saved(0)}; });
  return out;
}

Tensor log(const Tensor& x) {
  Tensor out = unary_vec(x, "log", vecmath::Fn::Log);
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
  Tensor out = unary_vec(x, "tanh", vecmath::Fn::Tanh);
  if (needs_grad(x))
    record("TanhBackward0", out, {x}, {save_output(out)}, [](const Tensor& g, const BackwardContext& ctx) -> Grads {
      const Tensor& y = ctx.saved(0);
      return {g * rsub(y * y, 1)};
    });
  return out;
}

Tensor sigmoid(const Tensor& x) {
  Tensor out = unary_vec(x, "sigmoid", vecmath::Fn::Sigmoid);  // 1 / (1 + e^-x), computed without overflow
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
  Tensor out = unary_vec(x, "erf", vecmath::Fn::Erf);
  if (needs_grad(x))
    record("ErfBackward0", out, {x}, {save(x)}, [](const Tensor& g, const BackwardContext& ctx) -> Grads {
      const Tensor& x = ctx.saved(0);
      return {g * exp(-(x * x)) * M_2_SQRTPI};  // d/dx erf(x) = 2/sqrt(pi) exp(-x^2)
    });
  return out;
}

Tensor gelu(const Tensor& x) {
  // x/2 (1 + erf(x/sqrt(2))) with the erf on the vectorised kernels: the scaled inputs are
  // written into the output, their erf taken there in place, then the rest applied.
  check_defined(x, "gelu", "input");
  Tensor cx = is_floating(x.dtype()) ? x : as(x, kFloat32);
  if (!cx.impl()->contiguous) {
    NoGradGuard no_grad;
    cx = cx.contiguous();
  }
  Tensor out = detail::make_tensor(cx.shape(), cx.dtype());
  dispatch_floating(cx.dtype(), "gelu", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = cx.data_ptr<T>();
    T* po = out.data_ptr<T>();
    parallel_for(0, cx.numel(), kernels::kParallelGrain / 2, [&](std::int64_t lo, std::int64_t hi) {
      for (std::int64_t i = lo; i < hi; ++i) po[i] = px[i] * T(M_SQRT1_2);
      vecmath::apply(vecmath::Fn::Erf, po + lo, po + lo, hi - lo);
      for (std::int64_t i = lo; i < hi; ++i) po[i] = px[i] * T(0.5) * (T(1) + po[i]);
    });
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

}  // namespace ag
