// Gradient clipping: total norms computed by hand, scaling, the inf norm, non-finite norms, and
// clamping by value.

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "ag/autograd/autograd.h"
#include "ag/nn/clip_grad.h"

using ag::Tensor;
namespace utils = ag::nn::utils;

namespace {

/// A parameter whose gradient is `grad`.
Tensor with_grad(const Tensor& grad) {
  Tensor p = ag::zeros(grad.shape(), grad.dtype()).requires_grad_();
  p.set_grad(grad);
  return p;
}

}  // namespace

TEST(ClipGradNorm, TwoNormOverAllGradientsScalesThemDown) {
  Tensor a = with_grad(ag::tensor({3.0, 4.0})), b = with_grad(ag::tensor({{12.0}}));
  // sqrt(3^2 + 4^2 + 12^2) = 13
  double total = utils::clip_grad_norm_({a, b}, 1.0);
  EXPECT_NEAR(total, 13.0, 1e-12);
  const double coef = 1.0 / (13.0 + 1e-6);
  EXPECT_FLOAT_EQ(a.grad().at<float>({0}), static_cast<float>(3 * coef));
  EXPECT_FLOAT_EQ(a.grad().at<float>({1}), static_cast<float>(4 * coef));
  EXPECT_FLOAT_EQ(b.grad().at<float>({0, 0}), static_cast<float>(12 * coef));
  // Clipped: the new norm is max_norm (up to the 1e-6).
  EXPECT_NEAR(utils::clip_grad_norm_({a, b}, 100.0), 1.0, 1e-6);
}

TEST(ClipGradNorm, InfNormIsTheLargestMagnitude) {
  Tensor a = with_grad(ag::tensor({1.0, -7.0}, ag::kFloat64)), b = with_grad(ag::tensor({5.0}, ag::kFloat64));
  double total = utils::clip_grad_norm_({a, b}, 3.5, std::numeric_limits<double>::infinity());
  EXPECT_EQ(total, 7.0);
  const double coef = 3.5 / (7.0 + 1e-6);
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{1.0 * coef, -7.0 * coef}));
  EXPECT_EQ(b.grad().to_vector<double>(), (std::vector<double>{5.0 * coef}));
}

TEST(ClipGradNorm, OtherOrders) {
  Tensor a = with_grad(ag::tensor({1.0, -2.0, 2.0}, ag::kFloat64));
  EXPECT_NEAR(utils::clip_grad_norm_(a, 100.0, 1.0), 5.0, 1e-12);                              // |1|+|2|+|2|
  EXPECT_NEAR(utils::clip_grad_norm_(a, 100.0, 3.0), std::cbrt(1.0 + 8.0 + 8.0), 1e-12);        // (sum |g|^3)^(1/3)
  EXPECT_NEAR(utils::clip_grad_norm_(a, 100.0, 0.5), std::pow(1 + 2 * std::sqrt(2.0), 2), 1e-12);
}

TEST(ClipGradNorm, GradientsWithinTheBoundAreUntouched) {
  Tensor a = with_grad(ag::tensor({0.3f, -0.4f}));
  Tensor before = a.grad().clone();
  EXPECT_NEAR(utils::clip_grad_norm_({a}, 0.5 + 2e-6), 0.5, 1e-7);
  EXPECT_TRUE(ag::equal(a.grad(), before));
}

TEST(ClipGradNorm, ParametersWithoutGradientAreSkipped) {
  Tensor none = ag::zeros({3}).requires_grad_();
  Tensor a = with_grad(ag::tensor({6.0, 8.0}));
  EXPECT_NEAR(utils::clip_grad_norm_({none, a}, 5.0), 10.0, 1e-12);
  EXPECT_FALSE(none.grad().defined());
  EXPECT_NEAR(a.grad().at<double>({1}), 8.0 * 5.0 / (10.0 + 1e-6), 1e-6);
  EXPECT_EQ(utils::clip_grad_norm_({none}, 1.0), 0.0);
  EXPECT_EQ(utils::clip_grad_norm_(std::vector<Tensor>{}, 1.0), 0.0);
}

TEST(ClipGradNorm, NonFiniteNorms) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Tensor a = with_grad(ag::tensor({1.0, nan}, ag::kFloat64)), b = with_grad(ag::tensor({2.0}, ag::kFloat64));
  try {
    utils::clip_grad_norm_({a, b}, 1.0, 2.0, /*error_if_nonfinite=*/true);
    ADD_FAILURE() << "expected a throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("the total norm of order 2 of the gradients is nan"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(b.grad().item<double>(), 2.0);  // nothing scaled
  // Without the check, a NaN norm makes every gradient NaN, as in PyTorch.
  EXPECT_TRUE(std::isnan(utils::clip_grad_norm_({a, b}, 1.0)));
  EXPECT_TRUE(std::isnan(b.grad().item<double>()));

  Tensor c = with_grad(ag::tensor({1.0, std::numeric_limits<double>::infinity()}, ag::kFloat64));
  EXPECT_THROW(utils::clip_grad_norm_(c, 1.0, std::numeric_limits<double>::infinity(), true), std::invalid_argument);
  EXPECT_TRUE(std::isinf(utils::clip_grad_norm_(c, 1.0, std::numeric_limits<double>::infinity())));
  EXPECT_EQ(c.grad().at<double>({0}), 0.0);  // scaled by 1 / inf
}

TEST(ClipGradNorm, InvalidArgumentsThrow) {
  Tensor a = with_grad(ag::tensor({1.0}));
  EXPECT_THROW(utils::clip_grad_norm_(a, -1.0), std::invalid_argument);
  EXPECT_THROW(utils::clip_grad_norm_(a, 1.0, 0.0), std::invalid_argument);
  EXPECT_THROW(utils::clip_grad_norm_(a, 1.0, -std::numeric_limits<double>::infinity()), std::invalid_argument);
}

TEST(ClipGradValue, ClampsEachElement) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor a = with_grad(ag::tensor(std::vector<float>{-3.0f, -0.5f, 0.0f, 0.25f, 9.0f, nan}, {6}));
  Tensor b = ag::zeros({2}).requires_grad_();  // no gradient: skipped
  utils::clip_grad_value_({a, b}, 0.5);
  std::vector<float> g = a.grad().to_vector<float>();
  EXPECT_EQ(std::vector<float>(g.begin(), g.begin() + 5), (std::vector<float>{-0.5f, -0.5f, 0.0f, 0.25f, 0.5f}));
  EXPECT_TRUE(std::isnan(g[5]));
  EXPECT_FALSE(b.grad().defined());
  EXPECT_THROW(utils::clip_grad_value_(a, -1.0), std::invalid_argument);
}
