// Index ops on int64 indices: index_select, gather, embedding, one_hot.
// A lookup's backward is a scatter-add into zeros of the input's shape, and that scatter is
// itself an op whose backward is the lookup again: the two are adjoint linear maps, so
// create_graph and higher derivatives work.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "ag/autograd/node.h"
#include "ag/autograd/ops.h"
#include "ag/autograd/ops/kernels.h"
#include "ag/autograd/tensor_impl.h"

namespace ag {

using detail::data;

namespace {

void check_indices(const Tensor& index, const char* op, const char* what) {
  AG_CHECK(index.defined(), op, ": ", what, " is an undefined tensor");
  AG_CHECK(index.dtype() == kInt64, op, ": ", what, " must be int64, got ", index.dtype(), " of shape ", index.shape(),
           " (convert with to(ag::kInt64))");
}

void check_source(const Tensor& x, const char* op, const char* what) {
  AG_CHECK(x.defined(), op, ": ", what, " is an undefined tensor");
  AG_CHECK(is_floating(x.dtype()), op, ": ", what, " must be float32 or float64, got ", x.dtype(), " of shape ", x.shape());
}

using kernels::position;

/// Throws IndexError unless every index is in [0, size).
void check_range(const Tensor& index, std::int64_t size, const char* op, const char* what) {
  const std::int64_t* p = data<std::int64_t>(index);
  const std::int64_t n = index.numel();
  // One pass without a branch per index (a negative one is a huge unsigned one), then the
  // first offender is looked for only when there is one.
  bool bad = false;
  for (std::int64_t k = 0; k < n; ++k) bad |= static_cast<std::uint64_t>(p[k]) >= static_cast<std::uint64_t>(size);
  if (!bad) return;
  for (std::int64_t k = 0; k < n; ++k)
    AG_CHECK_INDEX(p[k] >= 0 && p[k] < size, op, ": index ", p[k], " is out of range for ", size, " ", what,
                   " (valid: 0..", size - 1, ") at position ", position(k, index.shape()));
}

using kernels::Blocks;
using kernels::blocks;

/// How much each looked-up row's gradient counts: embedding's padding_idx rows get none,
/// scale_grad_by_freq divides by the index's count. Plain lookups use the default (all 1).
struct RowScale {
  std::optional<std::int64_t> padding_idx;
  bool by_freq = false;
  bool trivial() const { return !padding_idx && !by_freq; }
};

/// The factor of each of the n indices (empty when all are 1).
std::vector<double> row_scales(const std::int64_t* idx, std::int64_t n, std::int64_t size, const RowScale& rs) {
  std::vector<double> s;
  if (rs.trivial()) return s;
  s.assign(static_cast<std::size_t>(n), 1.0);
  if (rs.by_freq) {
    std::vector<std::int64_t> count(static_cast<std::size_t>(size), 0);
    for (std::int64_t k = 0; k < n; ++k) ++count[idx[k]];
    for (std::int64_t k = 0; k < n; ++k) s[k] = 1.0 / static_cast<double>(count[idx[k]]);
  }
  if (rs.padding_idx)
    for (std::int64_t k = 0; k < n; ++k)
      if (idx[k] == *rs.padding_idx) s[k] = 0.0;
  return s;
}

Tensor index_add_op(const Tensor& g, std::int64_t dim, const Tensor& index, std::int64_t size, const RowScale& rs);

/// The sparse [size, dim] tensor whose row index[k] holds s_k g[k] (g: [*index, dim], in any
/// layout: the expanded gradient of a mean is read where it lies, without a copy), rows whose
/// factor is zero (padding) left out: Embedding's sparse gradient, in the order of the batch.
Tensor sparse_rows(const Tensor& g, const Tensor& index, std::int64_t size, const RowScale& rs) {
  const TensorImpl& gi = *g.impl();
  const std::size_t lead = gi.shape.size() - 1;  // the dimensions of the index
  const std::int64_t n = index.numel(), dim = gi.shape[lead], step = gi.strides[lead];
  const std::int64_t* idx = data<std::int64_t>(index);
  const std::vector<double> scale = row_scales(idx, n, size, rs);
  std::int64_t kept = 0;
  for (std::int64_t k = 0; k < n; ++k) kept += scale.empty() || scale[k] != 0;
  Tensor rows = detail::make_tensor({kept}, kInt64);
  Tensor values = detail::make_tensor({kept, dim}, g.dtype());
  std::int64_t* pr = data<std::int64_t>(rows);
  dispatch_floating(g.dtype(), "embedding", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* pg = data<T>(g);
    T* pv = data<T>(values);
    std::int64_t coord[Shape::kMaxDims] = {}, off = 0;  // row k's place in g: an odometer over `lead`
    for (std::int64_t k = 0, j = 0; k < n; ++k) {
      if (scale.empty() || scale[k] != 0) {
        pr[j] = idx[k];
        const T s = scale.empty() ? T(1) : static_cast<T>(scale[k]);
        const T* row = pg + off;
        T* out = pv + j * dim;
        if (step == 1)
          for (std::int64_t i = 0; i < dim; ++i) out[i] = row[i] * s;
        else
          for (std::int64_t i = 0; i < dim; ++i) out[i] = row[i * step] * s;
        ++j;
      }
      for (std::size_t d = lead; d-- > 0;) {
        off += gi.strides[d];
        if (++coord[d] < gi.shape[d]) break;
        off -= coord[d] * gi.strides[d];
        coord[d] = 0;
      }
    }
  });
  return detail::make_sparse(rows, values, {size, dim}, kept <= 1);
}

/// out[a, k, i] = s_k x[a, index[k], i] along dim (indices already checked, contiguous).
Tensor index_select_op(const Tensor& x_in, std::int64_t dim, const Tensor& index, const RowScale& rs) {
  const Tensor x = detail::contiguous_data(x_in);
  const Blocks b = blocks(x.shape(), dim);
  const std::int64_t n = index.numel();
  Shape out_shape = x.shape();
  out_shape[dim] = n;
  Tensor out = detail::make_tensor(out_shape, x.dtype());
  const std::int64_t* idx = data<std::int64_t>(index);
  const std::vector<double> scale = row_scales(idx, n, b.n, rs);
  dispatch(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = data<T>(x);
    T* po = data<T>(out);
    for (std::int64_t a = 0; a < b.outer; ++a)
      for (std::int64_t k = 0; k < n; ++k) {
        const T* src = px + (a * b.n + idx[k]) * b.inner;
        T* dst = po + (a * n + k) * b.inner;
        if (scale.empty()) {
          std::memcpy(dst, src, static_cast<std::size_t>(b.inner) * sizeof(T));
        } else {
          const T s = static_cast<T>(scale[k]);
          for (std::int64_t i = 0; i < b.inner; ++i) {
            if constexpr (std::is_same_v<T, bool>) dst[i] = src[i] && s;
            else dst[i] = src[i] * s;
          }
        }
      }
  });
  if (needs_grad(x_in))
    record("IndexSelectBackward0", out, {x_in}, {save(index)}, [dim, size = b.n, rs](const Tensor& g, const BackwardContext& ctx) -> Grads {
      return {index_add_op(g, dim, ctx.saved(0), size, rs)};
    });
  return out;
}

