#pragma once
// Every differentiable op of ag, as free functions (Tensor's methods call these).
// Each op lives in one file under autograd/ops/, grouped by family; its backward sits right
// below its forward. Binary ops broadcast as NumPy does.

#include <cstdint>
#include <optional>
#include <tuple>
#include <vector>

#include "ag/autograd/tensor.h"

namespace ag {

// ---- elementwise (ops/elementwise.cpp, unary.cpp, compare.cpp; in place: inplace.cpp) ----------

/// a + alpha * b
Tensor add(const Tensor& a, const Tensor& b, Scalar alpha = 1);
Tensor add(const Tensor& a, Scalar b);
/// a - alpha * b
Tensor sub(const Tensor& a, const Tensor& b, Scalar alpha = 1);
Tensor sub(const Tensor& a, Scalar b);
Tensor rsub(const Tensor& a, Scalar b);  // b - a
Tensor mul(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, Scalar b);
/// True division: int64 inputs give float32.
Tensor div(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, Scalar b);
Tensor rdiv(const Tensor& a, Scalar b);  // b / a
/// The angle of the point (b, a), elementwise and broadcast: atan(a / b) in the right quadrant.
Tensor atan2(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& x);
Tensor pow(const Tensor& x, Scalar exponent);
Tensor pow(const Tensor& x, const Tensor& exponent);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor abs(const Tensor& x);
/// -1, 0 or 1 by the sign of each element (records no gradient: it is zero almost everywhere).
Tensor sign(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor erf(const Tensor& x);
/// x * Φ(x), the exact (erf) form PyTorch uses by default.
Tensor gelu(const Tensor& x);
/// Limits x to [min, max]; either bound may be absent. The gradient flows where min <= x <= max.
Tensor clamp(const Tensor& x, std::optional<Scalar> min, std::optional<Scalar> max = std::nullopt);
/// Elementwise max / min; on ties each input gets half the gradient, as PyTorch.
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
/// cond ? a : b, elementwise and broadcast, with cond a bool mask (as comparisons return).
///
///     ag::where(x > 0, x, ag::zeros_like(x));
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor where(const Tensor& cond, const Tensor& a, Scalar b);
Tensor where(const Tensor& cond, Scalar a, const Tensor& b);
/// x with `value` where mask (bool, broadcast to x's shape) is true: `ag::masked_fill(x, x < 0, 0)`.
Tensor masked_fill(const Tensor& x, const Tensor& mask, Scalar value);
/// The same with a 0-d tensor value (differentiable in it).
Tensor masked_fill(const Tensor& x, const Tensor& mask, const Tensor& value);
/// The elements of x where mask (broadcast together) is true, as a 1-d tensor, in row-major order.
Tensor masked_select(const Tensor& x, const Tensor& mask);

/// Comparisons give bool masks and record no gradient.
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);

/// Elementwise logic on truth values (nonzero is true), giving bool.
Tensor logical_not(const Tensor& x);
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor logical_xor(const Tensor& a, const Tensor& b);
/// Bitwise logic on bool and int64 tensors (`mask1 & mask2`, `~mask`).
Tensor bitwise_not(const Tensor& x);
Tensor bitwise_and(const Tensor& a, const Tensor& b);
Tensor bitwise_or(const Tensor& a, const Tensor& b);
Tensor bitwise_xor(const Tensor& a, const Tensor& b);
/// Where x is NaN / ±inf / neither (bool; integers are always finite).
Tensor isnan(const Tensor& x);
Tensor isinf(const Tensor& x);
Tensor isfinite(const Tensor& x);

/// Sums a broadcast gradient back down to `shape` (the backward of broadcasting).
Tensor sum_to(const Tensor& x, const Shape& shape);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, Scalar b);
Tensor operator+(Scalar a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, Scalar b);
Tensor operator-(Scalar a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, Scalar b);
Tensor operator*(Scalar a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, Scalar b);
Tensor operator/(Scalar a, const Tensor& b);
Tensor operator-(const Tensor& x);
Tensor operator==(const Tensor& a, const Tensor& b);
Tensor operator!=(const Tensor& a, const Tensor& b);
Tensor operator<(const Tensor& a, const Tensor& b);
Tensor operator<=(const Tensor& a, const Tensor& b);
Tensor operator>(const Tensor& a, const Tensor& b);
Tensor operator>=(const Tensor& a, const Tensor& b);
Tensor operator==(const Tensor& a, Scalar b);
Tensor operator!=(const Tensor& a, Scalar b);
Tensor operator<(const Tensor& a, Scalar b);
Tensor operator<=(const Tensor& a, Scalar b);
Tensor operator>(const Tensor& a, Scalar b);
Tensor operator>=(const Tensor& a, Scalar b);
Tensor operator~(const Tensor& x);
Tensor operator&(const Tensor& a, const Tensor& b);
Tensor operator|(const Tensor& a, const Tensor& b);
Tensor operator^(const Tensor& a, const Tensor& b);
Tensor& operator+=(Tensor& a, const Tensor& b);
Tensor& operator+=(Tensor& a, Scalar b);
Tensor& operator-=(Tensor& a, const Tensor& b);
Tensor& operator-=(Tensor& a, Scalar b);
Tensor& operator*=(Tensor& a, const Tensor& b);
Tensor& operator*=(Tensor& a, Scalar b);
Tensor& operator/=(Tensor& a, const Tensor& b);
Tensor& operator/=(Tensor& a, Scalar b);
/// On a view that is a temporary (`x.index({Slice(), 0}) *= 2`, `x[1] += y`): in place, through it.
Tensor operator+=(Tensor&& a, const Tensor& b);
Tensor operator+=(Tensor&& a, Scalar b);
Tensor operator-=(Tensor&& a, const Tensor& b);
Tensor operator-=(Tensor&& a, Scalar b);
Tensor operator*=(Tensor&& a, const Tensor& b);
Tensor operator*=(Tensor&& a, Scalar b);
Tensor operator/=(Tensor&& a, const Tensor& b);
Tensor operator/=(Tensor&& a, Scalar b);

