#pragma once
// Identity: a placeholder layer.

#include "ag/nn/module.h"

namespace ag::nn {

/// Returns its input unchanged: a stand-in where a layer is optional.
///
///     std::shared_ptr<nn::Module> norm = use_norm ? std::shared_ptr<nn::Module>(std::make_shared<nn::LayerNorm>(8))
///                                                 : std::make_shared<nn::Identity>();
class Identity : public Module {
 public:
  Tensor forward(const Tensor& input) override { return input; }
};

}  // namespace ag::nn
