#pragma once
// Parameter: a tensor that a module trains.

#include <ostream>
#include <string>

#include "ag/autograd/tensor.h"

namespace ag::nn {

class Module;

/// A leaf tensor that requires grad (unless asked not to) and that modules register, as
/// torch.nn.Parameter. `Parameter(t)` shares t's data, detached from t's graph.
///
/// A module's registered parameter keeps its shape: assigning a new Parameter to it checks the
/// shape and replaces the registered tensor, so the module, its state_dict and its forward all
/// see the new one (an empty slot, such as the bias of `Linear(LinearOptions(3, 5).bias(false))`,
/// accepts any shape). A plain Tensor cannot be assigned, as in PyTorch.
///
///     nn::Linear lin(3, 5);
///     lin.weight = nn::Parameter(ag::rand({5, 3}));   // fine: forward uses it
///     lin.weight = nn::Parameter(ag::rand({3, 5}));   // std::invalid_argument: expected [5, 3]
class Parameter : public Tensor {
 public:
  Parameter() = default;
  /// Shares `data`'s elements as a new leaf; `requires_grad` false gives a frozen parameter.
  explicit Parameter(const Tensor& data, bool requires_grad = true);

  /// A copy is a free Parameter handle to the same tensor (not bound to any module).
  Parameter(const Parameter& other) : Tensor(other) {}
  Parameter(Parameter&& other) noexcept : Tensor(std::move(other)) {}
  /// Replaces the tensor; when this is a module's registered parameter, the shapes must match.
  Parameter& operator=(const Parameter& other);
  Parameter& operator=(Parameter&& other);

 private:
  friend class Module;
  void check_assignable(const Parameter& other) const;

  // Set for the Parameter a module owns in its registry: who to name in errors.
  const Module* owner_ = nullptr;
  const std::string* name_ = nullptr;
};

/// Prints "Parameter containing:" and the tensor, as PyTorch.
std::ostream& operator<<(std::ostream& os, const Parameter& p);

}  // namespace ag::nn
