// Shape ops. ag tensors are always contiguous, so reshape/view/flatten/squeeze/unsqueeze, and
// slices that take whole rows of the first dimension (x[i], x.narrow(0, ...)), are free views that
// share storage; transpose/permute/expand/cat and other slices copy.

#include <cstring>
#include <numeric>

#include <xtensor/xadapt.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xnoalias.hpp>

#include "ag/autograd/node.h"
#include "ag/autograd/ops.h"
#include "ag/autograd/ops/kernels.h"

namespace ag {

using detail::data;

namespace {

void check_defined(const Tensor& x, const char* op) { AG_CHECK(x.defined(), op, ": the input is undefined"); }

/// A view of x under `shape` (same numel), recorded as `node`.
Tensor alias_op(const Tensor& x, const Shape& shape, const char* node) {
  Tensor out = detail::make_alias(x, shape);
  if (needs_grad(x))
    record(node, out, {x}, {}, [in = x.shape()](const Tensor& g, const BackwardContext&) -> Grads { return {reshape(g, in)}; });
  return out;
}

std::vector<std::size_t> to_sizes(const Shape& s) { return {s.begin(), s.end()}; }

using kernels::Blocks;
using kernels::blocks;

Tensor slice_backward(const Tensor& g, const Shape& in_shape, std::int64_t dim, std::int64_t start, std::int64_t step);

/// Copies x[..., start : start + len*step : step, ...] along dim.
Tensor slice_copy(const Tensor& x, std::int64_t dim, std::int64_t start, std::int64_t len, std::int64_t step) {
  Shape os = x.shape();
  os[dim] = len;
  Tensor out = detail::make_tensor(os, x.dtype());
  Blocks b = blocks(x.shape(), dim);
  std::size_t es = element_size(x.dtype()), row = static_cast<std::size_t>(b.inner) * es;
  auto* src = static_cast<const char*>(x.impl()->data);
  auto* dst = static_cast<char*>(out.impl()->data);
  for (std::int64_t a = 0; a < b.outer; ++a)
    for (std::int64_t k = 0; k < len; ++k)
      std::memcpy(dst + (a * len + k) * row, src + (a * b.n + start + k * step) * row, row);
  return out;
}

Tensor slice_op(const Tensor& x, std::int64_t dim, std::int64_t start, std::int64_t len, std::int64_t step) {
  // A run of whole rows along the first non-trivial dim is contiguous: share the storage, so that
  // `w[0].fill_(0)` writes into w as in PyTorch. Other slices are copies.
  Blocks b = blocks(x.shape(), dim);
  bool contiguous = b.outer == 1 && (step == 1 || len <= 1);
  Shape os = x.shape();
  os[dim] = len;
  Tensor out = contiguous ? detail::make_alias(x, os, start * b.inner) : slice_copy(x, dim, start, len, step);
  if (needs_grad(x))
    record("SliceBackward0", out, {x}, {}, [in = x.shape(), dim, start, step](const Tensor& g, const BackwardContext&) -> Grads {
      return {slice_backward(g, in, dim, start, step)};
    });
  return out;
}

/// Zeros of `in_shape` with g written at the sliced positions: the backward of slicing, and
/// itself differentiable (its backward slices again), for higher-order gradients.
Tensor slice_backward(const Tensor& g, const Shape& in_shape, std::int64_t dim, std::int64_t start, std::int64_t step) {
  Tensor out = zeros(in_shape, g.dtype());
  Blocks b = blocks(in_shape, dim);
  std::int64_t len = g.shape()[dim];
  std::size_t row = static_cast<std::size_t>(b.inner) * element_size(g.dtype());
  auto* src = static_cast<const char*>(g.impl()->data);
  auto* dst = static_cast<char*>(out.impl()->data);
  for (std::int64_t a = 0; a < b.outer; ++a)
    for (std::int64_t k = 0; k < len; ++k)
      std::memcpy(dst + (a * b.n + start + k * step) * row, src + (a * len + k) * row, row);
  if (needs_grad(g))
    record("SliceBackwardBackward0", out, {g}, {}, [dim, start, step, len](const Tensor& gg, const BackwardContext&) -> Grads {
      return {slice_op(gg, dim, start, len, step)};
    });
  return out;
}

}  // namespace

Tensor reshape(const Tensor& x, const Shape& shape) {
  check_defined(x, "reshape");
  Shape s = shape;
  std::int64_t known = 1, infer = -1;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      AG_CHECK(infer < 0, "reshape: only one dimension can be -1, got ", shape);
      infer = static_cast<std::int64_t>(i);
    } else {
      AG_CHECK(s[i] >= 0, "reshape: invalid size ", s[i], " in shape ", shape);
      AG_CHECK(!__builtin_mul_overflow(known, s[i], &known), "reshape: shape ", shape, " is invalid for a tensor of ",
               x.numel(), " elements (shape ", x.shape(), ")");
    }
  }
  if (infer >= 0) {
    AG_CHECK(known != 0 && x.numel() % known == 0, "reshape: shape ", shape, " is invalid for a tensor of ", x.numel(),
             " elements (shape ", x.shape(), ")");
    s[infer] = x.numel() / known;
  }
  AG_CHECK(s.numel() == x.numel(), "reshape: shape ", shape, " is invalid for a tensor of ", x.numel(),
           " elements (shape ", x.shape(), ")");
  return alias_op(x, s, "ViewBackward0");
}

