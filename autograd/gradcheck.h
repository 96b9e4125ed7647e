#pragma once
// gradcheck: compares the engine's gradients with central finite differences.

#include <functional>
#include <vector>

#include "ag/autograd/tensor.h"

namespace ag {

/// Thrown by gradcheck when an analytical and a numerical derivative disagree.
class GradcheckError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Checks d fn(inputs) / d inputs against central differences, element by element of the
/// Jacobian. Inputs that require grad must be float64. Returns true, or throws GradcheckError
/// naming the input, the element and both values.
///
///     auto x = ag::randn({3, 4}, ag::TensorOptions(ag::kFloat64).requires_grad(true));
///     ag::gradcheck([](const std::vector<ag::Tensor>& in) { return in[0].tanh(); }, {x});
bool gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn, const std::vector<Tensor>& inputs,
               double eps = 1e-6, double atol = 1e-5, double rtol = 1e-3);

/// gradcheck of the first derivative: checks second derivatives (create_graph) the same way.
bool gradgradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn, const std::vector<Tensor>& inputs,
                   double eps = 1e-6, double atol = 1e-5, double rtol = 1e-3);

}  // namespace ag
