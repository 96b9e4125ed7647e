#include "ag/optim/adam.h"

#include <algorithm>
#include <cmath>

#include "ag/autograd/error.h"
#include "ag/autograd/grad_mode.h"
#include "ag/autograd/parallel.h"
#include "simd/simd.h"

namespace ag::optim {

void AdamOptionsBase::validate(const std::string& optimizer) const {
  AG_CHECK(lr_ >= 0, optimizer, ": invalid learning rate ", lr_, " (expected lr >= 0)");
  AG_CHECK(eps_ >= 0, optimizer, ": invalid eps ", eps_, " (expected eps >= 0)");
  AG_CHECK(beta1_ >= 0 && beta1_ < 1, optimizer, ": invalid beta1 ", beta1_, " (expected 0 <= beta1 < 1)");
  AG_CHECK(beta2_ >= 0 && beta2_ < 1, optimizer, ": invalid beta2 ", beta2_, " (expected 0 <= beta2 < 1)");
  AG_CHECK(weight_decay_ >= 0, optimizer, ": invalid weight_decay ", weight_decay_, " (expected weight_decay >= 0)");
}

void AdamOptionsBase::save(StateDict& dict, const std::string& prefix) const {
  dict.scalars.insert(prefix + "lr", lr_);
  dict.scalars.insert(prefix + "beta1", beta1_);
  dict.scalars.insert(prefix + "beta2", beta2_);
  dict.scalars.insert(prefix + "eps", eps_);
  dict.scalars.insert(prefix + "weight_decay", weight_decay_);
  dict.scalars.insert(prefix + "amsgrad", amsgrad_);
  dict.scalars.insert(prefix + "maximize", maximize_);
}

void AdamOptionsBase::load(StateDictReader& reader, const std::string& prefix) {
  lr_ = reader.scalar(prefix + "lr");
  beta1_ = reader.scalar(prefix + "beta1");
  beta2_ = reader.scalar(prefix + "beta2");
  eps_ = reader.scalar(prefix + "eps");
  weight_decay_ = reader.scalar(prefix + "weight_decay");
  amsgrad_ = reader.flag(prefix + "amsgrad");
  maximize_ = reader.flag(prefix + "maximize");
}

void AdamParamState::save(StateDict& dict, const std::string& prefix) const {
  dict.scalars.insert(prefix + "step", static_cast<double>(step));
  dict.tensors.insert(prefix + "exp_avg", exp_avg.clone());
  dict.tensors.insert(prefix + "exp_avg_sq", exp_avg_sq.clone());
  if (max_exp_avg_sq.defined()) dict.tensors.insert(prefix + "max_exp_avg_sq", max_exp_avg_sq.clone());
}

Adam::Adam(const std::vector<Tensor>& params, const AdamOptions& defaults)
    : Adam(std::vector<ParamGroup>{ParamGroup(params)}, defaults) {}

Adam::Adam(const std::vector<ParamGroup>& groups, const AdamOptions& defaults)
    : Adam(groups, defaults.clone(), "Adam", false) {}

Adam::Adam(const std::vector<ParamGroup>& groups, std::unique_ptr<OptimizerOptions> defaults, std::string name,
           bool decoupled_weight_decay)
    : Optimizer(groups, std::move(defaults), std::move(name)), decoupled_weight_decay_(decoupled_weight_decay) {}

AdamW::AdamW(const std::vector<Tensor>& params, const AdamWOptions& defaults)
    : AdamW(std::vector<ParamGroup>{ParamGroup(params)}, defaults) {}

AdamW::AdamW(const std::vector<ParamGroup>& groups, const AdamWOptions& defaults)
    : Adam(groups, defaults.clone(), "AdamW", true) {}

std::unique_ptr<OptimizerParamState> Adam::load_param_state(StateDictReader& reader, const std::string& prefix,
                                                            const Tensor& param) const {
  if (!reader.has_scalar(prefix + "step")) return nullptr;
  auto state = std::make_unique<AdamParamState>();
  state->step = reader.integer(prefix + "step");
  state->exp_avg = reader.tensor(prefix + "exp_avg", param);
  state->exp_avg_sq = reader.tensor(prefix + "exp_avg_sq", param);
  if (reader.has_tensor(prefix + "max_exp_avg_sq"))
    state->max_exp_avg_sq = reader.tensor(prefix + "max_exp_avg_sq", param);
  return state;
}

using detail::AdamCoefficients;

Tensor Adam::step(const LossClosure& closure) {
  Tensor loss;
  if (closure) {
    AutoGradMode grad_on(true);
    loss = closure();
  }
  NoGradGuard no_grad;
  for (const ParamGroup& group : param_groups()) {
    const AdamOptionsBase& o = options_of<AdamOptionsBase>(group);
    const double beta1 = std::get<0>(o.betas()), beta2 = std::get<1>(o.betas());
    const bool l2 = !decoupled_weight_decay_ && o.weight_decay() != 0;
    std::int64_t corrected_step = -1;  // the parameters of a group usually share their step count:
    double bias_correction1 = 0, bias_correction2 = 0;  // the corrections are computed once for it
    for (const Tensor& p : group.params()) {
      const Tensor& grad = p.grad();
      if (!grad.defined()) continue;
      check_grad(p, grad);
      AG_CHECK(!grad.is_sparse(), name(), ".step: the parameter of shape ", p.shape(), " has a sparse gradient (an "
               "Embedding with sparse(true)), which ", name(), " does not support: optimize it with optim::SparseAdam "
               "(or SGD, Adagrad), in a second optimizer if the other parameters stay with ", name());
      AdamParamState& s = state_for<AdamParamState>(p, [&] {
        auto fresh = std::make_unique<AdamParamState>();
        fresh->exp_avg = zeros_like(p);
        fresh->exp_avg_sq = zeros_like(p);
        return fresh;
      });
      if (o.amsgrad() && !s.max_exp_avg_sq.defined()) s.max_exp_avg_sq = zeros_like(p);
      s.step += 1;
      // Bias corrections (Kingma & Ba, section 2): m and v start at zero, so early averages are
      // scaled up by 1 / (1 - beta^t).
      if (s.step != corrected_step) {
        bias_correction1 = 1 - std::pow(beta1, static_cast<double>(s.step));
        bias_correction2 = 1 - std::pow(beta2, static_cast<double>(s.step));
        corrected_step = s.step;
      }
      const double step_size = o.lr() / bias_correction1;
      dispatch_floating(p.dtype(), "Adam.step", [&](auto tag) {
        using T = typename decltype(tag)::type;
        const AdamCoefficients<T> c{
            static_cast<T>(decoupled_weight_decay_ ? 1 - o.lr() * o.weight_decay() : 1.0),
            o.maximize() ? T(-1) : T(1),
            static_cast<T>(o.weight_decay()),
            static_cast<T>(beta1),
            static_cast<T>(1 - beta1),
            static_cast<T>(beta2),
            static_cast<T>(1 - beta2),
            static_cast<T>(std::sqrt(bias_correction2)),
            static_cast<T>(o.eps()),
            static_cast<T>(-step_size)};
        T* vmax = o.amsgrad() ? s.max_exp_avg_sq.data_ptr<T>() : nullptr;
        // One flat loop over parameter, gradient and state (all contiguous); a strided parameter
        // or gradient goes through contiguous copies.
        Tensor flat_p = p.is_contiguous() ? p : p.contiguous(), flat_g = grad.contiguous();
        // Split across ag's threads for a big parameter; an element's update is the same on any
        // thread and on any instruction set (simd/simd.h).
        T *pp = flat_p.data_ptr<T>(), *pm = s.exp_avg.data_ptr<T>(), *pv = s.exp_avg_sq.data_ptr<T>();
        const T* pg = flat_g.data_ptr<T>();
        const detail::AdamTerms terms{l2, o.amsgrad()};
        const Isa isa = kernel_isa();
        parallel_for(0, p.numel(), kGrainSize, [&](std::int64_t lo, std::int64_t hi) {
          detail::adam_pass(isa, c, terms, pp + lo, pg + lo, pm + lo, pv + lo, vmax ? vmax + lo : nullptr, hi - lo);
        });
        if (!flat_p.is_same(p)) Tensor(p).copy_(flat_p);
      });
      p.mark_modified();
    }
  }
  return loss;
}

}  // namespace ag::optim
