#pragma once
// The vector kernels of vecmath.h for one instruction set: each translation unit in this folder
// includes this file with its own compiler flags and instantiates `Kernels<Arch>` for its Arch.

#include <cstdint>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include <xsimd/xsimd.hpp>

#include "ag/autograd/ops/vecmath.h"

namespace ag::vecmath::detail {

template <class Arch>
struct Kernels {
  /// y = op(x) a batch at a time; the lanes where `rare` holds, and NaNs, are recomputed with libm.
  /// The vector code sees 0 in those lanes: xsimd's exp converts its argument to an integer, which
  /// is undefined behaviour for an infinity or a NaN where the instruction set has no vector
  /// conversion (AVX2 converts double lane by lane).
  template <class T, class Op, class Rare>
  static void map(Fn fn, const T* x, T* y, std::int64_t n, Op op, Rare rare) {
    using B = xsimd::batch<T, Arch>;
    constexpr std::int64_t W = static_cast<std::int64_t>(B::size);
    auto one = [&](const T* in, T* out, std::int64_t count) {
      const B v = B::load_unaligned(in);
      const auto special = rare(v) || xsimd::isnan(v);  // not v != v: AVX-512 compares that ordered
      if (!xsimd::any(special)) {
        op(v).store_unaligned(out);
        return;
      }
      alignas(64) T arg[W];  // the inputs, kept: out may be the same array as in
      v.store_aligned(arg);
      op(xsimd::select(special, B(T(0)), v)).store_unaligned(out);
      for (std::int64_t k = 0; k < count; ++k)
        if (arg[k] != arg[k] || xsimd::any(rare(B(arg[k])))) out[k] = scalar(fn, arg[k]);
    };
    std::int64_t i = 0;
    for (; i + W <= n; i += W) one(x + i, y + i, W);
    if (i < n) {  // the tail through the same code, padded with zeros
      alignas(64) T in[W] = {}, out[W];
      std::memcpy(in, x + i, static_cast<std::size_t>(n - i) * sizeof(T));
      one(in, out, n - i);
      std::memcpy(y + i, out, static_cast<std::size_t>(n - i) * sizeof(T));
    }
  }

  template <class T>
  static void apply(Fn fn, const T* x, T* y, std::int64_t n) {
    using B = xsimd::batch<T, Arch>;
    // Near log(smallest normal) and below, e^x is (nearly) subnormal, which the vector exp
    // flushes to zero; near log(largest) it gives inf a little early. Those inputs go to libm.
    const B exp_low(std::log(std::numeric_limits<T>::min()) + T(1));
    const B exp_high(std::log(std::numeric_limits<T>::max()) - T(1));
    switch (fn) {
      case Fn::Exp: {
        // Far enough below, e^x rounds to 0 even among subnormals (as exp_or_zero in ops/kernels.h):
        // answered in the vector code, so a confident softmax's far tail does not go to libm.
        const B zero_below(std::is_same_v<T, float> ? T(-104) : T(-746));
        return map(
            fn, x, y, n,
            [&](B v) {
              const auto gone = v < zero_below;
              return xsimd::select(gone, B(T(0)), xsimd::exp(xsimd::select(gone, B(T(0)), v)));
            },
            [&](B v) { return (v < exp_low && v >= zero_below) || (v > exp_high); });
      }
      case Fn::Log:  // subnormal, zero, negative, infinite
        return map(fn, x, y, n, [](B v) { return xsimd::log(v); },
                   [](B v) { return (v < B(std::numeric_limits<T>::min())) || (v > B(std::numeric_limits<T>::max())); });
      case Fn::Tanh:  // beyond 20, tanh is 1 to double precision; infinities must not reach the exp inside
        return map(fn, x, y, n, [](B v) { return xsimd::tanh(v); }, [](B v) { return xsimd::abs(v) > B(T(20)); });
      case Fn::Sigmoid:
        // 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) below: neither overflows.
        return map(
            fn, x, y, n,
            [](B v) {
              const B e = xsimd::exp(-xsimd::abs(v));
              const B one(T(1));
              return xsimd::select(v >= B(T(0)), one / (one + e), e / (one + e));
            },
            [&](B v) { return -xsimd::abs(v) < exp_low; });
      case Fn::Erf:
        // xsimd's double erf is off by up to 68 ulp (tests/test_vecmath.cpp found it): double
        // stays on libm. Its float erf is within 2 ulp. Beyond 6 erf is +-1 in float, answered
        // in the vector code (infinities too, so a batch with a far tail stays fast); below the
        // smallest normal erf(x) = 2x/sqrt(pi) in subnormals, which libm rounds right.
        if constexpr (std::is_same_v<T, double>) {
          for (std::int64_t i = 0; i < n; ++i) y[i] = scalar(fn, x[i]);
          return;
        }
        return map(
            fn, x, y, n,
            [](B v) {
              const auto far = xsimd::abs(v) > B(T(6));
              return xsimd::select(far, xsimd::copysign(B(T(1)), v), xsimd::erf(xsimd::select(far, B(T(0)), v)));
            },
            [](B v) {
              const B a = xsimd::abs(v);
              return (a < B(std::numeric_limits<T>::min())) && (a != B(T(0)));
            });
    }
  }
};

}  // namespace ag::vecmath::detail
