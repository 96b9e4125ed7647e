#include "ag/nn/linear.h"

#include <cmath>

#include "ag/autograd/error.h"
#include "ag/autograd/ops.h"
#include "ag/nn/init.h"

namespace ag::nn {

namespace {
const LinearOptions& checked(const LinearOptions& o) {
  AG_CHECK(o.in_features() >= 0 && o.out_features() >= 0, "Linear: in_features and out_features must be "
           "non-negative, got in_features=", o.in_features(), ", out_features=", o.out_features());
  return o;
}
}  // namespace

Linear::Linear(std::int64_t in_features, std::int64_t out_features)
    : Linear(LinearOptions(in_features, out_features)) {}

Linear::Linear(const LinearOptions& options)
    : options(checked(options)),
      weight(register_parameter("weight", ag::empty({options.out_features(), options.in_features()}))),
      bias(register_parameter("bias", options.bias() ? ag::empty({options.out_features()}) : Tensor())) {
  reset_parameters();
}

void Linear::reset_parameters(Generator* gen) {
  // a = sqrt(5) makes kaiming's bound gain * sqrt(3 / fan_in) = sqrt(1/3) * sqrt(3 / fan_in) = 1 / sqrt(fan_in).
  init::kaiming_uniform_(weight, std::sqrt(5.0), init::kFanIn, init::kLeakyReLU, gen);
  if (bias.defined()) {
    double bound = options.in_features() > 0 ? 1.0 / std::sqrt(static_cast<double>(options.in_features())) : 0.0;
    init::uniform_(bias, -bound, bound, gen);
  }
}

Tensor Linear::forward(const Tensor& input) {
  AG_CHECK(input.defined(), "Linear(", extra_repr(), "): the input is undefined");
  AG_CHECK(input.dim() >= 1 && input.size(-1) == weight.size(1), "Linear(", extra_repr(), "): expected an input "
           "with ", weight.size(1), " features in its last dimension, got shape ", input.shape());
  return ag::linear(input, weight, bias);
}

std::string Linear::extra_repr() const {
  return detail::cat("in_features=", options.in_features(), ", out_features=", options.out_features(),
                     ", bias=", bias.defined() ? "true" : "false");
}

}  // namespace ag::nn