/// True when shapes and all values are equal.
bool equal(const Tensor& a, const Tensor& b);
/// |a - b| <= atol + rtol * |b| everywhere (same shape, NaNs never close).
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8);

// ---- reductions (ops/reduction.cpp) ---------------------------------------------------------

/// Sum of all elements (a 0-d tensor), or over `dims` (all dims when empty).
Tensor sum(const Tensor& x);
Tensor sum(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim = false);
/// Largest element; ties share the gradient evenly.
Tensor max(const Tensor& x);
/// Largest values along `dim` and their indices; the gradient goes to the first index.
std::tuple<Tensor, Tensor> max(const Tensor& x, std::int64_t dim, bool keepdim = false);
Tensor min(const Tensor& x);
std::tuple<Tensor, Tensor> min(const Tensor& x, std::int64_t dim, bool keepdim = false);
/// Largest values over `dims` (all when empty); ties share the gradient evenly.
Tensor amax(const Tensor& x, const std::vector<std::int64_t>& dims = {}, bool keepdim = false);
Tensor amin(const Tensor& x, const std::vector<std::int64_t>& dims = {}, bool keepdim = false);
/// Index of the first largest element (of the flattened tensor when dim is absent).
Tensor argmax(const Tensor& x, std::optional<std::int64_t> dim = std::nullopt, bool keepdim = false);
Tensor argmin(const Tensor& x, std::optional<std::int64_t> dim = std::nullopt, bool keepdim = false);
/// log(sum(exp(x))) along dim, computed stably.
Tensor logsumexp(const Tensor& x, std::int64_t dim, bool keepdim = false);
/// The p-norm of all elements.
Tensor norm(const Tensor& x, double p = 2);
/// Whether any / every element is nonzero (bool), over all elements or along dim.
Tensor any(const Tensor& x);
Tensor any(const Tensor& x, std::int64_t dim, bool keepdim = false);
Tensor all(const Tensor& x);
Tensor all(const Tensor& x, std::int64_t dim, bool keepdim = false);
/// The indices of the nonzero elements, int64 [count, x.dim()], in row-major order.
Tensor nonzero(const Tensor& x);
/// How many elements are nonzero (int64), in all of x or along dim.
Tensor count_nonzero(const Tensor& x, std::optional<std::int64_t> dim = std::nullopt);

