#pragma once
// Activation layers: modules around ag's elementwise nonlinearities and softmax.

#include <cstdint>

#include "ag/nn/module.h"

namespace ag::nn {

/// max(x, 0), elementwise.
///
///     nn::Sequential net(std::make_shared<nn::Linear>(3, 5), std::make_shared<nn::ReLU>());
class ReLU : public Module {
 public:
  Tensor forward(const Tensor& input) override;
};

/// tanh(x), elementwise.
///
///     nn::Tanh act;  act(x);
class Tanh : public Module {
 public:
  Tensor forward(const Tensor& input) override;
};

/// 1 / (1 + exp(-x)), elementwise.
///
///     nn::Sigmoid act;  act(x);
class Sigmoid : public Module {
 public:
  Tensor forward(const Tensor& input) override;
};

/// x * Φ(x) with Φ the standard normal CDF (the exact erf form, PyTorch's default).
///
///     nn::GELU act;  act(x);
class GELU : public Module {
 public:
  Tensor forward(const Tensor& input) override;
};

/// softmax along `dim`: exp(x) / sum(exp(x)), computed stably.
///
///     nn::Softmax softmax(1);  softmax(logits);   // rows sum to 1
class Softmax : public Module {
 public:
  explicit Softmax(std::int64_t dim) : dim(dim) {}
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  const std::int64_t dim;
};

/// log(softmax(x)) along `dim`, computed stably.
///
///     nn::LogSoftmax log_softmax(-1);  log_softmax(logits);
class LogSoftmax : public Module {
 public:
  explicit LogSoftmax(std::int64_t dim) : dim(dim) {}
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  const std::int64_t dim;
};

}  // namespace ag::nn
