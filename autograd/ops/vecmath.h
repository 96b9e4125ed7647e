#pragma once
// Vectorised exp, log, tanh, sigmoid and erf over contiguous float32/float64 arrays, on xsimd, with the
// instruction set picked at run time: the library is compiled for baseline x86-64 (as a Debian
// package must be), and the AVX2+FMA and AVX-512 kernels live in translation units of their own,
// compiled with those flags (vecmath/*.cpp) and called only on a CPU that has them. Elsewhere
// than x86-64 the kernels are the scalar libm loops. Each result is within 2 ulp of libm's
// (inputs whose results are subnormal go to libm: the vector exp flushes them to zero)
// (tests/test_vecmath.cpp checks 10^7 inputs per function and type), and it does not depend on
// where in the array an element is: the tail is computed by the same vector code.
// Internal to autograd/ops.

#include <cmath>
#include <cstdint>

namespace ag::vecmath {

enum class Fn : std::uint8_t { Exp, Log, Tanh, Sigmoid, Erf };

/// y[i] = fn(x[i]) for i < n (x and y may be the same array).
void apply(Fn fn, const float* x, float* y, std::int64_t n);
void apply(Fn fn, const double* x, double* y, std::int64_t n);

/// The instruction set the kernels run on here: "avx512f", "avx2+fma", "sse2" or "scalar".
const char* isa();

/// fn(v) with libm: the kernels off x86-64, and on it the few inputs the vector code does not
/// cover within 2 ulp (results that are subnormal, logarithms of subnormals).
template <class T>
T scalar(Fn fn, T v) {
  switch (fn) {
    case Fn::Exp: {
      // Far below log(smallest subnormal) e^v is 0: answered without libm's slow underflow path
      // (it sets errno), which a confident softmax would meet every step.
      constexpr T kZeroBelow = sizeof(T) == 4 ? T(-104) : T(-746);
      return v < kZeroBelow ? T(0) : std::exp(v);
    }
    case Fn::Log: return std::log(v);
    case Fn::Tanh: return std::tanh(v);
    case Fn::Sigmoid: {
      const T e = std::exp(-std::abs(v));  // 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) below
      return v >= 0 ? T(1) / (T(1) + e) : e / (T(1) + e);
    }
    case Fn::Erf: return std::erf(v);
  }
  return v;
}

}  // namespace ag::vecmath