// ---- shape (ops/shape.cpp) ------------------------------------------------------------------
// Views: each of these returns a tensor that shares x's storage (and its version counter) with
// new sizes, strides and offset, at no cost in time or memory; writes through the view change x.
// reshape is a view when the strides allow one and a copy otherwise; cat and stack copy.

/// Same data, new shape (one size may be -1): a view when x's strides allow it, else a copy.
Tensor reshape(const Tensor& x, const Shape& shape);
/// Same data, new shape, always a view; throws when x's strides do not allow one (use reshape).
Tensor view(const Tensor& x, const Shape& shape);
Tensor flatten(const Tensor& x, std::int64_t start_dim = 0, std::int64_t end_dim = -1);
/// Splits dimension `dim` into `sizes` (one may be -1): `x.unflatten(1, {2, 3})`.
Tensor unflatten(const Tensor& x, std::int64_t dim, const Shape& sizes);
Tensor squeeze(const Tensor& x);
Tensor squeeze(const Tensor& x, std::int64_t dim);
Tensor unsqueeze(const Tensor& x, std::int64_t dim);
/// Swaps two dimensions (their strides).
Tensor transpose(const Tensor& x, std::int64_t dim0, std::int64_t dim1);
Tensor t(const Tensor& x);
Tensor permute(const Tensor& x, const std::vector<std::int64_t>& dims);
/// Broadcasts to `shape` with stride 0 along the new and size-1 dims; -1 keeps a size.
Tensor expand(const Tensor& x, const Shape& shape);
Tensor expand_as(const Tensor& x, const Tensor& other);
Tensor narrow(const Tensor& x, std::int64_t dim, std::int64_t start, std::int64_t length);
/// x.select(dim, i) drops `dim`, taking index i (negative counts from the end).
Tensor select(const Tensor& x, std::int64_t dim, std::int64_t index);
/// Python's x[start:end:step] along dim (step > 0; out-of-range bounds are clamped).
Tensor slice(const Tensor& x, std::int64_t dim, std::optional<std::int64_t> start, std::optional<std::int64_t> end,
             std::int64_t step = 1);
/// The diagonal of the dims dim1 and dim2 (offset > 0 above it), as the last dimension.
Tensor diagonal(const Tensor& x, std::int64_t offset = 0, std::int64_t dim1 = 0, std::int64_t dim2 = 1);
/// All windows of `size` elements along dim, `step` apart, as a new last dimension.
Tensor unfold(const Tensor& x, std::int64_t dim, std::int64_t size, std::int64_t step);
/// The window of x's storage with these sizes, strides and offset (x's own offset by default).
/// Every element must lie inside the storage; the gradient is PyTorch's (overlaps averaged).
Tensor as_strided(const Tensor& x, const Shape& size, const Shape& stride,
                  std::optional<std::int64_t> storage_offset = std::nullopt);
/// Consecutive views of split_size along dim (the last may be smaller), or of the given sizes.
std::vector<Tensor> split(const Tensor& x, std::int64_t split_size, std::int64_t dim = 0);
std::vector<Tensor> split(const Tensor& x, const std::vector<std::int64_t>& split_sizes, std::int64_t dim = 0);
/// `chunks` views of equal size along dim (the last may be smaller), as PyTorch.
std::vector<Tensor> chunk(const Tensor& x, std::int64_t chunks, std::int64_t dim = 0);
/// The slices x.select(dim, i) for every i.
std::vector<Tensor> unbind(const Tensor& x, std::int64_t dim = 0);
/// A contiguous tensor of x's values (x itself when it is contiguous).
Tensor contiguous(const Tensor& x);
Tensor cat(const std::vector<Tensor>& tensors, std::int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, std::int64_t dim = 0);

// ---- linear algebra (ops/linalg.cpp) --------------------------------------------------------

