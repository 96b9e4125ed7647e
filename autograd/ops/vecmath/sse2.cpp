// vecmath kernels for SSE2, the x86-64 baseline (compiled with the library's own flags).
#include "ag/autograd/ops/vecmath/kernels.h"

namespace ag::vecmath::detail {

void apply_sse2(Fn fn, const float* x, float* y, std::int64_t n) { Kernels<xsimd::sse2>::apply(fn, x, y, n); }
void apply_sse2(Fn fn, const double* x, double* y, std::int64_t n) { Kernels<xsimd::sse2>::apply(fn, x, y, n); }

}  // namespace ag::vecmath::detail
