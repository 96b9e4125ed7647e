// The softmax family and the losses, with PyTorch's formulas and reductions.
// softmax, log_softmax and the class-index losses (cross_entropy, nll_loss) run as raw loops:
// they sit in every training step. Their backward has two forms: a raw loop when no graph is
// being recorded, and the same formula written with ag's ops under create_graph, so that
// higher derivatives work. mse_loss, l1_loss and binary_cross_entropy_with_logits are composites.

#include <cmath>
#include <limits>
#include <vector>

#include "ag/autograd/node.h"
#include "ag/autograd/ops.h"
#include "ag/autograd/ops/kernels.h"
#include "ag/autograd/ops/vecmath.h"
#include "ag/autograd/tensor_impl.h"

namespace ag {

using detail::data;

namespace {

void check_floating(const Tensor& x, const char* op, const char* what) {
  AG_CHECK(x.defined(), op, ": ", what, " is an undefined tensor");
  AG_CHECK(is_floating(x.dtype()), op, ": ", what, " must be float32 or float64, got int64 of shape ", x.shape(),
           " (convert with to(ag::kFloat32))");
}

/// `t` converted to `dtype` without recording.
Tensor as(const Tensor& t, Dtype dtype) {
  if (t.dtype() == dtype) return t;
  NoGradGuard no_grad;
  return t.to(dtype);
}

/// A tensor seen as lanes along `dim`: lane (a, i) holds the elements a*n*inner + k*inner + i, k < n.
struct Lanes {
  std::int64_t outer = 1, n = 1, inner = 1;
};

Lanes lanes_of(const Shape& s, std::int64_t dim) {
  Lanes l;
  if (s.empty()) return l;
  for (std::int64_t i = 0; i < dim; ++i) l.outer *= s[i];
  l.n = s[dim];
  for (std::size_t i = dim + 1; i < s.size(); ++i) l.inner *= s[i];
  return l;
}

template <std::int64_t N>
using Fixed = std::integral_constant<std::int64_t, N>;

/// Calls f(offset of the lane's first element, lane number, step, n) for every lane: its n
/// elements are `step` = inner apart, lane a * inner + i starts at a * n * inner + i. When lanes
/// are rows (the classes of a batch) the step is a compile-time 1, and so is a length of 2, 3 or
/// 4 (a binary or few-class problem): f's loops then index rows directly and unroll, instead of
/// setting up three loops of two elements per sample.
template <class F>
void for_each_lane(const Lanes& l, F f) {
  if (l.inner == 1) {  // lanes are rows
    auto rows = [&](auto n) {
      for (std::int64_t a = 0; a < l.outer; ++a) f(a * l.n, a, Fixed<1>(), n);
    };
    switch (l.n) {
      case 2: return rows(Fixed<2>());
      case 3: return rows(Fixed<3>());
      case 4: return rows(Fixed<4>());
      default: return rows(l.n);
    }
  }
  for (std::int64_t a = 0; a < l.outer; ++a)
    for (std::int64_t i = 0; i < l.inner; ++i) f(a * l.n * l.inner + i, a * l.inner + i, l.inner, l.n);
}

/// Room for n elements of T: on the stack when few (the rows of a small model's batch), else
/// from the pool.
template <class T>
class Scratch {
 public:
  explicit Scratch(std::int64_t n) {
    if (n > kLocal) {
      heap_.resize(static_cast<std::size_t>(n));
      p_ = heap_.data();
    }
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  T* get() { return p_; }
  T& operator[](std::int64_t i) { return p_[i]; }

 private:
  static constexpr std::int64_t kLocal = 256;
  T local_[kLocal];
  std::vector<T, detail::PoolAllocator<T>> heap_;
  T* p_ = local_;
};

/// e[x] = x - max(its lane) over a whole tensor, then exp of all of them in one vecmath call (the
/// lanes of a batch are short: one call per lane would run mostly the tail). Fills `lane_max`,
/// one per lane (a * inner + i), and returns the exps in `e`, laid out as x.
template <class T>
void shifted_exp(const T* x, const Lanes& l, T* e, T* lane_max) {
  for_each_lane(l, [&](std::int64_t o, std::int64_t lane, auto step, auto n) {
    T m = -std::numeric_limits<T>::infinity();
    for (std::int64_t k = 0; k < n; ++k) m = x[o + k * step] > m ? x[o + k * step] : m;
    lane_max[lane] = m;
    for (std::int64_t k = 0; k < n; ++k) e[o + k * step] = x[o + k * step] - m;
  });
  vecmath::apply(vecmath::Fn::Exp, e, e, l.outer * l.n * l.inner);
}

/// log Σ exp(x_k) of every lane into lse (one per lane), shifted by the lane's max so that exp
/// never overflows. exp and log run in T (float32's are several times cheaper, and vectorised:
/// one vecmath call over all the lanes for each); the sums accumulate in double.
template <class T>
void lanes_logsumexp(const T* x, const Lanes& l, double* lse) {
  const std::int64_t lanes = l.outer * l.inner;
  Scratch<T> e(l.outer * l.n * l.inner), m(lanes), sums(lanes);
  shifted_exp(x, l, e.get(), m.get());
  for_each_lane(l, [&](std::int64_t o, std::int64_t lane, auto step, auto n) {
    double s = 0;
    for (std::int64_t k = 0; k < n; ++k) s += e[o + k * step];
    sums[lane] = static_cast<T>(s);
  });
  if constexpr (std::is_same_v<T, float>) {
    vecmath::apply(vecmath::Fn::Log, sums.get(), sums.get(), lanes);  // all the lanes' logs in one call
  } else {  // float64 keeps libm's log, correctly rounded as its tests and gradcheck expect
    for (std::int64_t lane = 0; lane < lanes; ++lane) sums[lane] = std::log(sums[lane]);
  }
  for (std::int64_t lane = 0; lane < lanes; ++lane) lse[lane] = static_cast<double>(m[lane]) + static_cast<double>(sums[lane]);
}

template <bool Log>
Tensor softmax_forward(const Tensor& x_in, std::int64_t dim) {
  const Tensor x = detail::contiguous_data(x_in);
  Tensor out = detail::make_tensor(x.shape(), x.dtype());
  const Lanes l = lanes_of(x.shape(), dim);
  dispatch_floating(x.dtype(), Log ? "log_softmax" : "softmax", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = data<T>(x);
    T* py = data<T>(out);
    if (x.numel() == 0) return;
    if constexpr (Log) {  // x - lse
      Scratch<double> lse(l.outer * l.inner);
      lanes_logsumexp(px, l, lse.get());
      for_each_lane(l, [&](std::int64_t o, std::int64_t lane, auto step, auto n) {
        const T v = static_cast<T>(lse[lane]);
        for (std::int64_t k = 0; k < n; ++k) py[o + k * step] = px[o + k * step] - v;
      });
    } else {  // exp(x - max) / Σ exp(x - max), the exps written straight into out
      Scratch<T> m(l.outer * l.inner);
      shifted_exp(px, l, py, m.get());
      for_each_lane(l, [&](std::int64_t o, std::int64_t, auto step, auto n) {
        double s = 0;
        for (std::int64_t k = 0; k < n; ++k) s += py[o + k * step];
        const T inv = static_cast<T>(1.0 / s);
        for (std::int64_t k = 0; k < n; ++k) py[o + k * step] *= inv;
      });
    }
  });
  return out;
}

/// softmax: dx = y (g - Σ g y);  log_softmax: dx = g - exp(y) Σ g  (sums along dim).
template <bool Log>
Tensor softmax_backward_raw(const Tensor& g_in, const Tensor& y_in, std::int64_t dim) {
  const Tensor g = detail::contiguous_data(g_in), y = detail::contiguous_data(y_in);
  Tensor dx = detail::make_tensor(y.shape(), y.dtype());
  const Lanes l = lanes_of(y.shape(), dim);
  dispatch_floating(y.dtype(), "softmax", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *pg = data<T>(g), *py = data<T>(y);
    T* pd = data<T>(dx);
    if (Log) vecmath::apply(vecmath::Fn::Exp, py, pd, y.numel());  // exp(y), all at once
    for_each_lane(l, [&](std::int64_t o, std::int64_t, auto step, auto n) {
      double s = 0;
      for (std::int64_t k = 0; k < n; ++k) s += Log ? pg[o + k * step] : pg[o + k * step] * py[o + k * step];
      const T st = static_cast<T>(s);
      for (std::int64_t k = 0; k < n; ++k) {
        std::int64_t e = o + k * step;
        pd[e] = Log ? pg[e] - pd[e] * st : py[e] * (pg[e] - st);
      }
    });
  });
  return dx;
}

using kernels::position;

// ---- class-index losses -----------------------------------------------------------------------
//
// Per sample s with target t, weights w (1 when absent), C classes and smoothing eps:
//   q_c = (1 - eps) w_t [c == t] + (eps / C) w_c,     Q = Σ_c q_c
//   cross_entropy: loss_s = Σ_c q_c (lse - x_c)      d/dx_c = Q softmax(x)_c - q_c
//   nll_loss:      loss_s = -w_t x_t                  d/dx_c = -q_c   (eps = 0)
// Ignored samples count zero. `mean` divides by Σ w_t over the samples not ignored, as
// PyTorch (so all ignored gives 0/0 = NaN).

struct ClassLoss {
  Lanes lanes;  // outer = N, n = C, inner = the extra dims d...
  std::int64_t class_dim = 0;
  std::int64_t ignore_index = -100;
  double eps = 0;
  Reduction reduction = Reduction::Mean;
  bool softmax = true;  // cross_entropy (logits) rather than nll_loss (log-probabilities)
  double denom = 0;     // mean's divisor
  double weight_sum = 0;
  bool has_weight = false;
};

/// Checks the shapes, dtypes and target values; fills the lanes and mean's divisor.
ClassLoss check_class_loss(const Tensor& x, const Tensor& target_in, const CrossEntropyOptions& o, bool on_logits,
                           const char* op) {
  const Tensor weight = o.weight_.defined() ? detail::contiguous_data(o.weight_) : Tensor();
  check_floating(x, op, "input");
  AG_CHECK(target_in.defined(), op, ": target is an undefined tensor");
  const Tensor target = detail::contiguous_data(target_in);
  AG_CHECK(x.dim() >= 1, op, ": the input must be [C], [N, C] or [N, C, d...], got a 0-d tensor");
  AG_CHECK(target.dtype() == kInt64, op, ": target must hold int64 class indices, got ", target.dtype(), " of shape ",
           target.shape(), " (convert with to(ag::kInt64))");
  ClassLoss c;
  c.class_dim = x.dim() == 1 ? 0 : 1;
  c.lanes = lanes_of(x.shape(), c.class_dim);
  c.ignore_index = o.ignore_index_;
  c.eps = o.label_smoothing_;
  c.reduction = o.reduction_;
  c.softmax = on_logits;
  Shape expected = x.shape();
  expected.erase(c.class_dim);
  AG_CHECK(target.shape() == expected, op, ": a target of shape ", target.shape(), " does not match an input of shape ",
           x.shape(), " (expected ", expected, ": one class index per sample)");
  AG_CHECK(c.eps >= 0 && c.eps <= 1, op, ": label_smoothing must be in [0, 1], got ", c.eps);
  const std::int64_t classes = c.lanes.n;
  if (weight.defined()) {
    check_floating(weight, op, "weight");
    AG_CHECK(weight.dim() == 1 && weight.numel() == classes, op, ": weight must have shape [", classes,
             "] (one per class), got ", weight.shape());
    c.has_weight = true;
  }
  auto w_at = [&](std::int64_t k) -> double {
    if (!c.has_weight) return 1.0;
    return weight.dtype() == kFloat32 ? data<float>(weight)[k] : data<double>(weight)[k];
  };
  const std::int64_t* t = data<std::int64_t>(target);
  for (std::int64_t s = 0, s_end = target.numel(); s < s_end; ++s) {
    if (t[s] == c.ignore_index) continue;
    AG_CHECK_INDEX(t[s] >= 0 && t[s] < classes, op, ": target ", t[s], " is out of range for ", classes,
                   " classes (valid: 0..", classes - 1, ") at position ", position(s, target.shape()));
    c.denom += w_at(t[s]);
  }
  c.weight_sum = static_cast<double>(classes);
  if (c.has_weight) {
    c.weight_sum = 0;
    for (std::int64_t k = 0; k < classes; ++k) c.weight_sum += w_at(k);
  }
  return c;
}

/// The loss per sample into `per_sample` (reduction none) or its reduced value. With `lse_out`
/// (cross_entropy that will be differentiated), each lane's log Σ exp is left there for backward.
template <class T>
double class_loss_forward(const ClassLoss& c, const T* x, const std::int64_t* t, const T* w, T* per_sample,
                          double* lse_out) {
  const Lanes& l = c.lanes;
  const double smooth = c.eps / static_cast<double>(l.n);
  Scratch<double> scratch(c.softmax && !lse_out ? l.outer * l.inner : 0);
  double* lse_of = lse_out ? lse_out : scratch.get();
  if (c.softmax && l.outer * l.n * l.inner > 0) lanes_logsumexp(x, l, lse_of);
  double total = 0;
  for_each_lane(l, [&](std::int64_t o, std::int64_t s, auto step, auto n) {  // sample s, in order
    const T* xs = x + o;
    double loss = 0;
    if (t[s] != c.ignore_index) {
      const double lse = c.softmax ? lse_of[s] : 0.0;
      const double wt = w ? w[t[s]] : 1.0;
      loss = (1 - c.eps) * wt * (lse - xs[t[s] * step]);
      if (smooth != 0) {
        double sm = 0;
        for (std::int64_t k = 0; k < n; ++k) sm += (w ? w[k] : 1.0) * (lse - xs[k * step]);
        loss += smooth * sm;
      }
    }
    if (per_sample) per_sample[s] = static_cast<T>(loss);
    total += loss;
  });
  return c.reduction == Reduction::Mean ? total / c.denom : total;
}

/// dL/dx as a raw loop: G_s (Q softmax - q) for cross_entropy, -G_s q for nll_loss, G_s being
/// the upstream gradient of sample s (times the mean's 1/denom; 0 when ignored). With `coef`
/// and no `g`, writes instead the constants of the create_graph form for a unit upstream
/// gradient: G_s q into `out` and G_s Q into `coef`. `lse_kept`: the lanes' log Σ exp that the
/// forward kept, or null to compute them again.
template <class T>
void class_loss_backward(const ClassLoss& c, const T* x, const std::int64_t* t, const T* w, const T* g, T* out, T* coef,
                         const double* lse_kept = nullptr) {
  const Lanes& l = c.lanes;
  const double smooth = c.eps / static_cast<double>(l.n);
  // softmax(x) = exp(x - lse), its exps computed for the whole tensor at once
  const bool probs = c.softmax && !coef && l.outer * l.n * l.inner > 0;
  Scratch<T> p(probs ? l.outer * l.n * l.inner : 0);
  if (probs) {
    Scratch<double> scratch(lse_kept ? 0 : l.outer * l.inner);
    const double* lse = lse_kept;
    if (!lse) {
      lanes_logsumexp(x, l, scratch.get());
      lse = scratch.get();
    }
    for_each_lane(l, [&](std::int64_t o, std::int64_t lane, auto step, auto n) {
      const T v = static_cast<T>(lse[lane]);
      for (std::int64_t k = 0; k < n; ++k) p[o + k * step] = x[o + k * step] - v;
    });
    vecmath::apply(vecmath::Fn::Exp, p.get(), p.get(), l.outer * l.n * l.inner);
  }
  const bool plain = probs && !w && c.eps == 0;
  for_each_lane(l, [&](std::int64_t o, std::int64_t s, auto step, auto n) {  // sample s
    T* os = out + o;
    double gs = 0;
    if (t[s] != c.ignore_index) {
      gs = !g ? 1.0 : c.reduction == Reduction::None ? g[s] : g[0];
      if (c.reduction == Reduction::Mean) gs /= c.denom;
    }
    if (gs == 0) {
      for (std::int64_t k = 0; k < n; ++k) os[k * step] = 0;
      if (coef) coef[s] = 0;
      return;
    }
    const T* ps = probs ? p.get() + o : nullptr;
    if (plain) {  // no weights, no smoothing: Q = 1 and q = [c == t], so the general terms below give exactly this
      for (std::int64_t k = 0; k < n; ++k)
        os[k * step] = static_cast<T>(gs * (static_cast<double>(ps[k * step]) - (k == t[s] ? 1.0 : 0.0)));
      return;
    }
    const double wt = w ? w[t[s]] : 1.0;
    const double big_q = (1 - c.eps) * wt + smooth * c.weight_sum;
    for (std::int64_t k = 0; k < n; ++k) {
      double q = smooth * (w ? w[k] : 1.0) + (k == t[s] ? (1 - c.eps) * wt : 0.0);
      double v;
      if (coef) v = gs * q;
      else if (c.softmax) v = gs * (big_q * ps[k * step] - q);
      else v = -gs * q;
      os[k * step] = static_cast<T>(v);
    }
    if (coef) coef[s] = static_cast<T>(gs * big_q);
  });
}

Tensor class_loss(const Tensor& x_in, const Tensor& target_in, const CrossEntropyOptions& o, bool on_logits,
                  const char* op, const char* node) {
  ClassLoss c = check_class_loss(x_in, target_in, o, on_logits, op);
  const Tensor x = detail::contiguous_data(x_in), target = detail::contiguous_data(target_in);
  const Tensor weight = o.weight_.defined() ? detail::contiguous_data(as(o.weight_, x.dtype())) : Tensor();
  Tensor out = detail::make_tensor(c.reduction == Reduction::None ? target.shape() : Shape{}, x.dtype());
  const bool differentiated = needs_grad(x_in);
  // cross_entropy keeps each lane's log Σ exp for its backward (softmax = exp(x - lse)), as
  // PyTorch's keeps log_softmax's output, instead of computing them again there.
  const Tensor lse = differentiated && c.softmax ? detail::make_tensor({c.lanes.outer * c.lanes.inner}, kFloat64) : Tensor();
  dispatch_floating(x.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* w = weight.defined() ? data<T>(weight) : nullptr;
    T* per_sample = c.reduction == Reduction::None ? data<T>(out) : nullptr;
    double total = class_loss_forward(c, data<T>(x), data<std::int64_t>(target), w, per_sample,
                                      lse.defined() ? data<double>(lse) : nullptr);
    if (!per_sample) data<T>(out)[0] = static_cast<T>(total);
  });
  if (differentiated) {
    auto backward = [c](const Tensor& g_in, const BackwardContext& ctx) -> Grads {
      const Tensor& x_saved = ctx.saved(0);
      const Tensor x = detail::contiguous_data(x_saved), t = ctx.saved(1);
      const Tensor w = c.has_weight ? ctx.saved(2) : Tensor();
      const double* lse_kept = c.softmax ? data<double>(ctx.saved(c.has_weight ? 3 : 2)) : nullptr;
      const Tensor g = GradMode::is_enabled() ? g_in : detail::contiguous_data(g_in);
      if (!GradMode::is_enabled() && g.dtype() == x.dtype()) {  // no graph to record: one fused loop
        Tensor dx = detail::make_tensor(x.shape(), x.dtype());
        dispatch_floating(x.dtype(), "cross_entropy", [&](auto tag) {
          using T = typename decltype(tag)::type;
          class_loss_backward(c, data<T>(x), data<std::int64_t>(t), w.defined() ? data<T>(w) : nullptr, data<T>(g),
                              data<T>(dx), static_cast<T*>(nullptr), lse_kept);
        });
        return {dx};
      }
      // create_graph: the same gradient in ag ops, differentiable in x (through softmax) and in g,
      // dx = g (Q softmax(x) - q) with the constants q and Q (ignored samples and mean folded in).
      Shape coef_shape = x.shape();
      coef_shape[c.class_dim] = 1;
      Tensor q = detail::make_tensor(x.shape(), x.dtype()), big_q = detail::make_tensor(coef_shape, x.dtype());
      dispatch_floating(x.dtype(), "cross_entropy", [&](auto tag) {
        using T = typename decltype(tag)::type;
        class_loss_backward(c, data<T>(x), data<std::int64_t>(t), w.defined() ? data<T>(w) : nullptr,
                            static_cast<const T*>(nullptr), data<T>(q), data<T>(big_q));
      });
      Tensor gb = c.reduction == Reduction::None ? unsqueeze(g, c.class_dim) : g;
      if (!c.softmax) return {gb * -q};
      return {gb * (big_q * softmax(x_saved, c.class_dim) - q)};
    };
    if (weight.defined() && lse.defined()) record(node, out, {x_in}, {save(x_in), save(target), save(weight), save(lse)}, backward);
    else if (weight.defined()) record(node, out, {x_in}, {save(x_in), save(target), save(weight)}, backward);
    else if (lse.defined()) record(node, out, {x_in}, {save(x_in), save(target), save(lse)}, backward);
    else record(node, out, {x_in}, {save(x_in), save(target)}, backward);
  }
  return out;
}

