// Reductions: sum, mean, max/min (all, along a dim, over dims), argmax/argmin, logsumexp, norm.
// float32 sums accumulate in double: a float accumulator loses digits past a few thousand terms.

#include <algorithm>
#include <cmath>
#include <limits>

#include "ag/autograd/node.h"
#include "ag/autograd/ops.h"
#include "ag/autograd/ops/kernels.h"

namespace ag {

using detail::data;

namespace {

template <class T>
using acc_t = std::conditional_t<std::is_same_v<T, std::int64_t>, std::int64_t, double>;

/// Which dimensions a reduction removes; an empty list means all of them.
struct Reduced {
  bool mask[Shape::kMaxDims] = {};
  Shape keep;  // the input's shape with reduced dims set to 1
  Shape out;   // keep, minus the reduced dims unless keepdim
  std::int64_t count = 1;
};

/// The dims a reduction was asked for, by reference: a list, or the one dim of x.sum(1) (no
/// vector made for it).
struct DimList {
  DimList(const std::vector<std::int64_t>& v) : first(v.data()), n(v.size()) {}
  explicit DimList(const std::int64_t& d) : first(&d), n(1) {}
  const std::int64_t* begin() const { return first; }
  const std::int64_t* end() const { return first + n; }
  bool empty() const { return n == 0; }
  const std::int64_t* first;
  std::size_t n;
};

Reduced reduced_dims(const Shape& s, DimList dims, bool keepdim, const char* op) {
  Reduced r;
  auto nd = static_cast<std::int64_t>(s.size());
  if (dims.empty()) {
    for (std::int64_t i = 0; i < nd; ++i) r.mask[i] = true;
  } else {
    for (std::int64_t d : dims) {
      std::int64_t w = wrap_dim(d, nd, op);
      if (nd == 0) continue;
      AG_CHECK(!r.mask[w], op, ": dimension ", d, " appears more than once in the list of dims");
      r.mask[w] = true;
    }
  }
  for (std::int64_t i = 0; i < nd; ++i) {
    r.keep.push_back(r.mask[i] ? 1 : s[i]);
    if (r.mask[i]) r.count *= s[i];
    if (!r.mask[i] || keepdim) r.out.push_back(r.mask[i] ? 1 : s[i]);
  }
  return r;
}

template <class T>
acc_t<T> sum_contiguous(const T* p, std::int64_t n) {
  acc_t<T> a[4] = {0, 0, 0, 0};
  std::int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    a[0] = kernels::wrap_add<acc_t<T>>(a[0], p[i]);
    a[1] = kernels::wrap_add<acc_t<T>>(a[1], p[i + 1]);
    a[2] = kernels::wrap_add<acc_t<T>>(a[2], p[i + 2]);
    a[3] = kernels::wrap_add<acc_t<T>>(a[3], p[i + 3]);
  }
  for (; i < n; ++i) a[0] = kernels::wrap_add<acc_t<T>>(a[0], p[i]);
  return kernels::wrap_add(kernels::wrap_add(a[0], a[1]), kernels::wrap_add(a[2], a[3]));
}

/// Sum over the reduced dims, into a tensor of shape r.out (int64 for bool, as PyTorch).
Tensor sum_raw(const Tensor& x_in, const Reduced& r) {
  const Tensor x = x_in.dtype() == kBool ? [&] { NoGradGuard ng; return x_in.to(kInt64); }() : x_in;
  Tensor out = detail::make_tensor(r.out, x.dtype());
  dispatch_numeric(x.dtype(), "sum", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = data<T>(x);
    T* o = data<T>(out);
    if (!x.is_contiguous()) {  // strided: one walk over x, folding into the accumulators
      std::vector<acc_t<T>, detail::PoolAllocator<acc_t<T>>> acc(static_cast<std::size_t>(out.numel()), 0);
      kernels::reduce_into(kernels::in<T>(x, x.shape()), x.shape(), acc.data(), r.keep,
                           [](acc_t<T> a, T v) { return kernels::wrap_add<acc_t<T>>(a, v); });
      for (std::size_t i = 0; i < acc.size(); ++i) o[i] = static_cast<T>(acc[i]);
      return;
    }
    if (out.numel() == 1) {
      // A big tensor in blocks of a fixed size, whatever the thread count (so the result is the
      // same on any number of threads), summed across threads; then the blocks' sums in order.
      constexpr std::int64_t kBlock = std::int64_t{1} << 16;
      const std::int64_t n = x.numel();
      if (n <= kBlock) {
        o[0] = static_cast<T>(sum_contiguous(p, n));
        return;
      }
      const std::int64_t nblocks = (n + kBlock - 1) / kBlock;
      std::vector<acc_t<T>, detail::PoolAllocator<acc_t<T>>> partial(static_cast<std::size_t>(nblocks));
      parallel_for(0, nblocks, 1, [&](std::int64_t lo, std::int64_t hi) {
        for (std::int64_t blk = lo; blk < hi; ++blk)
          partial[static_cast<std::size_t>(blk)] = sum_contiguous(p + blk * kBlock, std::min(kBlock, n - blk * kBlock));
      });
      acc_t<T> total = 0;
      for (const acc_t<T>& v : partial) total = kernels::wrap_add<acc_t<T>>(total, v);
      o[0] = static_cast<T>(total);
      return;
    }
    std::int64_t dim = -1, reduced = 0;
    for (std::size_t d = 0; d < x.shape().size(); ++d)
      if (r.mask[d]) dim = static_cast<std::int64_t>(d), ++reduced;
    if (reduced == 1) {  // one dim, seen as [outer, n, inner]: straight loops the compiler vectorises
      const kernels::Blocks b = kernels::blocks(x.shape(), dim);
      // Each output element is summed by one thread in the same order whatever the thread count,
      // so a split (over the outer rows, or over the columns when there is one row) changes
      // nothing in the result. The grain counts input elements.
      const std::int64_t per_out = b.n;
      if (b.inner == 1) {
        parallel_for(0, b.outer, std::max<std::int64_t>(1, kernels::kParallelGrain / std::max<std::int64_t>(per_out, 1)),
                     [&](std::int64_t lo, std::int64_t hi) {
                       for (std::int64_t a = lo; a < hi; ++a) o[a] = static_cast<T>(sum_contiguous(p + a * b.n, b.n));
                     });
        return;
      }
      // Columns [lo, hi) of output row a, each summed down the n rows in order. When the block
      // is small enough to stay in cache, eight (then four) columns at a time are held in
      // registers over the whole column, so a short row ([32, 6, 8] summed over the 6) costs a
      // load and an add per element; a big block is read row after row into a row of accumulators (sequential
      // memory). Both add in the same order, so the result is the same either way.
      const bool in_cache = b.n * b.inner <= 16384;
      auto sum_columns = [&](std::int64_t a, std::int64_t lo, std::int64_t hi) {
        const T* src = p + a * b.n * b.inner;
        T* dst = o + a * b.inner;
        if (in_cache) {
          std::int64_t i = lo;
          // W columns at a time: a row of 8 floats is two loads and four double adds
          auto columns = [&](auto width) {
            constexpr std::int64_t W = decltype(width)::value;
            for (; i + W <= hi; i += W) {
              acc_t<T> s[W];
              for (std::int64_t u = 0; u < W; ++u) s[u] = src[i + u];
              for (std::int64_t k = 1; k < b.n; ++k) {
                const T* r = src + k * b.inner + i;
                for (std::int64_t u = 0; u < W; ++u) s[u] = kernels::wrap_add<acc_t<T>>(s[u], r[u]);
              }
              for (std::int64_t u = 0; u < W; ++u) dst[i + u] = static_cast<T>(s[u]);
            }
          };
          columns(kernels::Width<8>());
          columns(kernels::Width<4>());
          for (; i < hi; ++i) {
            acc_t<T> s0 = src[i];
            for (std::int64_t k = 1; k < b.n; ++k) s0 = kernels::wrap_add<acc_t<T>>(s0, src[k * b.inner + i]);
            dst[i] = static_cast<T>(s0);
          }
          return;
        }
        constexpr std::int64_t kLocal = 64;
        acc_t<T> local[kLocal];
        std::vector<acc_t<T>, detail::PoolAllocator<acc_t<T>>> heap;
        const std::int64_t w = hi - lo;
        if (w > kLocal) heap.resize(static_cast<std::size_t>(w));
        acc_t<T>* row = w > kLocal ? heap.data() : local;
        src += lo;
        kernels::run4(row, w, [&](std::int64_t i) { return static_cast<acc_t<T>>(src[i]); });
        for (std::int64_t k = 1; k < b.n; ++k) {
          src += b.inner;
          kernels::run4(row, w, [&](std::int64_t i) { return kernels::wrap_add<acc_t<T>>(row[i], src[i]); });
        }
        kernels::run4(dst + lo, w, [&](std::int64_t i) { return static_cast<T>(row[i]); });
      };
      const std::int64_t grain_rows = std::max<std::int64_t>(1, kernels::kParallelGrain / std::max<std::int64_t>(b.n * b.inner, 1));
      if (b.outer >= 2) {
        parallel_for(0, b.outer, grain_rows, [&](std::int64_t lo, std::int64_t hi) {
          for (std::int64_t a = lo; a < hi; ++a) sum_columns(a, 0, b.inner);
        });
      } else {
        parallel_for(0, b.inner, std::max<std::int64_t>(16, kernels::kParallelGrain / std::max<std::int64_t>(per_out, 1)),
                     [&](std::int64_t lo, std::int64_t hi) { sum_columns(0, lo, hi); });
      }
      return;
    }
    std::vector<acc_t<T>, detail::PoolAllocator<acc_t<T>>> acc(static_cast<std::size_t>(out.numel()), 0);
    kernels::reduce_into(kernels::in<T>(x, x.shape()), x.shape(), acc.data(), r.keep,
                         [](acc_t<T> a, T v) { return kernels::wrap_add<acc_t<T>>(a, v); });
    for (std::size_t i = 0; i < acc.size(); ++i) o[i] = static_cast<T>(acc[i]);
  });
  return out;
}

