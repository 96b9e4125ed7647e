#pragma once
// Adam and AdamW with PyTorch 1.13's update equations (its single-tensor implementation).

#include <cstdint>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "ag/optim/optimizer.h"

namespace ag::optim {

/// The hyper-parameters Adam and AdamW share, read through getters; AdamOptions and AdamWOptions
/// add the chaining setters and their own defaults.
///
///     const auto& o = static_cast<const ag::optim::AdamOptionsBase&>(adam.param_groups()[0].options());
///     auto [beta1, beta2] = o.betas();
class AdamOptionsBase : public OptimizerOptions {
 public:
  double lr() const { return lr_; }
  std::tuple<double, double> betas() const { return {beta1_, beta2_}; }
  double eps() const { return eps_; }
  double weight_decay() const { return weight_decay_; }
  bool amsgrad() const { return amsgrad_; }
  bool maximize() const { return maximize_; }

  double get_lr() const override { return lr_; }
  void set_lr(double lr) override { lr_ = lr; }
  void validate(const std::string& optimizer) const override;
  void save(StateDict& dict, const std::string& prefix) const override;
  void load(StateDictReader& reader, const std::string& prefix) override;

 protected:
  AdamOptionsBase(double lr, double weight_decay) : lr_(lr), weight_decay_(weight_decay) {}

  double lr_;
  double beta1_ = 0.9;
  double beta2_ = 0.999;
  double eps_ = 1e-8;
  double weight_decay_;
  bool amsgrad_ = false;
  bool maximize_ = false;
};

namespace detail {

/// Chaining setters that return the concrete options type (AdamOptions or AdamWOptions).
template <class Derived>
class AdamSetters : public AdamOptionsBase {
 public:
  using AdamOptionsBase::amsgrad;
  using AdamOptionsBase::betas;
  using AdamOptionsBase::eps;
  using AdamOptionsBase::lr;
  using AdamOptionsBase::maximize;
  using AdamOptionsBase::weight_decay;

  Derived& lr(double v) { lr_ = v; return self(); }
  Derived& betas(std::tuple<double, double> v) { std::tie(beta1_, beta2_) = v; return self(); }
  Derived& betas(double beta1, double beta2) { beta1_ = beta1; beta2_ = beta2; return self(); }
  Derived& eps(double v) { eps_ = v; return self(); }
  Derived& weight_decay(double v) { weight_decay_ = v; return self(); }
  Derived& amsgrad(bool v) { amsgrad_ = v; return self(); }
  Derived& maximize(bool v) { maximize_ = v; return self(); }

  std::unique_ptr<OptimizerOptions> clone() const override {
    return std::make_unique<Derived>(static_cast<const Derived&>(*this));
  }

 protected:
  using AdamOptionsBase::AdamOptionsBase;

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
};

}  // namespace detail

/// Adam's hyper-parameters, with PyTorch's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8,
/// weight_decay 0 (an L2 term added to the gradient), amsgrad and maximize off.
///
///     ag::optim::AdamOptions(0.01).betas({0.8, 0.99}).amsgrad(true)
class AdamOptions : public detail::AdamSetters<AdamOptions> {
 public:
  explicit AdamOptions(double lr = 1e-3) : AdamSetters(lr, 0.0) {}
};

/// AdamW's hyper-parameters: Adam's, but weight_decay defaults to 1e-2 and decays the weights
/// directly instead of adding to the gradient.
///
///     ag::optim::AdamWOptions(1e-3).weight_decay(0.05)
class AdamWOptions : public detail::AdamSetters<AdamWOptions> {
 public:
  explicit AdamWOptions(double lr = 1e-3) : AdamSetters(lr, 1e-2) {}
};

/// Adam's state for one parameter: the step count and the moment estimates.
///
///     static_cast<ag::optim::AdamParamState*>(adam.state(weight))->exp_avg_sq;
struct AdamParamState : OptimizerParamState {
  std::int64_t step = 0;
  Tensor exp_avg;         // m, the running mean of the gradient
  Tensor exp_avg_sq;      // v, the running mean of its square
  Tensor max_exp_avg_sq;  // the largest v so far (amsgrad only)

  void save(StateDict& dict, const std::string& prefix) const override;
};

/// Adam (Kingma & Ba). For each parameter p with gradient grad, at step t (PyTorch 1.13's update):
///
///     g = maximize ? -grad : grad
///     g = g + weight_decay * p                                 (Adam only)
///     m = beta1 * m + (1 - beta1) * g
///     v = beta2 * v + (1 - beta2) * g * g
///     vmax = max(vmax, v)                                      (amsgrad only; then v := vmax below)
///     denom = sqrt(v) / sqrt(1 - beta2^t) + eps                (the bias corrections)
///     p = p - lr / (1 - beta1^t) * m / denom
///
/// The update runs as one vectorised pass per parameter, over float32 or float64.
///
///     ag::optim::Adam opt(model->parameters(), ag::optim::AdamOptions(0.05));
class Adam : public Optimizer {
 public:
  Adam(const std::vector<Tensor>& params, const AdamOptions& defaults = AdamOptions());
  Adam(const std::vector<ParamGroup>& groups, const AdamOptions& defaults = AdamOptions());

  Tensor step(const LossClosure& closure = nullptr) override;

 protected:
  Adam(const std::vector<ParamGroup>& groups, std::unique_ptr<OptimizerOptions> defaults, std::string name,
       bool decoupled_weight_decay);

  std::unique_ptr<OptimizerParamState> load_param_state(StateDictReader& reader, const std::string& prefix,
                                                        const Tensor& param) const override;

 private:
  bool decoupled_weight_decay_ = false;
};

/// AdamW (Loshchilov & Hutter): Adam whose weight decay shrinks the weights first,
/// `p = p * (1 - lr * weight_decay)`, and adds nothing to the gradient.
///
///     ag::optim::AdamW opt(model->parameters(), ag::optim::AdamWOptions(1e-3).weight_decay(0.01));
class AdamW : public Adam {
 public:
  AdamW(const std::vector<Tensor>& params, const AdamWOptions& defaults = AdamWOptions());
  AdamW(const std::vector<ParamGroup>& groups, const AdamWOptions& defaults = AdamWOptions());
};

}  // namespace ag::optim
