// Python-style indexing: x.index({...}) and x.index_put_({...}, v), with LibTorch's names.
//
// Integers, Slices, None, Ellipsis and bools are basic indices: they make views (select, slice,
// unsqueeze), so writes through the result reach x. Tensors are advanced indices: int64 index
// tensors (broadcast together) or bool masks (their nonzero positions) gather a copy. The
// gather's backward is a scatter-add into zeros of x's shape, whose backward is the gather again.

#include <algorithm>
#include <cstring>
#include <numeric>
#include <string>

#include "ag/autograd/node.h"
#include "ag/autograd/ops.h"
#include "ag/autograd/ops/inplace.h"
#include "ag/autograd/ops/kernels.h"

namespace ag {

namespace indexing {
TensorIndex::TensorIndex(const char* ellipsis) : kind_(Kind::Ellipsis) {
  AG_CHECK(ellipsis != nullptr && std::string(ellipsis) == "...", "TensorIndex: the only string index is \"...\" ",
           "(Ellipsis), got \"", ellipsis ? ellipsis : "", "\"");
}
}  // namespace indexing

namespace {

using detail::data;

/// Where advanced indices read or write in x: x's dims permuted so that the indexed ones form one
/// block (moved to the front unless they are adjacent, as NumPy), the sizes before, of and after
/// the block, and for each element of the broadcast index shape its row-major offset in the block.
struct Advanced {
  std::vector<std::int64_t> perm;
  Shape before, block, after, broadcast;
  std::vector<std::int64_t> lin;
  Shape result;  // before + broadcast + after
};

std::string list_str(const std::vector<Tensor>& idx) {
  std::string s = "[";
  for (std::size_t i = 0; i < idx.size(); ++i) {
    if (i) s += ", ";
    s += idx[i].defined() ? dtype_name(idx[i].dtype()) + to_string(idx[i].shape()) : std::string(":");
  }
  return s + "]";
}

Advanced prepare(const Shape& xs, const std::vector<Tensor>& indices, const char* op) {
  // Bool masks become one int64 index per dimension they cover.
  std::vector<Tensor> idx;
  for (std::size_t i = 0; i < indices.size(); ++i) {
    const Tensor& t = indices[i];
    if (!t.defined()) {
      idx.push_back(t);
      continue;
    }
    if (t.dtype() == kBool) {
      AG_CHECK_INDEX(t.dim() > 0, op, ": a 0-d bool tensor at index ", i, " is not a mask of any dimension; index with "
                     "a bool (true/false) instead");
      const std::size_t at = idx.size();
      AG_CHECK_INDEX(at + t.dim() <= xs.size(), op, ": a mask of shape ", t.shape(), " at index ", i,
                     " covers more dimensions than the tensor of shape ", xs, " has left");
      for (std::int64_t d = 0; d < t.dim(); ++d)
        AG_CHECK_INDEX(t.shape()[d] == xs[at + d], op, ": the mask of shape ", t.shape(), " at index ", i,
                       " does not match the indexed tensor of shape ", xs, " at dimension ", at + d, " (", t.shape()[d],
                       " vs ", xs[at + d], ")");
      Tensor nz = nonzero(t);
      for (std::int64_t d = 0; d < t.dim(); ++d) idx.push_back(detail::contiguous_data(nz.select(1, d)));
      continue;
    }
    AG_CHECK_INDEX(t.dtype() == kInt64, op, ": tensors used as indices must be int64 or bool, got ", t.dtype(), " of shape ",
                   t.shape(), " at index ", i);
    idx.push_back(t);
  }
  AG_CHECK_INDEX(idx.size() <= xs.size(), op, ": too many indices (", list_str(indices), ") for a tensor of shape ", xs);
  std::vector<std::int64_t> dims;
  Shape b;
  for (std::size_t d = 0; d < idx.size(); ++d)
    if (idx[d].defined()) {
      b = dims.empty() ? idx[d].shape() : broadcast_shapes(b, idx[d].shape(), op);
      dims.push_back(static_cast<std::int64_t>(d));
    }
  Advanced a;
  a.broadcast = b;
  // Adjacent indexed dims stay where they are; separated ones move to the front (NumPy's rule).
  const bool adjacent = dims.back() - dims.front() + 1 == static_cast<std::int64_t>(dims.size());
  const auto rank = static_cast<std::int64_t>(xs.size());
  if (adjacent) {
    for (std::int64_t d = 0; d < rank; ++d) a.perm.push_back(d);
  } else {
    a.perm = dims;
    for (std::int64_t d = 0; d < rank; ++d)
      if (std::find(dims.begin(), dims.end(), d) == dims.end()) a.perm.push_back(d);
  }
  const std::size_t n_before = adjacent ? static_cast<std::size_t>(dims.front()) : 0;
  for (std::size_t k = 0; k < a.perm.size(); ++k) {
    const std::int64_t size = xs[a.perm[k]];
    if (k < n_before) a.before.push_back(size);
    else if (k < n_before + dims.size()) a.block.push_back(size);
    else a.after.push_back(size);
  }
  // Each index broadcast to b, checked, wrapped, and folded into one offset in the block.
  const std::int64_t nb = b.numel();
  a.lin.assign(static_cast<std::size_t>(nb), 0);
  std::int64_t weight = 1;
  for (std::size_t j = dims.size(); j-- > 0;) {
    const std::int64_t d = dims[j], n = xs[d];
    Tensor e = detail::contiguous_data(expand(idx[d], b));
    const std::int64_t* p = data<std::int64_t>(e);
    for (std::int64_t k = 0; k < nb; ++k) {
      std::int64_t v = p[k];
      AG_CHECK_INDEX(v >= -n && v < n, op, ": index ", v, " is out of range for dimension ", d, " of size ", n,
                     " (valid: ", -n, "..", n - 1, ", tensor of shape ", xs, ") at position ",
                     kernels::position(k, b), " of the index");
      a.lin[k] += (v < 0 ? v + n : v) * weight;
    }
    weight *= n;
  }
  for (std::int64_t v : a.before) a.result.push_back(v);
  for (std::int64_t v : a.broadcast) a.result.push_back(v);
  for (std::int64_t v : a.after) a.result.push_back(v);
  return a;
}

bool any_defined(const std::vector<Tensor>& indices) {
  return std::any_of(indices.begin(), indices.end(), [](const Tensor& t) { return t.defined(); });
}

/// x's dims in the order of a.perm, as a raw alias (no graph).
Tensor permuted(const Tensor& x, const Advanced& a) {
  Shape sizes, strides;
  for (std::int64_t d : a.perm) {
    sizes.push_back(x.shape()[d]);
    strides.push_back(x.strides()[d]);
  }
  return detail::make_alias(x, sizes, strides, x.storage_offset());
}

/// Storage offsets (relative to t's first element) of every element of the dims [from, to) of t.
std::vector<std::int64_t> offsets(const Tensor& t, std::size_t from, std::size_t to) {
  std::vector<std::int64_t> out(1, 0);
  for (std::size_t d = from; d < to; ++d) {
    std::vector<std::int64_t> next;
    next.reserve(out.size() * static_cast<std::size_t>(t.shape()[d]));
    for (std::int64_t o : out)
      for (std::int64_t i = 0; i < t.shape()[d]; ++i) next.push_back(o + i * t.strides()[d]);
    out.swap(next);
  }
  return out;
}

Tensor scatter_advanced(const Tensor& g, const Advanced& a, const Shape& shape);

/// out = x[indices] (a copy).
Tensor gather_advanced(const Tensor& x, const Advanced& a) {
  const Tensor xp = detail::contiguous_data(permuted(x, a));
  Tensor out = detail::make_tensor(a.result, x.dtype());
  const std::int64_t outer = a.before.numel(), inner = a.after.numel(), block = a.block.numel();
  const std::int64_t nb = a.broadcast.numel();
  const std::size_t es = element_size(x.dtype()), row = static_cast<std::size_t>(inner) * es;
  auto* src = static_cast<const char*>(xp.impl()->data);
  auto* dst = static_cast<char*>(out.impl()->data);
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t k = 0; k < nb; ++k)
      std::memcpy(dst + static_cast<std::size_t>(o * nb + k) * row, src + static_cast<std::size_t>(o * block + a.lin[k]) * row, row);
  if (needs_grad(x))
    record("IndexBackward0", out, {x}, {}, [a, shape = x.shape()](const Tensor& g, const BackwardContext&) -> Grads {
      return {scatter_advanced(g, a, shape)};
    });
  return out;
}

/// Writes (or adds) values, broadcast to a.result, at x[indices], in place and raw.
void put_advanced(const Tensor& x, const Advanced& a, const Tensor& values, bool accumulate) {
  const Tensor target = permuted(x, a);
  const Tensor v = detail::contiguous_data(expand(values.dtype() == x.dtype() ? values : [&] {
    NoGradGuard no_grad;
    return values.to(x.dtype());
  }(), a.result));
  const std::size_t nb_dims = a.before.size(), nk = a.block.size();
  const std::vector<std::int64_t> before = offsets(target, 0, nb_dims);
  const std::vector<std::int64_t> after = offsets(target, nb_dims + nk, target.shape().size());
  std::vector<std::int64_t> block_off(a.lin.size());
  for (std::size_t k = 0; k < a.lin.size(); ++k) {  // a row-major offset in the block -> a storage offset
    std::int64_t rest = a.lin[k], off = 0;
    for (std::size_t j = nk; j-- > 0;) {
      const std::int64_t n = a.block[j];
      off += (rest % n) * target.strides()[nb_dims + j];
      rest /= n;
    }
    block_off[k] = off;
  }
  dispatch(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = data<T>(target);
    const T* pv = data<T>(v);
    std::size_t i = 0;
    for (std::int64_t ob : before)
      for (std::int64_t bk : block_off)
        for (std::int64_t oa : after) {
          T& slot = p[ob + bk + oa];
          slot = accumulate ? kernels::wrap_add(slot, pv[i]) : pv[i];
          ++i;
        }
  });
}

