#pragma once
// Dropout: random zeroing during training.

#include "ag/nn/module.h"

namespace ag::nn {

/// In training mode, zeroes each element with probability p and scales the rest by 1 / (1 - p),
/// keeping the expected value; in eval mode, the identity. As torch.nn.Dropout, mask for mask:
/// drawn from the default generator, it is PyTorch's mask after the same manual_seed.
///
///     nn::Dropout drop(0.5);
///     drop(x);        // training: about half the elements 0, the others 2x
///     drop.eval();
///     drop(x);        // x itself
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5);
  Tensor forward(const Tensor& input) override;
  /// "p=0.5"
  std::string extra_repr() const override;
  const double p;
};

}  // namespace ag::nn
