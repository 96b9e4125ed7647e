#pragma once
// LayerNorm: normalisation over the last dimensions of each sample.

#include <cstdint>
#include <vector>

#include "ag/nn/module.h"

namespace ag::nn {

/// Options of LayerNorm: the trailing shape to normalise over, eps (1e-5) and whether there is a
/// learned scale and shift (true).
///
///     nn::LayerNorm ln(nn::LayerNormOptions({4, 8}).eps(1e-6).elementwise_affine(false));
class LayerNormOptions {
 public:
  explicit LayerNormOptions(std::vector<std::int64_t> normalized_shape) : normalized_shape_(std::move(normalized_shape)) {}
  LayerNormOptions& normalized_shape(std::vector<std::int64_t> s) { normalized_shape_ = std::move(s); return *this; }
  LayerNormOptions& eps(double e) { eps_ = e; return *this; }
  LayerNormOptions& elementwise_affine(bool a) { elementwise_affine_ = a; return *this; }
  const std::vector<std::int64_t>& normalized_shape() const { return normalized_shape_; }
  double eps() const { return eps_; }
  bool elementwise_affine() const { return elementwise_affine_; }

 private:
  std::vector<std::int64_t> normalized_shape_;
  double eps_ = 1e-5;
  bool elementwise_affine_ = true;
};

/// y = (x - mean) / sqrt(var + eps) * weight + bias, with mean and the biased variance taken over
/// the last normalized_shape.size() dims of x, as torch.nn.LayerNorm. weight starts at ones and
/// bias at zeros, both of shape normalized_shape.
///
///     nn::LayerNorm ln(8);                       // normalises [*, 8]
///     auto y = ln(ag::randn({2, 5, 8}));        // each [8] row: mean 0, variance ~1
class LayerNorm : public Module {
 public:
  explicit LayerNorm(std::int64_t normalized_size) : LayerNorm(LayerNormOptions({normalized_size})) {}
  explicit LayerNorm(std::vector<std::int64_t> normalized_shape) : LayerNorm(LayerNormOptions(std::move(normalized_shape))) {}
  explicit LayerNorm(const LayerNormOptions& options);

  /// weight to ones, bias to zeros.
  void reset_parameters();
  Tensor forward(const Tensor& input) override;
  /// "[8], eps=1e-05, elementwise_affine=true"
  std::string extra_repr() const override;

  const LayerNormOptions options;
  Parameter& weight;  ///< normalized_shape; empty without elementwise_affine
  Parameter& bias;    ///< normalized_shape; empty without elementwise_affine
};

}  // namespace ag::nn
