// Row-sparse tensors: a tensor of dense shape [n, ...] of which only some rows are stored, as
// row indices [nnz] and values [nnz, ...]. Embedding(sparse=true) produces its gradient this
// way, and accumulation, optimizers, clipping and all-reduce work on it without ever making the
// [n, ...] tensor. Repeated rows are allowed until coalesce() sums them.

#include <algorithm>
#include <cstring>
#include <functional>
#include <numeric>
#include <sstream>
#include <utility>
#include <vector>

#include "ag/autograd/node.h"
#include "ag/autograd/ops.h"
#include "ag/autograd/ops/kernels.h"
#include "ag/autograd/tensor_impl.h"

namespace ag {

using detail::data;

namespace detail {

void throw_sparse(const TensorImpl& t) {
  AG_CHECK(false, "this operation works on dense tensors and got a sparse one of shape ", t.shape,
           " (an Embedding's sparse gradient, say): call to_dense() first, or use what sparse tensors support "
           "(coalesce, indices, values, add, add_, mul or div by a number, zero_, norm)");
  std::abort();  // not reached
}

Tensor make_sparse(Tensor indices, Tensor values, const Shape& shape, bool coalesced) {
  auto impl = std::allocate_shared<TensorImpl>(PoolAllocator<TensorImpl>());
  impl->dtype = values.dtype();
  impl->storage = Storage::make(values.dtype(), 0);  // no strided data; the version counter lives here
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->numel = shape.numel();
  impl->contiguous = false;
  impl->data = impl->storage->data;
  impl->sparse = std::make_shared<SparseParts>(SparseParts{std::move(indices), std::move(values), coalesced});
  return Tensor(std::move(impl));
}

}  // namespace detail

namespace {

const SparseParts& parts(const Tensor& t, const char* op) {
  AG_CHECK(t.defined(), op, ": the tensor is undefined");
  AG_CHECK(t.impl()->sparse, op, ": expected a sparse tensor, got a dense one of shape ", t.shape());
  return *t.impl()->sparse;
}

std::int64_t row_size(const Shape& shape) {
  std::int64_t r = 1;
  for (std::size_t d = 1; d < shape.size(); ++d) r *= shape[d];
  return r;
}

/// dense[idx[k]] += alpha * values[k] for every stored row k, in order.
void add_rows(const Tensor& dense, const SparseParts& p, double alpha) {
  const std::int64_t nnz = p.indices.numel(), row = row_size(dense.shape());
  const std::int64_t* idx = detail::data<std::int64_t>(p.indices);
  const Tensor values = p.values.dtype() == dense.dtype() ? p.values : p.values.to(dense.dtype());
  dispatch_floating(dense.dtype(), "add", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* d = detail::data<T>(dense);
    const T* v = detail::data<T>(values);
    const T a = static_cast<T>(alpha);
    for (std::int64_t k = 0; k < nnz; ++k) {
      T* out = d + idx[k] * row;
      const T* in = v + k * row;
      if (alpha == 1)
        for (std::int64_t i = 0; i < row; ++i) out[i] += in[i];
      else
        for (std::int64_t i = 0; i < row; ++i) out[i] += a * in[i];
    }
  });
}

void check_same_shape(const Tensor& a, const Tensor& b, const char* op) {
  AG_CHECK(a.shape() == b.shape(), op, ": a sparse tensor of shape ", a.is_sparse() ? a.shape() : b.shape(),
           " and a tensor of shape ", a.is_sparse() ? b.shape() : a.shape(),
           " (sparse tensors do not broadcast)");
}

void check_no_grad(const Tensor& t, const char* op) {
  AG_CHECK_STATE(!t.requires_grad(), op, ": sparse tensors do not record gradients (shape ", t.shape(), ")");
}

/// a + alpha * b for two sparse tensors, PyTorch's way: one pass over both row lists, taking
/// the smaller index first and summing the two rows when the indices at the front are equal.
/// Sorted inputs give a coalesced result; others keep repeats, which coalesce() sums later in
/// the order they are stored here (so that the sums round exactly as PyTorch's do).
Tensor merge_rows(const Tensor& a, const Tensor& b, double alpha) {
  const SparseParts &pa = *a.impl()->sparse, &pb = *b.impl()->sparse;
  NoGradGuard no_grad;
  const Dtype dt = promote_types(a.dtype(), b.dtype());
  const Tensor va = pa.values.to(dt).contiguous(), vb = pb.values.to(dt).contiguous();
  const std::int64_t na = pa.indices.numel(), nb = pb.indices.numel(), row = row_size(a.shape());
  const std::int64_t* ia = detail::data<std::int64_t>(pa.indices);
  const std::int64_t* ib = detail::data<std::int64_t>(pb.indices);
  std::vector<std::int64_t> out_idx;
  std::vector<std::pair<std::int64_t, std::int64_t>> sources;  // (row of a or -1, row of b or -1)
  out_idx.reserve(static_cast<std::size_t>(na + nb));
  sources.reserve(static_cast<std::size_t>(na + nb));
  for (std::int64_t i = 0, j = 0; i < na || j < nb;) {
    const bool take_a = j >= nb || (i < na && ia[i] <= ib[j]);
    const bool take_b = i >= na || (j < nb && ib[j] <= ia[i]);
    out_idx.push_back(take_a ? ia[i] : ib[j]);
    sources.emplace_back(take_a ? i++ : -1, take_b ? j++ : -1);
  }
  const auto n = static_cast<std::int64_t>(out_idx.size());
  Tensor indices = detail::make_tensor({n}, kInt64);
  std::copy(out_idx.begin(), out_idx.end(), detail::data<std::int64_t>(indices));
  Shape vshape = va.shape();
  vshape[0] = n;
  Tensor values = detail::make_tensor(vshape, dt);
  dispatch_floating(dt, "add", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *pa_v = detail::data<T>(va), *pb_v = detail::data<T>(vb);
    T* out = detail::data<T>(values);
    const T s = static_cast<T>(alpha);
    for (std::int64_t k = 0; k < n; ++k) {
      const auto [ra, rb] = sources[static_cast<std::size_t>(k)];
      T* o = out + k * row;
      for (std::int64_t x = 0; x < row; ++x) {
        const T from_a = ra >= 0 ? pa_v[ra * row + x] : T(0);
        o[x] = rb >= 0 ? (ra >= 0 ? from_a + s * pb_v[rb * row + x] : s * pb_v[rb * row + x]) : from_a;
      }
    }
  });
  return detail::make_sparse(indices, values, a.shape(), pa.coalesced && pb.coalesced);
}

}  // namespace