Tensor view(const Tensor& x, const Shape& shape) { return reshape(x, shape); }

Tensor flatten(const Tensor& x, std::int64_t start_dim, std::int64_t end_dim) {
  check_defined(x, "flatten");
  if (x.dim() == 0) return reshape(x, {1});
  std::int64_t s = wrap_dim(start_dim, x.dim(), "flatten"), e = wrap_dim(end_dim, x.dim(), "flatten");
  AG_CHECK(s <= e, "flatten: start_dim ", start_dim, " comes after end_dim ", end_dim, " for shape ", x.shape());
  Shape out;
  for (std::int64_t i = 0; i < x.dim(); ++i) {
    if (i <= s || i > e) out.push_back(x.shape()[i]);
    else out[out.size() - 1] *= x.shape()[i];
  }
  return alias_op(x, out, "FlattenBackward0");
}

Tensor squeeze(const Tensor& x) {
  check_defined(x, "squeeze");
  Shape out;
  for (std::int64_t d : x.shape())
    if (d != 1) out.push_back(d);
  return alias_op(x, out, "SqueezeBackward0");
}

Tensor squeeze(const Tensor& x, std::int64_t dim) {
  check_defined(x, "squeeze");
  std::int64_t d = wrap_dim(dim, x.dim(), "squeeze");
  Shape out = x.shape();
  if (x.dim() > 0 && out[d] == 1) out.erase(d);
  return alias_op(x, out, "SqueezeBackward1");
}

Tensor unsqueeze(const Tensor& x, std::int64_t dim) {
  check_defined(x, "unsqueeze");
  std::int64_t d = wrap_dim(dim, x.dim() + 1, "unsqueeze");
  Shape out = x.shape();
  out.insert(d, 1);
  return alias_op(x, out, "UnsqueezeBackward0");
}

Tensor permute(const Tensor& x, const std::vector<std::int64_t>& dims) {
  // x: [s0, s1, ...] -> [s[dims[0]], s[dims[1]], ...]
  check_defined(x, "permute");
  auto nd = x.dim();
  AG_CHECK(static_cast<std::int64_t>(dims.size()) == nd, "permute: ", dims.size(), " dims given for a ", nd,
           "-d tensor of shape ", x.shape());
  std::vector<std::size_t> perm(dims.size());
  std::vector<bool> seen(dims.size(), false);
  Shape out_shape;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    std::int64_t d = wrap_dim(dims[i], nd, "permute");
    AG_CHECK(!seen[d], "permute: dimension ", dims[i], " appears twice");
    seen[d] = true;
    perm[i] = static_cast<std::size_t>(d);
    out_shape.push_back(x.shape()[d]);
  }
  Tensor out = detail::make_tensor(out_shape, x.dtype());
  dispatch(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto src = xt::adapt(data<T>(x), static_cast<std::size_t>(x.numel()), xt::no_ownership(), to_sizes(x.shape()));
    auto dst = xt::adapt(data<T>(out), static_cast<std::size_t>(out.numel()), xt::no_ownership(), to_sizes(out_shape));
    xt::noalias(dst) = xt::transpose(src, perm);
  });
  if (needs_grad(x)) {
    std::vector<std::int64_t> inverse(perm.size());
    for (std::size_t i = 0; i < perm.size(); ++i) inverse[perm[i]] = static_cast<std::int64_t>(i);
    record("PermuteBackward0", out, {x}, {},
           [inverse](const Tensor& g, const BackwardContext&) -> Grads { return {permute(g, inverse)}; });
  }
  return out;
}

Tensor transpose(const Tensor& x, std::int64_t dim0, std::int64_t dim1) {
  check_defined(x, "transpose");
  if (x.dim() == 0) return alias_op(x, x.shape(), "TransposeBackward0");
  std::int64_t a = wrap_dim(dim0, x.dim(), "transpose"), b = wrap_dim(dim1, x.dim(), "transpose");
  std::vector<std::int64_t> dims(x.dim());
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[a], dims[b]);
  return permute(x, dims);
}

