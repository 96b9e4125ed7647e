#pragma once
// The element-wise updates of SGD and Adam/AdamW, one pass over a parameter's contiguous data,
// on the instruction set ag::kernel_isa() names: compiled for baseline x86-64 and, in
// translation units of their own (avx2.cpp, avx512.cpp), for AVX2 and AVX-512. Multiply and add
// are never fused into FMAs (-ffp-contract=off there), so every instruction set gives the same
// bits as the baseline and as the scalar tail: a run does not depend on the machine's CPU.
// Internal to optim.

#include <cstdint>

#include "ag/autograd/cpu.h"

namespace ag::optim::detail {

/// Adam's coefficients for one step, rounded to the parameter's precision as PyTorch rounds them
/// (the bias corrections are computed in double first, as Python floats).
template <class T>
struct AdamCoefficients {
  T decay;         // AdamW: 1 - lr * weight_decay; Adam: 1
  T sign;          // -1 to maximize
  T weight_decay;  // Adam's L2 term
  T beta1, one_minus_beta1, beta2, one_minus_beta2;
  T bias_correction2_sqrt, eps, neg_step_size;
};

/// SGD's coefficients for one step, in the parameter's precision.
template <class T>
struct SGDCoefficients {
  T sign, weight_decay, momentum, one_minus_dampening, neg_lr;
};

/// Which of Adam's terms apply (each a separate loop without branches).
struct AdamTerms {
  bool l2 = false;       // Adam's weight_decay, added to the gradient
  bool amsgrad = false;  // the running max of exp_avg_sq
};
/// Which of SGD's terms apply.
struct SGDTerms {
  bool decay = false, momentum = false, first = false, nesterov = false;
};

/// p, m (exp_avg), v (exp_avg_sq) and vmax (max_exp_avg_sq, with amsgrad) updated in place from g,
/// n elements each, on instruction set `isa` (one this CPU runs: kernel_isa() or lower).
void adam_pass(Isa isa, const AdamCoefficients<float>& c, AdamTerms terms, float* p, const float* g,
               float* m, float* v, float* vmax, std::int64_t n);
void adam_pass(Isa isa, const AdamCoefficients<double>& c, AdamTerms terms, double* p, const double* g,
               double* m, double* v, double* vmax, std::int64_t n);
/// p and buf (the momentum buffer, with momentum) updated in place from g.
void sgd_pass(Isa isa, const SGDCoefficients<float>& c, SGDTerms terms, float* p, const float* g, float* buf,
              std::int64_t n);
void sgd_pass(Isa isa, const SGDCoefficients<double>& c, SGDTerms terms, double* p, const double* g,
              double* buf, std::int64_t n);

}  // namespace ag::optim::detail
