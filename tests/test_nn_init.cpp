// nn::init and the layers' default initialisation: bounds, and means and variances over many
// samples. Each statistical tolerance is 5 standard errors of the statistic at that sample size,
// so a correct initialiser fails with probability below 1e-6 whatever the seed.
#include <gtest/gtest.h>

#include <cmath>

#include "ag/nn/nn.h"

namespace nn = ag::nn;
namespace init = ag::nn::init;
using ag::Tensor;

namespace {

struct Stats {
  double mean = 0, var = 0, min = INFINITY, max = -INFINITY;
  double n = 0;
};

Stats stats_of(const Tensor& t) {
  Stats s;
  std::vector<double> v = t.to_vector<double>();
  s.n = static_cast<double>(v.size());
  for (double x : v) {
    s.mean += x;
    s.min = std::min(s.min, x);
    s.max = std::max(s.max, x);
  }
  s.mean /= s.n;
  for (double x : v) s.var += (x - s.mean) * (x - s.mean);
  s.var /= s.n;
  return s;
}

// U(-b, b): mean 0 with standard error b / sqrt(3n); variance b^2/3 with standard error
// sqrt(Var(X^2) / n) = sqrt(4 b^4 / 45 / n).
void expect_uniform(const Tensor& t, double b) {
  Stats s = stats_of(t);
  double edge = b * (1 + 1e-6);  // a float32 sample may round to just past the double bound
  EXPECT_GE(s.min, -edge);
  EXPECT_LE(s.max, edge);
  EXPECT_GT(s.max, 0.99 * b);  // the samples do reach the bounds
  EXPECT_LT(s.min, -0.99 * b);
  EXPECT_NEAR(s.mean, 0.0, 5 * b / std::sqrt(3 * s.n));
  EXPECT_NEAR(s.var, b * b / 3, 5 * std::sqrt(4.0 / 45.0 / s.n) * b * b);
}

// N(mu, sigma^2): mean's standard error sigma / sqrt(n), variance's sigma^2 sqrt(2 / n).
void expect_normal(const Tensor& t, double mu, double sigma) {
  Stats s = stats_of(t);
  EXPECT_NEAR(s.mean, mu, 5 * sigma / std::sqrt(s.n));
  EXPECT_NEAR(s.var, sigma * sigma, 5 * sigma * sigma * std::sqrt(2.0 / s.n));
}

}  // namespace