/// Gradient of a reduction whose output had shape r.out: g reshaped to r.keep, broadcast back.
Tensor unreduce(const Tensor& g, const Shape& keep, const Shape& input) { return expand(reshape(g, keep), input); }

template <bool IsMax>
Tensor extreme_raw(const Tensor& x, const Reduced& r, const char* op) {
  AG_CHECK(x.numel() > 0, op, ": cannot reduce an empty tensor of shape ", x.shape(), " (there is no identity)");
  Tensor out = detail::make_tensor(r.out, x.dtype());
  dispatch(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* o = data<T>(out);
    T init = IsMax ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
    if constexpr (std::is_floating_point_v<T>) init = IsMax ? -INFINITY : INFINITY;
    std::fill(o, o + out.numel(), init);
    // NaN wins, as in PyTorch: once an accumulator is NaN it stays NaN.
    kernels::reduce_into(kernels::in<T>(x, x.shape()), x.shape(), o, r.keep, [](T a, T v) {
      if (a != a) return a;
      if (v != v) return v;
      return IsMax ? (v > a ? v : a) : (v < a ? v : a);
    });
  });
  return out;
}

/// Index of the first max (or min) along dim, int64 of shape `out` (dim removed or kept as 1).
template <bool IsMax>
Tensor arg_extreme_raw(const Tensor& x_in, std::int64_t dim, const Shape& out_shape, const char* op) {
  const Tensor x = detail::contiguous_data(x_in);
  const Shape& s = x.shape();
  AG_CHECK(x.numel() > 0, op, ": cannot reduce an empty tensor of shape ", s);
  std::int64_t outer = 1, inner = 1, n = s.empty() ? 1 : s[dim];
  for (std::int64_t i = 0; i < dim; ++i) outer *= s[i];
  for (std::size_t i = dim + 1; i < s.size(); ++i) inner *= s[i];
  Tensor out = detail::make_tensor(out_shape, kInt64);
  std::int64_t* o = data<std::int64_t>(out);
  dispatch(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = data<T>(x);
    for (std::int64_t a = 0; a < outer; ++a)
      for (std::int64_t c = 0; c < inner; ++c) {
        const T* base = p + a * n * inner + c;
        std::int64_t best = 0;
        T bv = base[0];
        for (std::int64_t k = 1; k < n && bv == bv; ++k) {
          T v = base[k * inner];
          if (v != v || (IsMax ? v > bv : v < bv)) {
            bv = v;
            best = k;
          }
        }
        o[a * inner + c] = best;
      }
  });
  return out;
}

