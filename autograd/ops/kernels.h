#pragma once
// Loops shared by the op files: elementwise maps with NumPy broadcasting and reductions over a
// set of dimensions, on strided operands. Plain loops: at the sizes of small models an
// expression template costs more than the arithmetic (see DEPENDENCIES: ~50 ns vs ~5 ns). An
// operand laid out row-major takes a flat loop; others walk their strides a block of rows at a
// time (the walk's last two dimensions), out of line so that each op's own code stays small.

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

#include "ag/autograd/parallel.h"
#include "ag/autograd/shape.h"
#include "ag/autograd/tensor_impl.h"

namespace ag::kernels {

/// Elements of a dense elementwise loop below which it stays on one thread (parallel.h).
constexpr std::int64_t kParallelGrain = kGrainSize;

// int64 arithmetic wraps around on overflow (two's complement, computed on the unsigned type), as
// PyTorch's does in practice, rather than being undefined behaviour: INT64_MAX + 1 is INT64_MIN.
// For floating T these are the plain operators; for bool, + is or and * is and, as in PyTorch.
template <class T>
constexpr T wrap_add(T a, T b) {
  if constexpr (std::is_same_v<T, bool>) {
    return a || b;
  } else if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
  } else {
    return a + b;
  }
}
template <class T>
constexpr T wrap_sub(T a, T b) {
  if constexpr (std::is_same_v<T, bool>) {
    return a != b;  // not reached: ops refuse to subtract bools before any loop runs
  } else if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) - static_cast<U>(b));
  } else {
    return a - b;
  }
}
template <class T>
constexpr T wrap_mul(T a, T b) {
  if constexpr (std::is_same_v<T, bool>) {
    return a && b;
  } else if constexpr (std::is_integral_v<T>) {
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

/// A contiguous tensor seen as [outer, n, inner] around dimension `dim`, for work along it.
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

/// Strides (in elements) of a contiguous tensor of shape `s` seen from an output of shape `out`:
/// 0 along broadcast (size-1 or missing) dimensions.
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

/// One operand of a strided loop: its first element, and where its strides over the loop's
/// shape come from (a tensor, broadcast to the loop's shape, or an explicit list). `dense` says
/// its layout is the row-major one of the loop's shape, so that a flat loop over numel elements
/// is right; the strides are only worked out when some operand is not dense.
template <class T>
struct Strided {
  T* data;
  const TensorImpl* tensor = nullptr;
  const std::int64_t* strides = nullptr;  // one per loop dimension, when there is no tensor
  bool dense = false;
};

/// Operand o's strides over `shape` into st: its tensor's, 0 along broadcast dimensions.
template <class T>
void loop_strides(const Strided<T>& o, const Shape& shape, std::int64_t* st) {
  const std::size_t rank = shape.size();
  if (!o.tensor) {
    for (std::size_t i = 0; i < rank; ++i) st[i] = o.strides[i];
    return;
  }
  const TensorImpl& t = *o.tensor;
  const std::size_t off = rank - t.shape.size();
  for (std::size_t i = 0; i < rank; ++i)
    st[i] = (i < off || (t.shape[i - off] == 1 && shape[i] != 1)) ? 0 : t.strides[i - off];
}

/// Tensor `t` as an input read over `shape` (broadcast to it).
template <class T>
[[gnu::always_inline]] inline Strided<const T> in(const Tensor& t, const Shape& shape) {
  const TensorImpl& i = *t.impl();
  if (i.sparse) detail::throw_sparse(i);
  return {static_cast<const T*>(i.data), &i, nullptr, i.contiguous && i.shape == shape};
}
/// An output (or in-place target) written over its own shape.
template <class T>
Strided<T> out(const Tensor& t) {
  const TensorImpl& i = *t.impl();
  if (i.sparse) detail::throw_sparse(i);
  return {static_cast<T*>(i.data), &i, nullptr, i.contiguous};
}

/// o[j] = g(j) for j < len, four at a time through a local block: the four results are computed
/// before any is stored, so the compiler vectorises them without checking at run time whether o
/// overlaps what g reads, and a short run (a row of 8) pays no loop set-up. o may be exactly one
/// of g's inputs (in-place ops), never a shifted copy of one.
template <class R, class G>
[[gnu::always_inline]] inline void run4(R* o, std::int64_t len, G g) {
  std::int64_t j = 0;
  for (; j + 4 <= len; j += 4) {
    R t[4];
    for (int u = 0; u < 4; ++u) t[u] = g(j + u);
    for (int u = 0; u < 4; ++u) o[j + u] = t[u];
  }
  for (; j < len; ++j) o[j] = g(j);
}

/// A row width known at compile time (short_rows).
template <std::int64_t W>
using Width = std::integral_constant<std::int64_t, W>;

/// run4 for a row of a known width: the whole row through one local block, which the compiler
/// keeps in registers and vectorises with no loop around it.
template <class R, std::int64_t W, class G>
[[gnu::always_inline]] inline void run4(R* o, Width<W>, G g) {
  R t[W];
  for (std::int64_t j = 0; j < W; ++j) t[j] = g(j);
  for (std::int64_t j = 0; j < W; ++j) o[j] = t[j];
}

/// Hides where p points from the optimiser, so that a loop over short rows stays a loop over
/// rows: g++ would otherwise vectorise across four rows of a division, gathering and scattering
/// them through shuffles at three times the cost of one row at a time.
template <class P>
[[gnu::always_inline]] inline P* opaque(P* p) {
#if defined(__GNUC__)
  asm("" : "+r"(p));
#endif
  return p;
}

/// Calls f(width) with the rows' width as a Width when it is one of the short widths of small
/// models (8, 16), else as it is: a mask broadcast over [192, 8] then costs half of what a loop
/// set up for every 8 elements does.
template <class F>
[[gnu::always_inline]] inline void short_rows(std::int64_t len, F f) {
  if (len == 8) f(Width<8>());
  else if (len == 16) f(Width<16>());
  else f(len);
}

/// A walk over a shape for N operands: dimensions of size 1 dropped, and neighbours that every
/// operand steps through as one merged ([32, 6, 8] * [32, 6, 1] walks as [192, 8] * [192, 1]),
/// so that a contiguous operand is a single run whatever its rank.
template <std::size_t N>
struct Walk {
  std::size_t rank = 0;
  std::int64_t size[Shape::kMaxDims];
  std::int64_t stride[N][Shape::kMaxDims];
};

template <std::size_t N>
Walk<N> make_walk(const Shape& shape, const std::int64_t* const* strides) {
  Walk<N> w;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = w.rank > 0;
    for (std::size_t k = 0; k < N && merge; ++k) merge = w.stride[k][w.rank - 1] == strides[k][d] * shape[d];
    if (merge) {
      w.size[w.rank - 1] *= shape[d];
      for (std::size_t k = 0; k < N; ++k) w.stride[k][w.rank - 1] = strides[k][d];
    } else {
      w.size[w.rank] = shape[d];
      for (std::size_t k = 0; k < N; ++k) w.stride[k][w.rank] = strides[k][d];
      ++w.rank;
    }
  }
  return w;
}

/// For a map (each output element written once, in any order): puts the longest of the outer
/// dimensions next to the innermost one, so that the blocks for_each_block makes are as few and
/// as long as possible (a gradient broadcast over [32, 6, 8] then runs 6 blocks of 32 rows, not
/// 32 of 6).
template <std::size_t N>
void longest_rows_last(Walk<N>& w) {
  if (w.rank < 3) return;
  std::size_t best = 0;
  for (std::size_t d = 1; d + 1 < w.rank; ++d)
    if (w.size[d] > w.size[best]) best = d;
  const std::size_t rows = w.rank - 2;
  if (w.size[best] <= w.size[rows]) return;
  std::swap(w.size[best], w.size[rows]);
  for (std::size_t k = 0; k < N; ++k) std::swap(w.stride[k][best], w.stride[k][rows]);
}

/// Calls run(off, rows, step, len, inner) for every block of the walk's last two dimensions:
/// `rows` runs of `len` elements each. Operand k's first run starts at off[k] (in elements), the
/// next one step[k] further on, and inner[k] is its step within a run. A kernel picks its loop
/// for a block once, so a short innermost dimension ([192, 8]) does not pay for it per run.
template <std::size_t N, class F>
void for_each_block(const Walk<N>& w, F run) {
  std::int64_t off[N] = {}, step[N] = {}, inner[N] = {};
  if (w.rank == 0) {  // a single element
    run(off, std::int64_t(1), step, std::int64_t(1), inner);
    return;
  }
  const std::size_t last = w.rank - 1;
  std::size_t carried = last;  // dimensions [0, carried) are stepped through one block at a time
  std::int64_t rows = 1;
  for (std::size_t k = 0; k < N; ++k) inner[k] = w.stride[k][last];
  if (last > 0) {
    carried = last - 1;
    rows = w.size[carried];
    for (std::size_t k = 0; k < N; ++k) step[k] = w.stride[k][carried];
  }
  std::int64_t blocks = 1;
  for (std::size_t d = 0; d < carried; ++d) blocks *= w.size[d];
  std::int64_t idx[Shape::kMaxDims] = {};
  for (std::int64_t b = 0; b < blocks; ++b) {
    run(off, rows, step, w.size[last], inner);
    for (std::size_t d = carried; d-- > 0;) {
      for (std::size_t k = 0; k < N; ++k) off[k] += w.stride[k][d];
      if (++idx[d] < w.size[d]) break;
      for (std::size_t k = 0; k < N; ++k) off[k] -= w.stride[k][d] * w.size[d];
      idx[d] = 0;
    }
  }
}

/// g++'s loop vectoriser off for one function (its straight-line vectoriser stays on).
#if defined(__GNUC__) && !defined(__clang__)
#define AG_NO_LOOP_VECTORIZE gnu::optimize("no-tree-loop-vectorize")
#else
#define AG_NO_LOOP_VECTORIZE
#endif

/// row(po, pa, pb) for `rows` rows, each operand `s*` further on than the last. Out of line, so
/// that its few values stay in registers (inlined into the walk, g++ kept the steps on the stack
/// and reread them for every row of 8), and with the loop over rows never vectorised: a row of
/// 8 or 16 is vectorised on its own, while g++ would otherwise vectorise across four rows of a
/// division, gathering and scattering them through shuffles at three times the cost.
template <class R, class A, class B, class Row>
[[gnu::noinline, AG_NO_LOOP_VECTORIZE]] void rows_of_block(R* po, const A* pa, const B* pb, std::int64_t rows, std::int64_t so,
                                     std::int64_t sa, std::int64_t sb, Row row) {
  for (std::int64_t r = 0; r < rows; ++r, po += so, pa += sa, pb += sb) row(po, pa, pb);
}

/// map2 over operands that are not all dense: every operand strided, a and b broadcast. The
/// common stride patterns of a run are spelled out so that the compiler vectorises them.
template <class A, class B, class R, class F>
[[gnu::noinline]] void map2_walk(const Strided<const A>& a, const Strided<const B>& b, const Strided<R>& o,
                                 const Shape& shape, F f) {
  std::int64_t so[Shape::kMaxDims], sa[Shape::kMaxDims], sb[Shape::kMaxDims];
  loop_strides(o, shape, so);
  loop_strides(a, shape, sa);
  loop_strides(b, shape, sb);
  const std::int64_t* st[3] = {so, sa, sb};
  Walk<3> w = make_walk<3>(shape, st);
  longest_rows_last(w);
  // Every block has the same row length and strides within a row: the loop is chosen once.
  const std::size_t last = w.rank ? w.rank - 1 : 0;
  const std::int64_t len = w.rank ? w.size[last] : 1;
  const std::int64_t in[3] = {w.rank ? w.stride[0][last] : 0, w.rank ? w.stride[1][last] : 0,
                              w.rank ? w.stride[2][last] : 0};
  auto rows_of_blocks = [&](auto row) {  // row(po, pa, pb) for every row of every block
    for_each_block(w, [&](const std::int64_t* off, std::int64_t rows, const std::int64_t* step, std::int64_t,
                          const std::int64_t*) {
      R* po = o.data + off[0];
      const A* pa = a.data + off[1];
      const B* pb = b.data + off[2];
      rows_of_block(po, pa, pb, rows, step[0], step[1], step[2], row);
    });
  };
  if (in[0] == 1 && in[1] == 1 && in[2] == 1) {
    rows_of_blocks([&](R* po, const A* pa, const B* pb) { run4(po, len, [&](std::int64_t j) { return f(pa[j], pb[j]); }); });
  } else if (in[0] == 1 && in[1] == 1 && in[2] == 0) {  // b one value per row: a mask, a row scale
    short_rows(len, [&](auto width) {
      rows_of_blocks([&](R* po, const A* pa, const B* pb) {
        const B bv = *pb;
        run4(po, width, [&](std::int64_t j) { return f(pa[j], bv); });
      });
    });
  } else if (in[0] == 1 && in[1] == 0 && in[2] == 1) {
    short_rows(len, [&](auto width) {
      rows_of_blocks([&](R* po, const A* pa, const B* pb) {
        const A av = *pa;
        run4(po, width, [&](std::int64_t j) { return f(av, pb[j]); });
      });
    });
  } else {
    rows_of_blocks([&](R* po, const A* pa, const B* pb) {
      for (std::int64_t j = 0; j < len; ++j) po[j * in[0]] = f(pa[j * in[1]], pb[j * in[2]]);
    });
  }
}

/// o[i] = f(a[i], b[i]) over `shape`: one flat loop when every operand is dense (kept inline,
/// it is what most ops run), the walk otherwise (kept out of line, so that each op stays small).
template <class A, class B, class R, class F>
void map2(const Strided<const A>& a, const Strided<const B>& b, const Strided<R>& o, const Shape& shape, F f) {
  const std::int64_t n = shape.numel();
  if (n == 0) return;
  if (a.dense && b.dense && o.dense) {
    parallel_for(0, n, kParallelGrain, [&](std::int64_t lo, std::int64_t hi) {
      for (std::int64_t i = lo; i < hi; ++i) o.data[i] = f(a.data[i], b.data[i]);
    });
    return;
  }
  map2_walk(a, b, o, shape, f);
}

/// map1 over operands that are not both dense: x strided (and broadcast).
template <class X, class R, class F>
[[gnu::noinline]] void map1_walk(const Strided<const X>& x, const Strided<R>& o, const Shape& shape, F f) {
  std::int64_t so[Shape::kMaxDims], sx[Shape::kMaxDims];
  loop_strides(o, shape, so);
  loop_strides(x, shape, sx);
  const std::int64_t* st[2] = {so, sx};
  for_each_block(make_walk<2>(shape, st), [&](const std::int64_t* off, std::int64_t rows, const std::int64_t* step,
                                              std::int64_t len, const std::int64_t* in) {
    R* po = o.data + off[0];
    const X* px = x.data + off[1];
    auto each_row = [&](auto row) {
      for (std::int64_t r = 0; r < rows; ++r, po += step[0], px += step[1]) row();
    };
    if (in[0] == 1 && in[1] == 1) {
      each_row([&] { run4(po, len, [&](std::int64_t j) { return f(px[j]); }); });
    } else if (in[0] == 1 && in[1] == 0) {
      each_row([&] {
        const X v = *px;
        run4(po, len, [&](std::int64_t) { return f(v); });
      });
    } else {
      each_row([&] { for (std::int64_t j = 0; j < len; ++j) po[j * in[0]] = f(px[j * in[1]]); });
    }
  });
}

/// o[i] = f(x[i]) over `shape`, inline when both are dense, as map2.
template <class X, class R, class F>
void map1(const Strided<const X>& x, const Strided<R>& o, const Shape& shape, F f) {
  const std::int64_t n = shape.numel();
  if (n == 0) return;
  if (x.dense && o.dense) {
    parallel_for(0, n, kParallelGrain, [&](std::int64_t lo, std::int64_t hi) {
      for (std::int64_t i = lo; i < hi; ++i) o.data[i] = f(x.data[i]);
    });
    return;
  }
  map1_walk(x, o, shape, f);
}

/// o[i] = f(c[i], a[i], b[i]) over `shape` (where).
template <class C, class A, class B, class R, class F>
void map3(const Strided<const C>& c, const Strided<const A>& a, const Strided<const B>& b, const Strided<R>& o,
          const Shape& shape, F f) {
  if (shape.numel() == 0) return;
  std::int64_t so[Shape::kMaxDims], sc[Shape::kMaxDims], sa[Shape::kMaxDims], sb[Shape::kMaxDims];
  loop_strides(o, shape, so);
  loop_strides(c, shape, sc);
  loop_strides(a, shape, sa);
  loop_strides(b, shape, sb);
  const std::int64_t* st[4] = {so, sc, sa, sb};
  for_each_block(make_walk<4>(shape, st), [&](const std::int64_t* off, std::int64_t rows, const std::int64_t* step,
                                              std::int64_t len, const std::int64_t* in) {
    R* po = o.data + off[0];
    const C* pc = c.data + off[1];
    const A* pa = a.data + off[2];
    const B* pb = b.data + off[3];
    for (std::int64_t r = 0; r < rows; ++r, po += step[0], pc += step[1], pa += step[2], pb += step[3])
      for (std::int64_t j = 0; j < len; ++j) po[j * in[0]] = f(pc[j * in[1]], pa[j * in[2]], pb[j * in[3]]);
  });
}

/// Folds every element of x (strided, of shape `sx`) into out[j], j being x's index with the
/// reduced dimensions dropped: out is contiguous of `reduced_shape`, sx with those dimensions
/// set to 1 (keepdim form), and initialised by the caller (0 for sum, -inf for max...).
template <class X, class Acc, class F>
void reduce_into(const Strided<const X>& x, const Shape& sx, Acc* out, const Shape& reduced_shape, F fold) {
  if (sx.numel() == 0) return;
  std::int64_t so[Shape::kMaxDims], xs[Shape::kMaxDims];
  broadcast_strides(reduced_shape, sx, so);
  loop_strides(x, sx, xs);
  const std::int64_t* st[2] = {so, xs};
  for_each_block(make_walk<2>(sx, st), [&](const std::int64_t* off, std::int64_t rows, const std::int64_t* step,
                                           std::int64_t len, const std::int64_t* in) {
    Acc* po = out + off[0];
    const X* px = x.data + off[1];
    auto each_row = [&](auto row) {
      for (std::int64_t r = 0; r < rows; ++r, po += step[0], px += step[1]) row();
    };
    if (in[0] == 0) {  // the run folds into one element
      each_row([&] {
        Acc acc = *po;
        if (in[1] == 1) {
          for (std::int64_t j = 0; j < len; ++j) acc = fold(acc, px[j]);
        } else {
          for (std::int64_t j = 0; j < len; ++j) acc = fold(acc, px[j * in[1]]);
        }
        *po = acc;
      });
    } else if (in[0] == 1 && in[1] == 1) {
      each_row([&] { run4(po, len, [&](std::int64_t j) { return fold(po[j], px[j]); }); });
    } else {
      each_row([&] { for (std::int64_t j = 0; j < len; ++j) po[j * in[0]] = fold(po[j * in[0]], px[j * in[1]]); });
    }
  });
}

/// o[i] += x[i] over `shape`, one element after the other, so that an o that visits the same
/// element several times (overlapping windows) accumulates them all.
template <class T>
void accumulate(const Strided<const T>& x, const Strided<T>& o, const Shape& shape) {
  if (shape.numel() == 0) return;
  std::int64_t so[Shape::kMaxDims], sx[Shape::kMaxDims];
  loop_strides(o, shape, so);
  loop_strides(x, shape, sx);
  const std::int64_t* st[2] = {so, sx};
  for_each_block(make_walk<2>(shape, st), [&](const std::int64_t* off, std::int64_t rows, const std::int64_t* step,
                                              std::int64_t len, const std::int64_t* in) {
    T* po = o.data + off[0];
    const T* px = x.data + off[1];
    for (std::int64_t r = 0; r < rows; ++r, po += step[0], px += step[1])
      for (std::int64_t j = 0; j < len; ++j) po[j * in[0]] = wrap_add(po[j * in[0]], px[j * in[1]]);
  });
}

}  // namespace ag::kernels