Tensor sparse_coo_tensor(const Tensor& indices_in, const Tensor& values, const Shape& size) {
  AG_CHECK(indices_in.defined() && values.defined(), "sparse_coo_tensor: the indices and values must be defined");
  AG_CHECK(indices_in.dtype() == kInt64, "sparse_coo_tensor: indices must be int64, got ", indices_in.dtype());
  AG_CHECK(indices_in.dim() == 1 || (indices_in.dim() == 2 && indices_in.shape()[0] == 1),
           "sparse_coo_tensor: ag's sparse tensors have one sparse dimension: indices must be [1, nnz] or [nnz], got ",
           indices_in.shape());
  AG_CHECK(is_floating(values.dtype()), "sparse_coo_tensor: values must be floating, got ", values.dtype());
  const std::int64_t nnz = indices_in.numel();
  AG_CHECK(!size.empty() && values.dim() == static_cast<std::int64_t>(size.size()) && values.shape()[0] == nnz,
           "sparse_coo_tensor: values of shape ", values.shape(), " do not match ", nnz, " indices and size ", size,
           " (expected [nnz, size[1:]...])");
  for (std::size_t d = 1; d < size.size(); ++d)
    AG_CHECK(values.shape()[d] == size[d], "sparse_coo_tensor: values of shape ", values.shape(),
             " do not match the size ", size, " at dimension ", d);
  Tensor indices = detail::contiguous_data(indices_in.reshape({nnz})).clone();
  const std::int64_t* p = detail::data<std::int64_t>(indices);
  for (std::int64_t k = 0; k < nnz; ++k)
    AG_CHECK_INDEX(p[k] >= 0 && p[k] < size[0], "sparse_coo_tensor: index ", p[k], " at position ", k,
                   " is out of range for size ", size[0], " (valid: 0..", size[0] - 1, ")");
  NoGradGuard no_grad;
  return detail::make_sparse(indices, values.detach().contiguous().clone(), size, nnz <= 1);
}

// ---- the sparse tensor's own methods ---------------------------------------------------------

bool Tensor::is_sparse() const { return impl_ && impl_->sparse; }