/// max/min over dims with the gradient shared evenly among tied extremes.
template <bool IsMax>
Tensor amax_impl(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim, const char* op,
                 const char* node) {
  Reduced r = reduced_dims(x.shape(), dims, keepdim, op);
  Tensor out = extreme_raw<IsMax>(x, r, op);
  if (needs_grad(x))
    record(node, out, {x}, {save(x), save_output(out)}, [keep = r.keep](const Tensor& g, const BackwardContext& ctx) -> Grads {
      const Tensor &x = ctx.saved(0), &out = ctx.saved(1);
      Tensor hit = (x == reshape(out, keep)).to(x.dtype());
      Tensor count = sum_to(hit, keep);
      return {reshape(g, keep) * hit / count};
    });
  return out;
}

template <bool IsMax>
std::tuple<Tensor, Tensor> extreme_dim(const Tensor& x, std::int64_t dim, bool keepdim, const char* op,
                                       const char* node) {
  std::int64_t d = wrap_dim(dim, x.dim(), op);
  Reduced r = reduced_dims(x.shape(), DimList(dim), keepdim, op);
  Tensor idx = arg_extreme_raw<IsMax>(x, x.dim() == 0 ? 0 : d, r.out, op);
  Tensor values = extreme_raw<IsMax>(x, r, op);
  if (needs_grad(x))
    record(node, values, {x}, {save(idx)},
           [keep = r.keep, shape = x.shape(), d](const Tensor& g, const BackwardContext& ctx) -> Grads {
             if (shape.empty()) return {g};
             // the gradient goes to the index that won, along dim
             Shape pos_shape = Shape::filled(shape.size(), 1);
             for (std::size_t i = 0; i < shape.size(); ++i) pos_shape[i] = static_cast<std::int64_t>(i) == d ? shape[d] : 1;
             Tensor pos = reshape(arange(shape[d]), pos_shape);
             Tensor hit = pos == reshape(ctx.saved(0), keep);
             return {reshape(g, keep) * hit};
           });
  return {values, idx};
}

