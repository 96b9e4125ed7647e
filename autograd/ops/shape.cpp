// Shape ops. Every op here but cat and stack (and reshape when the strides do not allow a view)
// is a view: new sizes, strides and offset over the input's storage, made in O(1) without
// touching the data. A view's backward puts the gradient back where the view sat in its input:
// transpose/permute/squeeze/unsqueeze/view undo the relabelling, expand sums over the broadcast
// dims, and the views that pick out part of their input (select, slice, diagonal, unfold,
// as_strided) scatter the gradient into zeros of the input's shape (scatter_view).
//
// The end of the file holds what in-place ops on views need: make_view, the CopySlices node an
// in-place op on a view gives its base, and the renewal of a view's node after its base changed.

#include <algorithm>
#include <numeric>

#include "ag/autograd/node.h"
#include "ag/autograd/ops.h"
#include "ag/autograd/ops/kernels.h"

namespace ag {

namespace {

void check_defined(const Tensor& x, const char* op) { AG_CHECK(x.defined(), op, ": the input is undefined"); }

/// A window onto a storage: sizes, strides and offset, in elements.
struct Geometry {
  Shape sizes, strides;
  std::int64_t offset = 0;
};

Geometry geometry_of(const TensorImpl& t) { return {t.shape, t.strides, t.offset}; }
Geometry geometry_of(const Tensor& t) { return geometry_of(*t.impl()); }
Geometry contiguous_geometry(const Shape& s) { return {s, contiguous_strides(s), 0}; }

/// The largest storage offset the window reaches (strides are never negative); -1 when empty.
std::int64_t last_offset(const Geometry& g) {
  std::int64_t last = g.offset;
  for (std::size_t d = 0; d < g.sizes.size(); ++d) {
    if (g.sizes[d] == 0) return -1;
    last += (g.sizes[d] - 1) * g.strides[d];
  }
  return last;
}

/// Whether two elements of the window can share a storage slot (PyTorch gives up on proving
/// otherwise in general; this is exact for the windows ag makes).
bool overlaps(const Geometry& g) {
  std::vector<std::pair<std::int64_t, std::int64_t>> dims;  // (stride, size)
  for (std::size_t d = 0; d < g.sizes.size(); ++d)
    if (g.sizes[d] > 1) dims.emplace_back(g.strides[d], g.sizes[d]);
  std::sort(dims.begin(), dims.end());
  std::int64_t reach = 0;  // the largest offset the smaller-stride dims span
  for (const auto& [stride, size] : dims) {
    if (stride <= reach) return true;
    reach += (size - 1) * stride;
  }
  return false;
}

Geometry shifted(Geometry g, std::int64_t by) {
  g.offset -= by;
  return g;
}

/// Records `out`, a view of x with window `w`, with backward `backward(g)`.
template <class F>
Tensor view_of(const Tensor& x, const Geometry& w, const char* node, F backward,
               ViewCreation creation = ViewCreation::Default) {
  if (!GradMode::is_enabled() && x.requires_grad() && creation == ViewCreation::Default)
    creation = ViewCreation::NoGrad;
  Tensor out = detail::make_view(x, w.sizes, w.strides, w.offset, creation);
  if (needs_grad(x))
    record(node, out, {x}, {}, [backward](const Tensor& g, const BackwardContext&) -> Grads { return {backward(g)}; });
  return out;
}

Tensor as_strided_view(const Tensor& x, const Geometry& v);

// ---- scatter_view: the backward of the views that pick out part of their input ------------

/// zeros(shape), then g added at the window `w` of that contiguous tensor (added, not written:
/// an overlapping window, as unfold's, accumulates). Its backward reads the window back, so the
/// two are adjoint and create_graph works.
Tensor scatter_view(const Tensor& g, const Shape& shape, const Geometry& w, const char* node) {
  Tensor out = zeros(shape, g.dtype());
  dispatch(g.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    kernels::Strided<T> dst{detail::data<T>(out) + w.offset, nullptr, w.strides.data(), false};
    kernels::accumulate(kernels::in<T>(g, w.sizes), dst, w.sizes);
  });
  if (needs_grad(g))
    record(node, out, {g}, {}, [w](const Tensor& gg, const BackwardContext&) -> Grads {
      return {as_strided_view(contiguous(gg), w)};
    });
  return out;
}

/// The gradient of x for the view v = as_strided(x, v): the incoming g scattered to the storage
/// slots v covers, averaged over the elements of x that share a slot, read back at x's slots.
/// Elements of v outside x get nothing. Written with differentiable ops.
Tensor as_strided_backward(const Tensor& g, const Geometry& x, const Geometry& v) {
  const std::int64_t x_last = last_offset(x), v_last = last_offset(v);
  if (x_last < 0) return zeros(x.sizes, g.dtype());
  if (detail::compute_contiguous(x.sizes, x.strides) && (v_last < 0 || (v.offset >= x.offset && v_last <= x_last)))
    return scatter_view(g, x.sizes, shifted(v, x.offset), "AsStridedBackwardBackward0");
  const std::int64_t lo = v_last < 0 ? x.offset : std::min(x.offset, v.offset);
  const std::int64_t hi = std::max(x_last, v_last);
  Tensor buf = scatter_view(g, {hi - lo + 1}, shifted(v, lo), "AsStridedBackwardBackward0");
  if (overlaps(x)) {  // each slot's gradient is shared by the elements of x that read it
    Tensor count = zeros({hi - lo + 1}, g.dtype());
    {
      NoGradGuard no_grad;
      as_strided_view(count, shifted(x, lo)).add_(1);  // not through a graph: count is a constant
    }
    buf = buf / where(count > 0, count, ones_like(count));
  }
  return as_strided_view(buf, shifted(x, lo));
}

/// A differentiable view with window v (bounds already checked).
Tensor as_strided_view(const Tensor& x, const Geometry& v) {
  return view_of(x, v, "AsStridedBackward0",
                 [xg = geometry_of(x), v](const Tensor& g) { return as_strided_backward(g, xg, v); });
}

/// The view's backward for the views that pick out part of x: g scattered into zeros of x's
/// shape, at the window the same view takes of a contiguous tensor of that shape.
template <class GeoFn>
Tensor pick_view(const Tensor& x, GeoFn geo, const char* node, const char* backward_node) {
  return view_of(x, geo(geometry_of(x)), node, [in = x.shape(), w = geo(contiguous_geometry(x.shape())), backward_node](const Tensor& g) {
    return scatter_view(g, in, w, backward_node);
  });
}

// ---- window arithmetic ----------------------------------------------------------------------

Geometry select_geo(Geometry g, std::int64_t d, std::int64_t i) {
  g.offset += i * g.strides[d];
  g.sizes.erase(d);
  g.strides.erase(d);
  return g;
}

Geometry slice_geo(Geometry g, std::int64_t d, std::int64_t start, std::int64_t len, std::int64_t step) {
  g.offset += start * g.strides[d];
  g.sizes[d] = len;
  if (len > 1) g.strides[d] *= step;  // within the storage's extent: cannot overflow
  return g;
}

/// Number of elements of x[start:end:step] along a dimension of size n (start, end clamped).
std::int64_t slice_length(std::int64_t start, std::int64_t end, std::int64_t step) {
  return end > start ? (end - start - 1) / step + 1 : 0;  // no overflow for any step
}

/// Sizes with one -1 inferred so that they hold `numel` elements (those of a tensor of shape `of`).
Shape infer_size(const Shape& shape, std::int64_t numel, const Shape& of, const char* op) {
  Shape s = shape;
  std::int64_t known = 1, infer = -1;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      AG_CHECK(infer < 0, op, ": only one dimension can be -1, got ", shape);
      infer = static_cast<std::int64_t>(i);
    } else {
      AG_CHECK(s[i] >= 0, op, ": invalid size ", s[i], " in shape ", shape);
      AG_CHECK(!__builtin_mul_overflow(known, s[i], &known), op, ": shape ", shape, " is invalid for ", numel,
               " elements (shape ", of, ")");
    }
  }
  if (infer >= 0) {
    AG_CHECK(known != 0 && numel % known == 0, op, ": shape ", shape, " is invalid for ", numel, " elements (shape ",
             of, ")");
    s[infer] = numel / known;
  }
  AG_CHECK(s.numel() == numel, op, ": shape ", shape, " is invalid for ", numel, " elements (shape ", of, ")");
  return s;
}