TEST(NnInit, CalculateGainAsPyTorch) {
  EXPECT_DOUBLE_EQ(init::calculate_gain(init::kLinear), 1.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain(init::kConv2D), 1.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain(init::kSigmoid), 1.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain(init::kTanh), 5.0 / 3.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain(init::kReLU), std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(init::calculate_gain(init::kLeakyReLU), std::sqrt(2.0 / (1 + 0.01 * 0.01)));
  EXPECT_NEAR(init::calculate_gain(init::kLeakyReLU, 0.2), 1.3867504905630728, 1e-15);
  EXPECT_NEAR(init::calculate_gain(init::kLeakyReLU, std::sqrt(5.0)), 0.5773502691896258, 1e-15);
  EXPECT_DOUBLE_EQ(init::calculate_gain(init::kSELU), 0.75);
}

TEST(NnInit, FanInAndFanOut) {
  using Fans = std::pair<std::int64_t, std::int64_t>;
  EXPECT_EQ(init::calculate_fan_in_and_fan_out(ag::empty({5, 3})), Fans(3, 5));
  EXPECT_EQ(init::calculate_fan_in_and_fan_out(ag::empty({4, 3, 2, 2})), Fans(12, 16));  // receptive field 4
  EXPECT_THROW(init::calculate_fan_in_and_fan_out(ag::empty({7})), std::invalid_argument);
}

TEST(NnInit, LinearWeightsAndBiasAreUniformWithinOneOverSqrtIn) {
  ag::manual_seed(0);
  nn::Linear lin(1000, 1000);  // 10^6 weights
  double bound = 1.0 / std::sqrt(1000.0);
  expect_uniform(lin.weight, bound);
  Stats b = stats_of(lin.bias);
  EXPECT_GE(b.min, -bound * (1 + 1e-6));
  EXPECT_LE(b.max, bound * (1 + 1e-6));
  EXPECT_NEAR(b.mean, 0.0, 5 * bound / std::sqrt(3 * b.n));
}

TEST(NnInit, SmallLinearStaysWithinItsBound) {
  nn::Linear lin(3, 5);
  double bound = 1 / std::sqrt(3.0) * (1 + 1e-6);
  for (double v : lin.weight.to_vector<double>()) EXPECT_LE(std::abs(v), bound);
  for (double v : lin.bias.to_vector<double>()) EXPECT_LE(std::abs(v), bound);
}

TEST(NnInit, EmbeddingWeightsAreStandardNormal) {
  ag::manual_seed(0);
  nn::Embedding emb(1000, 1000);
  expect_normal(emb.weight, 0.0, 1.0);
}

TEST(NnInit, EmbeddingPaddingRowIsZero) {
  for (std::int64_t padding : {0, 3, -1}) {
    nn::Embedding emb(nn::EmbeddingOptions(10, 4).padding_idx(padding));
    std::int64_t row = padding < 0 ? padding + 10 : padding;
    for (std::int64_t r = 0; r < 10; ++r) {
      double abs_sum = emb.weight[r].abs().sum().item<double>();
      if (r == row) EXPECT_EQ(abs_sum, 0.0) << "padding " << padding;
      else EXPECT_GT(abs_sum, 0.0) << "row " << r;
    }
    EXPECT_TRUE(emb.weight.requires_grad() && emb.weight.is_leaf());
  }
}

TEST(NnInit, XavierUniformBoundAndVariance) {
  Tensor w = ag::empty({400, 600});
  double gain = init::calculate_gain(init::kTanh);
  init::xavier_uniform_(w, gain);
  expect_uniform(w, gain * std::sqrt(6.0 / (400 + 600)));
}

TEST(NnInit, XavierNormalStd) {
  Tensor w = ag::empty({400, 600});
  init::xavier_normal_(w);
  expect_normal(w, 0.0, std::sqrt(2.0 / (400 + 600)));
}

TEST(NnInit, KaimingUniformBoundUsesFanAndGain) {
  Tensor w = ag::empty({300, 200, 2});  // fan_in 400, fan_out 600
  init::kaiming_uniform_(w, 0.0, init::kFanOut, init::kReLU);
  expect_uniform(w, std::sqrt(2.0) * std::sqrt(3.0 / 600));
  init::kaiming_uniform_(w);  // a = 0, fan_in, leaky_relu: gain sqrt(2)
  expect_uniform(w, std::sqrt(2.0) * std::sqrt(3.0 / 400));
}

TEST(NnInit, KaimingNormalStd) {
  Tensor w = ag::empty({500, 400});
  init::kaiming_normal_(w, 0.0, init::kFanIn, init::kReLU);
  expect_normal(w, 0.0, std::sqrt(2.0 / 400));
  init::kaiming_normal_(w, 0.0, init::kFanOut, init::kLinear);
  expect_normal(w, 0.0, 1.0 / std::sqrt(500.0));
}

TEST(NnInit, UniformAndNormalWithArguments) {
  Tensor w = ag::empty({200000}, ag::kFloat64);
  init::uniform_(w, 2.0, 4.0);
  Stats s = stats_of(w);
  EXPECT_GE(s.min, 2.0);
  EXPECT_LT(s.max, 4.0);
  EXPECT_NEAR(s.mean, 3.0, 5 / std::sqrt(3 * s.n));
  init::normal_(w, -1.0, 0.5);
  expect_normal(w, -1.0, 0.5);
  EXPECT_THROW(init::uniform_(w, 1.0, 0.0), std::invalid_argument);
  EXPECT_THROW(init::normal_(w, 0.0, -1.0), std::invalid_argument);
  EXPECT_THROW(init::uniform_(ag::zeros({2}, ag::kInt64)), std::invalid_argument);
}

TEST(NnInit, ConstantZerosOnes) {
  Tensor w = ag::empty({2, 3});
  EXPECT_EQ(init::constant_(w, 0.25).to_vector<float>(), std::vector<float>(6, 0.25f));
  EXPECT_EQ(init::zeros_(w).to_vector<float>(), std::vector<float>(6, 0.0f));
  EXPECT_EQ(init::ones_(w).to_vector<float>(), std::vector<float>(6, 1.0f));
}

TEST(NnInit, WorksOnParametersThatRequireGradWithoutRecordingAGraph) {
  nn::Linear lin(4, 4);
  init::xavier_uniform_(lin.weight);
  init::zeros_(lin.bias);
  EXPECT_TRUE(lin.weight.is_leaf() && lin.weight.requires_grad());
  EXPECT_TRUE(lin.bias.is_leaf() && lin.bias.requires_grad());
  EXPECT_EQ(lin.bias.abs().sum().item<double>(), 0.0);
}

TEST(NnInit, GeneratorMakesInitRepeatable) {
  Tensor a = ag::empty({50}), b = ag::empty({50});
  ag::Generator g1(42), g2(42);
  init::kaiming_normal_(a.view({5, 10}), 0.0, init::kFanIn, init::kReLU, &g1);
  init::kaiming_normal_(b.view({5, 10}), 0.0, init::kFanIn, init::kReLU, &g2);
  EXPECT_TRUE(ag::equal(a, b));
  init::normal_(a, 0, 1, &g1);
  EXPECT_FALSE(ag::equal(a, b));
}
