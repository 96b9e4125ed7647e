// The optimizer loops of simd.h for baseline code (SSE2 on x86-64), and the choice among the
// instruction sets.
#include "kernels.h"

namespace ag::optim::detail {

#if defined(__x86_64__)
// avx2.cpp, avx512.cpp
void adam_pass_avx2(const AdamCoefficients<float>&, AdamTerms, float*, const float*, float*, float*, float*, std::int64_t);
void adam_pass_avx2(const AdamCoefficients<double>&, AdamTerms, double*, const double*, double*, double*, double*,
                    std::int64_t);
void adam_pass_avx512(const AdamCoefficients<float>&, AdamTerms, float*, const float*, float*, float*, float*,
                      std::int64_t);
void adam_pass_avx512(const AdamCoefficients<double>&, AdamTerms, double*, const double*, double*, double*, double*,
                      std::int64_t);
void sgd_pass_avx2(const SGDCoefficients<float>&, SGDTerms, float*, const float*, float*, std::int64_t);
void sgd_pass_avx2(const SGDCoefficients<double>&, SGDTerms, double*, const double*, double*, std::int64_t);
void sgd_pass_avx512(const SGDCoefficients<float>&, SGDTerms, float*, const float*, float*, std::int64_t);
void sgd_pass_avx512(const SGDCoefficients<double>&, SGDTerms, double*, const double*, double*, std::int64_t);
#endif

namespace {

template <class T>
void adam_on(Isa isa, const AdamCoefficients<T>& c, AdamTerms t, T* p, const T* g, T* m, T* v, T* vmax,
             std::int64_t n) {
#if defined(__x86_64__)
  if (isa == Isa::Avx512) return adam_pass_avx512(c, t, p, g, m, v, vmax, n);
  if (isa == Isa::Avx2) return adam_pass_avx2(c, t, p, g, m, v, vmax, n);
#endif
  (void)isa;
  adam_any<BaselineArch>(c, t, p, g, m, v, vmax, n);
}

template <class T>
void sgd_on(Isa isa, const SGDCoefficients<T>& c, SGDTerms t, T* p, const T* g, T* buf, std::int64_t n) {
#if defined(__x86_64__)
  if (isa == Isa::Avx512) return sgd_pass_avx512(c, t, p, g, buf, n);
  if (isa == Isa::Avx2) return sgd_pass_avx2(c, t, p, g, buf, n);
#endif
  (void)isa;
  sgd_any(c, t, p, g, buf, n);
}

}  // namespace

void adam_pass(Isa isa, const AdamCoefficients<float>& c, AdamTerms t, float* p, const float* g, float* m,
               float* v, float* vmax, std::int64_t n) {
  adam_on(isa, c, t, p, g, m, v, vmax, n);
}
void adam_pass(Isa isa, const AdamCoefficients<double>& c, AdamTerms t, double* p, const double* g,
               double* m, double* v, double* vmax, std::int64_t n) {
  adam_on(isa, c, t, p, g, m, v, vmax, n);
}
void sgd_pass(Isa isa, const SGDCoefficients<float>& c, SGDTerms t, float* p, const float* g, float* buf,
              std::int64_t n) {
  sgd_on(isa, c, t, p, g, buf, n);
}
void sgd_pass(Isa isa, const SGDCoefficients<double>& c, SGDTerms t, double* p, const double* g,
              double* buf, std::int64_t n) {
  sgd_on(isa, c, t, p, g, buf, n);
}

}  // namespace ag::optim::detail