/// Zeros with `size` entries along dim, then out[a, index[k], i] += s_k g[a, k, i]: the backward
/// of index_select_op, touching only the rows that were looked up.
Tensor index_add_op(const Tensor& g_in, std::int64_t dim, const Tensor& index, std::int64_t size, const RowScale& rs) {
  const Tensor g = detail::contiguous_data(g_in);
  const std::int64_t n = index.numel();
  Shape out_shape = g.shape();
  out_shape[dim] = size;
  Tensor out = zeros(out_shape, g.dtype());
  const Blocks b = blocks(out_shape, dim);
  const std::int64_t* idx = data<std::int64_t>(index);
  // Factors only for scale_grad_by_freq; padding rows are skipped as they come.
  RowScale by_freq = rs;
  by_freq.padding_idx.reset();
  const std::vector<double> scale = row_scales(idx, n, size, by_freq);
  const std::int64_t padding = rs.padding_idx ? *rs.padding_idx : -1;
  dispatch_floating(g.dtype(), "index_select", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* pg = data<T>(g);
    T* po = data<T>(out);
    // Row by row through a local block (loaded before any is stored, so the compiler vectorises
    // it without checking whether dst overlaps src); an embedding's short rows (8, 16) unrolled.
    // The rows of out in [lo, hi) only: a big lookup's gradient is split across threads by
    // destination row, so no two threads write a row and each row sums its lookups in the same
    // order as on one thread.
    auto add_rows = [&](std::int64_t lo, std::int64_t hi) {
      const bool all = lo == 0 && hi == size;  // one thread: every index is in range (checked forward)
      kernels::short_rows(b.inner, [&](auto width) {
        for (std::int64_t a = 0; a < b.outer; ++a)
          for (std::int64_t k = 0; k < n; ++k) {
            if ((!all && (idx[k] < lo || idx[k] >= hi)) || idx[k] == padding) continue;  // padding rows stay exactly zero
            const T* src = kernels::opaque(pg + (a * n + k) * b.inner);
            T* dst = kernels::opaque(po + (a * size + idx[k]) * b.inner);
            if (scale.empty()) {
              kernels::run4(dst, width, [&](std::int64_t i) { return dst[i] + src[i]; });
            } else {
              const T sk = static_cast<T>(scale[k]);
              kernels::run4(dst, width, [&](std::int64_t i) { return dst[i] + src[i] * sk; });
            }
          }
      });
    };
    if (b.outer == 1 && n * b.inner >= kGrainSize) parallel_for(0, size, 1, add_rows);
    else add_rows(0, size);
  });
  if (needs_grad(g_in))
    record("IndexAddBackward0", out, {g_in}, {save(index)}, [dim, rs](const Tensor& gg, const BackwardContext& ctx) -> Grads {
      return {index_select_op(gg, dim, ctx.saved(0), rs)};
    });
  return out;
}

