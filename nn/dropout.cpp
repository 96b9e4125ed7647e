#include "ag/nn/dropout.h"

#include "ag/autograd/error.h"
#include "ag/nn/format.h"
#include "ag/nn/functional.h"

namespace ag::nn {

Dropout::Dropout(double p) : p(p) {
  AG_CHECK(p >= 0.0 && p <= 1.0, "Dropout: the probability p must be in [0, 1], got ", p);
}

Tensor Dropout::forward(const Tensor& input) { return functional::dropout(input, p, is_training()); }

std::string Dropout::extra_repr() const { return "p=" + format_double(p); }

}  // namespace ag::nn
