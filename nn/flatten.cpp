#include "ag/nn/flatten.h"

#include "ag/autograd/error.h"
#include "ag/autograd/ops.h"

namespace ag::nn {

Tensor Flatten::forward(const Tensor& input) { return ag::flatten(input, start_dim, end_dim); }

std::string Flatten::extra_repr() const { return detail::cat("start_dim=", start_dim, ", end_dim=", end_dim); }

}  // namespace ag::nn