/// zeros(shape), then g added at [indices]: gather_advanced's backward (and its adjoint).
Tensor scatter_advanced(const Tensor& g, const Advanced& a, const Shape& shape) {
  Tensor out = zeros(shape, g.dtype());
  put_advanced(out, a, g, true);
  if (needs_grad(g))
    record("IndexPutBackward0", out, {g}, {}, [a](const Tensor& gg, const BackwardContext&) -> Grads {
      return {gather_advanced(gg, a)};
    });
  return out;
}

/// values as written at a basic-indexed view of shape `target`: leading 1s beyond its rank are
/// dropped, as PyTorch's setitem does (x[0] = ones({1, 3}) works for a [3] row).
Tensor strip_leading_ones(Tensor values, const Shape& target) {
  while (values.dim() > static_cast<std::int64_t>(target.size()) && values.shape()[0] == 1) values = values.squeeze(0);
  return values;
}

/// Applies the basic indices; the advanced ones are returned per dim of the result.
Tensor apply_basic(const Tensor& x, const std::vector<indexing::TensorIndex>& indices, std::vector<Tensor>& advanced,
                   const char* op) {
  using Kind = indexing::TensorIndex::Kind;
  AG_CHECK(x.defined(), op, ": the tensor is undefined");
  std::int64_t specified = 0;
  bool ellipsis = false;
  for (const auto& i : indices) {
    switch (i.kind()) {
      case Kind::Integer:
      case Kind::Slice: ++specified; break;
      case Kind::Tensor:
        AG_CHECK(i.tensor().defined(), op, ": an index tensor is undefined");
        specified += i.tensor().dtype() == kBool ? i.tensor().dim() : 1;
        break;
      case Kind::Ellipsis:
        AG_CHECK_INDEX(!ellipsis, op, ": an index can only have a single ellipsis ('...')");
        ellipsis = true;
        break;
      default: break;
    }
  }
  AG_CHECK_INDEX(specified <= x.dim(), op, ": too many indices for a tensor of dimension ", x.dim(), " (shape ",
                 x.shape(), "): ", specified, " given");
  Tensor r = x;
  std::int64_t dim = 0, covered = 0;
  for (const auto& i : indices) {
    bool truth = i.kind() == Kind::Boolean && i.boolean();
    switch (i.kind()) {
      case Kind::Integer: r = select(r, dim, i.integer()); break;
      case Kind::Slice: {
        const indexing::Slice& s = i.slice();
        AG_CHECK(s.step() > 0, op, ": slice step must be positive, got ", s.step());
        r = slice(r, dim, s.start(), s.stop(), s.step());
        ++dim;
        break;
      }
      case Kind::None: r = unsqueeze(r, dim++); break;
      case Kind::Ellipsis: dim += x.dim() - specified; break;
      case Kind::Boolean:
      bool_index:
        // As PyTorch: a new dim of size 1, indexed by [0] (true) or [] (false), an advanced index.
        r = unsqueeze(r, dim);
        while (covered < dim) {
          advanced.push_back(Tensor());
          ++covered;
        }
        advanced.push_back(truth ? zeros({1}, kInt64) : zeros({0}, kInt64));
        ++covered;
        ++dim;
        break;
      case Kind::Tensor: {
        const Tensor& t = i.tensor();
        if (t.dtype() == kBool && t.dim() == 0) {  // a 0-d mask acts as a bool
          truth = t.item<bool>();
          goto bool_index;
        }
        // One entry per tensor; a mask entry stands for all the dims it covers.
        while (covered < dim) {
          advanced.push_back(Tensor());
          ++covered;
        }
        advanced.push_back(t);
        const std::int64_t covers = t.dtype() == kBool ? t.dim() : 1;
        covered += covers;
        dim += covers;
        break;
      }
    }
  }
  return r;
}

}  // namespace