/// softplus(-x) = log(1 + exp(-x)), computed without overflow; d/dx = -sigmoid(-x).
Tensor softplus_neg(const Tensor& x_in) {
  const Tensor x = detail::contiguous_data(x_in);
  Tensor out = detail::make_tensor(x.shape(), x.dtype());
  dispatch_floating(x.dtype(), "binary_cross_entropy_with_logits", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = data<T>(x);
    T* po = data<T>(out);
    for (std::int64_t i = 0, i_end = x.numel(); i < i_end; ++i) {
      T v = px[i];
      po[i] = (v < 0 ? -v : T(0)) + std::log1p(std::exp(-std::abs(v)));
    }
  });
  if (needs_grad(x_in))
    record("SoftplusBackward0", out, {x_in}, {save(x_in)},
           [](const Tensor& g, const BackwardContext& ctx) -> Grads { return {-g * sigmoid(-ctx.saved(0))}; });
  return out;
}

Tensor reduce(const Tensor& loss, Reduction r) {
  switch (r) {
    case Reduction::None: return loss;
    case Reduction::Sum: return sum(loss);
    case Reduction::Mean: break;
  }
  return mean(loss);
}

void check_same_shape(const Tensor& input, const Tensor& target, const char* op) {
  check_floating(input, op, "input");
  check_floating(target, op, "target");
  AG_CHECK(input.shape() == target.shape(), op, ": input of shape ", input.shape(), " and target of shape ",
           target.shape(), " differ; reshape one of them (broadcasting here is almost always a bug)");
}

}  // namespace

