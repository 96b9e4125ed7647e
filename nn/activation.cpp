#include "ag/nn/activation.h"

#include "ag/autograd/error.h"
#include "ag/autograd/ops.h"

namespace ag::nn {

Tensor ReLU::forward(const Tensor& input) { return ag::relu(input); }
Tensor Tanh::forward(const Tensor& input) { return ag::tanh(input); }
Tensor Sigmoid::forward(const Tensor& input) { return ag::sigmoid(input); }
Tensor GELU::forward(const Tensor& input) { return ag::gelu(input); }

Tensor Softmax::forward(const Tensor& input) { return ag::softmax(input, dim); }
std::string Softmax::extra_repr() const { return detail::cat("dim=", dim); }

Tensor LogSoftmax::forward(const Tensor& input) { return ag::log_softmax(input, dim); }
std::string LogSoftmax::extra_repr() const { return detail::cat("dim=", dim); }

}  // namespace ag::nn
