// The elementwise, reduction and shape ops: forward values worked out by hand, broadcasting, dtype
// promotion and error messages.

#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "ag/autograd/autograd.h"
#include "test_util.h"

using namespace ag;
using testutil::expect_throw_with;

// Gradients of every op (first and second order, on every layout) are checked through the op
// table: tests/op_table.h and test_op_table.cpp.

// ---- forward values ---------------------------------------------------------------------------

TEST(Elementwise, BroadcastingFollowsNumPy) {
  auto a = tensor({{1.0}, {2.0}, {3.0}});  // [3, 1]
  auto b = tensor({10.0, 20.0});           // [2]
  auto c = a + b;
  EXPECT_EQ(c.shape(), (Shape{3, 2}));
  EXPECT_EQ(c.to_vector<float>(), (std::vector<float>{11, 21, 12, 22, 13, 23}));
  EXPECT_EQ((tensor(2.0) * b).to_vector<float>(), (std::vector<float>{20, 40}));
}

TEST(Elementwise, IncompatibleShapesNameBothShapes) {
  auto a = zeros({2, 3}), b = zeros({4});
  expect_throw_with<std::invalid_argument>([&] { a + b; }, {"add", "[2, 3]", "[4]"});
  expect_throw_with<std::invalid_argument>([&] { a - b; }, {"sub", "[2, 3]", "[4]"});
  expect_throw_with<std::invalid_argument>([&] { a * b; }, {"mul", "[2, 3]", "[4]"});
  expect_throw_with<std::invalid_argument>([&] { a / b; }, {"div", "[2, 3]", "[4]"});
  expect_throw_with<std::invalid_argument>([&] { maximum(a, b); }, {"maximum", "[2, 3]", "[4]"});
}

TEST(Elementwise, TypePromotion) {
  auto i = tensor({1, 2});
  auto f = tensor({0.5, 0.5});
  auto d = tensor({0.5, 0.5}, kFloat64);
  EXPECT_EQ((i + f).dtype(), kFloat32);
  EXPECT_EQ((f + d).dtype(), kFloat64);
  EXPECT_EQ((i * 2).dtype(), kInt64);
  EXPECT_EQ((i * 0.5).dtype(), kFloat32);
  EXPECT_EQ((i / 2).dtype(), kFloat32);  // true division
  EXPECT_EQ((i / 2).to_vector<float>(), (std::vector<float>{0.5f, 1.0f}));
  EXPECT_EQ((f + tensor(1.0, kFloat64)).dtype(), kFloat32);  // a 0-d tensor does not promote
  EXPECT_EQ((i + tensor(1.5, kFloat64)).dtype(), kFloat64);  // unless it is of a higher category
}

TEST(Elementwise, UnaryValues) {
  auto x = tensor({-2.0, 0.0, 3.0}, kFloat64);
  EXPECT_EQ(relu(x).to_vector<double>(), (std::vector<double>{0, 0, 3}));
  EXPECT_EQ(abs(x).to_vector<double>(), (std::vector<double>{2, 0, 3}));
  EXPECT_EQ(clamp(x, -1, 1).to_vector<double>(), (std::vector<double>{-1, 0, 1}));
  EXPECT_EQ(sign(x).to_vector<double>(), (std::vector<double>{-1, 0, 1}));
  EXPECT_DOUBLE_EQ(sigmoid(tensor({-1000.0}, kFloat64)).item<double>(), 0.0);  // no overflow
  EXPECT_DOUBLE_EQ(sigmoid(tensor({1000.0}, kFloat64)).item<double>(), 1.0);
  EXPECT_NEAR(gelu(tensor({1.0}, kFloat64)).item<double>(), 0.8413447460685429, 1e-15);
  EXPECT_EQ(pow(tensor({2, 3}), 2).to_vector<std::int64_t>(), (std::vector<std::int64_t>{4, 9}));
  EXPECT_EQ(exp(tensor({0, 0})).dtype(), kFloat32);  // integers are computed as float
}

TEST(Elementwise, ComparisonsGiveBoolMasks) {
  auto a = tensor({1.0, 2.0, 3.0});
  auto m = a > 1.5;
  EXPECT_EQ(m.dtype(), kBool);
  EXPECT_EQ(m.to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 1, 1}));
  EXPECT_EQ((a == tensor({1.0, 0.0, 3.0})).to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 0, 1}));
  EXPECT_EQ((a <= 2.0).to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 1, 0}));
  EXPECT_FALSE((a > 1.5).requires_grad());
  EXPECT_EQ(where(m, a, zeros({3})).to_vector<float>(), (std::vector<float>{0, 2, 3}));
}

TEST(Elementwise, MaximumSplitsTheGradientOnTies) {
  auto a = tensor({1.0, 2.0}, TensorOptions(kFloat64).requires_grad(true));
  auto b = tensor({1.0, 3.0}, TensorOptions(kFloat64).requires_grad(true));
  maximum(a, b).sum().backward();
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{0.5, 0}));
  EXPECT_EQ(b.grad().to_vector<double>(), (std::vector<double>{0.5, 1}));
}