Tensor sum_dims(const Tensor& x, DimList dims, bool keepdim) {
  // x: [*s] -> s with dims removed (or kept as 1)
  AG_CHECK(x.defined(), "sum: the input is undefined");
  Reduced r = reduced_dims(x.shape(), dims, keepdim, "sum");
  Tensor out = sum_raw(x, r);
  if (needs_grad(x))
    record(dims.empty() && !keepdim ? "SumBackward0" : "SumBackward1", out, {x}, {}, [keep = r.keep, shape = x.shape()](const Tensor& g, const BackwardContext&) -> Grads {
      return {unreduce(g, keep, shape)};
    });
  return out;
}

Tensor mean_dims(const Tensor& x, DimList dims, bool keepdim) {
  AG_CHECK(x.defined(), "mean: the input is undefined");
  AG_CHECK(is_floating(x.dtype()), "mean: the input must be float32 or float64, got ", x.dtype(), " of shape ",
           x.shape(), " (convert with to(ag::kFloat32))");
  Reduced r = reduced_dims(x.shape(), dims, keepdim, "mean");
  Tensor out = sum_raw(x, r);
  dispatch(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* o = data<T>(out);
    for (std::int64_t i = 0, i_end = out.numel(); i < i_end; ++i) o[i] = static_cast<T>(o[i] / static_cast<double>(r.count));
  });
  if (needs_grad(x))
    record(dims.empty() && !keepdim ? "MeanBackward0" : "MeanBackward1", out, {x}, {},
           [keep = r.keep, shape = x.shape(), n = r.count](const Tensor& g, const BackwardContext&) -> Grads {
             return {unreduce(g / static_cast<double>(n), keep, shape)};
           });
  return out;
}

}  // namespace

