#pragma once
// Gradient clipping: rescale the gradients of a set of parameters so that their total norm stays
// under a bound, or clamp each gradient element. Call between backward() and the optimizer's step().

#include <vector>

#include "ag/autograd/tensor.h"

namespace ag::nn::utils {

/// Scales the gradients of `parameters` in place so that their total norm — the `norm_type`-norm of
/// all gradient elements taken together, `inf` for the largest magnitude — is at most `max_norm`.
/// They are multiplied by `max_norm / (total_norm + 1e-6)` when that is below 1 (a NaN norm makes
/// every gradient NaN, as in PyTorch). Parameters without a gradient are skipped. Returns the total
/// norm before clipping. With `error_if_nonfinite`, a NaN or infinite norm throws instead.
///
///     loss.backward();
///     double norm = ag::nn::utils::clip_grad_norm_(model->parameters(), 1.0);
///     optimizer.step();
double clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);
double clip_grad_norm_(const Tensor& parameter, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);

/// Clamps every gradient element of `parameters` to [-clip_value, clip_value] in place (NaN stays NaN).
///
///     ag::nn::utils::clip_grad_value_(model->parameters(), 0.5);
void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value);
void clip_grad_value_(const Tensor& parameter, double clip_value);

}  // namespace ag::nn::utils
