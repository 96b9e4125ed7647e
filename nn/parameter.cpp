#include "ag/nn/parameter.h"

#include "ag/autograd/error.h"
#include "ag/nn/module.h"

namespace ag::nn {

Parameter::Parameter(const Tensor& data, bool requires_grad) : Tensor(data.defined() ? data.detach() : Tensor()) {
  // detach(): the parameter shares the data but is a fresh leaf; `data` keeps its own flags.
  if (defined()) requires_grad_(requires_grad);
}

void Parameter::check_assignable(const Parameter& other) const {
  if (!owner_ || !defined() || !other.defined()) return;
  AG_CHECK(other.shape() == shape(), owner_->name(), ".", *name_, ": cannot assign a Parameter of shape ",
           other.shape(), "; the registered ", *name_, " has shape ", shape(),
           " and a module's parameter keeps its shape");
}

Parameter& Parameter::operator=(const Parameter& other) {
  check_assignable(other);
  Tensor::operator=(other);  // owner_ and name_ stay: this is still the module's slot
  return *this;
}

Parameter& Parameter::operator=(Parameter&& other) {
  check_assignable(other);
  Tensor::operator=(std::move(other));
  return *this;
}

std::ostream& operator<<(std::ostream& os, const Parameter& p) {
  return os << "Parameter containing:\n" << static_cast<const Tensor&>(p);
}

}  // namespace ag::nn
