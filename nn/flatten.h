#pragma once
// Flatten: merges a range of dimensions into one.

#include <cstdint>

#include "ag/nn/module.h"

namespace ag::nn {

/// Flattens dims start_dim..end_dim into one (by default all but the batch dim), as
/// torch.nn.Flatten; the result shares the input's data.
///
///     nn::Flatten flatten;                  // start_dim=1, end_dim=-1
///     flatten(ag::zeros({8, 2, 3})).shape();  // [8, 6]
class Flatten : public Module {
 public:
  explicit Flatten(std::int64_t start_dim = 1, std::int64_t end_dim = -1) : start_dim(start_dim), end_dim(end_dim) {}
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  const std::int64_t start_dim;
  const std::int64_t end_dim;
};

}  // namespace ag::nn
