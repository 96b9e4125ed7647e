#pragma once
// Every differentiable op of ag, as free functions (Tensor's methods call these).
// Each op lives in one file under autograd/ops/, grouped by family; its backward sits right
// below its forward. Binary ops broadcast as NumPy does.

#include <cstdint>
#include <optional>
#include <tuple>
#include <vector>

#include "autograd/tensor.h"

namespace ag {

// ---- elementwise (ops/elementwise.cpp) ------------------------------------------------------

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
/// cond ? a : b, elementwise, with cond an int64 mask (nonzero is true).
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

/// Comparisons give int64 masks of 0 and 1 (ag has no bool dtype); they record no gradient.
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);

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
Tensor& operator+=(Tensor& a, const Tensor& b);
Tensor& operator+=(Tensor& a, Scalar b);
Tensor& operator-=(Tensor& a, const Tensor& b);
Tensor& operator-=(Tensor& a, Scalar b);
Tensor& operator*=(Tensor& a, const Tensor& b);
Tensor& operator*=(Tensor& a, Scalar b);
Tensor& operator/=(Tensor& a, const Tensor& b);
Tensor& operator/=(Tensor& a, Scalar b);

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

// ---- shape (ops/shape.cpp) ------------------------------------------------------------------

/// Same data, new shape (one size may be -1). Shares the data: ag tensors are always contiguous.
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor view(const Tensor& x, const Shape& shape);
Tensor flatten(const Tensor& x, std::int64_t start_dim = 0, std::int64_t end_dim = -1);
Tensor squeeze(const Tensor& x);
Tensor squeeze(const Tensor& x, std::int64_t dim);
Tensor unsqueeze(const Tensor& x, std::int64_t dim);
/// Swaps two dimensions (a copy in ag, a view in PyTorch).
Tensor transpose(const Tensor& x, std::int64_t dim0, std::int64_t dim1);
Tensor t(const Tensor& x);
Tensor permute(const Tensor& x, const std::vector<std::int64_t>& dims);
/// Broadcasts to `shape`; -1 keeps a size.
Tensor expand(const Tensor& x, const Shape& shape);
Tensor cat(const std::vector<Tensor>& tensors, std::int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, std::int64_t dim = 0);
Tensor narrow(const Tensor& x, std::int64_t dim, std::int64_t start, std::int64_t length);
/// x.select(dim, i) drops `dim`, taking index i (negative counts from the end).
Tensor select(const Tensor& x, std::int64_t dim, std::int64_t index);
/// Python's x[start:end:step] along dim.
Tensor slice(const Tensor& x, std::int64_t dim, std::optional<std::int64_t> start, std::optional<std::int64_t> end,
             std::int64_t step = 1);

// ---- linear algebra (ops/linalg.cpp) --------------------------------------------------------

/// PyTorch's matmul: dot, matrix-vector, matrix-matrix and batched with broadcast batch dims.
Tensor matmul(const Tensor& a, const Tensor& b);
/// [n, k] @ [k, m]
Tensor mm(const Tensor& a, const Tensor& b);
/// [B, n, k] @ [B, k, m]
Tensor bmm(const Tensor& a, const Tensor& b);
/// beta * bias + alpha * (a @ b), bias broadcast to [n, m].
Tensor addmm(const Tensor& bias, const Tensor& a, const Tensor& b, Scalar beta = 1, Scalar alpha = 1);
/// y = x W^T + b over any leading dims of x: x [*, in], W [out, in], b [out] (may be undefined).
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());
/// Sets the number of OpenBLAS threads (default 1).
void set_num_threads(int n);
int get_num_threads();

// ---- softmax and losses (ops/loss.cpp) -------------------------------------------------------

Tensor softmax(const Tensor& x, std::int64_t dim);
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

/// Cross-entropy of logits [N, C] (or [C], or [N, C, d...]) against class indices [N] (int64).
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& options = {});
/// Negative log-likelihood of log-probabilities against class indices.
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const NLLLossOptions& options = {});
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);

struct BCEWithLogitsOptions {
  BCEWithLogitsOptions& weight(Tensor w) { weight_ = std::move(w); return *this; }
  BCEWithLogitsOptions& pos_weight(Tensor w) { pos_weight_ = std::move(w); return *this; }
  BCEWithLogitsOptions& reduction(Reduction r) { reduction_ = r; return *this; }
  Tensor weight_;
  Tensor pos_weight_;
  Reduction reduction_ = Reduction::Mean;
};
/// Binary cross-entropy on logits, computed stably (no sigmoid overflow).
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const BCEWithLogitsOptions& options = {});

// ---- indexing (ops/index.cpp) --------------------------------------------------------------

/// The entries of x at `index` (1-D int64) along dim.
Tensor index_select(const Tensor& x, std::int64_t dim, const Tensor& index);
/// out[i][j] = x[index[i][j]][j] for dim 0, and so on (index has x's rank).
Tensor gather(const Tensor& x, std::int64_t dim, const Tensor& index);

/// Options of the embedding lookup, with PyTorch's defaults.
struct EmbeddingFuncOptions {
  EmbeddingFuncOptions& padding_idx(std::optional<std::int64_t> p) { padding_idx_ = p; return *this; }
  EmbeddingFuncOptions& max_norm(std::optional<double> m) { max_norm_ = m; return *this; }
  EmbeddingFuncOptions& norm_type(double p) { norm_type_ = p; return *this; }
  EmbeddingFuncOptions& scale_grad_by_freq(bool s) { scale_grad_by_freq_ = s; return *this; }
  std::optional<std::int64_t> padding_idx_;
  std::optional<double> max_norm_;
  double norm_type_ = 2.0;
  bool scale_grad_by_freq_ = false;
};

/// Rows of `weight` [num, dim] at `indices` (int64, any shape) → [*indices.shape, dim].
/// padding_idx rows get no gradient; max_norm renormalises the looked-up rows of weight in
/// place first (outside the graph); scale_grad_by_freq divides each row's gradient by how often
/// its index occurs in the batch.
Tensor embedding(const Tensor& weight, const Tensor& indices, const EmbeddingFuncOptions& options = {});
/// Rows of the identity: int64 [*indices.shape, num_classes] (num_classes -1: max index + 1).
Tensor one_hot(const Tensor& indices, std::int64_t num_classes = -1);

}  // namespace ag
