// Elementwise arithmetic with NumPy broadcasting, and the operators. Each op: checks, forward,
// then its backward written with ag's own ops (so create_graph records it and higher derivatives
// come for free). Unary math is in unary.cpp, comparisons and logic in compare.cpp, in-place ops
// in inplace.cpp; the loops they share are in elementwise_util.h.

#include <cmath>
#include <cstring>

#include "ag/autograd/node.h"
#include "ag/autograd/ops.h"
#include "ag/autograd/ops/elementwise_util.h"
#include "ag/autograd/ops/inplace.h"
#include "ag/autograd/ops/kernels.h"

namespace ag {

using namespace elementwise;

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
namespace {
/// A bool mask of cmp(x, s) for a number s, compared in the dtype `a op s` computes in (what
/// comparing with a 0-d tensor of s gives), without making s a tensor.
template <class Cmp>
Tensor compare_scalar(const Tensor& a, Scalar s, const char* name, Cmp cmp) {
  check_defined(a, name, "input");
  const Dtype dt = scalar_result_type(a, s);
  Tensor holder;
  const Tensor& ca = as(a, dt, holder);
  const Shape& shape = ca.impl()->shape;
  Tensor out = detail::make_tensor(shape, kBool);
  dispatch(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T v = s.to<T>();
    kernels::map1(kernels::in<T>(ca, shape), kernels::out<bool>(out), shape, [v, &cmp](T x) -> bool { return cmp(x, v); });
  });
  return out;
}
}  // namespace

Tensor operator==(const Tensor& a, Scalar b) { return compare_scalar(a, b, "eq", [](auto x, auto y) { return x == y; }); }
Tensor operator!=(const Tensor& a, Scalar b) { return compare_scalar(a, b, "ne", [](auto x, auto y) { return x != y; }); }
Tensor operator<(const Tensor& a, Scalar b) { return compare_scalar(a, b, "lt", [](auto x, auto y) { return x < y; }); }
Tensor operator<=(const Tensor& a, Scalar b) { return compare_scalar(a, b, "le", [](auto x, auto y) { return x <= y; }); }
Tensor operator>(const Tensor& a, Scalar b) { return compare_scalar(a, b, "gt", [](auto x, auto y) { return x > y; }); }
Tensor operator>=(const Tensor& a, Scalar b) { return compare_scalar(a, b, "ge", [](auto x, auto y) { return x >= y; }); }
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

}  // namespace ag
