#include "ag/optim/sgd.h"

#include "ag/autograd/error.h"
#include "ag/autograd/grad_mode.h"
#include "ag/autograd/parallel.h"
#include "ag/autograd/ops.h"
#include "simd/simd.h"

namespace ag::optim {

void SGDOptions::validate(const std::string& optimizer) const {
  AG_CHECK(lr_ >= 0, optimizer, ": invalid learning rate ", lr_, " (expected lr >= 0)");
  AG_CHECK(momentum_ >= 0, optimizer, ": invalid momentum ", momentum_, " (expected momentum >= 0)");
  AG_CHECK(weight_decay_ >= 0, optimizer, ": invalid weight_decay ", weight_decay_, " (expected weight_decay >= 0)");
  AG_CHECK(!nesterov_ || (momentum_ > 0 && dampening_ == 0), optimizer,
           ": nesterov momentum requires momentum > 0 and dampening 0, got momentum ", momentum_, " and dampening ",
           dampening_);
}

void SGDOptions::save(StateDict& dict, const std::string& prefix) const {
  dict.scalars.insert(prefix + "lr", lr_);
  dict.scalars.insert(prefix + "momentum", momentum_);
  dict.scalars.insert(prefix + "dampening", dampening_);
  dict.scalars.insert(prefix + "weight_decay", weight_decay_);
  dict.scalars.insert(prefix + "nesterov", nesterov_);
  dict.scalars.insert(prefix + "maximize", maximize_);
}

void SGDOptions::load(StateDictReader& reader, const std::string& prefix) {
  lr_ = reader.scalar(prefix + "lr");
  momentum_ = reader.scalar(prefix + "momentum");
  dampening_ = reader.scalar(prefix + "dampening");
  weight_decay_ = reader.scalar(prefix + "weight_decay");
  nesterov_ = reader.flag(prefix + "nesterov");
  maximize_ = reader.flag(prefix + "maximize");
}

void SGDParamState::save(StateDict& dict, const std::string& prefix) const {
  write_state_tensor(dict, prefix + "momentum_buffer", momentum_buffer);
}

SGD::SGD(const std::vector<Tensor>& params, const SGDOptions& defaults)
    : SGD(std::vector<ParamGroup>{ParamGroup(params)}, defaults) {}

SGD::SGD(const std::vector<ParamGroup>& groups, const SGDOptions& defaults)
    : Optimizer(groups, defaults.clone(), "SGD") {}

std::unique_ptr<OptimizerParamState> SGD::load_param_state(StateDictReader& reader, const std::string& prefix,
                                                           const Tensor& param) const {
  if (!reader.has_state_tensor(prefix + "momentum_buffer")) return nullptr;
  auto state = std::make_unique<SGDParamState>();
  state->momentum_buffer = reader.state_tensor(prefix + "momentum_buffer", param);
  return state;
}

namespace {

using detail::SGDCoefficients;

template <class T>
void sgd_step(const Tensor& param, const Tensor& grad, T* buf, bool first, const SGDOptions& o) {
  const SGDCoefficients<T> c{o.maximize() ? T(-1) : T(1), static_cast<T>(o.weight_decay()),
                             static_cast<T>(o.momentum()), static_cast<T>(1 - o.dampening()),
                             static_cast<T>(-o.lr())};
  T* p = param.data_ptr<T>();
  const T* g = grad.data_ptr<T>();
  const std::int64_t n = param.numel();
  // Split across ag's threads for a big parameter: each element's update is the same on any
  // thread and on any instruction set (simd/simd.h), so the result does not depend on either.
  const detail::SGDTerms terms{o.weight_decay() != 0, o.momentum() != 0, first, o.nesterov()};
  const Isa isa = kernel_isa();
  parallel_for(0, n, kGrainSize, [&](std::int64_t lo, std::int64_t hi) {
    detail::sgd_pass(isa, c, terms, p + lo, g + lo, buf ? buf + lo : nullptr, hi - lo);
  });
}

}  // namespace

/// A sparse gradient (an Embedding's rows) with PyTorch's equations: the momentum buffer is
/// sparse too, holding the rows seen so far (kept coalesced), and only those rows move.
void SGD::sparse_step(const Tensor& p, const Tensor& grad, const SGDOptions& o) {
  AG_CHECK(o.weight_decay() == 0, "SGD.step: weight_decay ", o.weight_decay(), " cannot be used with the sparse "
           "gradient of a parameter of shape ", p.shape(), " (it would touch every row); set it to 0 for this group");
  Tensor d_p = o.maximize() ? -grad : grad;
  if (o.momentum() != 0) {
    SGDParamState& s = state_for<SGDParamState>(p, [] { return std::make_unique<SGDParamState>(); });
    if (!s.momentum_buffer.defined()) {
      s.momentum_buffer = d_p.coalesce().clone();
    } else if (s.momentum_buffer.is_sparse()) {
      s.momentum_buffer = (s.momentum_buffer * o.momentum() + d_p * (1 - o.dampening())).coalesce();
    } else {  // a dense buffer (from a dense step or a checkpoint) stays dense
      s.momentum_buffer.mul_(o.momentum()).add_(d_p, 1 - o.dampening());
    }
    d_p = o.nesterov() ? d_p + s.momentum_buffer * o.momentum() : s.momentum_buffer;
  }
  Tensor(p).add_(d_p, -o.lr());
}

Tensor SGD::step(const LossClosure& closure) {
  Tensor loss;
  if (closure) {
    AutoGradMode grad_on(true);
    loss = closure();
  }
  NoGradGuard no_grad;
  for (const ParamGroup& group : param_groups()) {
    const SGDOptions& o = options_of<SGDOptions>(group);
    for (const Tensor& p : group.params()) {
      const Tensor& grad = p.grad();
      if (!grad.defined()) continue;
      check_grad(p, grad);
      if (grad.is_sparse()) {
        sparse_step(p, grad, o);
        continue;
      }
      Tensor buf;
      bool first = false;
      if (o.momentum() != 0) {
        SGDParamState& s = state_for<SGDParamState>(p, [] { return std::make_unique<SGDParamState>(); });
        first = !s.momentum_buffer.defined();
        if (first) s.momentum_buffer = empty_like(p);  // the first step copies g into it
        buf = s.momentum_buffer;
      }
      // One flat loop over parameter, gradient and buffer (all contiguous); a strided parameter or
      // gradient goes through contiguous copies.
      Tensor flat_p = p.is_contiguous() ? p : p.contiguous();
      dispatch_floating(p.dtype(), "SGD.step", [&](auto tag) {
        using T = typename decltype(tag)::type;
        sgd_step<T>(flat_p, grad.contiguous(), buf.defined() ? buf.data_ptr<T>() : nullptr, first, o);
      });
      if (!flat_p.is_same(p)) Tensor(p).copy_(flat_p);
      p.mark_modified();
    }
  }
  return loss;
}

}  // namespace ag::optim