/// Calls f(k, offset) for each element k of an index of shape `is`, `offset` being the position in
/// a contiguous tensor of shape `xs` with the coordinate along `dim` left at 0.
template <class F>
void for_each_gather(const Shape& is, const Shape& xs, std::int64_t dim, F f) {
  const Shape stride = contiguous_strides(xs);
  const std::size_t nd = is.size();
  const std::int64_t n = is.numel();
  std::int64_t pos[Shape::kMaxDims] = {};
  std::int64_t off = 0;
  for (std::int64_t k = 0; k < n; ++k) {
    f(k, off);
    for (std::size_t d = nd; d-- > 0;) {
      const std::int64_t st = static_cast<std::int64_t>(d) == dim ? 0 : stride[d];
      off += st;
      if (++pos[d] < is[d]) break;
      off -= st * is[d];
      pos[d] = 0;
    }
  }
}

Tensor scatter_add_op(const Tensor& g, std::int64_t dim, const Tensor& index, const Shape& x_shape);

/// out[..., k, ...] = x[..., index[..., k, ...], ...] along dim (indices already checked).
Tensor gather_op(const Tensor& x_in, std::int64_t dim, const Tensor& index) {
  const Tensor x = detail::contiguous_data(x_in);
  Tensor out = detail::make_tensor(index.shape(), x.dtype());
  const std::int64_t* idx = data<std::int64_t>(index);
  const std::int64_t step = x.dim() == 0 ? 0 : contiguous_strides(x.shape())[dim];
  dispatch(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = data<T>(x);
    T* po = data<T>(out);
    for_each_gather(index.shape(), x.shape(), dim, [&](std::int64_t k, std::int64_t off) { po[k] = px[off + idx[k] * step]; });
  });
  if (needs_grad(x_in))
    record("GatherBackward0", out, {x_in}, {save(index)}, [dim, xs = x.shape()](const Tensor& g, const BackwardContext& ctx) -> Grads {
      return {scatter_add_op(g, dim, ctx.saved(0), xs)};
    });
  return out;
}