/// PyTorch's matmul: [k]·[k] -> [] (dot), [m, k] @ [k] -> [m], [k] @ [k, n] -> [n],
/// [m, k] @ [k, n] -> [m, n], and batched, with batch dims broadcast:
/// [2, 1, 3, 4] @ [2, 4, 3] -> [2, 2, 3, 3]. Runs on OpenBLAS gemm (gemv for a single row or
/// column), forward and backward. Both operands must be float32 or both float64.
///
///     auto y = ag::matmul(ag::randn({8, 3, 4}), ag::randn({4, 5}));   // [8, 3, 5]
Tensor matmul(const Tensor& a, const Tensor& b);
/// [n, k] @ [k, m] -> [n, m], 2-D only: `ag::mm(a, b)`.
Tensor mm(const Tensor& a, const Tensor& b);
/// [B, n, k] @ [B, k, m] -> [B, n, m], same batch size (matmul broadcasts it).
Tensor bmm(const Tensor& a, const Tensor& b);
/// beta * bias + alpha * (a @ b), bias broadcast to [n, m]; beta == 0 ignores bias, NaNs included.
///
///     auto y = ag::addmm(b, x, w, /*beta=*/1, /*alpha=*/0.5);
Tensor addmm(const Tensor& bias, const Tensor& a, const Tensor& b, Scalar beta = 1, Scalar alpha = 1);
/// y = x W^T + b over any leading dims of x: x [*, in], W [out, in], b [out] (may be undefined)
/// -> [*, out]. One gemm for all rows, W's transpose passed as a flag (never copied).
///
///     auto y = ag::linear(x, w, b);   // x [32, 10], w [5, 10], b [5] -> [32, 5]
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());
/// Sets the number of threads ag computes on: OpenBLAS's, and ag's own workers, which split
/// large elementwise ops (from 65,536 elements), the vectorised math, sums along a dimension and
/// optimizer steps (ag::parallel_for, ag/autograd/parallel.h). Elementwise ops, sums along a
/// dimension and optimizer steps give the same results on any number of threads. ag starts with
/// 1 unless OPENBLAS_NUM_THREADS is set: small ops and products lose more to a hand-off than
/// they gain (a second thread pays for a product only from ~128^3).
///
///     ag::set_num_threads(2);
void set_num_threads(int n);
int get_num_threads();
/// The instruction set ag's vectorised math (exp, log, tanh, sigmoid, erf, and through them gelu,
/// softmax, log_softmax and cross-entropy) and the SGD, Adam and AdamW steps run on, chosen at
/// run time for this CPU, as torch.backends.cpu.get_cpu_capability(): "avx512f", "avx2+fma",
/// "sse2", or "scalar" off x86-64 (ag::kernel_isa() in cpu.h as an enum). The environment
/// variable AG_CPU_CAPABILITY=avx2 or sse2 picks a lower one.
const char* cpu_capability();

// ---- softmax and losses (ops/loss.cpp) -------------------------------------------------------

/// exp(x) / sum(exp(x)) along dim, computed stably (the max is subtracted first).
///
///     auto p = ag::softmax(logits, -1);   // each row sums to 1
Tensor softmax(const Tensor& x, std::int64_t dim);
/// x - logsumexp(x) along dim, stable for large |x|: `ag::log_softmax(logits, 1)`.
Tensor log_softmax(const Tensor& x, std::int64_t dim);

/// How a loss reduces its per-element values.
enum class Reduction { None, Mean, Sum };
inline constexpr Reduction kNone = Reduction::None;
inline constexpr Reduction kMean = Reduction::Mean;
inline constexpr Reduction kSum = Reduction::Sum;

