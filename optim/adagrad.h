#pragma once
// Adagrad with PyTorch 1.13's update equations, for dense and sparse gradients.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ag/optim/optimizer.h"

namespace ag::optim {

/// Adagrad's hyper-parameters, with PyTorch's defaults.
///
///     ag::optim::AdagradOptions(0.01).lr_decay(1e-4).initial_accumulator_value(0.1)
class AdagradOptions : public OptimizerOptions {
 public:
  explicit AdagradOptions(double lr = 1e-2) : lr_(lr) {}

  AdagradOptions& lr(double v) { lr_ = v; return *this; }
  AdagradOptions& lr_decay(double v) { lr_decay_ = v; return *this; }
  AdagradOptions& weight_decay(double v) { weight_decay_ = v; return *this; }
  AdagradOptions& initial_accumulator_value(double v) { initial_accumulator_value_ = v; return *this; }
  AdagradOptions& eps(double v) { eps_ = v; return *this; }
  AdagradOptions& maximize(bool v) { maximize_ = v; return *this; }
  double lr() const { return lr_; }
  double lr_decay() const { return lr_decay_; }
  double weight_decay() const { return weight_decay_; }
  double initial_accumulator_value() const { return initial_accumulator_value_; }
  double eps() const { return eps_; }
  bool maximize() const { return maximize_; }

  std::unique_ptr<OptimizerOptions> clone() const override { return std::make_unique<AdagradOptions>(*this); }
  double get_lr() const override { return lr_; }
  void set_lr(double lr) override { lr_ = lr; }
  void validate(const std::string& optimizer) const override;
  void save(StateDict& dict, const std::string& prefix) const override;
  void load(StateDictReader& reader, const std::string& prefix) override;

 private:
  double lr_;
  double lr_decay_ = 0;
  double weight_decay_ = 0;
  double initial_accumulator_value_ = 0;
  double eps_ = 1e-10;
  bool maximize_ = false;
};

/// Adagrad's state for one parameter: its step count and the running sum of squared gradients.
///
///     static_cast<ag::optim::AdagradParamState*>(adagrad.state(weight))->sum;
struct AdagradParamState : OptimizerParamState {
  std::int64_t step = 0;
  Tensor sum;

  void save(StateDict& dict, const std::string& prefix) const override;
};

/// Adagrad (Duchi et al.). For each parameter p with gradient grad, at step t (PyTorch 1.13):
///
///     g = maximize ? -grad : grad
///     g = g + weight_decay * p                     (dense gradients only)
///     clr = lr / (1 + (t - 1) * lr_decay)
///     sum = sum + g * g
///     p = p - clr * g / (sqrt(sum) + eps)
///
/// A sparse gradient (Embedding with sparse(true)) is coalesced and updates only its rows of sum
/// and p; weight decay is refused with it, as PyTorch does.
///
///     ag::optim::Adagrad opt(model->parameters(), ag::optim::AdagradOptions(0.1));
class Adagrad : public Optimizer {
 public:
  Adagrad(const std::vector<Tensor>& params, const AdagradOptions& defaults = AdagradOptions());
  Adagrad(const std::vector<ParamGroup>& groups, const AdagradOptions& defaults = AdagradOptions());

  Tensor step(const LossClosure& closure = nullptr) override;

 protected:
  std::unique_ptr<OptimizerParamState> load_param_state(StateDictReader& reader, const std::string& prefix,
                                                        const Tensor& param) const override;
};

}  // namespace ag::optim