// ---- softmax ------------------------------------------------------------------------------

Tensor softmax(const Tensor& x, std::int64_t dim) {
  // x: [*] -> [*], each lane along dim sums to 1
  check_floating(x, "softmax", "input");
  const std::int64_t d = wrap_dim(dim, x.dim(), "softmax");
  Tensor out = softmax_forward<false>(x, d);
  if (needs_grad(x))
    record("SoftmaxBackward0", out, {x}, {save_output(out)}, [d](const Tensor& g, const BackwardContext& ctx) -> Grads {
      const Tensor& y = ctx.saved(0);
      if (!GradMode::is_enabled() && g.dtype() == y.dtype()) return {softmax_backward_raw<false>(g, y, d)};
      return {y * (g - sum(g * y, {d}, true))};
    });
  return out;
}

Tensor log_softmax(const Tensor& x, std::int64_t dim) {
  // x: [*] -> [*], x - logsumexp(x) along dim
  check_floating(x, "log_softmax", "input");
  const std::int64_t d = wrap_dim(dim, x.dim(), "log_softmax");
  Tensor out = softmax_forward<true>(x, d);
  if (needs_grad(x))
    record("LogSoftmaxBackward0", out, {x}, {save_output(out)}, [d](const Tensor& g, const BackwardContext& ctx) -> Grads {
      const Tensor& y = ctx.saved(0);
      if (!GradMode::is_enabled() && g.dtype() == y.dtype()) return {softmax_backward_raw<true>(g, y, d)};
      return {g - exp(y) * sum(g, {d}, true)};
    });
  return out;
}

