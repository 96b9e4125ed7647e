// The vectorised exp, log, tanh and sigmoid (autograd/ops/vecmath.h) against libm: within 2 ulp
// over 10^7 inputs per function and dtype (random bit patterns over the whole range, a dense sweep
// of where each function changes most, and the edges: zeros, subnormals, infinities, NaN, the
// overflow and underflow thresholds), identical whatever an element's place in the array, and the
// ops that use them.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <limits>
#include <random>
#include <vector>

#include "ag/autograd/autograd.h"
#include "ag/autograd/ops/vecmath.h"

namespace {

using ag::vecmath::Fn;

template <class T>
using Bits = std::conditional_t<sizeof(T) == 4, std::int32_t, std::int64_t>;

/// Distance in units in the last place: the number of representable values between a and b.
template <class T>
std::int64_t ulps(T a, T b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b) ? 0 : std::numeric_limits<std::int64_t>::max();
  if (a == b) return 0;  // +0 and -0 too
  auto ordered = [](T v) {
    Bits<T> i;
    std::memcpy(&i, &v, sizeof v);
    return i < 0 ? static_cast<std::int64_t>(std::numeric_limits<Bits<T>>::min()) - i : static_cast<std::int64_t>(i);
  };
  const std::int64_t d = ordered(a) - ordered(b);
  return d < 0 ? -d : d;
}

template <class T>
T reference(Fn fn, T v) {
  switch (fn) {
    case Fn::Exp: return std::exp(v);
    case Fn::Log: return std::log(v);
    case Fn::Tanh: return std::tanh(v);
    case Fn::Sigmoid: {
      // In long double, then rounded: the correctly rounded sigmoid, as libm's exp would give.
      const long double e = std::exp(-std::fabs(static_cast<long double>(v)));
      return static_cast<T>(v >= 0 ? 1.0L / (1.0L + e) : e / (1.0L + e));
    }
    case Fn::Erf: return std::erf(v);
  }
  return 0;
}

const char* name(Fn fn) {
  switch (fn) {
    case Fn::Exp: return "exp";
    case Fn::Log: return "log";
    case Fn::Tanh: return "tanh";
    case Fn::Sigmoid: return "sigmoid";
    case Fn::Erf: return "erf";
  }
  return "?";
}

/// 10^7 inputs: the edges, a dense sweep of [lo, hi] and random bit patterns.
template <class T>
std::vector<T> inputs(Fn fn) {
  using L = std::numeric_limits<T>;
  std::vector<T> x = {T(0), -T(0), L::denorm_min(), -L::denorm_min(), L::min(), -L::min(), L::max(), -L::max(),
                      L::infinity(), -L::infinity(), L::quiet_NaN(), T(1), T(-1), L::epsilon(), T(0.5), T(-0.5)};
  // exp's overflow and underflow thresholds and their neighbours
  for (T edge : {std::log(L::max()), std::log(L::min()), std::log(L::denorm_min())})
    for (int k = -64; k <= 64; ++k) x.push_back(edge + T(k) * std::fabs(edge) * L::epsilon());
  const std::size_t n = 10'000'000;
  const T lo = fn == Fn::Log ? T(0) : T(-30), hi = fn == Fn::Log ? T(4) : T(30);
  const std::size_t sweep = n / 2;
  for (std::size_t i = 0; i < sweep; ++i) x.push_back(lo + (hi - lo) * static_cast<T>(i) / static_cast<T>(sweep));
  std::mt19937_64 rng(42);
  while (x.size() < n) {
    Bits<T> b = static_cast<Bits<T>>(rng());
    T v;
    std::memcpy(&v, &b, sizeof v);
    x.push_back(v);
  }
  return x;
}

template <class T>
void check_accuracy(Fn fn) {
  const std::vector<T> x = inputs<T>(fn);
  std::vector<T> y(x.size());
  ag::vecmath::apply(fn, x.data(), y.data(), static_cast<std::int64_t>(x.size()));
  std::int64_t worst = 0;
  std::size_t worst_at = 0, over = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const std::int64_t d = ulps(y[i], reference(fn, x[i]));
    if (d > worst) worst = d, worst_at = i;
    over += d > 2;
  }
  std::cout << name(fn) << "<" << (sizeof(T) == 4 ? "float" : "double") << "> on " << ag::vecmath::isa() << ": worst "
            << worst << " ulp over " << x.size() << " inputs\n";
  EXPECT_LE(worst, 2) << name(fn) << "<" << (sizeof(T) == 4 ? "float" : "double") << "> on " << ag::vecmath::isa()
                      << ": " << over << " of " << x.size() << " inputs beyond 2 ulp; worst " << worst << " ulp at x = "
                      << x[worst_at] << " (got " << y[worst_at] << ", libm " << reference(fn, x[worst_at]) << ")";
}

}  // namespace

