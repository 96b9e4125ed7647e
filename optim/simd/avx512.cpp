// The optimizer loops of simd.h compiled for AVX512 (CMakeLists.txt gives this file its flags).
#include "kernels.h"

namespace ag::optim::detail {

void adam_pass_avx512(const AdamCoefficients<float>& c, AdamTerms t, float* p, const float* g, float* m, float* v,
                    float* vmax, std::int64_t n) {
  adam_any<xsimd::avx512f>(c, t, p, g, m, v, vmax, n);
}
void adam_pass_avx512(const AdamCoefficients<double>& c, AdamTerms t, double* p, const double* g, double* m, double* v,
                    double* vmax, std::int64_t n) {
  adam_any<xsimd::avx512f>(c, t, p, g, m, v, vmax, n);
}
void sgd_pass_avx512(const SGDCoefficients<float>& c, SGDTerms t, float* p, const float* g, float* buf, std::int64_t n) {
  sgd_any(c, t, p, g, buf, n);
}
void sgd_pass_avx512(const SGDCoefficients<double>& c, SGDTerms t, double* p, const double* g, double* buf,
                   std::int64_t n) {
  sgd_any(c, t, p, g, buf, n);
}

}  // namespace ag::optim::detail