/// zeros(x_shape), then out[..., index[..., k, ...], ...] += g[..., k, ...]: gather's backward.
Tensor scatter_add_op(const Tensor& g_in, std::int64_t dim, const Tensor& index, const Shape& x_shape) {
  const Tensor g = detail::contiguous_data(g_in);
  Tensor out = zeros(x_shape, g.dtype());
  const std::int64_t* idx = data<std::int64_t>(index);
  const std::int64_t step = x_shape.empty() ? 0 : contiguous_strides(x_shape)[dim];
  dispatch_floating(g.dtype(), "gather", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* pg = data<T>(g);
    T* po = data<T>(out);
    for_each_gather(index.shape(), x_shape, dim, [&](std::int64_t k, std::int64_t off) { po[off + idx[k] * step] += pg[k]; });
  });
  if (needs_grad(g_in))
    record("ScatterAddBackward0", out, {g_in}, {save(index)}, [dim](const Tensor& gg, const BackwardContext& ctx) -> Grads {
      return {gather_op(gg, dim, ctx.saved(0))};
    });
  return out;
}

/// The p-norm of n values (p = inf: the largest magnitude).
template <class T>
double row_norm(const T* v, std::int64_t n, double p) {
  double acc = 0;
  if (std::isinf(p)) {
    for (std::int64_t i = 0; i < n; ++i) acc = std::max(acc, std::abs(static_cast<double>(v[i])));
    return acc;
  }
  if (p == 2) {
    for (std::int64_t i = 0; i < n; ++i) acc += static_cast<double>(v[i]) * v[i];
    return std::sqrt(acc);
  }
  if (p == 1) {
    for (std::int64_t i = 0; i < n; ++i) acc += std::abs(static_cast<double>(v[i]));
    return acc;
  }
  for (std::int64_t i = 0; i < n; ++i) acc += std::pow(std::abs(static_cast<double>(v[i])), p);
  return std::pow(acc, 1.0 / p);
}

/// Scales, in place, each looked-up row of `weight` whose p-norm exceeds max_norm down to it.
void embedding_renorm(const Tensor& weight, const Tensor& indices, double max_norm, double p) {
  const std::int64_t num = weight.shape()[0], dim = weight.shape()[1];
  const std::int64_t* idx = data<std::int64_t>(indices);
  std::vector<bool> done(static_cast<std::size_t>(num), false);  // each row once, however often it is used
  dispatch_floating(weight.dtype(), "embedding", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* pw = data<T>(weight);
    const std::int64_t row_stride = weight.stride(0), col_stride = weight.stride(1);
    std::vector<T> row(static_cast<std::size_t>(dim));
    for (std::int64_t k = 0, k_end = indices.numel(); k < k_end; ++k) {
      if (done[idx[k]]) continue;
      done[idx[k]] = true;
      T* base = pw + idx[k] * row_stride;  // the weight may be a strided view: read the row, write it back
      for (std::int64_t i = 0; i < dim; ++i) row[i] = base[i * col_stride];
      const double norm = row_norm(row.data(), dim, p);
      if (norm > max_norm) {
        const T scale = static_cast<T>(max_norm / (norm + 1e-7));
        for (std::int64_t i = 0; i < dim; ++i) base[i * col_stride] = row[i] * scale;
      }
    }
  });
  detail::bump_version(weight);  // an in-place write: backward passes that saved weight notice
}

}  // namespace

