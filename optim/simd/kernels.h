#pragma once
// The loops behind simd.h, for one instruction set: each translation unit in this folder includes
// this file with its own compiler flags. Everything here has internal linkage, so that the copies
// compiled for different instruction sets are never merged by the linker (a scalar helper built
// with AVX-512 flags must not be what the baseline code calls).

#include <cmath>
#include <cstdint>

#include <xsimd/xsimd.hpp>

#include "simd.h"

namespace ag::optim::detail {
namespace {

/// The baseline build's batches (SSE2 on x86-64), or none where xsimd has no architecture.
#if !defined(XSIMD_NO_SUPPORTED_ARCHITECTURE)
using BaselineArch = xsimd::default_arch;
#else
struct BaselineArch {};
#endif

/// Adam's update of one element, or of one SIMD batch of elements (V = T or xsimd::batch<T, A>):
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

/// One pass in batches of Arch (none when xsimd has no architecture here), then the tail. The
/// batches are spelled out because GCC does not vectorise std::sqrt under the default
/// -fmath-errno, and the scalar loop is 4x slower on a 3.2M-parameter embedding.
template <class Arch, class T, bool kL2, bool kAmsgrad>
void adam_loop(T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict v, T* __restrict vmax,
               std::int64_t n, const AdamCoefficients<T>& c) {
  std::int64_t i = 0;
#if !defined(XSIMD_NO_SUPPORTED_ARCHITECTURE)
  using B = xsimd::batch<T, Arch>;
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

template <class Arch, class T>
void adam_any(const AdamCoefficients<T>& c, AdamTerms t, T* p, const T* g, T* m, T* v, T* vmax, std::int64_t n) {
  if (t.amsgrad) {
    if (t.l2) adam_loop<Arch, T, true, true>(p, g, m, v, vmax, n, c);
    else adam_loop<Arch, T, false, true>(p, g, m, v, vmax, n, c);
  } else {
    if (t.l2) adam_loop<Arch, T, true, false>(p, g, m, v, vmax, n, c);
    else adam_loop<Arch, T, false, false>(p, g, m, v, vmax, n, c);
  }
}

/// One SGD pass; the compiler vectorises it for the translation unit's instruction set. The
/// arithmetic follows PyTorch's order (no fused multiply-adds, so results can differ from
/// PyTorch's vectorised kernels in the last bit).
template <class T, bool kDecay, bool kMomentum, bool kFirst, bool kNesterov>
void sgd_loop(T* __restrict p, const T* __restrict grad, T* __restrict buf, std::int64_t n, const SGDCoefficients<T>& c) {
  for (std::int64_t i = 0; i < n; ++i) {
    T gi = c.sign * grad[i];  // exact: multiplying by +-1 only sets the sign
    if constexpr (kDecay) gi = gi + c.weight_decay * p[i];
    if constexpr (kMomentum) {
      T b;
      if constexpr (kFirst) b = gi;
      else b = buf[i] * c.momentum + c.one_minus_dampening * gi;
      buf[i] = b;
      if constexpr (kNesterov) gi = gi + c.momentum * b;
      else gi = b;
    }
    p[i] = p[i] + c.neg_lr * gi;
  }
}

template <class T, bool kDecay>
void sgd_decay(const SGDCoefficients<T>& c, SGDTerms t, T* p, const T* g, T* buf, std::int64_t n) {
  if (!t.momentum) return sgd_loop<T, kDecay, false, false, false>(p, g, buf, n, c);
  if (t.first) {
    if (t.nesterov) sgd_loop<T, kDecay, true, true, true>(p, g, buf, n, c);
    else sgd_loop<T, kDecay, true, true, false>(p, g, buf, n, c);
  } else {
    if (t.nesterov) sgd_loop<T, kDecay, true, false, true>(p, g, buf, n, c);
    else sgd_loop<T, kDecay, true, false, false>(p, g, buf, n, c);
  }
}

template <class T>
void sgd_any(const SGDCoefficients<T>& c, SGDTerms t, T* p, const T* g, T* buf, std::int64_t n) {
  if (t.decay) sgd_decay<T, true>(c, t, p, g, buf, n);
  else sgd_decay<T, false>(c, t, p, g, buf, n);
}

}  // namespace
}  // namespace ag::optim::detail
