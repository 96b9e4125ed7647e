#pragma once
// Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay,
// with PyTorch 1.13's update equations.

#include <memory>
#include <string>
#include <vector>

#include "ag/optim/optimizer.h"

namespace ag::optim {

/// SGD's hyper-parameters, with PyTorch's defaults (the learning rate has none).
///
///     ag::optim::SGDOptions(0.1).momentum(0.9).nesterov(true).weight_decay(1e-4)
class SGDOptions : public OptimizerOptions {
 public:
  explicit SGDOptions(double lr) : lr_(lr) {}

  SGDOptions& lr(double v) { lr_ = v; return *this; }
  SGDOptions& momentum(double v) { momentum_ = v; return *this; }
  SGDOptions& dampening(double v) { dampening_ = v; return *this; }
  SGDOptions& weight_decay(double v) { weight_decay_ = v; return *this; }
  SGDOptions& nesterov(bool v) { nesterov_ = v; return *this; }
  SGDOptions& maximize(bool v) { maximize_ = v; return *this; }
  double lr() const { return lr_; }
  double momentum() const { return momentum_; }
  double dampening() const { return dampening_; }
  double weight_decay() const { return weight_decay_; }
  bool nesterov() const { return nesterov_; }
  bool maximize() const { return maximize_; }

  std::unique_ptr<OptimizerOptions> clone() const override { return std::make_unique<SGDOptions>(*this); }
  double get_lr() const override { return lr_; }
  void set_lr(double lr) override { lr_ = lr; }
  void validate(const std::string& optimizer) const override;
  void save(StateDict& dict, const std::string& prefix) const override;
  void load(StateDictReader& reader, const std::string& prefix) override;

 private:
  double lr_;
  double momentum_ = 0;
  double dampening_ = 0;
  double weight_decay_ = 0;
  bool nesterov_ = false;
  bool maximize_ = false;
};

/// SGD's state for one parameter: the momentum buffer (only kept when momentum is nonzero).
///
///     static_cast<ag::optim::SGDParamState*>(sgd.state(weight))->momentum_buffer;
struct SGDParamState : OptimizerParamState {
  Tensor momentum_buffer;

  void save(StateDict& dict, const std::string& prefix) const override;
};

/// Stochastic gradient descent. For each parameter p with gradient grad (PyTorch 1.13's update):
///
///     g = maximize ? -grad : grad
///     g = g + weight_decay * p
///     buf = first step ? g : momentum * buf + (1 - dampening) * g     (when momentum != 0)
///     g = nesterov ? g + momentum * buf : buf
///     p = p - lr * g
///
/// A sparse gradient (Embedding with sparse(true)) moves only the rows it holds and those in its
/// sparse momentum buffer, as PyTorch's SGD; weight decay is refused with it.
///
///     ag::optim::SGD opt(model->parameters(), ag::optim::SGDOptions(0.01).momentum(0.9));
class SGD : public Optimizer {
 public:
  SGD(const std::vector<Tensor>& params, const SGDOptions& defaults);
  SGD(const std::vector<ParamGroup>& groups, const SGDOptions& defaults);

  Tensor step(const LossClosure& closure = nullptr) override;

 protected:
  std::unique_ptr<OptimizerParamState> load_param_state(StateDictReader& reader, const std::string& prefix,
                                                        const Tensor& param) const override;

 private:
  void sparse_step(const Tensor& p, const Tensor& grad, const SGDOptions& o);
};

}  // namespace ag::optim
