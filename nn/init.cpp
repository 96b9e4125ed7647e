#include "ag/nn/init.h"

#include <cmath>

#include "ag/autograd/error.h"
#include "ag/autograd/grad_mode.h"

namespace ag::nn::init {

namespace {

void check_tensor(const Tensor& t, const char* op) {
  AG_CHECK(t.defined(), "nn::init::", op, ": the tensor is undefined");
  AG_CHECK(t.is_floating_point(), "nn::init::", op, ": expected a floating point tensor, got ", t.dtype(),
           " of shape ", t.shape());
}

std::int64_t fan(const Tensor& t, FanMode mode) {
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  return mode == FanMode::FanIn ? fan_in : fan_out;
}

}  // namespace

double calculate_gain(Nonlinearity nonlinearity, std::optional<double> param) {
  switch (nonlinearity) {
    case Nonlinearity::Linear:
    case Nonlinearity::Conv1D:
    case Nonlinearity::Conv2D:
    case Nonlinearity::Conv3D:
    case Nonlinearity::Sigmoid: return 1.0;
    case Nonlinearity::Tanh: return 5.0 / 3.0;
    case Nonlinearity::ReLU: return std::sqrt(2.0);
    case Nonlinearity::LeakyReLU: {
      double slope = param.value_or(0.01);
      return std::sqrt(2.0 / (1.0 + slope * slope));
    }
    case Nonlinearity::SELU: return 3.0 / 4.0;
  }
  return 1.0;
}

std::pair<std::int64_t, std::int64_t> calculate_fan_in_and_fan_out(const Tensor& tensor) {
  AG_CHECK(tensor.defined(), "nn::init::calculate_fan_in_and_fan_out: the tensor is undefined");
  AG_CHECK(tensor.dim() >= 2, "nn::init: fan in and fan out need a tensor of at least 2 dimensions "
           "([out, in, *kernel]), got shape ", tensor.shape());
  std::int64_t receptive = 1;
  for (std::int64_t d = 2; d < tensor.dim(); ++d) receptive *= tensor.size(d);
  return {tensor.size(1) * receptive, tensor.size(0) * receptive};
}

Tensor uniform_(Tensor tensor, double a, double b, Generator* gen) {
  check_tensor(tensor, "uniform_");
  AG_CHECK(a <= b, "nn::init::uniform_: expected a <= b, got a=", a, " b=", b);
  NoGradGuard no_grad;
  tensor.uniform_(a, b, gen);
  return tensor;
}

Tensor normal_(Tensor tensor, double mean, double std, Generator* gen) {
  check_tensor(tensor, "normal_");
  AG_CHECK(std >= 0, "nn::init::normal_: std must be non-negative, got ", std);
  NoGradGuard no_grad;
  tensor.normal_(mean, std, gen);
  return tensor;
}

Tensor constant_(Tensor tensor, Scalar value) {
  AG_CHECK(tensor.defined(), "nn::init::constant_: the tensor is undefined");
  NoGradGuard no_grad;
  tensor.fill_(value);
  return tensor;
}

Tensor zeros_(Tensor tensor) { return constant_(std::move(tensor), 0); }
Tensor ones_(Tensor tensor) { return constant_(std::move(tensor), 1); }

Tensor xavier_uniform_(Tensor tensor, double gain, Generator* gen) {
  check_tensor(tensor, "xavier_uniform_");
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(tensor);
  if (tensor.numel() == 0) return tensor;
  double std = gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
  double a = std::sqrt(3.0) * std;  // U(-a, a) has variance a^2 / 3 = std^2
  return uniform_(std::move(tensor), -a, a, gen);
}

Tensor xavier_normal_(Tensor tensor, double gain, Generator* gen) {
  check_tensor(tensor, "xavier_normal_");
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(tensor);
  if (tensor.numel() == 0) return tensor;
  double std = gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
  return normal_(std::move(tensor), 0.0, std, gen);
}

Tensor kaiming_uniform_(Tensor tensor, double a, FanMode mode, Nonlinearity nonlinearity, Generator* gen) {
  check_tensor(tensor, "kaiming_uniform_");
  std::int64_t f = fan(tensor, mode);
  if (tensor.numel() == 0) return tensor;  // nothing to fill (and fan may be 0)
  double std = calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(f));
  double bound = std::sqrt(3.0) * std;
  return uniform_(std::move(tensor), -bound, bound, gen);
}

Tensor kaiming_normal_(Tensor tensor, double a, FanMode mode, Nonlinearity nonlinearity, Generator* gen) {
  check_tensor(tensor, "kaiming_normal_");
  std::int64_t f = fan(tensor, mode);
  if (tensor.numel() == 0) return tensor;
  double std = calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(f));
  return normal_(std::move(tensor), 0.0, std, gen);
}

}  // namespace ag::nn::init