Tensor index(const Tensor& x, const std::vector<Tensor>& indices) {
  AG_CHECK(x.defined(), "index: the tensor is undefined");
  if (!any_defined(indices)) return x;
  return gather_advanced(x, prepare(x.shape(), indices, "index"));
}

Tensor index_put(const Tensor& x, const std::vector<Tensor>& indices, const Tensor& values, bool accumulate) {
  AG_CHECK(x.defined(), "index_put: the tensor is undefined");
  AG_CHECK(values.defined(), "index_put: the values are undefined");
  AG_CHECK(type_category(values.dtype()) <= type_category(x.dtype()), "index_put: cannot write ", values.dtype(),
           " values into a ", x.dtype(), " tensor");
  if (!any_defined(indices)) {  // every element is written
    Tensor v = strip_leading_ones(values, x.shape());
    AG_CHECK(broadcast_shapes(v.shape(), x.shape(), "index_put") == x.shape(), "index_put: values of shape ",
             values.shape(), " do not broadcast to the shape ", x.shape());
    if (accumulate) return add(x, v);
    return contiguous(expand(v.dtype() == x.dtype() ? v : v.to(x.dtype()), x.shape()));
  }
  const Advanced a = prepare(x.shape(), indices, "index_put");
  AG_CHECK(broadcast_shapes(values.shape(), a.result, "index_put") == a.result, "index_put: values of shape ",
           values.shape(), " do not broadcast to the indexed shape ", a.result);
  Tensor out = x.clone();
  put_advanced(out, a, values, accumulate);
  if (needs_grad(x, values))
    record("IndexPutBackward0", out, {x, values}, {},
           [a, accumulate, vs = values.shape(), vd = values.dtype()](const Tensor& g, const BackwardContext& ctx) -> Grads {
             Tensor gx, gv;
             if (ctx.needs_grad(0)) {
               if (accumulate) {
                 gx = g;
               } else {  // the written positions no longer depend on x
                 Tensor keep = ones(g.shape(), g.dtype());
                 put_advanced(keep, a, zeros({}, g.dtype()), false);
                 gx = g * keep;
               }
             }
             if (ctx.needs_grad(1)) {
               gv = sum_to(gather_advanced(g, a), vs);
               if (gv.dtype() != vd && is_floating(vd)) gv = gv.to(vd);
             }
             return {gx, gv};
           });
  return out;
}