bool Tensor::is_coalesced() const { return parts(*this, "is_coalesced").coalesced; }

std::int64_t Tensor::_nnz() const { return parts(*this, "_nnz").indices.numel(); }

Tensor Tensor::indices() const {
  const SparseParts& p = parts(*this, "indices");
  return p.indices.reshape({1, p.indices.numel()});
}

Tensor Tensor::values() const { return parts(*this, "values").values; }

Tensor Tensor::to_dense() const {
  const SparseParts& p = parts(*this, "to_dense");
  Tensor out;
  try {
    out = zeros(shape(), dtype());
  } catch (const std::bad_alloc&) {
    AG_CHECK(false, "to_dense: not enough memory for the dense ", dtype(), " tensor of shape ", shape(), " (",
             static_cast<double>(numel()) * static_cast<double>(element_size(dtype())) / (1 << 20),
             " MiB) that this sparse tensor of ", _nnz(), " rows stands for; work on its indices() and values()");
  }
  add_rows(out, p, 1.0);
  return out;
}

namespace {

/// The positions 0..n-1 ordered by key[position] (keys in [0, size)), equal keys in position
/// order: a stable LSD radix sort, 11 bits a pass (two passes for a million rows).
std::vector<std::int64_t> stable_order(const std::int64_t* key, std::int64_t n, std::int64_t size) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  if (n < 64) {
    std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) { return key[a] < key[b]; });
    return order;
  }
  constexpr int kBits = 11;
  constexpr std::size_t kBuckets = std::size_t{1} << kBits;
  std::vector<std::int64_t> next(order.size());
  std::vector<std::int64_t> count(kBuckets);
  for (int shift = 0; shift < 63 && (size - 1) >> shift > 0; shift += kBits) {
    std::fill(count.begin(), count.end(), 0);
    for (std::int64_t k = 0; k < n; ++k) ++count[(key[order[k]] >> shift) & (kBuckets - 1)];
    std::int64_t at = 0;
    for (std::int64_t& c : count) at += std::exchange(c, at);
    for (std::int64_t k = 0; k < n; ++k) next[count[(key[order[k]] >> shift) & (kBuckets - 1)]++] = order[k];
    order.swap(next);
  }
  return order;
}

}  // namespace

Tensor Tensor::coalesce() const {
  const SparseParts& p = parts(*this, "coalesce");
  if (p.coalesced) return *this;
  const std::int64_t nnz = p.indices.numel(), row = row_size(shape());
  const std::int64_t* idx = detail::data<std::int64_t>(p.indices);
  const std::vector<std::int64_t> order = stable_order(idx, nnz, shape()[0]);
  std::int64_t unique = 0;
  for (std::int64_t k = 0; k < nnz; ++k) unique += k == 0 || idx[order[k]] != idx[order[k - 1]];
  Tensor indices = detail::make_tensor({unique}, kInt64);
  Shape vshape = p.values.shape();
  vshape[0] = unique;
  Tensor values = detail::make_tensor(vshape, dtype());
  std::int64_t* out_idx = detail::data<std::int64_t>(indices);
  dispatch_floating(dtype(), "coalesce", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* v = detail::data<T>(p.values);
    T* o = detail::data<T>(values);
    std::int64_t u = -1;
    for (std::int64_t k = 0; k < nnz; ++k) {  // a row's first copy, then its repeats added in stored order
      const std::int64_t src = order[k];
      const T* in = v + src * row;
      if (k == 0 || idx[src] != idx[order[k - 1]]) {
        out_idx[++u] = idx[src];
        std::copy(in, in + row, o + u * row);
      } else {
        T* dst = o + u * row;
        for (std::int64_t i = 0; i < row; ++i) dst[i] += in[i];
      }
    }
  });
  return detail::make_sparse(indices, values, shape(), true);
}

// ---- the ops that take sparse tensors (called by the dense ops when an argument is sparse) ----