Tensor sum(const Tensor& x) { return sum(x, {}, false); }
Tensor sum(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) { return sum_dims(x, dims, keepdim); }
Tensor mean(const Tensor& x) { return mean(x, {}, false); }
Tensor mean(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) { return mean_dims(x, dims, keepdim); }

Tensor max(const Tensor& x) { return amax_impl<true>(x, {}, false, "max", "MaxBackward1"); }
Tensor min(const Tensor& x) { return amax_impl<false>(x, {}, false, "min", "MinBackward1"); }
Tensor amax(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  return amax_impl<true>(x, dims, keepdim, "amax", "AmaxBackward0");
}
Tensor amin(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  return amax_impl<false>(x, dims, keepdim, "amin", "AminBackward0");
}
std::tuple<Tensor, Tensor> max(const Tensor& x, std::int64_t dim, bool keepdim) {
  return extreme_dim<true>(x, dim, keepdim, "max", "MaxBackward0");
}
std::tuple<Tensor, Tensor> min(const Tensor& x, std::int64_t dim, bool keepdim) {
  return extreme_dim<false>(x, dim, keepdim, "min", "MinBackward0");
}

Tensor argmax(const Tensor& x, std::optional<std::int64_t> dim, bool keepdim) {
  if (!dim) {
    Tensor flat = reshape(x, {x.numel()});
    Tensor i = arg_extreme_raw<true>(flat, 0, {}, "argmax");
    return keepdim ? reshape(i, Shape::filled(x.dim(), 1)) : i;
  }
  std::int64_t d = wrap_dim(*dim, x.dim(), "argmax");
  Reduced r = reduced_dims(x.shape(), DimList(*dim), keepdim, "argmax");
  return arg_extreme_raw<true>(x, x.dim() == 0 ? 0 : d, r.out, "argmax");
}

Tensor argmin(const Tensor& x, std::optional<std::int64_t> dim, bool keepdim) {
  if (!dim) {
    Tensor flat = reshape(x, {x.numel()});
    Tensor i = arg_extreme_raw<false>(flat, 0, {}, "argmin");
    return keepdim ? reshape(i, Shape::filled(x.dim(), 1)) : i;
  }
  std::int64_t d = wrap_dim(*dim, x.dim(), "argmin");
  Reduced r = reduced_dims(x.shape(), DimList(*dim), keepdim, "argmin");
  return arg_extreme_raw<false>(x, x.dim() == 0 ? 0 : d, r.out, "argmin");
}

Tensor logsumexp(const Tensor& x, std::int64_t dim, bool keepdim) {
  // log Σ exp(x) = m + log Σ exp(x - m), with m the max (treated as a constant: its gradient
  // cancels), and m = 0 where it is infinite so that all -inf stays -inf instead of NaN.
  AG_CHECK(x.defined(), "logsumexp: the input is undefined");
  Tensor m;
  {
    NoGradGuard no_grad;
    m = amax(x, {dim}, true);
    m = where(abs(m) == INFINITY, zeros_like(m), m);
  }
  Tensor out = log(sum(exp(x - m), {dim}, true)) + m;
  return keepdim ? out : squeeze(out, dim);
}

Tensor norm(const Tensor& x, double p) {
  AG_CHECK(x.defined(), "norm: the input is undefined");
  if (detail::is_sparse(x)) return detail::sparse_norm(x, p);
  if (p == 2) return sqrt(sum(x * x));
  if (p == 1) return sum(abs(x));
  if (std::isinf(p)) return p > 0 ? amax(abs(x)) : amin(abs(x));
  AG_CHECK(p > 0, "norm: p must be positive, got ", p);
  return pow(sum(pow(abs(x), p)), 1.0 / p);
}

// ---- truth values ---------------------------------------------------------------------------

namespace {
/// Where x is nonzero, as a bool tensor (x itself when it is bool).
Tensor truth(const Tensor& x, const char* op) {
  AG_CHECK(x.defined(), op, ": the input is undefined");
  return x.dtype() == kBool ? x : x != 0;
}
}  // namespace

Tensor count_nonzero(const Tensor& x, std::optional<std::int64_t> dim) {
  Tensor t = truth(x, "count_nonzero");
  return dim ? sum(t, {*dim}) : sum(t);
}