Tensor index_select(const Tensor& x, std::int64_t dim, const Tensor& index_in) {
  // x: [..., n, ...], index: [k] int64 -> [..., k, ...]
  AG_CHECK(x.defined(), "index_select: input is an undefined tensor");
  check_indices(index_in, "index_select", "index");
  const Tensor index = detail::contiguous_data(index_in);
  AG_CHECK(x.dim() >= 1, "index_select: cannot index a 0-d tensor");
  AG_CHECK(index.dim() <= 1, "index_select: index must be 1-D, got shape ", index.shape());
  const std::int64_t d = wrap_dim(dim, x.dim(), "index_select");
  const std::int64_t n = x.shape()[d];
  const std::int64_t* p = data<std::int64_t>(index);
  for (std::int64_t k = 0, k_end = index.numel(); k < k_end; ++k)
    AG_CHECK_INDEX(p[k] >= 0 && p[k] < n, "index_select: index ", p[k], " is out of range for dimension ", d,
                   " of size ", n, " (valid: 0..", n - 1, ") at position [", k, "]");
  return index_select_op(x, d, index, RowScale{});
}

Tensor gather(const Tensor& x, std::int64_t dim, const Tensor& index_in) {
  // x: [s0, ..., sn], index: [i0, ..., in] int64 with i_d <= s_d off dim -> [i0, ..., in]
  AG_CHECK(x.defined(), "gather: input is an undefined tensor");
  check_indices(index_in, "gather", "index");
  const Tensor index = detail::contiguous_data(index_in);
  AG_CHECK(index.dim() == x.dim(), "gather: index must have the input's rank, got index ", index.shape(),
           " for input ", x.shape());
  const std::int64_t d = wrap_dim(dim, x.dim(), "gather");
  for (std::int64_t i = 0; i < x.dim(); ++i)
    AG_CHECK(i == d || index.shape()[i] <= x.shape()[i], "gather: index of shape ", index.shape(),
             " is larger than the input of shape ", x.shape(), " in dimension ", i, " (only dimension ", d,
             " may differ)");
  const std::int64_t n = x.dim() == 0 ? 1 : x.shape()[d];
  const std::int64_t* p = data<std::int64_t>(index);
  for (std::int64_t k = 0, k_end = index.numel(); k < k_end; ++k)
    AG_CHECK_INDEX(p[k] >= 0 && p[k] < n, "gather: index ", p[k], " is out of range for dimension ", d, " of size ", n,
                   " (valid: 0..", n - 1, ") at position ", position(k, index.shape()));
  return gather_op(x, d, index);
}