// ---- losses -------------------------------------------------------------------------------

Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& options) {
  // logits: [N, C] / [C] / [N, C, d...], target: [N] / [] / [N, d...] int64 -> [] (or target's shape for none)
  return class_loss(logits, target, options, true, "cross_entropy", "CrossEntropyLossBackward0");
}

Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const NLLLossOptions& options) {
  // log_probs: [N, C] / [C] / [N, C, d...], target: [N] / [] / [N, d...] int64
  AG_CHECK(options.label_smoothing_ == 0, "nll_loss: label_smoothing is not supported (got ", options.label_smoothing_,
           "); use cross_entropy on logits");
  return class_loss(log_probs, target, options, false, "nll_loss", "NllLossBackward0");
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  check_same_shape(input, target, "mse_loss");
  Tensor d = input - target;
  return reduce(d * d, reduction);
}

Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  check_same_shape(input, target, "l1_loss");
  return reduce(abs(input - target), reduction);
}

Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, const BCEWithLogitsOptions& options) {
  // loss = w [(1 - t) x + (1 + (pos_weight - 1) t) log(1 + exp(-x))], elementwise
  const char* op = "binary_cross_entropy_with_logits";
  check_same_shape(input, target, op);
  for (const Tensor* w : {&options.weight_, &options.pos_weight_}) {
    if (!w->defined()) continue;
    check_floating(*w, op, w == &options.weight_ ? "weight" : "pos_weight");
    AG_CHECK(broadcast_shapes(w->shape(), input.shape(), op) == input.shape(), op, ": ",
             w == &options.weight_ ? "weight" : "pos_weight", " of shape ", w->shape(),
             " does not broadcast to the input's shape ", input.shape());
  }
  Tensor sp = softplus_neg(input);
  Tensor log_weight = options.pos_weight_.defined() ? (options.pos_weight_ - 1) * target + 1 : Tensor();
  Tensor loss = (1 - target) * input + (log_weight.defined() ? log_weight * sp : sp);
  if (options.weight_.defined()) loss = loss * options.weight_;
  return reduce(loss, options.reduction_);
}

// ---- Tensor methods -------------------------------------------------------------------------

Tensor Tensor::softmax(std::int64_t dim) const { return ag::softmax(*this, dim); }
Tensor Tensor::log_softmax(std::int64_t dim) const { return ag::log_softmax(*this, dim); }

}  // namespace ag