Tensor any(const Tensor& x) { return sum(truth(x, "any")) > 0; }
Tensor any(const Tensor& x, std::int64_t dim, bool keepdim) { return sum(truth(x, "any"), {dim}, keepdim) > 0; }
Tensor all(const Tensor& x) { return sum(truth(x, "all")) == x.numel(); }
Tensor all(const Tensor& x, std::int64_t dim, bool keepdim) {
  Tensor t = truth(x, "all");
  const std::int64_t n = t.dim() == 0 ? 1 : t.shape()[wrap_dim(dim, t.dim(), "all")];
  return sum(t, {dim}, keepdim) == n;
}

Tensor nonzero(const Tensor& x) {
  // x: [s0, ..., sk] -> int64 [count, k + 1], the indices of the nonzero elements in row-major order
  Tensor t = detail::contiguous_data(truth(x, "nonzero"));
  const bool* p = data<bool>(t);
  const std::int64_t n = t.numel(), nd = t.dim();
  std::int64_t count = 0;
  for (std::int64_t i = 0; i < n; ++i) count += p[i];
  Tensor out = detail::make_tensor({count, nd}, kInt64);
  std::int64_t* o = data<std::int64_t>(out);
  std::int64_t idx[Shape::kMaxDims] = {};
  for (std::int64_t i = 0; i < n; ++i) {
    if (p[i]) {
      for (std::int64_t d = 0; d < nd; ++d) *o++ = idx[d];
    }
    for (std::int64_t d = nd; d-- > 0;) {
      if (++idx[d] < t.shape()[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

// ---- Tensor methods -------------------------------------------------------------------------

Tensor Tensor::sum() const { return ag::sum(*this); }
Tensor Tensor::sum(std::int64_t dim, bool keepdim) const { return sum_dims(*this, DimList(dim), keepdim); }
Tensor Tensor::sum(const std::vector<std::int64_t>& dims, bool keepdim) const { return ag::sum(*this, dims, keepdim); }
Tensor Tensor::mean() const { return ag::mean(*this); }
Tensor Tensor::mean(std::int64_t dim, bool keepdim) const { return mean_dims(*this, DimList(dim), keepdim); }
Tensor Tensor::mean(const std::vector<std::int64_t>& dims, bool keepdim) const { return ag::mean(*this, dims, keepdim); }
Tensor Tensor::max() const { return ag::max(*this); }
std::tuple<Tensor, Tensor> Tensor::max(std::int64_t dim, bool keepdim) const { return ag::max(*this, dim, keepdim); }
Tensor Tensor::min() const { return ag::min(*this); }
std::tuple<Tensor, Tensor> Tensor::min(std::int64_t dim, bool keepdim) const { return ag::min(*this, dim, keepdim); }
Tensor Tensor::amax(const std::vector<std::int64_t>& dims, bool keepdim) const { return ag::amax(*this, dims, keepdim); }
Tensor Tensor::amin(const std::vector<std::int64_t>& dims, bool keepdim) const { return ag::amin(*this, dims, keepdim); }
Tensor Tensor::argmax(std::optional<std::int64_t> dim, bool keepdim) const { return ag::argmax(*this, dim, keepdim); }
Tensor Tensor::argmin(std::optional<std::int64_t> dim, bool keepdim) const { return ag::argmin(*this, dim, keepdim); }
Tensor Tensor::logsumexp(std::int64_t dim, bool keepdim) const { return ag::logsumexp(*this, dim, keepdim); }
Tensor Tensor::norm(double p) const { return ag::norm(*this, p); }
Tensor Tensor::any() const { return ag::any(*this); }
Tensor Tensor::any(std::int64_t dim, bool keepdim) const { return ag::any(*this, dim, keepdim); }
Tensor Tensor::all() const { return ag::all(*this); }
Tensor Tensor::all(std::int64_t dim, bool keepdim) const { return ag::all(*this, dim, keepdim); }
Tensor Tensor::nonzero() const { return ag::nonzero(*this); }
Tensor Tensor::count_nonzero(std::optional<std::int64_t> dim) const { return ag::count_nonzero(*this, dim); }

}  // namespace ag
