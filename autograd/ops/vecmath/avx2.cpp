// vecmath kernels for AVX2 with FMA (this file alone is compiled with -mavx2 -mfma).
#include "ag/autograd/ops/vecmath/kernels.h"

namespace ag::vecmath::detail {

using Avx2 = xsimd::fma3<xsimd::avx2>;
void apply_avx2(Fn fn, const float* x, float* y, std::int64_t n) { Kernels<Avx2>::apply(fn, x, y, n); }
void apply_avx2(Fn fn, const double* x, double* y, std::int64_t n) { Kernels<Avx2>::apply(fn, x, y, n); }

}  // namespace ag::vecmath::detail
