#include "ag/optim/adagrad.h"

#include <cmath>

#include "ag/autograd/error.h"
#include "ag/autograd/grad_mode.h"
#include "ag/autograd/ops.h"

namespace ag::optim {

void AdagradOptions::validate(const std::string& optimizer) const {
  AG_CHECK(lr_ >= 0, optimizer, ": invalid learning rate ", lr_, " (expected lr >= 0)");
  AG_CHECK(lr_decay_ >= 0, optimizer, ": invalid lr_decay ", lr_decay_, " (expected lr_decay >= 0)");
  AG_CHECK(weight_decay_ >= 0, optimizer, ": invalid weight_decay ", weight_decay_, " (expected weight_decay >= 0)");
  AG_CHECK(initial_accumulator_value_ >= 0, optimizer, ": invalid initial_accumulator_value ",
           initial_accumulator_value_, " (expected initial_accumulator_value >= 0)");
  AG_CHECK(eps_ >= 0, optimizer, ": invalid eps ", eps_, " (expected eps >= 0)");
}

void AdagradOptions::save(StateDict& dict, const std::string& prefix) const {
  dict.scalars.insert(prefix + "lr", lr_);
  dict.scalars.insert(prefix + "lr_decay", lr_decay_);
  dict.scalars.insert(prefix + "weight_decay", weight_decay_);
  dict.scalars.insert(prefix + "initial_accumulator_value", initial_accumulator_value_);
  dict.scalars.insert(prefix + "eps", eps_);
  dict.scalars.insert(prefix + "maximize", maximize_);
}

void AdagradOptions::load(StateDictReader& reader, const std::string& prefix) {
  lr_ = reader.scalar(prefix + "lr");
  lr_decay_ = reader.scalar(prefix + "lr_decay");
  weight_decay_ = reader.scalar(prefix + "weight_decay");
  initial_accumulator_value_ = reader.scalar(prefix + "initial_accumulator_value");
  eps_ = reader.scalar(prefix + "eps");
  maximize_ = reader.flag(prefix + "maximize");
}

void AdagradParamState::save(StateDict& dict, const std::string& prefix) const {
  dict.scalars.insert(prefix + "step", static_cast<double>(step));
  dict.tensors.insert(prefix + "sum", sum.clone());
}

Adagrad::Adagrad(const std::vector<Tensor>& params, const AdagradOptions& defaults)
    : Adagrad(std::vector<ParamGroup>{ParamGroup(params)}, defaults) {}

Adagrad::Adagrad(const std::vector<ParamGroup>& groups, const AdagradOptions& defaults)
    : Optimizer(groups, defaults.clone(), "Adagrad") {}

std::unique_ptr<OptimizerParamState> Adagrad::load_param_state(StateDictReader& reader, const std::string& prefix,
                                                               const Tensor& param) const {
  if (!reader.has_scalar(prefix + "step")) return nullptr;
  auto state = std::make_unique<AdagradParamState>();
  state->step = reader.integer(prefix + "step");
  state->sum = reader.tensor(prefix + "sum", param);
  return state;
}

namespace {

/// Dense: sum += g * g; p += (-clr * g) / (sqrt(sum) + eps), in PyTorch's order (addcmul_,
/// sqrt().add_(eps), addcdiv_).
template <class T>
void adagrad_dense(T* p, T* sum, const T* grad, const T* decay_p, std::int64_t n, T sign, T weight_decay,
                   T eps, T neg_clr) {
  for (std::int64_t i = 0; i < n; ++i) {
    T g = sign * grad[i];
    if (decay_p) g = g + weight_decay * decay_p[i];  // p[i] read before it is written
    sum[i] = sum[i] + g * g;
    const T std_i = std::sqrt(sum[i]) + eps;
    p[i] = p[i] + neg_clr * g / std_i;
  }
}

/// Sparse, on a coalesced gradient: the same for the rows it holds.
template <class T>
void adagrad_rows(T* p, T* sum, const std::int64_t* rows, const T* g, std::int64_t nnz, std::int64_t width, T sign,
                  T eps, T neg_clr) {
  for (std::int64_t k = 0; k < nnz; ++k)
    for (std::int64_t i = 0; i < width; ++i) {
      const std::int64_t j = rows[k] * width + i;
      const T gi = sign * g[k * width + i];
      sum[j] = sum[j] + gi * gi;
      const T std_j = std::sqrt(sum[j]) + eps;
      p[j] = p[j] + neg_clr * (gi / std_j);
    }
}

}  // namespace

Tensor Adagrad::step(const LossClosure& closure) {
  Tensor loss;
  if (closure) {
    AutoGradMode grad_on(true);
    loss = closure();
  }
  NoGradGuard no_grad;
  for (const ParamGroup& group : param_groups()) {
    const AdagradOptions& o = options_of<AdagradOptions>(group);
    for (const Tensor& p : group.params()) {
      const Tensor& grad = p.grad();
      if (!grad.defined()) continue;
      check_grad(p, grad);
      AG_CHECK(!(grad.is_sparse() && o.weight_decay() != 0), "Adagrad.step: weight_decay ", o.weight_decay(),
               " cannot be used with the sparse gradient of a parameter of shape ", p.shape(),
               " (it would touch every row); set it to 0 for this group");
      AdagradParamState& s = state_for<AdagradParamState>(p, [&] {
        auto fresh = std::make_unique<AdagradParamState>();
        fresh->sum = full(p.shape(), o.initial_accumulator_value(), p.dtype());
        return fresh;
      });
      s.step += 1;
      const double clr = o.lr() / (1 + static_cast<double>(s.step - 1) * o.lr_decay());
      Tensor flat_p = p.is_contiguous() ? p : p.contiguous();
      dispatch_floating(p.dtype(), "Adagrad.step", [&](auto tag) {
        using T = typename decltype(tag)::type;
        const T sign = o.maximize() ? T(-1) : T(1), eps = static_cast<T>(o.eps()), neg_clr = static_cast<T>(-clr);
        if (grad.is_sparse()) {
          const Tensor g = grad.coalesce();  // the update is not linear: repeated rows are summed first
          const Tensor rows = g.indices().reshape({g._nnz()}).contiguous();
          const Tensor values = g.values().contiguous();
          const std::int64_t width = p.dim() == 0 || p.size(0) == 0 ? 0 : p.numel() / p.size(0);
          adagrad_rows<T>(flat_p.data_ptr<T>(), s.sum.data_ptr<T>(), rows.data_ptr<std::int64_t>(),
                          values.data_ptr<T>(), g._nnz(), width, sign, eps, neg_clr);
        } else {
          const Tensor g = grad.contiguous();
          T* pp = flat_p.data_ptr<T>();
          adagrad_dense<T>(pp, s.sum.data_ptr<T>(), g.data_ptr<T>(), o.weight_decay() != 0 ? pp : nullptr, p.numel(), sign,
                           static_cast<T>(o.weight_decay()), eps, neg_clr);
        }
      });
      if (!flat_p.is_same(p)) Tensor(p).copy_(flat_p);
      p.mark_modified();
    }
  }
  return loss;
}

}  // namespace ag::optim
