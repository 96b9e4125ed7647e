#pragma once
// Linear: y = x W^T + b.

#include <cstdint>

#include "ag/autograd/generator.h"
#include "ag/nn/module.h"

namespace ag::nn {

/// Options of Linear: the sizes and whether there is a bias (default true).
///
///     nn::Linear lin(nn::LinearOptions(3, 5).bias(false));
class LinearOptions {
 public:
  LinearOptions(std::int64_t in_features, std::int64_t out_features)
      : in_features_(in_features), out_features_(out_features) {}
  LinearOptions& in_features(std::int64_t n) { in_features_ = n; return *this; }
  LinearOptions& out_features(std::int64_t n) { out_features_ = n; return *this; }
  LinearOptions& bias(bool b) { bias_ = b; return *this; }
  std::int64_t in_features() const { return in_features_; }
  std::int64_t out_features() const { return out_features_; }
  bool bias() const { return bias_; }

 private:
  std::int64_t in_features_;
  std::int64_t out_features_;
  bool bias_ = true;
};

/// The affine layer y = x W^T + b over the last dimension of x ([*, in] -> [*, out]), as
/// torch.nn.Linear. W is [out, in] and starts as kaiming_uniform_(a = sqrt(5)), i.e.
/// U(-1/sqrt(in), 1/sqrt(in)); b is [out], U(-1/sqrt(in), 1/sqrt(in)).
///
///     nn::Linear lin(3, 5);                      // or std::make_shared<nn::Linear>(3, 5)
///     auto y = lin(ag::rand({3}));               // [5], equal to x.matmul(lin.weight.t()) + lin.bias
///     lin.weight = nn::Parameter(ag::rand({5, 3}));   // replaces the weight (shape checked)
class Linear : public Module {
 public:
  Linear(std::int64_t in_features, std::int64_t out_features);
  explicit Linear(const LinearOptions& options);

  /// Draws new weights (and bias) from the default init, from `gen` or the default generator.
  void reset_parameters(Generator* gen = nullptr);
  /// input [*, in_features] -> [*, out_features]
  Tensor forward(const Tensor& input) override;
  /// "in_features=3, out_features=5, bias=true"
  std::string extra_repr() const override;

  const LinearOptions options;
  Parameter& weight;  ///< [out_features, in_features]
  Parameter& bias;    ///< [out_features]; empty without bias
};

}  // namespace ag::nn
