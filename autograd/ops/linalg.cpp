// Matrix products on OpenBLAS: matmul (PyTorch's rules), mm, bmm, addmm, linear.
// Everything reduces to one differentiable primitive, `mm_flags`: op(a) @ op(b) over broadcast
// batch dims, where op transposes through a gemm flag instead of a copy. Its backward is two
// more mm_flags calls (grad_a = g op(b)^T, grad_b = op(a)^T g), so create_graph works and
// every gradient runs on gemm too.

#include <algorithm>
#include <cstring>
#include <optional>

#include "ag/autograd/node.h"
#include "ag/autograd/parallel.h"
#include "ag/autograd/ops.h"
#include "ag/autograd/ops/blas.h"
#include "ag/autograd/ops/kernels.h"

namespace ag {

using detail::data;

namespace {

/// The name of dtype's constant, for the fixes the errors suggest: "kFloat32".
const char* dtype_constant(Dtype dtype) {
  switch (dtype) {
    case kFloat32: return "kFloat32";
    case kFloat64: return "kFloat64";
    case kInt64: return "kInt64";
    case kBool: return "kBool";
  }
  return "kFloat32";
}

void check_operands(const Tensor& a, const Tensor& b, const char* op) {
  AG_CHECK(a.defined() && b.defined(), op, ": an argument is an undefined tensor");
  AG_CHECK(is_floating(a.dtype()) && is_floating(b.dtype()), op, ": expected float32 or float64 tensors, got ",
           a.dtype(), " ", a.shape(), " and ", b.dtype(), " ", b.shape(), " (convert with to(ag::kFloat32))");
  AG_CHECK(a.dtype() == b.dtype(), op, ": both arguments must have the same dtype, got ", a.dtype(), " ", a.shape(),
           " and ", b.dtype(), " ", b.shape(), " (convert one: x.to(ag::", dtype_constant(b.dtype()),
           "), or a model's parameters with model->to(ag::", dtype_constant(a.dtype()), "))");
}

Shape batch_of(const Shape& s) {
  Shape b;
  for (std::size_t i = 0; i + 2 < s.size(); ++i) b.push_back(s[i]);
  return b;
}

Tensor mm_flags(const Tensor& a, const Tensor& b, bool ta, bool tb);

/// How BLAS reads a matrix [r, c] with strides (s0, s1) where it lies: row-major with leading
/// dimension ld, or the transpose of such a matrix (a transposed view: trans). A matrix that is
/// neither (a column-stepped slice) must be copied first.
struct Layout {
  bool trans = false;
  std::int64_t ld = 1;
};
std::optional<Layout> blas_layout(std::int64_t r, std::int64_t c, std::int64_t s0, std::int64_t s1) {
  if ((c == 1 || s1 == 1) && (r == 1 || s0 >= std::max<std::int64_t>(c, 1)))
    return Layout{false, r == 1 ? std::max<std::int64_t>(c, 1) : s0};
  if ((r == 1 || s0 == 1) && (c == 1 || s1 >= std::max<std::int64_t>(r, 1)))
    return Layout{true, c == 1 ? std::max<std::int64_t>(r, 1) : s1};
  return std::nullopt;
}
std::optional<Layout> blas_layout(const Tensor& t) {
  const Shape &s = t.shape(), &st = t.strides();
  const std::size_t r = s.size();
  return blas_layout(s[r - 2], s[r - 1], st[r - 2], st[r - 1]);
}
/// t when BLAS can read its matrices where they lie, else a contiguous copy.
Tensor blas_readable(const Tensor& t) { return blas_layout(t) ? t : detail::contiguous_data(t); }

/// The gradient of mm_flags for each operand, each one more mm_flags (then summed over the
/// batch dims that were broadcast).
Grads mm_flags_backward(const Tensor& g, const BackwardContext& ctx, bool ta, bool tb) {
  const Tensor &a = ctx.saved(0), &b = ctx.saved(1);
  Tensor ga, gb;
  // op(a) = [M, K], op(b) = [K, N], g = [M, N]
  if (ctx.needs_grad(0)) ga = sum_to(ta ? mm_flags(b, g, tb, true) : mm_flags(g, b, false, !tb), a.shape());
  if (ctx.needs_grad(1)) gb = sum_to(tb ? mm_flags(g, a, true, ta) : mm_flags(a, g, !ta, false), b.shape());
  return {ga, gb};
}

/// op(a) @ op(b): a [*ba, ra, ca], b [*bb, rb, cb] -> [*broadcast(ba, bb), M, N], op(x) being x or
/// its transpose in the last two dims. Transposes, transposed views and row-sliced views all reach
/// gemm as a flag and a leading dimension, never as a copy. Callers check shapes.
Tensor mm_flags(const Tensor& a_in, const Tensor& b_in, bool ta, bool tb) {
  const Tensor a = blas_readable(a_in), b = blas_readable(b_in);
  const Shape &sa = a.shape(), &sb = b.shape();
  const std::size_t ra = sa.size(), rb = sb.size();
  const std::int64_t m = ta ? sa[ra - 1] : sa[ra - 2], k = ta ? sa[ra - 2] : sa[ra - 1];
  const std::int64_t n = tb ? sb[rb - 2] : sb[rb - 1];
  const Layout la = *blas_layout(a), lb = *blas_layout(b);
  const Shape ba = batch_of(sa), bb = batch_of(sb);
  Shape out_shape = broadcast_shapes(ba, bb, "matmul");
  const std::size_t nbatch_dims = out_shape.size();
  const std::int64_t batches = out_shape.numel();
  out_shape.push_back(m);
  out_shape.push_back(n);
  Tensor out = detail::make_tensor(out_shape, a.dtype());

  dispatch_floating(a.dtype(), "matmul", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *pa = data<T>(a), *pb = data<T>(b);
    T* po = data<T>(out);
    const bool fa = ta != la.trans, fb = tb != lb.trans;
    if (batches == 1) {
      blas::gemm(fa, fb, m, n, k, T(1), pa, la.ld, pb, lb.ld, T(0), po, n);
      return;
    }
    // Walk the output's batch index; each operand advances by its own strides (0 where broadcast).
    const Shape batch_shape(out_shape.begin(), out_shape.begin() + nbatch_dims);
    std::int64_t st_a[Shape::kMaxDims] = {}, st_b[Shape::kMaxDims] = {}, idx[Shape::kMaxDims] = {};
    for (std::size_t d = 0; d < nbatch_dims; ++d) {
      const std::size_t oa_d = nbatch_dims - ba.size(), ob_d = nbatch_dims - bb.size();
      if (d >= oa_d && ba[d - oa_d] != 1) st_a[d] = a.strides()[d - oa_d];
      if (d >= ob_d && bb[d - ob_d] != 1) st_b[d] = b.strides()[d - ob_d];
    }
    std::int64_t oa = 0, ob = 0;
    for (std::int64_t i = 0; i < batches; ++i) {
      blas::gemm(fa, fb, m, n, k, T(1), pa + oa, la.ld, pb + ob, lb.ld, T(0), po + i * m * n, n);
      for (std::size_t d = nbatch_dims; d-- > 0;) {
        oa += st_a[d];
        ob += st_b[d];
        if (++idx[d] < batch_shape[d]) break;
        oa -= st_a[d] * batch_shape[d];
        ob -= st_b[d] * batch_shape[d];
        idx[d] = 0;
      }
    }
  });
  if (needs_grad(a_in, b_in))
    record(ra == 2 && rb == 2 ? "MmBackward0" : "BmmBackward0", out, {a_in, b_in}, {save(a_in), save(b_in)},
           [ta, tb](const Tensor& g, const BackwardContext& ctx) -> Grads { return mm_flags_backward(g, ctx, ta, tb); });
  return out;
}

void check_inner(const Tensor& a, const Tensor& b, std::int64_t ka, std::int64_t kb, const char* op) {
  AG_CHECK(ka == kb, op, ": cannot multiply ", a.shape(), " by ", b.shape(), " (", ka, " != ", kb, ")");
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_operands(a, b, "matmul");
  const std::int64_t da = a.dim(), db = b.dim();
  AG_CHECK(da >= 1 && db >= 1, "matmul: both arguments need at least one dimension, got shapes ", a.shape(), " and ",
           b.shape());
  const Shape &sa = a.shape(), &sb = b.shape();
  const std::int64_t ka = sa[da - 1], kb = db == 1 ? sb[0] : sb[db - 2];
  check_inner(a, b, ka, kb, "matmul");
  const std::int64_t k = ka;

  if (da == 1 && db == 1)  // [K] . [K] -> []
    return reshape(mm_flags(reshape(a, {1, k}), reshape(b, {k, 1}), false, false), {});
  if (da == 2 && db == 2)  // [M, K] @ [K, N] -> [M, N]
    return mm_flags(a, b, false, false);
  if (db <= 2 && da >= 2) {
    // [*, M, K] @ [K, N] or [*, M, K] @ [K]: the batch folds into the rows, one gemm (or gemv)
    Shape out_shape(sa.begin(), sa.end() - 1);
    const std::int64_t m = out_shape.numel();  // not reshape(a, {-1, k}): k may be 0
    if (db == 2) out_shape.push_back(sb[1]);
    Tensor rows = reshape(a, {m, k});
    Tensor rhs = db == 2 ? b : reshape(b, {k, 1});
    return reshape(mm_flags(rows, rhs, false, false), out_shape);
  }
  if (da == 1) {
    // [K] @ [*, K, N] -> [*, N]: a is one row
    Shape out_shape = batch_of(sb);
    out_shape.push_back(sb[db - 1]);
    return reshape(mm_flags(reshape(a, {1, k}), b, false, false), out_shape);
  }
  // [*ba, M, K] @ [*bb, K, N], b batched: one gemm per output matrix, ba and bb broadcast
  Shape ba = batch_of(sa), bb = batch_of(sb);
  for (std::size_t i = 0; i < std::max(ba.size(), bb.size()); ++i) {
    std::int64_t x = i < ba.size() ? ba[ba.size() - 1 - i] : 1, y = i < bb.size() ? bb[bb.size() - 1 - i] : 1;
    AG_CHECK(x == y || x == 1 || y == 1, "matmul: the batch dimensions of ", sa, " and ", sb, " do not broadcast (",
             ba, " vs ", bb, ")");
  }
  return mm_flags(a, b, false, false);
}

Tensor mm(const Tensor& a, const Tensor& b) {
  check_operands(a, b, "mm");
  AG_CHECK(a.dim() == 2 && b.dim() == 2, "mm: expects two 2-D tensors, got ", a.shape(), " and ", b.shape(),
           " (matmul handles other ranks)");
  check_inner(a, b, a.shape()[1], b.shape()[0], "mm");
  return mm_flags(a, b, false, false);
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  check_operands(a, b, "bmm");
  AG_CHECK(a.dim() == 3 && b.dim() == 3, "bmm: expects two 3-D tensors, got ", a.shape(), " and ", b.shape());
  AG_CHECK(a.shape()[0] == b.shape()[0], "bmm: the batch sizes of ", a.shape(), " and ", b.shape(), " differ (",
           a.shape()[0], " != ", b.shape()[0], "); matmul broadcasts batch dims");
  check_inner(a, b, a.shape()[2], b.shape()[1], "bmm");
  return mm_flags(a, b, false, false);
}

Tensor addmm(const Tensor& bias, const Tensor& a, const Tensor& b, Scalar beta, Scalar alpha) {
  // bias: broadcast to [M, N], a: [M, K], b: [K, N] -> beta * bias + alpha * a @ b
  check_operands(a, b, "addmm");
  AG_CHECK(bias.defined(), "addmm: the bias is an undefined tensor");
  AG_CHECK(bias.dtype() == a.dtype(), "addmm: bias is ", bias.dtype(), " but the matrices are ", a.dtype());
  AG_CHECK(a.dim() == 2 && b.dim() == 2, "addmm: expects two 2-D matrices, got ", a.shape(), " and ", b.shape());
  check_inner(a, b, a.shape()[1], b.shape()[0], "addmm");
  const std::int64_t m = a.shape()[0], k = a.shape()[1], n = b.shape()[1];
  const Shape out_shape{m, n};
  AG_CHECK(broadcast_shapes(bias.shape(), out_shape, "addmm") == out_shape, "addmm: a bias of shape ", bias.shape(),
           " does not broadcast to the product's shape ", out_shape);
  const double be = beta.to_double(), al = alpha.to_double();
  Tensor out = detail::make_tensor(out_shape, a.dtype());
  const Tensor ra = blas_readable(a), rb = blas_readable(b);
  const Layout la = *blas_layout(ra), lb = *blas_layout(rb);
  dispatch_floating(a.dtype(), "addmm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* po = data<T>(out);
    if (be != 0)  // beta == 0 ignores the bias entirely (NaNs in it included), as PyTorch
      kernels::map1(kernels::in<T>(bias, out_shape), kernels::out<T>(out), out_shape,
                    [be](T x) { return static_cast<T>(be * x); });
    blas::gemm(la.trans, lb.trans, m, n, k, static_cast<T>(al), data<T>(ra), la.ld, data<T>(rb), lb.ld,
               T(be != 0 ? 1 : 0), po, n);
  });
  if (needs_grad(bias, a, b))
    record("AddmmBackward0", out, {bias, a, b}, {save(a), save(b)},
           [be, al, sbias = bias.shape()](const Tensor& g, const BackwardContext& ctx) -> Grads {
             const Tensor &a = ctx.saved(0), &b = ctx.saved(1);
             Tensor gbias, ga, gb;
             if (ctx.needs_grad(0)) gbias = sum_to(be == 1 ? g : g * be, sbias);
             if (ctx.needs_grad(1)) ga = mm_flags(g, b, false, true);
             if (ctx.needs_grad(2)) gb = mm_flags(a, g, true, false);
             if (al != 1) {
               if (ga.defined()) ga = ga * al;
               if (gb.defined()) gb = gb * al;
             }
             return {gbias, ga, gb};
           });
  return out;
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  // x: [*, in], weight: [out, in], bias: [out] -> [*, out]; the leading dims fold into one gemm
  check_operands(x, weight, "linear");
  AG_CHECK(weight.dim() == 2, "linear: the weight must be 2-D [out_features, in_features], got ", weight.shape());
  AG_CHECK(x.dim() >= 1, "linear: the input must have at least one dimension, got a 0-d tensor");
  const std::int64_t in = weight.shape()[1], out_f = weight.shape()[0];
  AG_CHECK(x.shape()[x.dim() - 1] == in, "linear: cannot multiply an input of shape ", x.shape(), " by a weight of shape ",
           weight.shape(), " transposed (", x.shape()[x.dim() - 1], " != ", in, ")");
  if (bias.defined()) {
    AG_CHECK(bias.dtype() == x.dtype(), "linear: the bias is ", bias.dtype(), " but the input is ", x.dtype(),
             " (convert the input with x.to(ag::", dtype_constant(bias.dtype()), ") or the model with model->to(ag::",
             dtype_constant(x.dtype()), "))");
    AG_CHECK(bias.dim() <= 1 && (bias.numel() == out_f || bias.numel() == 1), "linear: a bias of shape ", bias.shape(),
             " does not match out_features ", out_f, " (expected [", out_f, "])");
  }
  std::int64_t m = 1;  // rows: the leading dims of x, folded
  for (std::int64_t i = 0; i + 1 < x.dim(); ++i) m *= x.shape()[i];
  Shape out_shape = x.shape();
  out_shape[out_shape.size() - 1] = out_f;
  Tensor out = detail::make_tensor(out_shape, x.dtype());
  // x's rows as one [m, in] matrix BLAS can read (a view when x's leading dims fold), W as is.
  const Tensor rows = x.dim() == 2 ? blas_readable(x) : detail::contiguous_data(x);
  const Tensor w = blas_readable(weight);
  const Layout lx = x.dim() == 2 ? *blas_layout(rows) : Layout{false, std::max<std::int64_t>(in, 1)};
  const Layout lw = *blas_layout(w);
  dispatch_floating(x.dtype(), "linear", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* po = data<T>(out);
    if (bias.defined()) {  // the bias goes into the output first; gemm then adds x W^T (beta = 1)
      const T* pb = data<T>(bias);
      const std::int64_t step = bias.numel() == 1 ? 0 : (bias.dim() == 1 ? bias.stride(0) : 0);
      if (step == 1) {  // the common case: each row a copy of the bias
        for (std::int64_t r = 0; r < m; ++r) std::memcpy(po + r * out_f, pb, static_cast<std::size_t>(out_f) * sizeof(T));
      } else {
        for (std::int64_t r = 0; r < m; ++r)
          for (std::int64_t j = 0; j < out_f; ++j) po[r * out_f + j] = pb[j * step];
      }
    }
    blas::gemm(lx.trans, !lw.trans, m, out_f, in, T(1), data<T>(rows), lx.ld, data<T>(w), lw.ld,
               T(bias.defined() ? 1 : 0), po, out_f);
  });
  if (needs_grad(x, weight, bias))
    record("LinearBackward0", out, {x, weight, bias}, {save(x), save(weight)},
           [m, out_f, in, sbias = bias.defined() ? bias.shape() : Shape()](const Tensor& g, const BackwardContext& ctx) -> Grads {
             const Tensor &x = ctx.saved(0), &w = ctx.saved(1);
             const bool flat = x.dim() == 2;  // then g is [m, out] and x [m, in] already: no views to make
             const Tensor g2 = flat ? g : reshape(g, {m, out_f});
             Tensor gx, gw, gb;
             if (ctx.needs_grad(0)) {
               gx = mm_flags(g2, w, false, false);  // g W
               if (!flat) gx = reshape(gx, x.shape());
             }
             if (ctx.needs_grad(1)) gw = mm_flags(g2, flat ? x : reshape(x, {m, in}), true, false);  // g^T x
             if (ctx.needs_grad(2)) gb = sum_to(g2.sum(0), sbias);  // rows summed
             return {gx, gw, gb};
           });
  return out;
}

void set_num_threads(int n) {
  blas::set_num_threads(n);  // checks n
  detail::set_pool_threads(n);
}
int get_num_threads() { return blas::get_num_threads(); }

// ---- Tensor methods -------------------------------------------------------------------------

Tensor Tensor::matmul(const Tensor& other) const { return ag::matmul(*this, other); }
Tensor Tensor::mm(const Tensor& other) const { return ag::mm(*this, other); }

}  // namespace ag
