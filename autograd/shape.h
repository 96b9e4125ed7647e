#pragma once
// Shape: the sizes of a tensor's dimensions, kept inline (no heap) because every op makes one.

#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <vector>

#include "ag/autograd/error.h"

namespace ag {

/// The sizes of a tensor, at most `Shape::kMaxDims` of them; `{}` is a 0-d scalar.
///
///     ag::Shape s{2, 3};
///     s.size() == 2; s[1] == 3; s.numel() == 6;
class Shape {
 public:
  static constexpr std::size_t kMaxDims = 8;

  Shape() = default;
  Shape(std::initializer_list<std::int64_t> dims) { assign(dims.begin(), dims.end()); }
  Shape(const std::vector<std::int64_t>& dims) { assign(dims.begin(), dims.end()); }
  template <class It>
  Shape(It first, It last) {
    assign(first, last);
  }

  /// n dimensions, all of size `value`.
  static Shape filled(std::size_t n, std::int64_t value) {
    Shape s;
    for (std::size_t i = 0; i < n; ++i) s.push_back(value);
    return s;
  }

  std::size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  std::int64_t operator[](std::size_t i) const { return d_[i]; }
  std::int64_t& operator[](std::size_t i) { return d_[i]; }
  std::int64_t back() const { return d_[n_ - 1]; }
  const std::int64_t* begin() const { return d_; }
  const std::int64_t* end() const { return d_ + n_; }
  std::int64_t* begin() { return d_; }
  std::int64_t* end() { return d_ + n_; }
  const std::int64_t* data() const { return d_; }

  void push_back(std::int64_t v) {
    check_room(n_ + 1);
    d_[n_++] = v;
  }
  void insert(std::size_t pos, std::int64_t v) {
    check_room(n_ + 1);
    for (std::size_t i = n_; i > pos; --i) d_[i] = d_[i - 1];
    d_[pos] = v;
    ++n_;
  }
  void erase(std::size_t pos) {
    for (std::size_t i = pos; i + 1 < n_; ++i) d_[i] = d_[i + 1];
    --n_;
  }
  void pop_back() { --n_; }

  /// Product of the sizes (1 for a scalar). Throws std::invalid_argument when it does not fit
  /// in an int64 (a shape no tensor could have).
  std::int64_t numel() const {
    std::int64_t n = 1;
    for (std::size_t i = 0; i < n_; ++i)
      if (__builtin_mul_overflow(n, d_[i], &n)) throw_too_many_elements();
    return n;
  }
  std::vector<std::int64_t> vec() const { return {begin(), end()}; }

  friend bool operator==(const Shape& a, const Shape& b) {
    if (a.n_ != b.n_) return false;
    for (std::size_t i = 0; i < a.n_; ++i)
      if (a.d_[i] != b.d_[i]) return false;
    return true;
  }
  friend bool operator!=(const Shape& a, const Shape& b) { return !(a == b); }

 private:
  template <class It>
  void assign(It first, It last) {
    for (; first != last; ++first) push_back(static_cast<std::int64_t>(*first));
  }
  [[noreturn]] void throw_too_many_elements() const;
  static void check_room(std::size_t n) {
    AG_CHECK(n <= kMaxDims, "ag tensors have at most ", kMaxDims, " dimensions, asked for ", n);
  }

  std::int64_t d_[kMaxDims];  // only the first n_ are set: every op makes shapes, none reads past n_
  std::size_t n_ = 0;
};

/// "[2, 3]"
std::string to_string(const Shape& s);
inline std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << to_string(s); }

namespace detail {
[[noreturn]] void throw_dim_out_of_range(std::int64_t dim, std::int64_t ndim, const char* op);
}
/// Normalises a possibly negative `dim` of a `ndim`-d tensor (a 0-d one takes 0 and -1), or
/// throws IndexError naming `op`.
inline std::int64_t wrap_dim(std::int64_t dim, std::int64_t ndim, const char* op) {
  const std::int64_t n = ndim > 0 ? ndim : 1;
  if (dim < -n || dim >= n) detail::throw_dim_out_of_range(dim, ndim, op);
  return dim < 0 ? dim + n : dim;
}

/// The NumPy broadcast of two shapes, or invalid_argument naming `op` and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

/// Row-major strides of a contiguous tensor of this shape, in elements.
Shape contiguous_strides(const Shape& s);

}  // namespace ag