Tensor& index_put_(Tensor& x, const std::vector<Tensor>& indices, const Tensor& values, bool accumulate) {
  AG_CHECK(x.defined() && values.defined(), "index_put_: the tensor and the values must be defined");
  const bool rec = needs_grad(x, values);
  detail::check_inplace(x, "index_put_", rec);
  if (rec) return detail::write_back(x, index_put(x, indices, values, accumulate), "index_put_");
  AG_CHECK(type_category(values.dtype()) <= type_category(x.dtype()), "index_put_: cannot write ", values.dtype(),
           " values into a ", x.dtype(), " tensor");
  if (!any_defined(indices)) {
    Tensor v = strip_leading_ones(values, x.shape());
    return accumulate ? x.add_(v) : x.copy_(v);
  }
  const Advanced a = prepare(x.shape(), indices, "index_put_");
  AG_CHECK(broadcast_shapes(values.shape(), a.result, "index_put_") == a.result, "index_put_: values of shape ",
           values.shape(), " do not broadcast to the indexed shape ", a.result);
  const Tensor v = x.is_alias_of(values) ? values.clone() : values;
  put_advanced(x, a, v, accumulate);
  detail::bump_version(x);
  return x;
}

// ---- Tensor methods -------------------------------------------------------------------------

Tensor Tensor::index(const std::vector<indexing::TensorIndex>& indices) const {
  std::vector<Tensor> advanced;
  Tensor r = apply_basic(*this, indices, advanced, "index");
  return any_defined(advanced) ? ag::index(r, advanced) : r;
}
Tensor Tensor::index(std::initializer_list<indexing::TensorIndex> indices) const {
  return index(std::vector<indexing::TensorIndex>(indices));
}