/// Options of cross_entropy, with PyTorch's defaults.
///
///     ag::cross_entropy(logits, target, ag::CrossEntropyOptions().ignore_index(0).label_smoothing(0.1));
struct CrossEntropyOptions {
  CrossEntropyOptions& weight(Tensor w) { weight_ = std::move(w); return *this; }
  CrossEntropyOptions& ignore_index(std::int64_t i) { ignore_index_ = i; return *this; }
  CrossEntropyOptions& reduction(Reduction r) { reduction_ = r; return *this; }
  CrossEntropyOptions& label_smoothing(double s) { label_smoothing_ = s; return *this; }
  Tensor weight_;
  std::int64_t ignore_index_ = -100;
  Reduction reduction_ = Reduction::Mean;
  double label_smoothing_ = 0.0;
};
using NLLLossOptions = CrossEntropyOptions;  // label_smoothing is not used by nll_loss

/// Cross-entropy of logits [N, C] (or [C], or [N, C, d...]) against int64 class indices [N]
/// (or [], or [N, d...]), with PyTorch's formulas: `weight` [C] scales each sample by its
/// target's weight and `mean` divides by the summed weights of the samples not ignored (all
/// ignored gives NaN); label smoothing mixes in the uniform distribution, weighted likewise.
/// The weight is a constant: no gradient flows to it.
///
///     auto loss = ag::cross_entropy(logits, labels);                       // mean over N
///     auto per_sample = ag::cross_entropy(logits, labels, ag::CrossEntropyOptions().reduction(ag::kNone));
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& options = {});
/// Negative log-likelihood of log-probabilities against class indices: -w[t] * log_probs[t],
/// reduced like cross_entropy (which is nll_loss of log_softmax).
///
///     auto loss = ag::nll_loss(ag::log_softmax(logits, 1), labels);
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const NLLLossOptions& options = {});
/// mean((input - target)^2). Shapes must match: unlike PyTorch, ag does not broadcast here
/// ([N, 1] against [N] would silently give [N, N]).
///
///     auto loss = ag::mse_loss(pred, y);
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
/// mean(|input - target|), shapes matching as for mse_loss: `ag::l1_loss(pred, y, ag::kSum)`.
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);

/// Options of binary_cross_entropy_with_logits: `weight` and `pos_weight` broadcast to the input.
///
///     ag::BCEWithLogitsOptions().pos_weight(ag::tensor({3.0f})).reduction(ag::kSum)
struct BCEWithLogitsOptions {
  BCEWithLogitsOptions& weight(Tensor w) { weight_ = std::move(w); return *this; }
  BCEWithLogitsOptions& pos_weight(Tensor w) { pos_weight_ = std::move(w); return *this; }
  BCEWithLogitsOptions& reduction(Reduction r) { reduction_ = r; return *this; }
  Tensor weight_;
  Tensor pos_weight_;
  Reduction reduction_ = Reduction::Mean;
};
/// Binary cross-entropy on logits, computed stably (no sigmoid overflow):
/// weight * [(1 - t) x + (1 + (pos_weight - 1) t) log(1 + exp(-x))]. Gradients flow to the input
/// and the target (same shape as the input).
///
///     auto loss = ag::binary_cross_entropy_with_logits(logits, targets);
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const BCEWithLogitsOptions& options = {});

// ---- sparse tensors (ops/sparse.cpp) ---------------------------------------------------------
// A sparse tensor holds some rows of a tensor: what Embedding(sparse=true) gives as gradient,
// so that a step costs what the batch costs, not the vocabulary. Supported on it: to_dense,
// coalesce, indices, values, clone, detach, to(dtype), add (sparse + sparse stays sparse,
// with a dense tensor gives dense), add_ into a dense or a sparse tensor, mul/div by a number
// (and in place), neg, zero_, norm, printing. Sparse tensors never require grad.

/// A sparse tensor of dense shape `size` whose row indices[0, k] (int64 [1, nnz] or [nnz]) holds
/// values[k] ([nnz, size[1:]]): torch.sparse_coo_tensor with one sparse dimension.
///
///     auto g = ag::sparse_coo_tensor(ag::tensor({{2, 0}}), ag::ones({2, 3}), {5, 3});
Tensor sparse_coo_tensor(const Tensor& indices, const Tensor& values, const Shape& size);

// ---- indexing (ops/index.cpp) --------------------------------------------------------------
// Indices are int64 and must lie in [0, size): anything else throws ag::IndexError naming the
// op, the index, its position and the valid range.

