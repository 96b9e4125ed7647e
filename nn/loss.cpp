#include "ag/nn/loss.h"

namespace ag::nn {

Tensor CrossEntropyLoss::forward(const Tensor& input, const Tensor& target) {
  return ag::cross_entropy(input, target, options);
}
Tensor NLLLoss::forward(const Tensor& input, const Tensor& target) { return ag::nll_loss(input, target, options); }
Tensor MSELoss::forward(const Tensor& input, const Tensor& target) {
  return ag::mse_loss(input, target, options.reduction_);
}
Tensor L1Loss::forward(const Tensor& input, const Tensor& target) {
  return ag::l1_loss(input, target, options.reduction_);
}
Tensor BCEWithLogitsLoss::forward(const Tensor& input, const Tensor& target) {
  return ag::binary_cross_entropy_with_logits(input, target, options);
}

}  // namespace ag::nn
