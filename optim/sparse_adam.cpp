#include "ag/optim/sparse_adam.h"

#include <algorithm>
#include <cmath>

#include "ag/autograd/error.h"
#include "ag/autograd/grad_mode.h"
#include "ag/autograd/ops.h"

#include <xsimd/xsimd.hpp>

namespace ag::optim {

void SparseAdamOptions::validate(const std::string& optimizer) const {
  AG_CHECK(lr_ > 0, optimizer, ": invalid learning rate ", lr_, " (expected lr > 0)");
  AG_CHECK(eps_ > 0, optimizer, ": invalid eps ", eps_, " (expected eps > 0)");
  AG_CHECK(beta1_ >= 0 && beta1_ < 1, optimizer, ": invalid beta1 ", beta1_, " (expected 0 <= beta1 < 1)");
  AG_CHECK(beta2_ >= 0 && beta2_ < 1, optimizer, ": invalid beta2 ", beta2_, " (expected 0 <= beta2 < 1)");
}

void SparseAdamOptions::save(StateDict& dict, const std::string& prefix) const {
  dict.scalars.insert(prefix + "lr", lr_);
  dict.scalars.insert(prefix + "beta1", beta1_);
  dict.scalars.insert(prefix + "beta2", beta2_);
  dict.scalars.insert(prefix + "eps", eps_);
  dict.scalars.insert(prefix + "maximize", maximize_);
}

void SparseAdamOptions::load(StateDictReader& reader, const std::string& prefix) {
  lr_ = reader.scalar(prefix + "lr");
  beta1_ = reader.scalar(prefix + "beta1");
  beta2_ = reader.scalar(prefix + "beta2");
  eps_ = reader.scalar(prefix + "eps");
  maximize_ = reader.flag(prefix + "maximize");
}

SparseAdam::SparseAdam(const std::vector<Tensor>& params, const SparseAdamOptions& defaults)
    : SparseAdam(std::vector<ParamGroup>{ParamGroup(params)}, defaults) {}

SparseAdam::SparseAdam(const std::vector<ParamGroup>& groups, const SparseAdamOptions& defaults)
    : Optimizer(groups, defaults.clone(), "SparseAdam") {}

std::unique_ptr<OptimizerParamState> SparseAdam::load_param_state(StateDictReader& reader, const std::string& prefix,
                                                                  const Tensor& param) const {
  if (!reader.has_scalar(prefix + "step")) return nullptr;
  auto state = std::make_unique<AdamParamState>();
  state->step = reader.integer(prefix + "step");
  state->exp_avg = reader.tensor(prefix + "exp_avg", param);
  state->exp_avg_sq = reader.tensor(prefix + "exp_avg_sq", param);
  return state;
}

namespace {

template <class T>
struct SparseAdamCoefficients {
  T sign, one_minus_beta1, one_minus_beta2, eps, neg_step_size;
};

/// One element, or one SIMD batch of elements (V = T or xsimd::batch<T>): PyTorch's operations
/// in its order, so that batches and the tail round alike.
template <class V, class T>
inline void sparse_adam_update(V& p, V g, V& m, V& v, const SparseAdamCoefficients<T>& c) {
  using std::sqrt;
  g = c.sign * g;
  const V m_update = (g - m) * c.one_minus_beta1;
  const V v_update = (g * g - v) * c.one_minus_beta2;
  const V numer = m_update + m;
  const V denom = sqrt(v_update + v) + c.eps;
  m = m + m_update;
  v = v + v_update;
  p = p + c.neg_step_size * (numer / denom);
}

/// The rows of one coalesced gradient. The SIMD batches are spelled out (GCC does not vectorise
/// std::sqrt under -fmath-errno), and the rows kAhead rows on are prefetched: in a table of a
/// million rows each row of p, m and v is a cache miss, which takes longer than a row's update.
constexpr std::int64_t kAhead = 4;

template <class T>
void sparse_adam_rows(T* p, T* m, T* v, const std::int64_t* rows, const T* g, std::int64_t nnz, std::int64_t width,
                      const SparseAdamCoefficients<T>& c) {
  for (std::int64_t k = 0; k < nnz; ++k) {
    if (k + kAhead < nnz) {
      const std::int64_t next = rows[k + kAhead] * width;
      for (std::int64_t i = 0; i < width; i += 64 / static_cast<std::int64_t>(sizeof(T))) {
        __builtin_prefetch(p + next + i, 1);
        __builtin_prefetch(m + next + i, 1);
        __builtin_prefetch(v + next + i, 1);
      }
    }
    T* pr = p + rows[k] * width;
    T* mr = m + rows[k] * width;
    T* vr = v + rows[k] * width;
    const T* gr = g + k * width;
    std::int64_t i = 0;
#if !defined(XSIMD_NO_SUPPORTED_ARCHITECTURE)
    using B = xsimd::batch<T>;
    constexpr auto lanes = static_cast<std::int64_t>(B::size);
    for (; i + lanes <= width; i += lanes) {
      B pb = B::load_unaligned(pr + i), mb = B::load_unaligned(mr + i), vb = B::load_unaligned(vr + i);
      sparse_adam_update(pb, B::load_unaligned(gr + i), mb, vb, c);
      pb.store_unaligned(pr + i);
      mb.store_unaligned(mr + i);
      vb.store_unaligned(vr + i);
    }
#endif
    for (; i < width; ++i) sparse_adam_update(pr[i], gr[i], mr[i], vr[i], c);
  }
}

}  // namespace

Tensor SparseAdam::step(const LossClosure& closure) {
  Tensor loss;
  if (closure) {
    AutoGradMode grad_on(true);
    loss = closure();
  }
  NoGradGuard no_grad;
  for (const ParamGroup& group : param_groups()) {
    const SparseAdamOptions& o = options_of<SparseAdamOptions>(group);
    const double beta1 = std::get<0>(o.betas()), beta2 = std::get<1>(o.betas());
    for (const Tensor& p : group.params()) {
      const Tensor& grad = p.grad();
      if (!grad.defined()) continue;
      check_grad(p, grad);
      AG_CHECK(grad.is_sparse(), "SparseAdam.step: the parameter of shape ", p.shape(), " has a dense gradient; "
               "SparseAdam updates sparse gradients only (an Embedding with sparse(true)): optimize it with Adam");
      AG_CHECK(p.dim() >= 1, "SparseAdam.step: a 0-dimensional parameter cannot have sparse gradients");
      AdamParamState& s = state_for<AdamParamState>(p, [&] {
        auto fresh = std::make_unique<AdamParamState>();
        fresh->exp_avg = zeros_like(p);
        fresh->exp_avg_sq = zeros_like(p);
        return fresh;
      });
      s.step += 1;
      const Tensor g = grad.coalesce();  // the update is not linear: repeated rows are summed first
      const Tensor rows = g.indices().reshape({g._nnz()}).contiguous();
      const Tensor values = g.values().contiguous();
      const double bias_correction1 = 1 - std::pow(beta1, static_cast<double>(s.step));
      const double bias_correction2 = 1 - std::pow(beta2, static_cast<double>(s.step));
      const double step_size = o.lr() * std::sqrt(bias_correction2) / bias_correction1;
      Tensor flat_p = p.is_contiguous() ? p : p.contiguous();
      dispatch_floating(p.dtype(), "SparseAdam.step", [&](auto tag) {
        using T = typename decltype(tag)::type;
        const SparseAdamCoefficients<T> c{o.maximize() ? T(-1) : T(1), static_cast<T>(1 - beta1),
                                          static_cast<T>(1 - beta2), static_cast<T>(o.eps()),
                                          static_cast<T>(-step_size)};
        const std::int64_t width = p.size(0) == 0 ? 0 : p.numel() / p.size(0);
        sparse_adam_rows<T>(flat_p.data_ptr<T>(), s.exp_avg.data_ptr<T>(), s.exp_avg_sq.data_ptr<T>(),
                            rows.data_ptr<std::int64_t>(), values.data_ptr<T>(), g._nnz(), width, c);
      });
      if (!flat_p.is_same(p)) Tensor(p).copy_(flat_p);
      p.mark_modified();
    }
  }
  return loss;
}

}  // namespace ag::optim
