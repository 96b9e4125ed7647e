// vecmath kernels for AVX-512F (this file alone is compiled with -mavx512f -mfma).
#include "ag/autograd/ops/vecmath/kernels.h"

namespace ag::vecmath::detail {

void apply_avx512(Fn fn, const float* x, float* y, std::int64_t n) { Kernels<xsimd::avx512f>::apply(fn, x, y, n); }
void apply_avx512(Fn fn, const double* x, double* y, std::int64_t n) { Kernels<xsimd::avx512f>::apply(fn, x, y, n); }

}  // namespace ag::vecmath::detail
