// Matrix products on OpenBLAS: matmul (PyTorch's rules), mm, bmm, addmm, linear.
// Everything reduces to one differentiable primitive, `mm_flags`: op(a) @ op(b) over broadcast
// batch dims, where op transposes through a gemm flag instead of a copy. Its backward is two
// more mm_flags calls (grad_a = g op(b)^T, grad_b = op(a)^T g), so create_graph works and
// every gradient runs on gemm too.

#include <algorithm>

#include "ag/autograd/node.h"
#include "ag/autograd/ops.h"
#include "ag/autograd/ops/blas.h"
#include "ag/autograd/ops/kernels.h"

namespace ag {

using detail::data;

namespace {

void check_operands(const Tensor& a, const Tensor& b, const char* op) {
  AG_CHECK(a.defined() && b.defined(), op, ": an argument is an undefined tensor");
  AG_CHECK(is_floating(a.dtype()) && is_floating(b.dtype()), op, ": expected float32 or float64 tensors, got ",
           a.dtype(), " ", a.shape(), " and ", b.dtype(), " ", b.shape(), " (convert with to(ag::kFloat32))");
  AG_CHECK(a.dtype() == b.dtype(), op, ": both arguments must have the same dtype, got ", a.dtype(), " ", a.shape(),
           " and ", b.dtype(), " ", b.shape());
}

Shape batch_of(const Shape& s) {
  Shape b;
  for (std::size_t i = 0; i + 2 < s.size(); ++i) b.push_back(s[i]);
  return b;
}

Tensor mm_flags(const Tensor& a, const Tensor& b, bool ta, bool tb);

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
/// its transpose in the last two dims (passed to gemm as a flag, never copied). Callers check shapes.
Tensor mm_flags(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  const Shape &sa = a.shape(), &sb = b.shape();
  const std::size_t ra = sa.size(), rb = sb.size();
  const std::int64_t m = ta ? sa[ra - 1] : sa[ra - 2], k = ta ? sa[ra - 2] : sa[ra - 1];
  const std::int64_t n = tb ? sb[rb - 2] : sb[rb - 1];
  const std::int64_t lda = sa[ra - 1], ldb = sb[rb - 1];
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
    if (batches == 1) {
      blas::gemm(ta, tb, m, n, k, T(1), pa, lda, pb, ldb, T(0), po, n);
      return;
    }
    // Walk the output's batch index; each operand advances by its own (broadcast) stride,
    // counted in whole matrices.
    const Shape batch_shape(out_shape.begin(), out_shape.begin() + nbatch_dims);
    std::int64_t st_a[Shape::kMaxDims], st_b[Shape::kMaxDims], idx[Shape::kMaxDims] = {};
    kernels::broadcast_strides(ba, batch_shape, st_a);
    kernels::broadcast_strides(bb, batch_shape, st_b);
    const std::int64_t size_a = sa[ra - 2] * sa[ra - 1], size_b = sb[rb - 2] * sb[rb - 1];
    std::int64_t oa = 0, ob = 0;
    for (std::int64_t i = 0; i < batches; ++i) {
      blas::gemm(ta, tb, m, n, k, T(1), pa + oa * size_a, lda, pb + ob * size_b, ldb, T(0), po + i * m * n, n);
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
  if (needs_grad(a, b))
    record(ra == 2 && rb == 2 ? "MmBackward0" : "BmmBackward0", out, {a, b}, {save(a), save(b)},
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
  dispatch_floating(a.dtype(), "addmm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* po = data<T>(out);
    if (be != 0)  // beta == 0 ignores the bias entirely (NaNs in it included), as PyTorch
      kernels::map2(data<T>(bias), bias.shape(), data<T>(bias), bias.shape(), po, out_shape,
                    [be](T x, T) { return static_cast<T>(be * x); });
    blas::gemm(false, false, m, n, k, static_cast<T>(al), data<T>(a), k, data<T>(b), n, T(be != 0 ? 1 : 0), po, n);
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
    AG_CHECK(bias.dtype() == x.dtype(), "linear: the bias is ", bias.dtype(), " but the input is ", x.dtype());
    AG_CHECK(bias.dim() <= 1 && (bias.numel() == out_f || bias.numel() == 1), "linear: a bias of shape ", bias.shape(),
             " does not match out_features ", out_f, " (expected [", out_f, "])");
  }
  std::int64_t m = 1;  // rows: the leading dims of x, folded
  for (std::int64_t i = 0; i + 1 < x.dim(); ++i) m *= x.shape()[i];
  Shape out_shape = x.shape();
  out_shape[out_shape.size() - 1] = out_f;
  Tensor out = detail::make_tensor(out_shape, x.dtype());
  dispatch_floating(x.dtype(), "linear", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* po = data<T>(out);
    if (bias.defined()) {  // the bias goes into the output first; gemm then adds x W^T (beta = 1)
      const T* pb = data<T>(bias);
      const bool scalar = bias.numel() == 1;
      for (std::int64_t r = 0; r < m; ++r)
        for (std::int64_t j = 0; j < out_f; ++j) po[r * out_f + j] = pb[scalar ? 0 : j];
    }
    blas::gemm(false, true, m, out_f, in, T(1), data<T>(x), in, data<T>(weight), in, T(bias.defined() ? 1 : 0), po, out_f);
  });
  if (needs_grad(x, weight, bias))
    record("LinearBackward0", out, {x, weight, bias}, {save(x), save(weight)},
           [m, out_f, in, sbias = bias.defined() ? bias.shape() : Shape()](const Tensor& g, const BackwardContext& ctx) -> Grads {
             const Tensor &x = ctx.saved(0), &w = ctx.saved(1);
             Tensor g2 = reshape(g, {m, out_f});
             Tensor gx, gw, gb;
             if (ctx.needs_grad(0)) gx = reshape(mm_flags(g2, w, false, false), x.shape());      // g W
             if (ctx.needs_grad(1)) gw = mm_flags(g2, reshape(x, {m, in}), true, false);          // g^T x
             if (ctx.needs_grad(2)) gb = sum_to(sum(g2, {0}), sbias);                             // rows summed
             return {gx, gw, gb};
           });
  return out;
}

void set_num_threads(int n) { blas::set_num_threads(n); }
int get_num_threads() { return blas::get_num_threads(); }

// ---- Tensor methods -------------------------------------------------------------------------

Tensor Tensor::matmul(const Tensor& other) const { return ag::matmul(*this, other); }
Tensor Tensor::mm(const Tensor& other) const { return ag::mm(*this, other); }

}  // namespace ag