TEST(Elementwise, InPlaceBroadcastAndDtypeRules) {
  auto x = zeros({2, 3});
  x.add_(tensor({1.0, 2.0, 3.0}));
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{1, 2, 3, 1, 2, 3}));
  expect_throw_with<std::invalid_argument>([&] { x.add_(zeros({4, 2, 3})); }, {"add_", "[4, 2, 3]", "[2, 3]"});
  auto i = zeros({2}, kInt64);
  expect_throw_with<std::invalid_argument>([&] { i.add_(tensor({0.5, 0.5})); }, {"add_", "int64"});
  i.add_(tensor({1, 2}));
  EXPECT_EQ(i.to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 2}));
  x.copy_(tensor({7.0, 8.0, 9.0}));
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{7, 8, 9, 7, 8, 9}));
  x.fill_(2.0).mul_(3.0).sub_(1.0).div_(5.0);
  EXPECT_EQ(x.to_vector<float>(), std::vector<float>(6, 1.0f));
}

TEST(Reduction, Values) {
  auto x = tensor({{1.0, 5.0, 3.0}, {4.0, 2.0, 6.0}});
  EXPECT_FLOAT_EQ(x.sum().item<float>(), 21);
  EXPECT_EQ(x.sum(0).to_vector<float>(), (std::vector<float>{5, 7, 9}));
  EXPECT_EQ(x.sum(1, true).shape(), (Shape{2, 1}));
  EXPECT_EQ(x.mean(1).to_vector<float>(), (std::vector<float>{3, 4}));
  EXPECT_FLOAT_EQ(x.max().item<float>(), 6);
  auto [v, i] = x.max(1);
  EXPECT_EQ(v.to_vector<float>(), (std::vector<float>{5, 6}));
  EXPECT_EQ(i.to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(x.argmin(0).to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 1, 0}));
  EXPECT_EQ(x.argmax().item<std::int64_t>(), 5);
  EXPECT_EQ(x.amax({0, 1}).item<float>(), 6);
  EXPECT_EQ(tensor({1, 2, 3}).sum().dtype(), kInt64);
  EXPECT_NEAR(tensor({1000.0, 1000.0}).logsumexp(0).item<float>(), 1000 + std::log(2.0), 1e-3);  // no overflow
  EXPECT_EQ(tensor({-INFINITY, -INFINITY}).logsumexp(0).item<float>(), -INFINITY);
  EXPECT_FLOAT_EQ(tensor({3.0, 4.0}).norm().item<float>(), 5);
}

TEST(Broadcast, OneValuePerRowMatchesThePlainLoopAtEveryWidth) {
  // Rows of the widths the kernels unroll (8, 16) and others, the per-row value on either side,
  // through a middle dimension broadcast too (a mean's gradient times a mask: [a, n, w] * [a, n, 1]
  // with the first operand expanded from [a, 1, w]); each element is one multiply or divide, so
  // the results equal a plain loop's exactly.
  Generator g(5);
  for (std::int64_t w : {1, 3, 4, 8, 9, 16, 17, 32}) {
    SCOPED_TRACE(::testing::Message() << "width " << w);
    const std::int64_t a = 9, n = 4;  // more outer rows than middle ones: the walk swaps them
    Tensor rows = randn({a, 1, w}, kFloat32, &g).expand({a, n, w});
    Tensor col = randn({a, n, 1}, kFloat32, &g) + 3;
    const std::vector<float> rv = rows.contiguous().to_vector<float>(), cv = col.to_vector<float>();
    const std::vector<float> prod = (rows * col).to_vector<float>(), prod2 = (col * rows).to_vector<float>();
    const std::vector<float> quot = (rows / col).to_vector<float>(), quot2 = (col / rows).to_vector<float>();
    for (std::int64_t i = 0; i < a * n; ++i)
      for (std::int64_t j = 0; j < w; ++j) {
        const auto e = static_cast<std::size_t>(i * w + j);
        const float x = rv[e], c = cv[static_cast<std::size_t>(i)];
        ASSERT_EQ(prod[e], x * c);
        ASSERT_EQ(prod2[e], c * x);
        ASSERT_EQ(quot[e], x / c);
        ASSERT_EQ(quot2[e], c / x);
      }
  }
}

TEST(Reduction, FloatSumsStayAccurate) {
  // 10^7 copies of 0.1 in float32: a float accumulator would drift by ~1%.
  auto x = full({10000000}, 0.1f);
  EXPECT_NEAR(x.sum().item<double>(), 1e6, 1.0);
}