/// The strides that show x's elements, in row-major order, under `shape` without moving them,
/// when such strides exist (PyTorch's rule: each group of x's dims that is contiguous within
/// itself may be split or merged freely, groups may not be mixed).
std::optional<Shape> view_strides(const Shape& old_shape, const Shape& old_strides, const Shape& shape) {
  Shape strides = shape;
  if (old_shape.numel() == 0 || old_shape.empty()) return contiguous_strides(shape);
  std::int64_t view_d = static_cast<std::int64_t>(shape.size()) - 1;
  std::int64_t chunk_stride = old_strides[old_shape.size() - 1];
  std::int64_t tensor_numel = 1, view_numel = 1;
  for (std::int64_t d = static_cast<std::int64_t>(old_shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_shape[d];
    if (d == 0 || (old_shape[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        strides[view_d] = view_numel * chunk_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_stride = old_strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return strides;
}

/// The tensor with shape `s` (same numel) over x's data, as a non-view (x is a fresh copy).
Tensor relabel(const Tensor& x, const Shape& s, const char* node) {
  Tensor out = detail::make_alias(x, s, contiguous_strides(s), x.storage_offset());
  if (needs_grad(x))
    record(node, out, {x}, {}, [in = x.shape()](const Tensor& g, const BackwardContext&) -> Grads { return {reshape(g, in)}; });
  return out;
}

}  // namespace

// ---- views ----------------------------------------------------------------------------------

Tensor view(const Tensor& x, const Shape& shape) {
  check_defined(x, "view");
  Shape s = infer_size(shape, x.numel(), x.shape(), "view");
  std::optional<Shape> st = view_strides(x.shape(), x.strides(), s);
  AG_CHECK(st.has_value(), "view: the shape ", s, " cannot be a view of a tensor of shape ", x.shape(),
           " and strides ", x.strides(), " (at least one dimension spans across two contiguous subspaces); "
           "use reshape(), which copies when it must, or contiguous() first");
  return view_of(x, {s, *st, x.storage_offset()}, "ViewBackward0",
                 [in = x.shape()](const Tensor& g) { return reshape(g, in); });
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  check_defined(x, "reshape");
  Shape s = infer_size(shape, x.numel(), x.shape(), "reshape");
  if (std::optional<Shape> st = view_strides(x.shape(), x.strides(), s))
    return view_of(x, {s, *st, x.storage_offset()}, "ReshapeAliasBackward0",
                   [in = x.shape()](const Tensor& g) { return reshape(g, in); });
  return relabel(contiguous(x), s, "UnsafeViewBackward0");  // as PyTorch: a copy, then its new shape
}

Tensor flatten(const Tensor& x, std::int64_t start_dim, std::int64_t end_dim) {
  check_defined(x, "flatten");
  if (x.dim() == 0) return reshape(x, {1});
  std::int64_t s = wrap_dim(start_dim, x.dim(), "flatten"), e = wrap_dim(end_dim, x.dim(), "flatten");
  AG_CHECK(s <= e, "flatten: start_dim ", start_dim, " comes after end_dim ", end_dim, " for shape ", x.shape());
  if (s == e) return x;
  Shape out;
  for (std::int64_t i = 0; i < x.dim(); ++i) {
    if (i <= s || i > e) out.push_back(x.shape()[i]);
    else out[out.size() - 1] *= x.shape()[i];
  }
  return reshape(x, out);
}

Tensor unflatten(const Tensor& x, std::int64_t dim, const Shape& sizes) {
  check_defined(x, "unflatten");
  AG_CHECK(x.dim() > 0, "unflatten: cannot unflatten a 0-d tensor");
  const std::int64_t d = wrap_dim(dim, x.dim(), "unflatten");
  AG_CHECK(!sizes.empty(), "unflatten: sizes must be non-empty (dimension ", d, " of shape ", x.shape(), ")");
  const Shape part = infer_size(sizes, x.shape()[d], x.shape(), "unflatten");
  Shape s;
  for (std::int64_t i = 0; i < x.dim(); ++i) {
    if (i != d) {
      s.push_back(x.shape()[i]);
      continue;
    }
    for (std::int64_t v : part) s.push_back(v);
  }
  return view(x, s);
}

Tensor squeeze(const Tensor& x) {
  check_defined(x, "squeeze");
  Geometry g;
  for (std::int64_t i = 0; i < x.dim(); ++i)
    if (x.shape()[i] != 1) {
      g.sizes.push_back(x.shape()[i]);
      g.strides.push_back(x.strides()[i]);
    }
  g.offset = x.storage_offset();
  return view_of(x, g, "SqueezeBackward0", [in = x.shape()](const Tensor& gr) { return reshape(gr, in); });
}

Tensor squeeze(const Tensor& x, std::int64_t dim) {
  check_defined(x, "squeeze");
  std::int64_t d = wrap_dim(dim, x.dim(), "squeeze");
  Geometry g = geometry_of(x);
  if (x.dim() > 0 && g.sizes[d] == 1) {
    g.sizes.erase(d);
    g.strides.erase(d);
  }
  return view_of(x, g, "SqueezeBackward1", [in = x.shape()](const Tensor& gr) { return reshape(gr, in); });
}

Tensor unsqueeze(const Tensor& x, std::int64_t dim) {
  check_defined(x, "unsqueeze");
  std::int64_t d = wrap_dim(dim, x.dim() + 1, "unsqueeze");
  Geometry g = geometry_of(x);
  std::int64_t stride = d >= x.dim() ? 1 : g.sizes[d] * g.strides[d];
  g.sizes.insert(d, 1);
  g.strides.insert(d, stride);
  return view_of(x, g, "UnsqueezeBackward0", [d](const Tensor& gr) { return squeeze(gr, d); });
}

Tensor permute(const Tensor& x, const std::vector<std::int64_t>& dims) {
  // x: [s0, s1, ...] -> [s[dims[0]], s[dims[1]], ...]
  check_defined(x, "permute");
  auto nd = x.dim();
  AG_CHECK(static_cast<std::int64_t>(dims.size()) == nd, "permute: ", dims.size(), " dims given for a ", nd,
           "-d tensor of shape ", x.shape());
  std::vector<bool> seen(dims.size(), false);
  std::vector<std::int64_t> inverse(dims.size());
  Geometry g;
  g.offset = x.storage_offset();
  for (std::size_t i = 0; i < dims.size(); ++i) {
    std::int64_t d = wrap_dim(dims[i], nd, "permute");
    AG_CHECK(!seen[d], "permute: dimension ", dims[i], " appears twice in ", Shape(dims));
    seen[d] = true;
    inverse[d] = static_cast<std::int64_t>(i);
    g.sizes.push_back(x.shape()[d]);
    g.strides.push_back(x.strides()[d]);
  }
  return view_of(x, g, "PermuteBackward0", [inverse](const Tensor& gr) { return permute(gr, inverse); });
}

Tensor transpose(const Tensor& x, std::int64_t dim0, std::int64_t dim1) {
  check_defined(x, "transpose");
  Geometry g = geometry_of(x);
  std::int64_t a = 0, b = 0;
  if (x.dim() > 0) {
    a = wrap_dim(dim0, x.dim(), "transpose");
    b = wrap_dim(dim1, x.dim(), "transpose");
    std::swap(g.sizes[a], g.sizes[b]);
    std::swap(g.strides[a], g.strides[b]);
  } else {
    wrap_dim(dim0, 0, "transpose");
    wrap_dim(dim1, 0, "transpose");
  }
  return view_of(x, g, "TransposeBackward0", [a, b](const Tensor& gr) { return transpose(gr, a, b); });
}

Tensor t(const Tensor& x) {
  check_defined(x, "t");
  AG_CHECK(x.dim() <= 2, "t: expects a tensor with at most 2 dimensions, got shape ", x.shape(),
           "; use transpose(dim0, dim1) or permute");
  Geometry g = geometry_of(x);
  if (x.dim() == 2) {
    std::swap(g.sizes[0], g.sizes[1]);
    std::swap(g.strides[0], g.strides[1]);
  }
  return view_of(x, g, "TBackward0", [](const Tensor& gr) { return t(gr); });
}

Tensor expand(const Tensor& x, const Shape& shape) {
  check_defined(x, "expand");
  AG_CHECK(shape.size() >= x.shape().size(), "expand: cannot expand shape ", x.shape(), " to the smaller rank of ", shape);
  Geometry g{shape, shape, x.storage_offset()};
  const std::size_t lead = shape.size() - x.shape().size();
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i < lead) {
      AG_CHECK(shape[i] >= 0, "expand: size ", shape[i], " is not allowed for a new leading dimension (shape ", shape,
               ")");
      g.strides[i] = 0;
      continue;
    }
    std::int64_t have = x.shape()[i - lead];
    if (shape[i] == -1) g.sizes[i] = have;
    AG_CHECK(g.sizes[i] >= 0, "expand: invalid size ", shape[i], " in target shape ", shape,
             " (-1 keeps a size; no other size may be negative)");
    AG_CHECK(have == g.sizes[i] || have == 1, "expand: the size ", have, " of dimension ", i - lead, " of shape ",
             x.shape(), " cannot be expanded to ", g.sizes[i], " (target shape ", shape, ")");
    g.strides[i] = have == g.sizes[i] ? x.strides()[i - lead] : 0;
  }
  return view_of(x, g, "ExpandBackward0", [in = x.shape()](const Tensor& gr) { return sum_to(gr, in); });
}

Tensor expand_as(const Tensor& x, const Tensor& other) {
  AG_CHECK(other.defined(), "expand_as: the other tensor is undefined");
  return expand(x, other.shape());
}

Tensor slice(const Tensor& x, std::int64_t dim, std::optional<std::int64_t> start, std::optional<std::int64_t> end,
             std::int64_t step) {
  check_defined(x, "slice");
  AG_CHECK(x.dim() > 0, "slice: cannot slice a 0-d tensor");
  std::int64_t d = wrap_dim(dim, x.dim(), "slice");
  AG_CHECK(step > 0, "slice: step must be positive, got ", step);
  const std::int64_t n = x.shape()[d];
  auto clampi = [n](std::int64_t v) { return v < 0 ? std::max<std::int64_t>(v + n, 0) : std::min(v, n); };
  std::int64_t s = clampi(start.value_or(0)), e = clampi(end.value_or(n));
  std::int64_t len = slice_length(s, e, step);
  return pick_view(x, [=](const Geometry& g) { return slice_geo(g, d, s, len, step); }, "SliceBackward0",
                   "SliceBackwardBackward0");
}

Tensor narrow(const Tensor& x, std::int64_t dim, std::int64_t start, std::int64_t length) {
  check_defined(x, "narrow");
  AG_CHECK(x.dim() > 0, "narrow: cannot narrow a 0-d tensor");
  std::int64_t d = wrap_dim(dim, x.dim(), "narrow");
  std::int64_t n = x.shape()[d];
  AG_CHECK_INDEX(start >= -n && start <= n, "narrow: start ", start, " is out of range for dimension ", d, " of size ", n,
                 " (shape ", x.shape(), ")");
  if (start < 0) start += n;
  AG_CHECK_INDEX(length >= 0 && length <= n - start, "narrow: start ", start, " + length ", length,
                 " exceeds dimension ", d, " of size ", n, " (shape ", x.shape(), ")");
  return pick_view(x, [=](const Geometry& g) { return slice_geo(g, d, start, length, 1); }, "SliceBackward0",
                   "SliceBackwardBackward0");
}

Tensor select(const Tensor& x, std::int64_t dim, std::int64_t index) {
  check_defined(x, "select");
  AG_CHECK(x.dim() > 0, "select: cannot index a 0-d tensor");
  std::int64_t d = wrap_dim(dim, x.dim(), "select");
  std::int64_t n = x.shape()[d];
  AG_CHECK_INDEX(index >= -n && index < n, "select: index ", index, " is out of range for dimension ", d, " of size ",
                 n, " (valid: ", -n, "..", n - 1, ", shape ", x.shape(), ")");
  if (index < 0) index += n;
  return pick_view(x, [=](const Geometry& g) { return select_geo(g, d, index); }, "SelectBackward0",
                   "SelectBackwardBackward0");
}

Tensor diagonal(const Tensor& x, std::int64_t offset, std::int64_t dim1, std::int64_t dim2) {
  check_defined(x, "diagonal");
  AG_CHECK(x.dim() >= 2, "diagonal: expects a tensor with at least 2 dimensions, got shape ", x.shape());
  const std::int64_t d1 = wrap_dim(dim1, x.dim(), "diagonal"), d2 = wrap_dim(dim2, x.dim(), "diagonal");
  AG_CHECK(d1 != d2, "diagonal: dim1 and dim2 cannot be the same dimension (", dim1, " and ", dim2, ")");
  const std::int64_t n1 = x.shape()[d1], n2 = x.shape()[d2];
  // The diagonal's length; offsets beyond the matrix give an empty diagonal.
  std::int64_t len = 0;  // compared without negating offset, which may be INT64_MIN
  if (offset >= 0) len = offset < n2 ? std::min(n1, n2 - offset) : 0;
  else len = offset > -n1 ? std::min(n1 + offset, n2) : 0;
  auto geo = [=](Geometry g) {
    if (len > 0) g.offset += offset >= 0 ? offset * g.strides[d2] : -offset * g.strides[d1];
    const std::int64_t stride = g.strides[d1] + g.strides[d2];
    for (std::int64_t d : {std::max(d1, d2), std::min(d1, d2)}) {
      g.sizes.erase(d);
      g.strides.erase(d);
    }
    g.sizes.push_back(len);
    g.strides.push_back(stride);
    return g;
  };
  return pick_view(x, geo, "DiagonalBackward0", "DiagonalBackwardBackward0");
}

Tensor unfold(const Tensor& x, std::int64_t dim, std::int64_t size, std::int64_t step) {
  check_defined(x, "unfold");
  const std::int64_t d = x.dim() == 0 ? 0 : wrap_dim(dim, x.dim(), "unfold");
  const std::int64_t n = x.dim() == 0 ? 1 : x.shape()[d];
  AG_CHECK(size >= 0 && size <= n, "unfold: size ", size, " is larger than dimension ", d, " of size ", n, " (shape ",
           x.shape(), ")");
  AG_CHECK(step > 0, "unfold: step must be positive, got ", step);
  auto geo = [=](Geometry g) {
    if (g.sizes.empty()) {  // a 0-d tensor unfolds into [size]
      g.sizes.push_back(size);
      g.strides.push_back(1);
      return g;
    }
    const std::int64_t stride = g.strides[d];
    g.sizes[d] = (n - size) / step + 1;
    if (g.sizes[d] > 1) g.strides[d] = stride * step;
    g.sizes.push_back(size);
    g.strides.push_back(stride);
    return g;
  };
  return pick_view(x, geo, "UnfoldBackward0", "UnfoldBackwardBackward0");
}

Tensor as_strided(const Tensor& x, const Shape& size, const Shape& stride, std::optional<std::int64_t> storage_offset) {
  check_defined(x, "as_strided");
  AG_CHECK(size.size() == stride.size(), "as_strided: ", size.size(), " sizes ", size, " but ", stride.size(),
           " strides ", stride);
  const std::int64_t offset = storage_offset.value_or(x.storage_offset());
  AG_CHECK(offset >= 0, "as_strided: storage_offset must be non-negative, got ", offset);
  std::int64_t last = offset;
  bool empty = false;
  for (std::size_t d = 0; d < size.size(); ++d) {
    AG_CHECK(size[d] >= 0, "as_strided: negative size ", size[d], " in ", size);
    AG_CHECK(stride[d] >= 0, "as_strided: negative stride ", stride[d], " in ", stride, " (not supported)");
    if (size[d] == 0) empty = true;
    std::int64_t span = 0;
    AG_CHECK(!__builtin_mul_overflow(size[d] > 0 ? size[d] - 1 : 0, stride[d], &span) &&
                 !__builtin_add_overflow(last, span, &last),
             "as_strided: sizes ", size, " and strides ", stride, " reach past any storage");
  }
  const std::int64_t available = static_cast<std::int64_t>(x.impl()->storage->nbytes / element_size(x.dtype()));
  AG_CHECK_INDEX(empty || last < available, "as_strided: sizes ", size, ", strides ", stride, " and storage offset ",
                 offset, " reach element ", last, " of a storage of ", available, " elements");
  return as_strided_view(x, {size, stride, offset});
}

std::vector<Tensor> split(const Tensor& x, std::int64_t split_size, std::int64_t dim) {
  check_defined(x, "split");
  AG_CHECK(x.dim() > 0, "split: cannot split a 0-d tensor");
  const std::int64_t d = wrap_dim(dim, x.dim(), "split");
  const std::int64_t n = x.shape()[d];
  AG_CHECK(split_size >= 0, "split: split_size must be non-negative, got ", split_size);
  AG_CHECK(split_size > 0 || n == 0, "split: split_size can only be 0 if dimension ", d, " has size 0, but it has size ",
           n, " (shape ", x.shape(), ")");
  const std::int64_t parts = split_size == 0 ? 1 : std::max<std::int64_t>(n / split_size + (n % split_size != 0), 1);
  std::vector<Tensor> out;
  for (std::int64_t i = 0; i < parts; ++i) {
    const std::int64_t start = i * split_size, len = std::min(split_size, n - start);
    out.push_back(view_of(
        x, slice_geo(geometry_of(x), d, start, len, 1), "SplitBackward0",
        [in = x.shape(), w = slice_geo(contiguous_geometry(x.shape()), d, start, len, 1)](const Tensor& g) {
          return scatter_view(g, in, w, "SliceBackwardBackward0");
        },
        ViewCreation::MultiOutput));
  }
  return out;
}

std::vector<Tensor> split(const Tensor& x, const std::vector<std::int64_t>& split_sizes, std::int64_t dim) {
  check_defined(x, "split");
  AG_CHECK(x.dim() > 0, "split: cannot split a 0-d tensor");
  const std::int64_t d = wrap_dim(dim, x.dim(), "split");
  std::int64_t total = 0;
  for (std::int64_t s : split_sizes) {
    AG_CHECK(s >= 0, "split: split sizes must be non-negative, got ", Shape(split_sizes));
    AG_CHECK(!__builtin_add_overflow(total, s, &total), "split: split sizes ", Shape(split_sizes), " overflow");
  }
  AG_CHECK(total == x.shape()[d], "split: split sizes ", Shape(split_sizes), " add up to ", total,
           " but dimension ", d, " has size ", x.shape()[d], " (shape ", x.shape(), ")");
  std::vector<Tensor> out;
  std::int64_t start = 0;
  for (std::int64_t len : split_sizes) {
    out.push_back(view_of(
        x, slice_geo(geometry_of(x), d, start, len, 1), "SplitWithSizesBackward0",
        [in = x.shape(), w = slice_geo(contiguous_geometry(x.shape()), d, start, len, 1)](const Tensor& g) {
          return scatter_view(g, in, w, "SliceBackwardBackward0");
        },
        ViewCreation::MultiOutput));
    start += len;
  }
  return out;
}

std::vector<Tensor> chunk(const Tensor& x, std::int64_t chunks, std::int64_t dim) {
  check_defined(x, "chunk");
  AG_CHECK(x.dim() > 0, "chunk: cannot chunk a 0-d tensor");
  AG_CHECK(chunks > 0, "chunk: the number of chunks must be positive, got ", chunks);
  const std::int64_t d = wrap_dim(dim, x.dim(), "chunk");
  const std::int64_t n = x.shape()[d];
  if (n == 0) return split(x, std::vector<std::int64_t>(static_cast<std::size_t>(chunks), 0), d);
  return split(x, n / chunks + (n % chunks != 0), d);
}

std::vector<Tensor> unbind(const Tensor& x, std::int64_t dim) {
  check_defined(x, "unbind");
  AG_CHECK(x.dim() > 0, "unbind: cannot unbind a 0-d tensor");
  const std::int64_t d = wrap_dim(dim, x.dim(), "unbind");
  std::vector<Tensor> out;
  for (std::int64_t i = 0; i < x.shape()[d]; ++i)
    out.push_back(view_of(
        x, select_geo(geometry_of(x), d, i), "UnbindBackward0",
        [in = x.shape(), w = select_geo(contiguous_geometry(x.shape()), d, i)](const Tensor& g) {
          return scatter_view(g, in, w, "SelectBackwardBackward0");
        },
        ViewCreation::MultiOutput));
  return out;
}

Tensor contiguous(const Tensor& x) {
  check_defined(x, "contiguous");
  if (x.is_contiguous()) return x;
  Tensor out = detail::make_tensor(x.shape(), x.dtype());
  detail::copy_values(out, x);
  if (needs_grad(x))
    record("CloneBackward0", out, {x}, {}, [](const Tensor& g, const BackwardContext&) -> Grads { return {g}; });
  return out;
}

// ---- copies -----------------------------------------------------------------------------------

Tensor cat(const std::vector<Tensor>& tensors, std::int64_t dim) {
  AG_CHECK(!tensors.empty(), "cat: expected a non-empty list of tensors");
  const Tensor& first = tensors[0];
  check_defined(first, "cat");
  AG_CHECK(first.dim() > 0, "cat: zero-dimensional tensors cannot be concatenated; use stack");
  std::int64_t d = wrap_dim(dim, first.dim(), "cat");
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
  const Geometry whole = geometry_of(out);
  std::int64_t offset = 0;
  for (const Tensor& t : tensors) {  // each input (any layout, any dtype) into its slice of out
    const std::int64_t n = t.shape()[d];
    Geometry part = slice_geo(whole, d, offset, n, 1);
    detail::copy_values(detail::make_alias(out, part.sizes, part.strides, part.offset), t);
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

// ---- what in-place ops on views need ------------------------------------------------------------

namespace detail {

Tensor make_view(const Tensor& src, const Shape& shape, const Shape& strides, std::int64_t offset, ViewCreation creation) {
  const TensorImpl& s = *src.impl();
  if (s.sparse) throw_sparse(s);
  auto impl = std::allocate_shared<TensorImpl>(PoolAllocator<TensorImpl>());
  impl->storage = s.storage;
  impl->dtype = s.dtype;
  set_geometry(*impl, shape, strides, offset);
  impl->base = s.base ? s.base : src.impl_ptr();
  impl->view_version = s.storage->version;
  // A view of a special view is as special (PyTorch propagates the creation meta).
  impl->view_creation = s.base && s.view_creation != ViewCreation::Default ? s.view_creation : creation;
  return Tensor(std::move(impl));
}

Tensor make_tensor_like(const Tensor& like, Dtype dtype) {
  const TensorImpl& t = *like.impl();
  if (t.contiguous) return make_tensor(t.shape, dtype);
  // Dense but permuted (a transposed matrix): the same strides over a fresh storage.
  std::vector<std::size_t> order(t.shape.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return t.strides[a] > t.strides[b]; });
  std::int64_t expected = 1;
  for (std::size_t k = order.size(); k-- > 0;) {
    const std::size_t d = order[k];
    if (t.shape[d] != 1 && t.strides[d] != expected) return make_tensor(t.shape, dtype);  // gaps or overlaps
    expected *= t.shape[d];
  }
  Tensor out = make_tensor(t.shape, dtype);
  TensorImpl& o = *out.impl();
  Shape strides = t.shape;
  expected = 1;
  for (std::size_t k = order.size(); k-- > 0;) {
    strides[order[k]] = expected;
    expected *= std::max<std::int64_t>(t.shape[order[k]], 1);
  }
  set_geometry(o, t.shape, strides, 0);
  return out;
}

void renew_view_grad_fn(TensorImpl& view) {
  TensorImpl& base = *view.base;
  const std::uint32_t now = view.storage->version;
  const bool base_in_graph = base.requires_grad || base.grad_fn;
  // A view that has no history keeps none when its base has none, or when it was made under
  // NoGradGuard (it stays out of the graph, as it was made).
  if (!view.grad_fn && (!base_in_graph || view.view_creation == ViewCreation::NoGrad)) {
    view.view_version = now;
    return;
  }
  // The view's values now come from its base's current history: AsStridedBackward0 from it.
  Tensor b(view.base);
  auto backward = [bg = geometry_of(base), vg = geometry_of(view)](const Tensor& g, const BackwardContext&) -> Grads {
    return {as_strided_backward(g, bg, vg)};
  };
  if (base_in_graph) record(view, "AsStridedBackward0", {b}, {}, backward);
  else view.grad_fn.reset();
  view.view_version = now;
}

void rebase_view(const Tensor& self, const Tensor& result) {
  TensorImpl& v = *self.impl();
  Tensor base(v.base);
  // The base's new value: its old value with the view's window replaced by `result`.
  // d/d(old base) is g with the window zeroed; d/d(result) is g's window.
  Tensor marker = make_alias(base);
  record("CopySlices", marker, {base, result}, {},
         [bg = geometry_of(base), vg = geometry_of(v)](const Tensor& g, const BackwardContext& ctx) -> Grads {
           const bool dense = compute_contiguous(bg.sizes, bg.strides);
           const std::int64_t lo = dense ? bg.offset : std::min(bg.offset, vg.offset);
           const std::int64_t hi = dense ? last_offset(bg) : std::max(last_offset(bg), last_offset(vg));
           // g spread over the storage slots the base covers (the base itself when it is contiguous)
           Tensor slots = dense ? reshape(contiguous(g), {hi - lo + 1}) : scatter_view(g, {hi - lo + 1}, shifted(bg, lo), "CopySlicesBackward0");
           Tensor window = as_strided_view(slots, shifted(vg, lo));
           Tensor g_base;
           if (ctx.needs_grad(0)) {
             Tensor rest = slots - scatter_view(window, {hi - lo + 1}, shifted(vg, lo), "CopySlicesBackward0");
             g_base = dense ? reshape(rest, bg.sizes) : as_strided_view(rest, shifted(bg, lo));
           }
           return {g_base, ctx.needs_grad(1) ? window : Tensor()};
         });
  rebase_history(base, marker);
  renew_view_grad_fn(v);
}

}  // namespace detail

// ---- Tensor methods -------------------------------------------------------------------------

Tensor Tensor::reshape(const Shape& shape) const { return ag::reshape(*this, shape); }
Tensor Tensor::view(const Shape& shape) const { return ag::view(*this, shape); }
Tensor Tensor::flatten(std::int64_t start_dim, std::int64_t end_dim) const { return ag::flatten(*this, start_dim, end_dim); }
Tensor Tensor::unflatten(std::int64_t dim, const Shape& sizes) const { return ag::unflatten(*this, dim, sizes); }
Tensor Tensor::squeeze() const { return ag::squeeze(*this); }
Tensor Tensor::squeeze(std::int64_t dim) const { return ag::squeeze(*this, dim); }
Tensor Tensor::unsqueeze(std::int64_t dim) const { return ag::unsqueeze(*this, dim); }
Tensor Tensor::transpose(std::int64_t dim0, std::int64_t dim1) const { return ag::transpose(*this, dim0, dim1); }
Tensor Tensor::t() const { return ag::t(*this); }
Tensor Tensor::permute(const std::vector<std::int64_t>& dims) const { return ag::permute(*this, dims); }
Tensor Tensor::expand(const Shape& shape) const { return ag::expand(*this, shape); }
Tensor Tensor::expand_as(const Tensor& other) const { return ag::expand_as(*this, other); }
Tensor Tensor::narrow(std::int64_t dim, std::int64_t start, std::int64_t length) const {
  return ag::narrow(*this, dim, start, length);
}
Tensor Tensor::select(std::int64_t dim, std::int64_t index) const { return ag::select(*this, dim, index); }
Tensor Tensor::slice(std::int64_t dim, std::optional<std::int64_t> start, std::optional<std::int64_t> end,
                     std::int64_t step) const {
  return ag::slice(*this, dim, start, end, step);
}
Tensor Tensor::diagonal(std::int64_t offset, std::int64_t dim1, std::int64_t dim2) const {
  return ag::diagonal(*this, offset, dim1, dim2);
}
Tensor Tensor::unfold(std::int64_t dim, std::int64_t size, std::int64_t step) const {
  return ag::unfold(*this, dim, size, step);
}
Tensor Tensor::as_strided(const Shape& size, const Shape& stride, std::optional<std::int64_t> storage_offset) const {
  return ag::as_strided(*this, size, stride, storage_offset);
}
std::vector<Tensor> Tensor::split(std::int64_t split_size, std::int64_t dim) const { return ag::split(*this, split_size, dim); }
std::vector<Tensor> Tensor::split(const std::vector<std::int64_t>& split_sizes, std::int64_t dim) const {
  return ag::split(*this, split_sizes, dim);
}
std::vector<Tensor> Tensor::chunk(std::int64_t chunks, std::int64_t dim) const { return ag::chunk(*this, chunks, dim); }
std::vector<Tensor> Tensor::unbind(std::int64_t dim) const { return ag::unbind(*this, dim); }
Tensor Tensor::contiguous() const { return ag::contiguous(*this); }

}  // namespace ag
