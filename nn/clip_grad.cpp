#include "ag/nn/clip_grad.h"

#include <cmath>
#include <limits>

#include "ag/autograd/error.h"
#include "ag/autograd/grad_mode.h"
#include "ag/autograd/ops.h"

namespace ag::nn::utils {

namespace {

/// The gradients that exist, checked to be floating point.
std::vector<Tensor> defined_grads(const std::vector<Tensor>& parameters, const char* op) {
  std::vector<Tensor> grads;
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    AG_CHECK(parameters[i].defined(), op, ": parameter ", i, " is an undefined tensor");
    const Tensor& g = parameters[i].grad();
    if (!g.defined()) continue;
    AG_CHECK(g.is_floating_point(), op, ": the gradient of parameter ", i, " is ", g.dtype());
    grads.push_back(g);
  }
  return grads;
}

/// Sum of |x|^p over one tensor (p > 0), or its largest |x| when p is infinite; in double.
template <class T>
double norm_part(const T* x, std::int64_t n, double p) {
  double acc = 0;
  if (std::isinf(p)) {
    bool nan = false;
    for (std::int64_t i = 0; i < n; ++i) {
      double a = std::abs(static_cast<double>(x[i]));
      acc = a > acc ? a : acc;
      nan |= a != a;
    }
    return nan ? std::numeric_limits<double>::quiet_NaN() : acc;
  }
  if (p == 2) {
    for (std::int64_t i = 0; i < n; ++i) acc += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  } else if (p == 1) {
    for (std::int64_t i = 0; i < n; ++i) acc += std::abs(static_cast<double>(x[i]));
  } else {
    for (std::int64_t i = 0; i < n; ++i) acc += std::pow(std::abs(static_cast<double>(x[i])), p);
  }
  return acc;
}

}  // namespace

double clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  AG_CHECK(max_norm >= 0, "clip_grad_norm_: max_norm must be >= 0, got ", max_norm);
  AG_CHECK(norm_type > 0, "clip_grad_norm_: norm_type must be positive or inf, got ", norm_type);
  std::vector<Tensor> grads = defined_grads(parameters, "clip_grad_norm_");
  if (grads.empty()) return 0.0;

  // The norm of all elements together: combine the per-tensor sums (or maxima), then take the root.
  const bool inf_norm = std::isinf(norm_type);
  double total = 0;
  for (const Tensor& g : grads) {
    double part = dispatch_floating(g.dtype(), "clip_grad_norm_", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const Tensor c = g.is_sparse() ? g.coalesce().values().contiguous() : g.contiguous();  // a sparse one: its rows
      return norm_part(c.data_ptr<T>(), c.numel(), norm_type);
    });
    if (!inf_norm) total += part;
    else if (std::isnan(part) || part > total) total = part;  // a NaN, once in, stays
  }
  if (!inf_norm) total = norm_type == 2 ? std::sqrt(total) : norm_type == 1 ? total : std::pow(total, 1 / norm_type);

  AG_CHECK(!error_if_nonfinite || std::isfinite(total), "clip_grad_norm_: the total norm of order ", norm_type,
           " of the gradients is ", total,
           ", so they cannot be clipped. Pass error_if_nonfinite = false to scale them by it anyway.");
  const double clip_coef = max_norm / (total + 1e-6);
  if (clip_coef >= 1) return total;  // already within the bound (a NaN coefficient is applied)
  for (Tensor g : grads) {
    if (g.is_sparse() || !g.is_contiguous()) {  // a sparse or strided gradient: the in-place op knows its layout
      ag::NoGradGuard no_grad;
      g.mul_(clip_coef);
      continue;
    }
    dispatch_floating(g.dtype(), "clip_grad_norm_", [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* x = g.data_ptr<T>();
      const T c = static_cast<T>(clip_coef);
      for (std::int64_t i = 0, i_end = g.numel(); i < i_end; ++i) x[i] = x[i] * c;
    });
    g.mark_modified();
  }
  return total;
}

double clip_grad_norm_(const Tensor& parameter, double max_norm, double norm_type, bool error_if_nonfinite) {
  return clip_grad_norm_(std::vector<Tensor>{parameter}, max_norm, norm_type, error_if_nonfinite);
}

void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value) {
  AG_CHECK(clip_value >= 0, "clip_grad_value_: clip_value must be >= 0, got ", clip_value);
  for (Tensor g : defined_grads(parameters, "clip_grad_value_")) {
    if (!g.is_contiguous()) {
      ag::NoGradGuard no_grad;
      g.clamp_(-clip_value, clip_value);
      continue;
    }
    dispatch_floating(g.dtype(), "clip_grad_value_", [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* x = g.data_ptr<T>();
      const T hi = static_cast<T>(clip_value), lo = -hi;
      for (std::int64_t i = 0, i_end = g.numel(); i < i_end; ++i) x[i] = x[i] < lo ? lo : (x[i] > hi ? hi : x[i]);
    });
    g.mark_modified();
  }
}

void clip_grad_value_(const Tensor& parameter, double clip_value) {
  clip_grad_value_(std::vector<Tensor>{parameter}, clip_value);
}

}  // namespace ag::nn::utils
