#pragma once
// The vector kernels of vecmath.h for one instruction set: each translation unit in this folder
// includes this file with its own compiler flags and instantiates `Kernels<Arch>` for its Arch.

#include <cstdint>
#include <cmath>
#include <cstring>
#include <limits>

#include <xsimd/xsimd.hpp>

#include "ag/autograd/ops/vecmath.h"

namespace ag::vecmath::detail {

template <class Arch>
struct Kernels {
  /// y = op(x) a batch at a time; the lanes where `rare` holds are recomputed with libm.
  template <class T, class Op, class Rare>
  static void map(Fn fn, const T* x, T* y, std::int64_t n, Op op, Rare rare) {
    using B = xsimd::batch<T, Arch>;
    constexpr std::int64_t W = static_cast<std::int64_t>(B::size);
    auto one = [&](const T* in, T* out, std::int64_t count) {
      const B v = B::load_unaligned(in);
      op(v).store_unaligned(out);
      if (xsimd::any(rare(v)))
        for (std::int64_t k = 0; k < count; ++k)
          if (xsimd::any(rare(B(in[k])))) out[k] = scalar(fn, in[k]);
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
      case Fn::Exp:
        return map(fn, x, y, n, [](B v) { return xsimd::exp(v); },
                   [&](B v) { return (v < exp_low) || (v > exp_high); });
      case Fn::Log:
        return map(fn, x, y, n, [](B v) { return xsimd::log(v); },
                   [](B v) { return v < B(std::numeric_limits<T>::min()); });  // subnormal, zero, negative
      case Fn::Tanh:
        return map(fn, x, y, n, [](B v) { return xsimd::tanh(v); }, [](B v) { return v != v && v == v; });
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
    }
  }
};

}  // namespace ag::vecmath::detail