Tensor t(const Tensor& x) {
  check_defined(x, "t");
  AG_CHECK(x.dim() <= 2, "t: expects a tensor with at most 2 dimensions, got shape ", x.shape(),
           "; use transpose(dim0, dim1) or permute");
  return x.dim() < 2 ? x : transpose(x, 0, 1);
}

Tensor expand(const Tensor& x, const Shape& shape) {
  check_defined(x, "expand");
  AG_CHECK(shape.size() >= x.shape().size(), "expand: cannot expand shape ", x.shape(), " to the smaller rank of ", shape);
  Shape target = shape;
  std::size_t lead = shape.size() - x.shape().size();
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i < lead) {
      AG_CHECK(shape[i] >= 0, "expand: size ", shape[i], " is not allowed for a new leading dimension (shape ", shape,
               ")");
      continue;
    }
    std::int64_t have = x.shape()[i - lead];
    if (shape[i] == -1) target[i] = have;
    AG_CHECK(target[i] >= 0, "expand: invalid size ", shape[i], " in target shape ", shape,
             " (-1 keeps a size; no other size may be negative)");
    AG_CHECK(have == target[i] || have == 1, "expand: the size ", have, " of dimension ", i - lead, " of shape ",
             x.shape(), " cannot be expanded to ", target[i], " (target shape ", shape, ")");
  }
  if (target == x.shape()) return alias_op(x, target, "ExpandBackward0");
  Tensor out = detail::make_tensor(target, x.dtype());
  dispatch(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    kernels::map2(data<T>(x), x.shape(), data<T>(x), x.shape(), data<T>(out), target, [](T v, T) { return v; });
  });
  if (needs_grad(x))
    record("ExpandBackward0", out, {x}, {}, [in = x.shape()](const Tensor& g, const BackwardContext&) -> Grads { return {sum_to(g, in)}; });
  return out;
}

Tensor cat(const std::vector<Tensor>& tensors, std::int64_t dim) {
  AG_CHECK(!tensors.empty(), "cat: expected a non-empty list of tensors");
  const Tensor& first = tensors[0];
  check_defined(first, "cat");
  std::int64_t d = wrap_dim(dim, first.dim(), "cat");
  AG_CHECK(first.dim() > 0, "cat: zero-dimensional tensors cannot be concatenated; use stack");
  Dtype dtype = first.dtype();
  Shape out_shape = first.shape();
  out_shape[d] = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    check_defined(t, "cat");
    AG_CHECK(t.dim() == first.dim(), "cat: tensor ", i, " has shape ", t.shape(), " but tensor 0 has shape ",
             first.shape(), " (ranks differ)");
    for (std::int64_t k = 0; k < first.dim(); ++k)
      AG_CHECK(k == d || t.shape()[k] == first.shape()[k], "cat: sizes must match except in dimension ", d,
               ": tensor ", i, " has shape ", t.shape(), ", tensor 0 has shape ", first.shape());
    out_shape[d] += t.shape()[d];
    dtype = promote_types(dtype, t.dtype());
  }
  Tensor out = detail::make_tensor(out_shape, dtype);
  Blocks ob = blocks(out_shape, d);
  std::size_t es = element_size(dtype);
  std::int64_t offset = 0;
  for (const Tensor& t : tensors) {
    Tensor ct = t.dtype() == dtype ? t : [&] { NoGradGuard ng; return t.to(dtype); }();
    std::int64_t n = t.shape()[d];
    std::size_t chunk = static_cast<std::size_t>(n * ob.inner) * es;
    auto* src = static_cast<const char*>(ct.impl()->data);
    auto* dst = static_cast<char*>(out.impl()->data);
    for (std::int64_t a = 0; a < ob.outer; ++a)
      std::memcpy(dst + static_cast<std::size_t>((a * ob.n + offset) * ob.inner) * es, src + a * chunk, chunk);
    offset += n;
  }
  if (needs_grad_any(tensors)) {
    std::vector<std::int64_t> sizes;
    for (const Tensor& t : tensors) sizes.push_back(t.shape()[d]);
    record("CatBackward0", out, tensors, {}, [sizes, d](const Tensor& g, const BackwardContext& ctx) -> Grads {
      Grads grads;
      std::int64_t start = 0;
      for (std::size_t i = 0; i < sizes.size(); ++i) {
        grads.push_back(ctx.needs_grad(i) ? narrow(g, d, start, sizes[i]) : Tensor());
        start += sizes[i];
      }
      return grads;
    });
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, std::int64_t dim) {
  AG_CHECK(!tensors.empty(), "stack: expected a non-empty list of tensors");
  check_defined(tensors[0], "stack");
  std::int64_t d = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> parts;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    AG_CHECK(tensors[i].defined() && tensors[i].shape() == tensors[0].shape(), "stack: all tensors must have the same shape, tensor ", i,
             " has shape ", tensors[i].defined() ? to_string(tensors[i].shape()) : "undefined", " and tensor 0 has shape ",
             tensors[0].shape());
    parts.push_back(unsqueeze(tensors[i], d));
  }
  return cat(parts, d);
}

