#pragma once
// SparseAdam: Adam for parameters whose gradients are sparse (an Embedding with sparse(true)),
// with PyTorch 1.13's lazy update: only the rows present in a step's gradient change, both in the
// parameter and in its moment estimates, so a step costs what the batch costs.

#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "ag/optim/adam.h"
#include "ag/optim/optimizer.h"

namespace ag::optim {

/// SparseAdam's hyper-parameters, with PyTorch's defaults.
///
///     ag::optim::SparseAdamOptions(1e-3).betas(0.9, 0.999).eps(1e-8)
class SparseAdamOptions : public OptimizerOptions {
 public:
  explicit SparseAdamOptions(double lr = 1e-3) : lr_(lr) {}

  SparseAdamOptions& lr(double v) { lr_ = v; return *this; }
  SparseAdamOptions& betas(std::tuple<double, double> v) { std::tie(beta1_, beta2_) = v; return *this; }
  SparseAdamOptions& betas(double beta1, double beta2) { beta1_ = beta1; beta2_ = beta2; return *this; }
  SparseAdamOptions& eps(double v) { eps_ = v; return *this; }
  SparseAdamOptions& maximize(bool v) { maximize_ = v; return *this; }
  double lr() const { return lr_; }
  std::tuple<double, double> betas() const { return {beta1_, beta2_}; }
  double eps() const { return eps_; }
  bool maximize() const { return maximize_; }

  std::unique_ptr<OptimizerOptions> clone() const override { return std::make_unique<SparseAdamOptions>(*this); }
  double get_lr() const override { return lr_; }
  void set_lr(double lr) override { lr_ = lr; }
  void validate(const std::string& optimizer) const override;
  void save(StateDict& dict, const std::string& prefix) const override;
  void load(StateDictReader& reader, const std::string& prefix) override;

 private:
  double lr_;
  double beta1_ = 0.9;
  double beta2_ = 0.999;
  double eps_ = 1e-8;
  bool maximize_ = false;
};

/// Adam restricted to the rows of each sparse gradient (PyTorch 1.13's SparseAdam). With the
/// gradient coalesced (repeated rows summed), for each row r it holds, at the parameter's step t:
///
///     g = maximize ? -grad[r] : grad[r]
///     m[r] = m[r] + (1 - beta1) * (g - m[r])
///     v[r] = v[r] + (1 - beta2) * (g * g - v[r])
///     p[r] = p[r] - lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m[r] / (sqrt(v[r]) + eps)
///
/// Rows absent from the gradient keep their m and v (the "lazy" update: unlike Adam, their
/// averages do not decay). The state is AdamParamState (step, exp_avg, exp_avg_sq). Dense
/// gradients are refused: use Adam for them.
///
///     auto emb = ag::nn::Embedding(ag::nn::EmbeddingOptions(50000, 64).sparse(true));
///     ag::optim::SparseAdam opt(emb->parameters(), ag::optim::SparseAdamOptions(1e-3));
class SparseAdam : public Optimizer {
 public:
  SparseAdam(const std::vector<Tensor>& params, const SparseAdamOptions& defaults = SparseAdamOptions());
  SparseAdam(const std::vector<ParamGroup>& groups, const SparseAdamOptions& defaults = SparseAdamOptions());

  Tensor step(const LossClosure& closure = nullptr) override;

 protected:
  std::unique_ptr<OptimizerParamState> load_param_state(StateDictReader& reader, const std::string& prefix,
                                                        const Tensor& param) const override;
};

}  // namespace ag::optim
