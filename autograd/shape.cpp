#include "ag/autograd/shape.h"

namespace ag {

std::string to_string(const Shape& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

void Shape::throw_too_many_elements() const {
  AG_CHECK(false, "shape ", *this, " has more elements than an int64 can count");
}

void detail::throw_dim_out_of_range(std::int64_t dim, std::int64_t ndim, const char* op) {
  const std::int64_t lo = ndim > 0 ? -ndim : -1, hi = ndim > 0 ? ndim - 1 : 0;
  throw IndexError(detail::cat(op, ": dimension ", dim, " is out of range for a ", ndim,
                               "-d tensor (expected a value in [", lo, ", ", hi, "])"));
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  if (a == b) return a;
  std::size_t n = std::max(a.size(), b.size());
  Shape out;
  for (std::size_t i = 0; i < n; ++i) {
    std::int64_t da = i + a.size() >= n ? a[i + a.size() - n] : 1;
    std::int64_t db = i + b.size() >= n ? b[i + b.size() - n] : 1;
    AG_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", a, " and ", b, " cannot be broadcast together (size ",
             da, " vs ", db, " at dimension ", i, " of the result)");
    out.push_back(da == 1 ? db : da);
  }
  return out;
}

Shape contiguous_strides(const Shape& s) {
  Shape strides = s;
  std::int64_t acc = 1;
  for (std::size_t i = s.size(); i-- > 0;) {
    strides[i] = acc;
    acc *= s[i] > 1 ? s[i] : 1;  // as PyTorch: an empty dimension does not zero the outer strides
  }
  return strides;
}

}  // namespace ag