TEST(Vecmath, ExpWithinTwoUlpOfLibm) {
  check_accuracy<float>(Fn::Exp);
  check_accuracy<double>(Fn::Exp);
}
TEST(Vecmath, LogWithinTwoUlpOfLibm) {
  check_accuracy<float>(Fn::Log);
  check_accuracy<double>(Fn::Log);
}
TEST(Vecmath, TanhWithinTwoUlpOfLibm) {
  check_accuracy<float>(Fn::Tanh);
  check_accuracy<double>(Fn::Tanh);
}
TEST(Vecmath, ErfWithinTwoUlpOfLibm) {
  check_accuracy<float>(Fn::Erf);
  check_accuracy<double>(Fn::Erf);
}
TEST(Vecmath, SigmoidWithinTwoUlpOfTheRoundedResult) {
  check_accuracy<float>(Fn::Sigmoid);
  check_accuracy<double>(Fn::Sigmoid);
}

TEST(Vecmath, AnElementsResultDoesNotDependOnItsPlaceInTheArray) {
  std::vector<float> x(103);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = -5.0f + 0.1f * static_cast<float>(i);
  for (Fn fn : {Fn::Exp, Fn::Tanh, Fn::Sigmoid}) {
    std::vector<float> whole(x.size());
    ag::vecmath::apply(fn, x.data(), whole.data(), static_cast<std::int64_t>(x.size()));
    for (std::size_t start = 0; start < 17; ++start)  // every offset, and every tail length
      for (std::size_t len = 1; start + len <= x.size(); len += 7) {
        std::vector<float> part(len);
        ag::vecmath::apply(fn, x.data() + start, part.data(), static_cast<std::int64_t>(len));
        for (std::size_t k = 0; k < len; ++k) ASSERT_EQ(part[k], whole[start + k]) << name(fn) << " " << start << " " << k;
      }
  }
}

TEST(Vecmath, OpsGiveTheSameValuesForEveryLayout) {
  ag::manual_seed(0);
  ag::Tensor a = ag::randn({37, 29}) * 4;
  for (auto op : {+[](const ag::Tensor& t) { return ag::exp(t); }, +[](const ag::Tensor& t) { return ag::tanh(t); },
                  +[](const ag::Tensor& t) { return ag::sigmoid(t); }, +[](const ag::Tensor& t) { return ag::log(t.abs()); }}) {
    ag::Tensor strided = op(a.t());  // through a contiguous copy
    ag::Tensor dense = op(a.t().contiguous());
    EXPECT_TRUE(ag::equal(strided, dense));
  }
  // An int64 input is computed in float32, as PyTorch does.
  ag::Tensor i = ag::exp(ag::tensor({0, 1, 2}));
  EXPECT_EQ(i.dtype(), ag::kFloat32);
  EXPECT_FLOAT_EQ(i.at<float>({2}), std::exp(2.0f));
}

// In place (x and y the same array), the lanes that go to libm still see their own input: the
// softmax kernels exponentiate their scratch in place, and a confident softmax has arguments far
// below exp's vector range next to ordinary ones in the same batch.
TEST(Vecmath, InPlaceGivesWhatASeparateOutputGets) {
  std::vector<double> xd;
  for (int i = 0; i < 97; ++i) xd.push_back(i % 3 == 0 ? -300.0 + i : i % 5 == 0 ? 1e-310 : 0.37 * i - 12);
  for (Fn fn : {Fn::Exp, Fn::Log, Fn::Tanh, Fn::Sigmoid, Fn::Erf}) {
    std::vector<float> xf(xd.begin(), xd.end()), yf(xf.size());
    std::vector<double> yd(xd.size());
    ag::vecmath::apply(fn, xf.data(), yf.data(), static_cast<std::int64_t>(xf.size()));
    ag::vecmath::apply(fn, xd.data(), yd.data(), static_cast<std::int64_t>(xd.size()));
    std::vector<float> inf(xf);
    std::vector<double> ind(xd);
    ag::vecmath::apply(fn, inf.data(), inf.data(), static_cast<std::int64_t>(inf.size()));
    ag::vecmath::apply(fn, ind.data(), ind.data(), static_cast<std::int64_t>(ind.size()));
    for (std::size_t k = 0; k < xd.size(); ++k) {
      ASSERT_EQ(ulps(inf[k], yf[k]), 0) << name(fn) << " float at " << xf[k];
      ASSERT_EQ(ulps(ind[k], yd[k]), 0) << name(fn) << " double at " << xd[k];
      if (fn == Fn::Exp) {
        ASSERT_LE(ulps(inf[k], std::exp(xf[k])), 2) << "exp float at " << xf[k];
        ASSERT_LE(ulps(ind[k], std::exp(xd[k])), 2) << "exp double at " << xd[k];
      }
    }
  }
}
