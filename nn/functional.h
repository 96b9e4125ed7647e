#pragma once
// nn::functional: the stateless forms of the layers, as torch.nn.functional. Most are ag's ops
// under their PyTorch names; dropout and layer_norm are composed here from ag's ops.
//
//     namespace F = ag::nn::functional;
//     auto loss = F::cross_entropy(F::linear(x, w, b), target);

#include <cstdint>
#include <vector>

#include "ag/autograd/generator.h"
#include "ag/autograd/ops.h"

namespace ag::nn::functional {

using ag::binary_cross_entropy_with_logits;
using ag::BCEWithLogitsOptions;
using ag::cross_entropy;
using ag::CrossEntropyOptions;
using ag::EmbeddingFuncOptions;
using ag::gelu;
using ag::l1_loss;
using ag::linear;
using ag::log_softmax;
using ag::mse_loss;
using ag::nll_loss;
using ag::NLLLossOptions;
using ag::one_hot;
using ag::Reduction;
using ag::relu;
using ag::sigmoid;
using ag::softmax;
using ag::tanh;

/// The rows of `weight` at `input`, in torch.nn.functional.embedding's argument order
/// (indices first; ag::embedding takes the weight first).
///
///     F::embedding(ag::tensor({0, 2}), weight, F::EmbeddingFuncOptions().padding_idx(0));
inline Tensor embedding(const Tensor& input, const Tensor& weight, const EmbeddingFuncOptions& options = {}) {
  return ag::embedding(weight, input, options);
}

/// Zeroes each element with probability p and scales the others by 1 / (1 - p) when training;
/// returns the input unchanged otherwise. Draws PyTorch's mask (bernoulli_(1 - p) / (1 - p)) from
/// `gen` or the default generator.
///
///     auto y = F::dropout(x, 0.1, /*training=*/true);
Tensor dropout(const Tensor& input, double p = 0.5, bool training = true, Generator* gen = nullptr);

/// Normalises over the last normalized_shape.size() dims: (x - mean) / sqrt(var + eps), var the
/// biased variance, then * weight + bias when they are defined (both of normalized_shape).
///
///     auto y = F::layer_norm(x, {8}, gamma, beta);
Tensor layer_norm(const Tensor& input, const std::vector<std::int64_t>& normalized_shape, const Tensor& weight = {},
                  const Tensor& bias = {}, double eps = 1e-5);

}  // namespace ag::nn::functional
