// vecmath's run-time choice of kernels: the best instruction set this CPU has, asked once.
#include <cmath>
#include <cstdlib>
#include <cstring>

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

enum class Isa { Sse2, Avx2, Avx512 };

/// The best this CPU has, or a lower one named by AG_CPU_CAPABILITY (avx2, sse2: to compare them,
/// as PyTorch's ATEN_CPU_CAPABILITY); a name this CPU cannot run is ignored.
Isa best() {
  static const Isa isa = [] {
    __builtin_cpu_init();
    Isa have = Isa::Sse2;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma")) have = Isa::Avx512;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) have = Isa::Avx2;
    const char* want = std::getenv("AG_CPU_CAPABILITY");
    if (want && std::strcmp(want, "avx2") == 0 && have >= Isa::Avx2) return Isa::Avx2;
    if (want && std::strcmp(want, "sse2") == 0) return Isa::Sse2;
    return have;
  }();
  return isa;
}

template <class T>
void run(Fn fn, const T* x, T* y, std::int64_t n) {
  switch (best()) {
    case Isa::Avx512: return detail::apply_avx512(fn, x, y, n);
    case Isa::Avx2: return detail::apply_avx2(fn, x, y, n);
    case Isa::Sse2: return detail::apply_sse2(fn, x, y, n);
  }
}

}  // namespace

void apply(Fn fn, const float* x, float* y, std::int64_t n) { run(fn, x, y, n); }
void apply(Fn fn, const double* x, double* y, std::int64_t n) { run(fn, x, y, n); }

const char* isa() {
  switch (best()) {
    case Isa::Avx512: return "avx512f";
    case Isa::Avx2: return "avx2+fma";
    case Isa::Sse2: return "sse2";
  }
  return "sse2";
}

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
