#include "ag/autograd/gradcheck.h"

#include <cmath>
#include <sstream>

#include "ag/autograd/engine.h"
#include "ag/autograd/grad_mode.h"
#include "ag/autograd/ops.h"

namespace ag {

namespace {
/// Where element `e` (in row-major order) of t sits, relative to t's first element.
std::int64_t offset_of(const Tensor& t, std::int64_t e) {
  std::int64_t off = 0;
  for (std::int64_t d = t.dim(); d-- > 0;) {
    off += (e % t.shape()[d]) * t.strides()[d];
    e /= t.shape()[d];
  }
  return off;
}
}  // namespace

bool gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn, const std::vector<Tensor>& inputs,
               double eps, double atol, double rtol) {
  std::vector<Tensor> diff;  // the inputs we differentiate
  std::vector<std::size_t> diff_index;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].requires_grad()) continue;
    AG_CHECK(inputs[i].dtype() == kFloat64, "gradcheck: input ", i, " is ", inputs[i].dtype(),
             "; finite differences need float64 inputs");
    for (std::int64_t d = 0; d < inputs[i].dim(); ++d)
      AG_CHECK(inputs[i].shape()[d] <= 1 || inputs[i].strides()[d] != 0, "gradcheck: input ", i, " of shape ",
               inputs[i].shape(), " and strides ", inputs[i].strides(), " has several elements at one memory "
               "location (an expanded view), so they cannot be perturbed one at a time; pass a clone()");
    diff.push_back(inputs[i]);
    diff_index.push_back(i);
  }
  AG_CHECK(!diff.empty(), "gradcheck: no input requires grad");

  Tensor out = fn(inputs);
  AG_CHECK(out.defined() && is_floating(out.dtype()), "gradcheck: the function must return a floating point tensor");
  const std::int64_t m = out.numel();

  // Analytical Jacobian, one row per output element: J[j] = d out[j] / d inputs.
  std::vector<std::vector<std::vector<double>>> analytical(diff.size());
  for (std::int64_t j = 0; j < m; ++j) {
    if (!out.requires_grad()) {  // no input reaches the output: its Jacobian is zero
      for (std::size_t k = 0; k < diff.size(); ++k) analytical[k].emplace_back(diff[k].numel(), 0.0);
      continue;
    }
    std::vector<double> onehot(static_cast<std::size_t>(m), 0.0);
    onehot[static_cast<std::size_t>(j)] = 1.0;
    Tensor seed = tensor(onehot, out.shape(), out.dtype());
    std::vector<Tensor> g = grad({out}, diff, {seed}, true, false, true);
    for (std::size_t k = 0; k < diff.size(); ++k)
      analytical[k].push_back(g[k].defined() ? g[k].to_vector<double>() : std::vector<double>(diff[k].numel(), 0.0));
  }

  // Numerical Jacobian by central differences, perturbing each element of a detached alias of
  // the input where it lies (restored exactly after), so that fn sees the inputs' own layout.
  NoGradGuard no_grad;
  std::vector<Tensor> probe;
  for (const Tensor& t : inputs) probe.push_back(t.defined() ? t.detach() : t);
  for (std::size_t k = 0; k < diff.size(); ++k) {
    const Tensor& p = probe[diff_index[k]];
    double* base = p.data_ptr<double>();
    for (std::int64_t e = 0; e < diff[k].numel(); ++e) {
      double* x = base + offset_of(p, e);
      double orig = *x;
      *x = orig + eps;
      std::vector<double> plus = fn(probe).to_vector<double>();
      *x = orig - eps;
      std::vector<double> minus = fn(probe).to_vector<double>();
      *x = orig;
      for (std::int64_t j = 0; j < m; ++j) {
        double num = (plus[j] - minus[j]) / (2 * eps);
        double ana = analytical[k][static_cast<std::size_t>(j)][static_cast<std::size_t>(e)];
        if (!(std::abs(ana - num) <= atol + rtol * std::abs(num))) {
          std::ostringstream msg;
          msg << "gradcheck: Jacobian mismatch for input " << diff_index[k] << " (shape " << diff[k].shape()
              << "), input element " << e << ", output element " << j << ": analytical " << ana << ", numerical "
              << num << " (atol " << atol << ", rtol " << rtol << ")";
          throw GradcheckError(msg.str());
        }
      }
    }
  }
  return true;
}

bool gradgradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn, const std::vector<Tensor>& inputs,
                   double eps, double atol, double rtol) {
  std::vector<bool> wants(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) wants[i] = inputs[i].requires_grad();
  // d(sum fn)/d inputs, flattened into one vector, itself differentiable (create_graph).
  auto first_derivative = [&](const std::vector<Tensor>& in) {
    AutoGradMode on(true);  // the numerical pass probes under no-grad: this part needs a graph
    std::vector<Tensor> args = in, diff;
    for (std::size_t i = 0; i < in.size(); ++i) {
      if (!wants[i]) continue;
      if (!in[i].requires_grad()) args[i] = in[i].detach().requires_grad_(true);
      diff.push_back(args[i]);
    }
    std::vector<Tensor> g = grad({fn(args).sum()}, diff, {}, true, true, true);
    std::vector<Tensor> flat;
    for (std::size_t k = 0; k < g.size(); ++k)
      flat.push_back(reshape(g[k].defined() ? g[k] : zeros_like(diff[k]), {-1}));
    return cat(flat);
  };
  return gradcheck(first_derivative, inputs, eps, atol, rtol);
}

}  // namespace ag
