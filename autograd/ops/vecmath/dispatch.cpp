// vecmath's run-time choice of kernels: the instruction set kernel_isa() names.
#include "ag/autograd/cpu.h"
#include "ag/autograd/ops.h"
#include "ag/autograd/ops/vecmath.h"

namespace ag::vecmath {

#if defined(__x86_64__)
namespace detail {
void apply_sse2(Fn fn, const float* x, float* y, std::int64_t n);
void apply_sse2(Fn fn, const double* x, double* y, std::int64_t n);
void apply_avx2(Fn fn, const float* x, float* y, std::int64_t n);
void apply_avx2(Fn fn, const double* x, double* y, std::int64_t n);
void apply_avx512(Fn fn, const float* x, float* y, std::int64_t n);
void apply_avx512(Fn fn, const double* x, double* y, std::int64_t n);
}  // namespace detail

namespace {

template <class T>
void run(Fn fn, const T* x, T* y, std::int64_t n) {
  switch (kernel_isa()) {
    case Isa::Avx512: return detail::apply_avx512(fn, x, y, n);
    case Isa::Avx2: return detail::apply_avx2(fn, x, y, n);
    case Isa::Default: return detail::apply_sse2(fn, x, y, n);
  }
}

}  // namespace

void apply(Fn fn, const float* x, float* y, std::int64_t n) { run(fn, x, y, n); }
void apply(Fn fn, const double* x, double* y, std::int64_t n) { run(fn, x, y, n); }

const char* isa() { return cpu_capability(); }

#else  // not x86-64: libm, element by element

namespace {
template <class T>
void run(Fn fn, const T* x, T* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = scalar(fn, x[i]);
}
}  // namespace

void apply(Fn fn, const float* x, float* y, std::int64_t n) { run(fn, x, y, n); }
void apply(Fn fn, const double* x, double* y, std::int64_t n) { run(fn, x, y, n); }
const char* isa() { return "scalar"; }

#endif

}  // namespace ag::vecmath
