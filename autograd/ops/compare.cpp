// Logic, bitwise ops, predicates and comparisons: bool results, no gradient.

#include <cmath>
#include <cstring>

#include "ag/autograd/node.h"
#include "ag/autograd/ops.h"
#include "ag/autograd/ops/elementwise_util.h"
#include "ag/autograd/ops/inplace.h"
#include "ag/autograd/ops/kernels.h"

namespace ag {

using namespace elementwise;

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

}  // namespace ag