namespace detail {

Tensor sparse_add(const Tensor& a, const Tensor& b, double alpha) {
  check_same_shape(a, b, "add");
  check_no_grad(a, "add");
  check_no_grad(b, "add");
  if (a.is_sparse() && b.is_sparse()) return merge_rows(a, b, alpha);
  const Tensor& dense = a.is_sparse() ? b : a;
  const Tensor& sparse = a.is_sparse() ? a : b;
  Tensor out = (a.is_sparse() ? dense * alpha : dense).to(promote_types(a.dtype(), b.dtype())).clone();
  add_rows(out, *sparse.impl()->sparse, a.is_sparse() ? 1.0 : alpha);
  return out;
}

Tensor& sparse_add_(Tensor& self, const Tensor& other, double alpha) {
  check_same_shape(self, other, "add_");
  check_no_grad(other, "add_");
  if (!self.is_sparse()) {
    AG_CHECK_STATE(!(self.requires_grad() && GradMode::is_enabled()), "add_: adding a sparse tensor into a tensor of "
                   "shape ", self.shape(), " that requires grad is not recorded; do it under NoGradGuard");
    add_rows(self, *other.impl()->sparse, alpha);
    self.mark_modified();
    return self;
  }
  AG_CHECK(other.is_sparse(), "add_: a dense tensor of shape ", other.shape(), " cannot be added into a sparse one in "
           "place; write a = a + b (dense) instead");
  // Into no rows (a zeroed .grad, as zero_grad leaves it): the other's rows, copied.
  Tensor sum = self._nnz() == 0 ? sparse_map_values(other, "add_", [&](const Tensor& v) {
    return (alpha == 1 ? v.clone() : v * alpha).to(promote_types(self.dtype(), other.dtype()));
  })
                                : sparse_add(self, other, alpha);
  *self.impl()->sparse = *sum.impl()->sparse;
  self.mark_modified();
  return self;
}

Tensor sparse_map_values(const Tensor& t, const char* op, const std::function<Tensor(const Tensor&)>& f) {
  check_no_grad(t, op);
  const SparseParts& p = *t.impl()->sparse;
  NoGradGuard no_grad;
  return make_sparse(p.indices, f(p.values), t.shape(), p.coalesced);
}

Tensor& sparse_map_values_(Tensor& t, const char* op, const std::function<Tensor(const Tensor&)>& f) {
  check_no_grad(t, op);
  SparseParts& p = *t.impl()->sparse;
  NoGradGuard no_grad;
  Tensor values = f(p.values);  // a new buffer: values() handed out earlier keep their numbers
  AG_CHECK(values.dtype() == p.values.dtype(), op, ": the result (", values.dtype(), ") cannot be written into a ",
           p.values.dtype(), " sparse tensor in place");
  p.values = values;
  t.mark_modified();
  return t;
}

Tensor sparse_norm(const Tensor& t, double p) {
  NoGradGuard no_grad;
  const Tensor values = t.coalesce().values();
  if (values.numel() == 0) return zeros({}, t.dtype());
  return norm(values, p);  // repeated rows summed first, as the dense tensor has them
}

Tensor& sparse_zero_(Tensor& t) {
  SparseParts& p = *t.impl()->sparse;
  Shape vshape = p.values.shape();
  vshape[0] = 0;
  p.indices = detail::make_tensor({0}, kInt64);
  p.values = zeros(vshape, p.values.dtype());
  p.coalesced = true;
  t.mark_modified();
  return t;
}

Tensor sparse_clone(const Tensor& t) {
  const SparseParts& p = *t.impl()->sparse;
  NoGradGuard no_grad;
  return make_sparse(p.indices.clone(), p.values.clone(), t.shape(), p.coalesced);
}

Tensor sparse_alias(const Tensor& t) {
  const SparseParts& p = *t.impl()->sparse;
  return make_sparse(p.indices, p.values, t.shape(), p.coalesced);
}

Tensor sparse_to(const Tensor& t, Dtype dtype) {
  const SparseParts& p = *t.impl()->sparse;
  AG_CHECK(is_floating(dtype), "to: sparse tensors hold floating values, not ", dtype);
  NoGradGuard no_grad;
  return make_sparse(p.indices, p.values.to(dtype), t.shape(), p.coalesced);
}

std::string sparse_str(const Tensor& t) {
  const SparseParts& p = *t.impl()->sparse;
  std::ostringstream os;
  std::string size;
  for (std::size_t i = 0; i < t.shape().size(); ++i) size += (i ? ", " : "") + std::to_string(t.shape()[i]);
  os << "tensor(indices=" << t.indices() << ",\n       values=" << p.values << ",\n       size=(" << size
     << (t.shape().size() == 1 ? ",)" : ")") << ", nnz=" << p.indices.numel()
     << (t.dtype() == kFloat64 ? ", dtype=float64" : "") << ", layout=sparse_coo)";
  return os.str();
}

}  // namespace detail

}  // namespace ag