/// The entries of x at `index` (1-D int64) along dim; repeated indices add up in the gradient.
///
///     ag::index_select(x, 0, ag::tensor({2, 0}));   // rows 2 and 0 of x
Tensor index_select(const Tensor& x, std::int64_t dim, const Tensor& index);
/// out[i][j] = x[index[i][j]][j] for dim 0, x[i][index[i][j]] for dim 1, and so on; index has
/// x's rank and is no larger than x outside dim. The output has index's shape.
///
///     ag::gather(log_probs, 1, labels.unsqueeze(1));   // [N, 1]: each row's label entry
Tensor gather(const Tensor& x, std::int64_t dim, const Tensor& index);

/// Options of the embedding lookup, with PyTorch's defaults.
///
///     ag::EmbeddingFuncOptions().padding_idx(0).max_norm(1.0)
struct EmbeddingFuncOptions {
  EmbeddingFuncOptions& padding_idx(std::optional<std::int64_t> p) { padding_idx_ = p; return *this; }
  EmbeddingFuncOptions& max_norm(std::optional<double> m) { max_norm_ = m; return *this; }
  EmbeddingFuncOptions& norm_type(double p) { norm_type_ = p; return *this; }
  EmbeddingFuncOptions& scale_grad_by_freq(bool s) { scale_grad_by_freq_ = s; return *this; }
  EmbeddingFuncOptions& sparse(bool s) { sparse_ = s; return *this; }
  std::optional<std::int64_t> padding_idx_;
  std::optional<double> max_norm_;
  double norm_type_ = 2.0;
  bool scale_grad_by_freq_ = false;
  bool sparse_ = false;
};

/// Rows of `weight` [num, dim] at `indices` (int64, any shape) -> [*indices.shape, dim].
/// padding_idx rows (negative counts from the end) get exactly zero gradient; max_norm
/// renormalises the looked-up rows of weight in place first, outside the graph (a row of
/// norm_type-norm n > max_norm is scaled by max_norm / (n + 1e-7)), which bumps weight's
/// version; scale_grad_by_freq divides each row's gradient by how often its index occurs in
/// the batch. The same as matmul(one_hot(indices, num).to(float), weight), without the matrix.
/// With sparse, weight's gradient is a sparse tensor of the looked-up rows (one per index,
/// padding left out, repeats kept until coalesce): a step then costs the batch, not the table.
/// Under create_graph the gradient is dense, so that it can be differentiated again.
///
///     auto vectors = ag::embedding(table, ag::tensor({{1, 4}, {2, 0}}));   // [2, 2, dim]
Tensor embedding(const Tensor& weight, const Tensor& indices, const EmbeddingFuncOptions& options = {});
/// x[indices[0], indices[1], ...] with a list of int64 index tensors or bool masks, one per
/// leading dimension (an undefined entry takes the whole dimension): PyTorch's advanced
/// indexing. Index tensors broadcast together; their dims replace the indexed dims, in place
/// when the indexed dims are adjacent, else at the front. A copy, differentiable.
///
///     ag::index(x, {ag::tensor({0, 2})});            // rows 0 and 2
///     ag::index(x, {ag::Tensor(), ag::tensor({1})}); // x[:, [1]]
Tensor index(const Tensor& x, const std::vector<Tensor>& indices);
/// A copy of x with values written (or added, with accumulate) at x[indices...], values
/// broadcast to the indexed shape; differentiable in x and values.
Tensor index_put(const Tensor& x, const std::vector<Tensor>& indices, const Tensor& values, bool accumulate = false);
/// In-place form of index_put.
Tensor& index_put_(Tensor& x, const std::vector<Tensor>& indices, const Tensor& values, bool accumulate = false);

/// Rows of the identity: int64 [*indices.shape, num_classes] (num_classes -1: max index + 1).
///
///     ag::one_hot(ag::tensor({2, 0}), 3);   // [[0, 0, 1], [1, 0, 0]]
Tensor one_hot(const Tensor& indices, std::int64_t num_classes = -1);

}  // namespace ag
