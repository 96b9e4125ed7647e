#include "ag/optim/adam.h"

#include <algorithm>
#include <cmath>

#include <xsimd/xsimd.hpp>

#include "ag/autograd/error.h"
#include "ag/autograd/grad_mode.h"
#include "ag/autograd/parallel.h"

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

namespace {

/// The coefficients of one step, rounded to the parameter's precision as PyTorch rounds them;
/// the bias corrections are computed in double first, as Python floats.
template <class T>
struct AdamCoefficients {
  T decay;         // AdamW: 1 - lr * weight_decay; Adam: 1
  T sign;          // -1 to maximize
  T weight_decay;  // Adam's L2 term
  T beta1, one_minus_beta1, beta2, one_minus_beta2;
  T bias_correction2_sqrt, eps, neg_step_size;
};

/// Adam's update of one element, or of one SIMD batch of elements (V = T or xsimd::batch<T>):
/// the same operations in the same order as PyTorch's single-tensor Adam, so batches and the
/// tail round alike. PyTorch's vectorised kernels fuse some multiply-adds; ag does not, so
/// results can differ from PyTorch's in the last bit.
template <bool kL2, bool kAmsgrad, class V, class T>
inline void adam_update(V& p, V g, V& m, V& v, V& vmax, const AdamCoefficients<T>& c) {
  using std::max;
  using std::sqrt;
  p = p * c.decay;
  g = g * c.sign;  // exact: multiplying by +-1 only sets the sign
  if constexpr (kL2) g = g + c.weight_decay * p;
  m = m * c.beta1 + c.one_minus_beta1 * g;
  v = v * c.beta2 + c.one_minus_beta2 * g * g;
  V denom;
  if constexpr (kAmsgrad) {
    vmax = max(vmax, v);
    denom = sqrt(vmax) / c.bias_correction2_sqrt + c.eps;
  } else {
    denom = sqrt(v) / c.bias_correction2_sqrt + c.eps;
  }
  p = p + c.neg_step_size * m / denom;
}

/// One pass over a parameter and its state. The flags are template arguments, so the loop has no
/// branch. The SIMD batches are spelled out because GCC does not vectorise std::sqrt under the
/// default -fmath-errno, and the scalar loop is 4x slower on a 3.2M-parameter embedding.
template <class T, bool kL2, bool kAmsgrad>
void adam_loop(T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict v, T* __restrict vmax,
               std::int64_t n, const AdamCoefficients<T>& c) {
  std::int64_t i = 0;
#if !defined(XSIMD_NO_SUPPORTED_ARCHITECTURE)
  using B = xsimd::batch<T>;
  constexpr auto width = static_cast<std::int64_t>(B::size);
  for (; i + width <= n; i += width) {
    B pb = B::load_unaligned(p + i), mb = B::load_unaligned(m + i), vb = B::load_unaligned(v + i), vmaxb;
    if constexpr (kAmsgrad) vmaxb = B::load_unaligned(vmax + i);
    adam_update<kL2, kAmsgrad>(pb, B::load_unaligned(g + i), mb, vb, vmaxb, c);
    pb.store_unaligned(p + i);
    mb.store_unaligned(m + i);
    vb.store_unaligned(v + i);
    if constexpr (kAmsgrad) vmaxb.store_unaligned(vmax + i);
  }
#endif
  for (; i < n; ++i) {
    T vmaxi = kAmsgrad ? vmax[i] : T(0);
    adam_update<kL2, kAmsgrad>(p[i], g[i], m[i], v[i], vmaxi, c);
    if constexpr (kAmsgrad) vmax[i] = vmaxi;
  }
}

}  // namespace

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
      const double bias_correction1 = 1 - std::pow(beta1, static_cast<double>(s.step));
      const double bias_correction2 = 1 - std::pow(beta2, static_cast<double>(s.step));
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
        detail::dispatch_bool(l2, [&](auto with_l2) {
          detail::dispatch_bool(o.amsgrad(), [&](auto with_amsgrad) {
            // Split across ag's threads for a big parameter; an element's update is the same
            // on any thread (the tail's scalar code rounds as the SIMD batches do).
            T *pp = flat_p.data_ptr<T>(), *pm = s.exp_avg.data_ptr<T>(), *pv = s.exp_avg_sq.data_ptr<T>();
            const T* pg = flat_g.data_ptr<T>();
            parallel_for(0, p.numel(), kGrainSize, [&](std::int64_t lo, std::int64_t hi) {
              adam_loop<T, decltype(with_l2)::value, decltype(with_amsgrad)::value>(
                  pp + lo, pg + lo, pm + lo, pv + lo, vmax ? vmax + lo : nullptr, hi - lo, c);
            });
          });
        });
        if (!flat_p.is_same(p)) Tensor(p).copy_(flat_p);
      });
      p.mark_modified();
    }
  }
  return loss;
}

}  // namespace ag::optim
