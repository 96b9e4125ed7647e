#pragma once
// Loops shared by the op files: elementwise maps with NumPy broadcasting and reductions over a
// set of dimensions. Plain loops over contiguous data: at the sizes of small models an
// expression template costs more than the arithmetic (see DEPENDENCIES: ~50 ns vs ~5 ns).

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

#include "ag/autograd/shape.h"
#include "ag/autograd/tensor_impl.h"

namespace ag::kernels {

// int64 arithmetic wraps around on overflow (two's complement, computed on the unsigned type), as
// PyTorch's does in practice, rather than being undefined behaviour: INT64_MAX + 1 is INT64_MIN.
// For floating T these are the plain operators.
template <class T>
constexpr T wrap_add(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
  } else {
    return a + b;
  }
}
template <class T>
constexpr T wrap_sub(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) - static_cast<U>(b));
  } else {
    return a - b;
  }
}
template <class T>
constexpr T wrap_mul(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
  } else {
    return a * b;
  }
}
template <class T>
constexpr T wrap_neg(T a) {
  return wrap_sub(T(0), a);
}

/// exp(v), with arguments so negative that exp underflows to 0 answered without calling exp:
/// libm takes a slow path (it sets errno) for those, and a confident softmax meets them every step.
template <class T>
inline T exp_or_zero(T v) {
  constexpr T kFloor = std::is_same_v<T, float> ? T(-104) : T(-746);
  return v < kFloor ? T(0) : std::exp(v);
}

/// A tensor seen as [outer, n, inner] around dimension `dim`, for work along that dimension.
struct Blocks {
  std::int64_t outer = 1, n = 1, inner = 1;
};
inline Blocks blocks(const Shape& s, std::int64_t dim) {
  Blocks b;
  for (std::int64_t i = 0; i < dim; ++i) b.outer *= s[i];
  b.n = s[dim];
  for (std::size_t i = dim + 1; i < s.size(); ++i) b.inner *= s[i];
  return b;
}

/// The multi-index of flat element `flat` of shape `s`, as "[1, 2]" (for error messages).
inline std::string position(std::int64_t flat, const Shape& s) {
  Shape idx = s;
  for (std::size_t d = s.size(); d-- > 0;) {
    idx[d] = s[d] ? flat % s[d] : 0;
    flat = s[d] ? flat / s[d] : 0;
  }
  return to_string(idx);
}

/// Strides (in elements) of a contiguous tensor of shape `s` seen from an output of rank
/// `rank`: 0 along broadcast (size-1 or missing) dimensions.
inline void broadcast_strides(const Shape& s, const Shape& out, std::int64_t* strides) {
  std::size_t rank = out.size(), off = rank - s.size();
  std::int64_t acc = 1;
  for (std::size_t i = rank; i-- > 0;) {
    if (i < off) {
      strides[i] = 0;
      continue;
    }
    std::int64_t d = s[i - off];
    strides[i] = (d == 1 && out[i] != 1) ? 0 : acc;
    acc *= d;
  }
}

