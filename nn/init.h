#pragma once
// nn::init: the initialisers of torch.nn.init. Each fills a tensor in place under no-grad (so it
// works on parameters that require grad), draws from `gen` or ag's default generator (so
// ag::manual_seed makes it repeatable), and returns the tensor.

#include <cstdint>
#include <optional>
#include <utility>

#include "ag/autograd/generator.h"
#include "ag/autograd/tensor.h"

namespace ag::nn::init {

/// The activation that follows a layer, for calculate_gain.
enum class Nonlinearity { Linear, Conv1D, Conv2D, Conv3D, Sigmoid, Tanh, ReLU, LeakyReLU, SELU };
inline constexpr Nonlinearity kLinear = Nonlinearity::Linear;
inline constexpr Nonlinearity kConv1D = Nonlinearity::Conv1D;
inline constexpr Nonlinearity kConv2D = Nonlinearity::Conv2D;
inline constexpr Nonlinearity kConv3D = Nonlinearity::Conv3D;
inline constexpr Nonlinearity kSigmoid = Nonlinearity::Sigmoid;
inline constexpr Nonlinearity kTanh = Nonlinearity::Tanh;
inline constexpr Nonlinearity kReLU = Nonlinearity::ReLU;
inline constexpr Nonlinearity kLeakyReLU = Nonlinearity::LeakyReLU;
inline constexpr Nonlinearity kSELU = Nonlinearity::SELU;

/// Whether kaiming init preserves the variance of the forward pass (fan_in) or the backward (fan_out).
enum class FanMode { FanIn, FanOut };
inline constexpr FanMode kFanIn = FanMode::FanIn;
inline constexpr FanMode kFanOut = FanMode::FanOut;

/// The recommended gain for a nonlinearity, as PyTorch: 1 for linear, conv and sigmoid, 5/3 for
/// tanh, sqrt(2) for relu, sqrt(2 / (1 + slope^2)) for leaky_relu (slope `param`, default 0.01),
/// 3/4 for selu.
///
///     nn::init::calculate_gain(nn::init::kReLU);               // 1.4142
///     nn::init::calculate_gain(nn::init::kLeakyReLU, 0.2);     // 1.3868
double calculate_gain(Nonlinearity nonlinearity, std::optional<double> param = std::nullopt);

/// {fan_in, fan_out} of a weight [out, in, *kernel]: in * receptive field and out * receptive
/// field. Tensors with fewer than 2 dimensions throw.
///
///     auto [fan_in, fan_out] = nn::init::calculate_fan_in_and_fan_out(ag::empty({5, 3}));  // {3, 5}
std::pair<std::int64_t, std::int64_t> calculate_fan_in_and_fan_out(const Tensor& tensor);

/// Fills with U(a, b).
///
///     nn::init::uniform_(lin.weight, -0.1, 0.1);
Tensor uniform_(Tensor tensor, double a = 0.0, double b = 1.0, Generator* gen = nullptr);
/// Fills with N(mean, std^2).
///
///     nn::init::normal_(emb.weight, 0.0, 0.02);
Tensor normal_(Tensor tensor, double mean = 0.0, double std = 1.0, Generator* gen = nullptr);
/// Fills with `value`.
///
///     nn::init::constant_(lin.bias, 0.1);
Tensor constant_(Tensor tensor, Scalar value);
/// Fills with 0 / with 1.
///
///     nn::init::zeros_(lin.bias);
Tensor zeros_(Tensor tensor);
Tensor ones_(Tensor tensor);

/// Glorot uniform: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)).
///
///     nn::init::xavier_uniform_(lin.weight, nn::init::calculate_gain(nn::init::kTanh));
Tensor xavier_uniform_(Tensor tensor, double gain = 1.0, Generator* gen = nullptr);
/// Glorot normal: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)).
///
///     nn::init::xavier_normal_(lin.weight);
Tensor xavier_normal_(Tensor tensor, double gain = 1.0, Generator* gen = nullptr);

/// He uniform: U(-bound, bound) with bound = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a)
/// and fan = fan_in or fan_out by `mode`. Linear's default init is kaiming_uniform_(w, sqrt(5)),
/// whose bound is 1 / sqrt(fan_in).
///
///     nn::init::kaiming_uniform_(lin.weight, 0.0, nn::init::kFanIn, nn::init::kReLU);
Tensor kaiming_uniform_(Tensor tensor, double a = 0.0, FanMode mode = kFanIn, Nonlinearity nonlinearity = kLeakyReLU,
                        Generator* gen = nullptr);
/// He normal: N(0, std^2) with std = gain / sqrt(fan).
///
///     nn::init::kaiming_normal_(lin.weight, 0.0, nn::init::kFanOut, nn::init::kReLU);
Tensor kaiming_normal_(Tensor tensor, double a = 0.0, FanMode mode = kFanIn, Nonlinearity nonlinearity = kLeakyReLU,
                       Generator* gen = nullptr);

}  // namespace ag::nn::init
