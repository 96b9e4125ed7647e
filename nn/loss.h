#pragma once
// Loss modules: torch.nn's CrossEntropyLoss, NLLLoss, MSELoss, L1Loss and BCEWithLogitsLoss
// around ag's loss functions, with the same options and defaults.

#include "ag/autograd/ops.h"
#include "ag/nn/module.h"

namespace ag::nn {

/// The base of the loss modules: `loss(input, target)` is forward(input, target). A loss takes
/// two tensors, so the one-tensor forward and the module's forward hooks do not apply to it.
class Loss : public Module {
 public:
  virtual Tensor forward(const Tensor& input, const Tensor& target) = 0;
  Tensor operator()(const Tensor& input, const Tensor& target) { return forward(input, target); }
};

/// cross_entropy(logits, target, options): logits [N, C] (or [C], or [N, C, d...]) against int64
/// class indices, with PyTorch's weight, ignore_index, reduction and label_smoothing.
///
///     nn::CrossEntropyLoss criterion(ag::CrossEntropyOptions().label_smoothing(0.1));
///     Tensor loss = criterion(model(x), labels);
class CrossEntropyLoss : public Loss {
 public:
  explicit CrossEntropyLoss(CrossEntropyOptions options = {}) : options(std::move(options)) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;
  CrossEntropyOptions options;
};

/// nll_loss(log_probs, target, options): the negative log-likelihood of log-probabilities
/// (log_softmax's output) against class indices.
///
///     nn::NLLLoss criterion(ag::NLLLossOptions().ignore_index(0));
///     Tensor loss = criterion(ag::log_softmax(logits, 1), labels);
class NLLLoss : public Loss {
 public:
  explicit NLLLoss(NLLLossOptions options = {}) : options(std::move(options)) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;
  NLLLossOptions options;
};

/// How MSELoss and L1Loss reduce: `nn::MSELossOptions().reduction(ag::kSum)`, or just `ag::kSum`.
struct MSELossOptions {
  MSELossOptions() = default;
  MSELossOptions(Reduction r) : reduction_(r) {}
  MSELossOptions& reduction(Reduction r) { reduction_ = r; return *this; }
  Reduction reduction_ = Reduction::Mean;
};
using L1LossOptions = MSELossOptions;

/// mse_loss(input, target): the mean (or sum, or none) of the squared differences.
///
///     nn::MSELoss criterion;              // nn::MSELoss(ag::kSum) sums
///     Tensor loss = criterion(pred, y);
class MSELoss : public Loss {
 public:
  explicit MSELoss(MSELossOptions options = {}) : options(options) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;
  MSELossOptions options;
};

/// l1_loss(input, target): the mean (or sum, or none) of the absolute differences.
///
///     nn::L1Loss criterion(ag::kNone);    // one loss per element
class L1Loss : public Loss {
 public:
  explicit L1Loss(L1LossOptions options = {}) : options(options) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;
  L1LossOptions options;
};

/// binary_cross_entropy_with_logits(input, target, options): binary cross-entropy on logits,
/// computed stably, with PyTorch's weight, pos_weight and reduction.
///
///     nn::BCEWithLogitsLoss criterion(ag::BCEWithLogitsOptions().pos_weight(ag::tensor({3.0f})));
///     Tensor loss = criterion(logits, targets);   // targets: 0/1 floats, the logits' shape
class BCEWithLogitsLoss : public Loss {
 public:
  explicit BCEWithLogitsLoss(BCEWithLogitsOptions options = {}) : options(std::move(options)) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;
  BCEWithLogitsOptions options;
};

}  // namespace ag::nn