Tensor& Tensor::index_put_(const std::vector<indexing::TensorIndex>& indices, const Tensor& values, bool accumulate) {
  AG_CHECK(values.defined(), "index_put_: the values are undefined");
  std::vector<Tensor> advanced;
  Tensor r = apply_basic(*this, indices, advanced, "index_put_");
  if (any_defined(advanced)) {
    ag::index_put_(r, advanced, values, accumulate);
  } else {
    Tensor v = strip_leading_ones(values, r.shape());
    if (accumulate) r.add_(v);
    else r.copy_(v);
  }
  return *this;
}
Tensor& Tensor::index_put_(std::initializer_list<indexing::TensorIndex> indices, const Tensor& values, bool accumulate) {
  return index_put_(std::vector<indexing::TensorIndex>(indices), values, accumulate);
}
Tensor& Tensor::index_put_(const std::vector<indexing::TensorIndex>& indices, Scalar value) {
  AG_CHECK(defined(), "index_put_: the tensor is undefined");
  return index_put_(indices, scalar_tensor(value, dtype()));  // converted as Python's x[...] = v does
}
Tensor& Tensor::index_put_(std::initializer_list<indexing::TensorIndex> indices, Scalar value) {
  return index_put_(std::vector<indexing::TensorIndex>(indices), value);
}

}  // namespace ag