TEST(Reduction, SumAlongAMiddleDimAddsEachColumnInOrder) {
  // sum(1) of [outer, n, inner] for small blocks (columns held in registers), odd widths (the
  // tail of 4) and blocks too big for that (a row of accumulators): each output is the sum of
  // its column in order, in double, rounded once -- the plain loop below, bit for bit.
  Generator g(3);
  for (Shape s : {Shape{32, 6, 8}, Shape{3, 5, 7}, Shape{1, 40, 2}, Shape{2, 100, 200}, Shape{1, 3, 20001}}) {
    Tensor x = randn(s, kFloat32, &g) * 100;
    Tensor y = x.sum(1);
    ASSERT_EQ(y.shape(), (Shape{s[0], s[2]}));
    const std::vector<float> xv = x.to_vector<float>(), yv = y.to_vector<float>();
    for (std::int64_t a = 0; a < s[0]; ++a)
      for (std::int64_t i = 0; i < s[2]; ++i) {
        double acc = 0;
        for (std::int64_t k = 0; k < s[1]; ++k) acc += xv[static_cast<std::size_t>((a * s[1] + k) * s[2] + i)];
        ASSERT_EQ(yv[static_cast<std::size_t>(a * s[2] + i)], static_cast<float>(acc)) << to_string(s) << " " << a << " " << i;
      }
  }
}

TEST(Reduction, ErrorsNameTheOpAndTheDim) {
  auto x = zeros({2, 3});
  expect_throw_with<IndexError>([&] { x.sum(2); }, {"sum", "dimension 2", "[-2, 1]"});
  expect_throw_with<std::invalid_argument>([&] { tensor({1, 2}).mean(); }, {"mean", "int64"});
  expect_throw_with<std::invalid_argument>([&] { zeros({0}).max(); }, {"max", "empty"});
  EXPECT_TRUE(std::isnan(zeros({0}).mean().item<double>()));
  EXPECT_EQ(zeros({0}).sum().item<double>(), 0.0);
}

TEST(Shape, ReshapeFlattenSqueezeUnsqueeze) {
  auto x = arange(24).reshape({2, 3, 4});
  EXPECT_EQ(x.reshape({-1, 4}).shape(), (Shape{6, 4}));
  EXPECT_EQ(x.flatten().shape(), (Shape{24}));
  EXPECT_EQ(x.flatten(1).shape(), (Shape{2, 12}));
  EXPECT_EQ(x.unsqueeze(-1).shape(), (Shape{2, 3, 4, 1}));
  EXPECT_EQ(zeros({1, 3, 1}).squeeze().shape(), (Shape{3}));
  EXPECT_EQ(zeros({1, 3, 1}).squeeze(0).shape(), (Shape{3, 1}));
  EXPECT_EQ(zeros({2, 3}).squeeze(0).shape(), (Shape{2, 3}));
  expect_throw_with<std::invalid_argument>([&] { x.reshape({5, 5}); }, {"reshape", "[5, 5]", "24", "[2, 3, 4]"});
  expect_throw_with<std::invalid_argument>([&] { x.reshape({-1, -1}); }, {"reshape", "-1"});
}

TEST(Shape, TransposePermuteExpandValues) {
  auto x = arange(6).reshape({2, 3});
  EXPECT_EQ(x.t().to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 3, 1, 4, 2, 5}));
  auto y = arange(24).reshape({2, 3, 4}).permute({2, 0, 1});
  EXPECT_EQ(y.shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(y.at<std::int64_t>({3, 1, 2}), 1 * 12 + 2 * 4 + 3);
  EXPECT_EQ(tensor({1, 2}).expand({3, 2}).to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 2, 1, 2, 1, 2}));
  expect_throw_with<std::invalid_argument>([&] { tensor({1, 2}).expand({3, 3}); }, {"expand", "[3, 3]"});
  expect_throw_with<std::invalid_argument>([&] { x.permute({0, 0}); }, {"permute", "twice"});
  expect_throw_with<std::invalid_argument>([&] { zeros({2, 2, 2}).t(); }, {"t:", "[2, 2, 2]"});
}

TEST(Shape, CatStackSliceSelect) {
  auto a = tensor({{1, 2}, {3, 4}}), b = tensor({{5, 6}});
  EXPECT_EQ(cat({a, b}).to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(cat({a, a}, 1).shape(), (Shape{2, 4}));
  expect_throw_with<std::invalid_argument>([&] { cat({a, b}, 1); }, {"cat", "[1, 2]", "[2, 2]"});
  EXPECT_EQ(stack({a, a}).shape(), (Shape{2, 2, 2}));
  expect_throw_with<std::invalid_argument>([&] { stack({a, b}); }, {"stack", "same shape"});
  auto r = arange(10);
  EXPECT_EQ(r.slice(0, 2, 8, 3).to_vector<std::int64_t>(), (std::vector<std::int64_t>{2, 5}));
  EXPECT_EQ(r.slice(0, -3, std::nullopt).to_vector<std::int64_t>(), (std::vector<std::int64_t>{7, 8, 9}));
  EXPECT_EQ(r.narrow(0, 4, 2).to_vector<std::int64_t>(), (std::vector<std::int64_t>{4, 5}));
  EXPECT_EQ(a.select(1, -1).to_vector<std::int64_t>(), (std::vector<std::int64_t>{2, 4}));
  EXPECT_EQ(a[1].to_vector<std::int64_t>(), (std::vector<std::int64_t>{3, 4}));
  expect_throw_with<IndexError>([&] { a.select(0, 2); }, {"select", "index 2", "size 2"});
  expect_throw_with<IndexError>([&] { r.narrow(0, 8, 5); }, {"narrow", "length 5", "size 10"});
}
