#include "ag/nn/functional.h"

#include "ag/autograd/error.h"

namespace ag::nn::functional {

Tensor dropout(const Tensor& input, double p, bool training, Generator* gen) {
  AG_CHECK(p >= 0.0 && p <= 1.0, "dropout: the probability p must be in [0, 1], got ", p);
  AG_CHECK(input.defined(), "dropout: the input is undefined");
  AG_CHECK(input.is_floating_point(), "dropout: expected a floating point input, got ", input.dtype(), " of shape ",
           input.shape());
  if (!training || p == 0.0 || input.numel() == 0) return input;
  if (p == 1.0) return input * 0.0;  // every element dropped, nothing drawn; still part of the graph
  // PyTorch's mask and stream: noise = bernoulli(1 - p) / (1 - p), then input * noise, whose
  // gradient is noise * g.
  Tensor noise = ag::empty(input.shape(), input.dtype());
  noise.bernoulli_(1.0 - p, gen).div_(1.0 - p);
  return input * noise;
}

Tensor layer_norm(const Tensor& input, const std::vector<std::int64_t>& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps) {
  Shape norm(normalized_shape);
  auto k = static_cast<std::int64_t>(normalized_shape.size());
  AG_CHECK(input.defined(), "layer_norm: the input is undefined");
  AG_CHECK(k >= 1, "layer_norm: normalized_shape must have at least one dimension");
  bool trailing_match = input.dim() >= k;
  for (std::int64_t i = 0; trailing_match && i < k; ++i)
    trailing_match = input.size(input.dim() - k + i) == normalized_shape[static_cast<std::size_t>(i)];
  AG_CHECK(trailing_match, "layer_norm: expected an input whose last dimensions are ", norm, ", got shape ",
           input.shape());
  AG_CHECK(!weight.defined() || weight.shape() == norm, "layer_norm: weight of shape ", weight.shape(),
           " does not match normalized_shape ", norm);
  AG_CHECK(!bias.defined() || bias.shape() == norm, "layer_norm: bias of shape ", bias.shape(),
           " does not match normalized_shape ", norm);

  std::vector<std::int64_t> dims;
  for (std::int64_t i = -k; i < 0; ++i) dims.push_back(i);
  // input: [*, norm], mean/var: [*, 1...1]
  Tensor mean = input.mean(dims, /*keepdim=*/true);
  Tensor centered = input - mean;
  Tensor var = (centered * centered).mean(dims, /*keepdim=*/true);  // biased (divides by N), as PyTorch
  Tensor y = centered / (var + eps).sqrt();
  if (weight.defined()) y = y * weight;
  if (bias.defined()) y = y + bias;
  return y;
}

}  // namespace ag::nn::functional