Tensor embedding(const Tensor& weight, const Tensor& indices_in, const EmbeddingFuncOptions& options) {
  // weight: [num, dim], indices: [*] int64 -> [*, dim]
  check_source(weight, "embedding", "weight");
  check_indices(indices_in, "embedding", "indices");
  const Tensor indices = detail::contiguous_data(indices_in);
  AG_CHECK(weight.dim() == 2, "embedding: weight must be 2-D [num_embeddings, embedding_dim], got ", weight.shape());
  const std::int64_t num = weight.shape()[0], dim = weight.shape()[1];
  RowScale rs;
  rs.by_freq = options.scale_grad_by_freq_;
  if (options.padding_idx_) {
    std::int64_t p = *options.padding_idx_;
    AG_CHECK_INDEX(p >= -num && p < num, "embedding: padding_idx ", p, " is out of range for ", num,
                   " embeddings (valid: ", -num, "..", num - 1, ")");
    rs.padding_idx = p < 0 ? p + num : p;
  }
  check_range(indices, num, "embedding", "embeddings");
  if (options.max_norm_) {
    AG_CHECK(*options.max_norm_ >= 0, "embedding: max_norm must be non-negative, got ", *options.max_norm_);
    AG_CHECK(options.norm_type_ > 0, "embedding: norm_type must be positive, got ", options.norm_type_);
    embedding_renorm(weight, indices, *options.max_norm_, options.norm_type_);
  }
  Shape out_shape = indices.shape();
  out_shape.push_back(dim);
  Tensor out = detail::make_tensor(out_shape, weight.dtype());
  const std::int64_t* idx = data<std::int64_t>(indices);
  const std::size_t row_bytes = static_cast<std::size_t>(dim) * element_size(weight.dtype());
  const Tensor table = detail::contiguous_data(weight);
  auto* src = static_cast<const char*>(table.impl()->data);
  auto* dst = static_cast<char*>(out.impl()->data);
  const std::int64_t n_idx = indices.numel();
  std::int64_t k = 0;
  if (static_cast<std::size_t>(num) * row_bytes > (std::size_t{8} << 20)) {
    constexpr std::int64_t ahead = 8;  // rows of a big table are cache misses: ask for them early
    for (; k + ahead < n_idx; ++k) {
      for (std::size_t b = 0; b < row_bytes; b += 64) __builtin_prefetch(src + idx[k + ahead] * row_bytes + b);
      std::memcpy(dst + k * row_bytes, src + idx[k] * row_bytes, row_bytes);
    }
  }
  // Rows of a common short size are copied with a size known at compile time (a few moves, no
  // memcpy call or size test per row); others by memcpy.
  auto copy_rows = [&](auto bytes) {
    for (; k < n_idx; ++k) std::memcpy(dst + k * bytes, src + idx[k] * bytes, bytes);
  };
  switch (row_bytes) {
    case 16: copy_rows(std::integral_constant<std::size_t, 16>()); break;
    case 32: copy_rows(std::integral_constant<std::size_t, 32>()); break;
    case 64: copy_rows(std::integral_constant<std::size_t, 64>()); break;
    default: copy_rows(row_bytes);
  }
  Tensor flat = detail::make_alias(indices, {indices.numel()}, {1}, indices.storage_offset());
  if (needs_grad(weight))
    record("EmbeddingBackward0", out, {weight}, {save(flat)}, [num, dim, rs, sparse = options.sparse_](const Tensor& g, const BackwardContext& ctx) -> Grads {
      const Tensor& idx = ctx.saved(0);
      if (sparse && !GradMode::is_enabled()) return {sparse_rows(g, idx, num, rs)};
      return {index_add_op(reshape(g, {idx.numel(), dim}), 0, idx, num, rs)};
    });
  return out;
}

Tensor one_hot(const Tensor& indices_in, std::int64_t num_classes) {
  // indices: [*] int64 -> [*, num_classes] int64
  check_indices(indices_in, "one_hot", "indices");
  const Tensor indices = detail::contiguous_data(indices_in);
  const std::int64_t* p = data<std::int64_t>(indices);
  const std::int64_t n = indices.numel();
  for (std::int64_t k = 0; k < n; ++k)
    AG_CHECK_INDEX(p[k] >= 0, "one_hot: class ", p[k], " is negative at position ", position(k, indices.shape()),
                   " (classes are 0..num_classes-1)");
  if (num_classes == -1) {
    AG_CHECK(n > 0, "one_hot: cannot infer the number of classes from an empty tensor; pass num_classes");
    num_classes = *std::max_element(p, p + n) + 1;
  }
  AG_CHECK(num_classes >= 0, "one_hot: num_classes must be -1 (inferred) or non-negative, got ", num_classes);
  for (std::int64_t k = 0; k < n; ++k)
    AG_CHECK_INDEX(p[k] < num_classes, "one_hot: class ", p[k], " is out of range for ", num_classes,
                   " classes (valid: 0..", num_classes - 1, ") at position ", position(k, indices.shape()));
  Shape out_shape = indices.shape();
  out_shape.push_back(num_classes);
  Tensor out = zeros(out_shape, kInt64);
  std::int64_t* po = data<std::int64_t>(out);
  for (std::int64_t k = 0; k < n; ++k) po[k * num_classes + p[k]] = 1;
  return out;
}

// ---- Tensor methods -------------------------------------------------------------------------

Tensor Tensor::index_select(std::int64_t dim, const Tensor& index) const { return ag::index_select(*this, dim, index); }
Tensor Tensor::gather(std::int64_t dim, const Tensor& index) const { return ag::gather(*this, dim, index); }

}  // namespace ag