Tensor slice(const Tensor& x, std::int64_t dim, std::optional<std::int64_t> start, std::optional<std::int64_t> end,
             std::int64_t step) {
  check_defined(x, "slice");
  AG_CHECK(x.dim() > 0, "slice: cannot slice a 0-d tensor");
  std::int64_t d = wrap_dim(dim, x.dim(), "slice");
  AG_CHECK(step > 0, "slice: step must be positive, got ", step);
  std::int64_t n = x.shape()[d];
  auto clampi = [n](std::int64_t v) { return v < 0 ? std::max<std::int64_t>(v + n, 0) : std::min(v, n); };
  std::int64_t s = clampi(start.value_or(0)), e = clampi(end.value_or(n));
  std::int64_t len = e > s ? (e - s + step - 1) / step : 0;
  return slice_op(x, d, s, len, step);
}

Tensor narrow(const Tensor& x, std::int64_t dim, std::int64_t start, std::int64_t length) {
  check_defined(x, "narrow");
  AG_CHECK(x.dim() > 0, "narrow: cannot narrow a 0-d tensor");
  std::int64_t d = wrap_dim(dim, x.dim(), "narrow");
  std::int64_t n = x.shape()[d];
  AG_CHECK_INDEX(start >= -n && start <= n, "narrow: start ", start, " is out of range for dimension ", d, " of size ", n);
  if (start < 0) start += n;
  AG_CHECK_INDEX(length >= 0 && start + length <= n, "narrow: start ", start, " + length ", length,
                 " exceeds dimension ", d, " of size ", n, " (shape ", x.shape(), ")");
  return slice_op(x, d, start, length, 1);
}

Tensor select(const Tensor& x, std::int64_t dim, std::int64_t index) {
  check_defined(x, "select");
  AG_CHECK(x.dim() > 0, "select: cannot index a 0-d tensor");
  std::int64_t d = wrap_dim(dim, x.dim(), "select");
  std::int64_t n = x.shape()[d];
  AG_CHECK_INDEX(index >= -n && index < n, "select: index ", index, " is out of range for dimension ", d, " of size ",
                 n, " (valid: ", -n, "..", n - 1, ", shape ", x.shape(), ")");
  if (index < 0) index += n;
  return squeeze(slice_op(x, d, index, 1, 1), d);
}

// ---- Tensor methods -------------------------------------------------------------------------

Tensor Tensor::reshape(const Shape& shape) const { return ag::reshape(*this, shape); }
Tensor Tensor::view(const Shape& shape) const { return ag::view(*this, shape); }
Tensor Tensor::flatten(std::int64_t start_dim, std::int64_t end_dim) const { return ag::flatten(*this, start_dim, end_dim); }
Tensor Tensor::squeeze() const { return ag::squeeze(*this); }
Tensor Tensor::squeeze(std::int64_t dim) const { return ag::squeeze(*this, dim); }
Tensor Tensor::unsqueeze(std::int64_t dim) const { return ag::unsqueeze(*this, dim); }
Tensor Tensor::transpose(std::int64_t dim0, std::int64_t dim1) const { return ag::transpose(*this, dim0, dim1); }
Tensor Tensor::t() const { return ag::t(*this); }
Tensor Tensor::permute(const std::vector<std::int64_t>& dims) const { return ag::permute(*this, dims); }
Tensor Tensor::expand(const Shape& shape) const { return ag::expand(*this, shape); }
Tensor Tensor::narrow(std::int64_t dim, std::int64_t start, std::int64_t length) const {
  return ag::narrow(*this, dim, start, length);
}
Tensor Tensor::select(std::int64_t dim, std::int64_t index) const { return ag::select(*this, dim, index); }
Tensor Tensor::slice(std::int64_t dim, std::optional<std::int64_t> start, std::optional<std::int64_t> end,
                     std::int64_t step) const {
  return ag::slice(*this, dim, start, end, step);
}

}  // namespace ag
