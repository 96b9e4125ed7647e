#include "ag/nn/layer_norm.h"

#include "ag/autograd/error.h"
#include "ag/autograd/ops.h"
#include "ag/nn/format.h"
#include "ag/nn/functional.h"
#include "ag/nn/init.h"

namespace ag::nn {

namespace {
const LayerNormOptions& checked(const LayerNormOptions& o) {
  AG_CHECK(!o.normalized_shape().empty(), "LayerNorm: normalized_shape must have at least one dimension");
  for (std::int64_t d : o.normalized_shape())
    AG_CHECK(d > 0, "LayerNorm: normalized_shape ", Shape(o.normalized_shape()), " has a non-positive size ", d);
  AG_CHECK(o.eps() >= 0, "LayerNorm: eps must be non-negative, got ", o.eps());
  return o;
}
}  // namespace

LayerNorm::LayerNorm(const LayerNormOptions& options)
    : options(checked(options)),
      weight(register_parameter("weight", options.elementwise_affine() ? ag::empty(options.normalized_shape()) : Tensor())),
      bias(register_parameter("bias", options.elementwise_affine() ? ag::empty(options.normalized_shape()) : Tensor())) {
  reset_parameters();
}

void LayerNorm::reset_parameters() {
  if (weight.defined()) init::ones_(weight);
  if (bias.defined()) init::zeros_(bias);
}

Tensor LayerNorm::forward(const Tensor& input) {
  return functional::layer_norm(input, options.normalized_shape(), weight, bias, options.eps());
}

std::string LayerNorm::extra_repr() const {
  return detail::cat(Shape(options.normalized_shape()), ", eps=", format_double(options.eps()),
                     ", elementwise_affine=", options.elementwise_affine() ? "true" : "false");
}

}  // namespace ag::nn