/// out[i] = f(a[i'], b[i'']) over `out_shape`, a and b broadcast to it.
template <class A, class B, class R, class F>
void map2(const A* a, const Shape& sa, const B* b, const Shape& sb, R* out, const Shape& so, F f) {
  std::int64_t n = so.numel();
  if (n == 0) return;
  if (sa == so && sb == so) {
    for (std::int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i]);
    return;
  }
  std::int64_t na = sa.numel(), nb = sb.numel();
  if (sa == so && nb == 1) {
    const B bv = b[0];
    for (std::int64_t i = 0; i < n; ++i) out[i] = f(a[i], bv);
    return;
  }
  if (sb == so && na == 1) {
    const A av = a[0];
    for (std::int64_t i = 0; i < n; ++i) out[i] = f(av, b[i]);
    return;
  }
  std::int64_t st_a[Shape::kMaxDims], st_b[Shape::kMaxDims], size[Shape::kMaxDims], idx[Shape::kMaxDims] = {};
  broadcast_strides(sa, so, st_a);
  broadcast_strides(sb, so, st_b);
  // Merge neighbouring dims that both inputs walk through as one ([32, 6, 8] * [32, 6, 1] is
  // [192, 8] * [192, 1]): fewer, longer runs.
  std::size_t rank = 0;
  for (std::size_t d = 0; d < so.size(); ++d) {
    if (rank > 0 && st_a[rank - 1] == st_a[d] * so[d] && st_b[rank - 1] == st_b[d] * so[d]) {
      size[rank - 1] *= so[d];
      st_a[rank - 1] = st_a[d];
      st_b[rank - 1] = st_b[d];
    } else {
      size[rank] = so[d];
      st_a[rank] = st_a[d];
      st_b[rank] = st_b[d];
      ++rank;
    }
  }
  const std::int64_t inner = size[rank - 1], ia = st_a[rank - 1], ib = st_b[rank - 1];
  std::int64_t oa = 0, ob = 0;
  for (std::int64_t o = 0; o < n; o += inner) {
    // the innermost run, with the common stride patterns spelled out so the compiler vectorises them
    R* po = out + o;
    const A* pa = a + oa;
    const B* pb = b + ob;
    if (ia == 1 && ib == 1) {
      for (std::int64_t j = 0; j < inner; ++j) po[j] = f(pa[j], pb[j]);
    } else if (ia == 1 && ib == 0) {
      const B bv = *pb;
      for (std::int64_t j = 0; j < inner; ++j) po[j] = f(pa[j], bv);
    } else if (ia == 0 && ib == 1) {
      const A av = *pa;
      for (std::int64_t j = 0; j < inner; ++j) po[j] = f(av, pb[j]);
    } else {
      for (std::int64_t j = 0; j < inner; ++j) po[j] = f(pa[j * ia], pb[j * ib]);
    }
    for (std::size_t d = rank - 1; d-- > 0;) {
      oa += st_a[d];
      ob += st_b[d];
      if (++idx[d] < size[d]) break;
      oa -= st_a[d] * size[d];
      ob -= st_b[d] * size[d];
      idx[d] = 0;
    }
  }
}

/// out[i] = f(x[i]).
template <class X, class R, class F>
void map1(const X* x, R* out, std::int64_t n, F f) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = f(x[i]);
}

/// Folds every element of x into out[j], j being x's index with the reduced dimensions
/// dropped: `reduced_shape` is x's shape with those dimensions set to 1 (keepdim form).
/// `out` must be initialised by the caller (0 for sum, -inf for max...).
template <class X, class Acc, class F>
void reduce_into(const X* x, const Shape& sx, Acc* out, const Shape& reduced_shape, F fold) {
  std::int64_t n = sx.numel();
  if (n == 0) return;
  const std::size_t rank = sx.size();
  if (rank == 0) {
    out[0] = fold(out[0], x[0]);
    return;
  }
  std::int64_t st[Shape::kMaxDims], idx[Shape::kMaxDims] = {};
  broadcast_strides(reduced_shape, sx, st);
  const std::int64_t inner = sx[rank - 1], is = st[rank - 1];
  std::int64_t off = 0;
  for (std::int64_t o = 0; o < n; o += inner) {
    if (is == 0) {
      Acc acc = out[off];
      for (std::int64_t j = 0; j < inner; ++j) acc = fold(acc, x[o + j]);
      out[off] = acc;
    } else {
      for (std::int64_t j = 0; j < inner; ++j) out[off + j] = fold(out[off + j], x[o + j]);
    }
    for (std::size_t d = rank - 1; d-- > 0;) {
      off += st[d];
      if (++idx[d] < sx[d]) break;
      off -= st[d] * sx[d];
      idx[d] = 0;
    }
  }
}

}  // namespace ag::kernels
