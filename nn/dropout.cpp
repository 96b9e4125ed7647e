#include "nn/dropout.h"

#include "autograd/error.h"
#include "nn/format.h"
#include "nn/functional.h"

namespace ag::nn {

Dropout::Dropout(double p) : p(p) {
  AG_CHECK(p >= 0.0 && p <= 1.0, "Dropout: the probability p must be in [0, 1], got ", p);
}

Tensor Dropout::forward(const Tensor& input) { return functional::dropout(input, p, is_training()); }

std::string Dropout::extra_repr() const { return "p=" + format_double(p); }

}  // namespace ag::nn
