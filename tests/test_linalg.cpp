// Matrix products: matmul for every rank combination PyTorch accepts, mm, bmm, addmm, linear.
// Values against PyTorch's (tests/data/matmul.json), a plain triple loop and xtensor-blas's dot;
// gradients against finite differences (gradcheck and gradgradcheck in float64); error messages.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <functional>
#include <string>

#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>

#include "ag/autograd/autograd.h"
#include "golden.h"
#include "test_util.h"

using namespace ag;
using testutil::expect_throw_with;
using testutil::check_both;
using testutil::Fn;
using testutil::input;

namespace {

Tensor mul_fn(const std::vector<Tensor>& v) { return matmul(v[0], v[1]); }

/// a [m, k] @ b [k, n] by the textbook triple loop, in double.
std::vector<double> naive(const std::vector<double>& a, const std::vector<double>& b, std::int64_t m, std::int64_t k,
                          std::int64_t n) {
  std::vector<double> c(static_cast<std::size_t>(m * n), 0.0);
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j)
      for (std::int64_t p = 0; p < k; ++p) c[i * n + j] += a[i * k + p] * b[p * n + j];
  return c;
}

void expect_near_all(const std::vector<double>& actual, const std::vector<double>& expected, double tol) {
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t i = 0; i < actual.size(); ++i)
    EXPECT_NEAR(actual[i], expected[i], tol * std::max(1.0, std::abs(expected[i]))) << "element " << i;
}

}  // namespace

// ---- PyTorch's values --------------------------------------------------------------------------

TEST(MatmulGolden, MatchesPyTorchValuesAndGradients) {
  auto cases = golden::load("matmul.json");
  ASSERT_FALSE(cases.empty());
  // Every case also with transposed and stepped-slice operands: gemm reads transposed views in
  // place, through a flag and a leading dimension.
  for (golden::Layout layout : {golden::Layout::Contiguous, golden::Layout::Transposed, golden::Layout::Stepped})
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name + (layout == golden::Layout::Contiguous ? "" : " (non-contiguous operands)"));
    Tensor a = golden::leaf(c.inputs.at("a"), layout);
    Tensor b = golden::leaf(c.inputs.at("b"), layout);
    Tensor y = matmul(a, b);
    EXPECT_TRUE(golden::close(y, c.outputs.at("y"), 1e-10));
    auto g = golden::grads_of(y, c.inputs.at("upstream"), {a, b});
    EXPECT_TRUE(golden::close(g[0], c.grads.at("a"), 1e-10));
    EXPECT_TRUE(golden::close(g[1], c.grads.at("b"), 1e-10));
  }
}

// ---- forward values ------------------------------------------------------------------------------

TEST(Matmul, TwoByTwoWorkedByHand) {
  Tensor y = matmul(tensor({{1., 2.}, {3., 4.}}), tensor({{5., 6.}, {7., 8.}}));
  EXPECT_EQ(y.shape(), Shape({2, 2}));
  EXPECT_EQ(y.to_vector<double>(), (std::vector<double>{19, 22, 43, 50}));
}

TEST(Matmul, DotOfTwoVectorsIsZeroDimensional) {
  Tensor y = matmul(tensor({1., 2., 3.}, kFloat64), tensor({4., 5., 6.}, kFloat64));
  EXPECT_EQ(y.dim(), 0);
  EXPECT_EQ(y.item<double>(), 32.0);
}

TEST(Matmul, MatrixVectorAndVectorMatrixDropTheVectorDim) {
  Tensor m = tensor({{1., 2., 3.}, {4., 5., 6.}}, kFloat64);
  Tensor mv = matmul(m, tensor({1., 0., -1.}, kFloat64));
  EXPECT_EQ(mv.shape(), Shape({2}));
  EXPECT_EQ(mv.to_vector<double>(), (std::vector<double>{-2, -2}));
  Tensor vm = matmul(tensor({1., -1.}, kFloat64), m);
  EXPECT_EQ(vm.shape(), Shape({3}));
  EXPECT_EQ(vm.to_vector<double>(), (std::vector<double>{-3, -3, -3}));
}

TEST(Matmul, BroadcastBatchDimsMultiplyEveryPair) {
  Tensor a = input({2, 1, 3, 4}, 1).detach(), b = input({2, 4, 3}, 2).detach();
  Tensor y = matmul(a, b);
  ASSERT_EQ(y.shape(), Shape({2, 2, 3, 3}));
  std::vector<double> va = a.to_vector<double>(), vb = b.to_vector<double>(), vy = y.to_vector<double>();
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j) {
      // y[i, j] = a[i, 0] @ b[j]
      std::vector<double> ai(va.begin() + i * 12, va.begin() + (i + 1) * 12), bj(vb.begin() + j * 12, vb.begin() + (j + 1) * 12);
      std::vector<double> yij(vy.begin() + (i * 2 + j) * 9, vy.begin() + (i * 2 + j + 1) * 9);
      expect_near_all(yij, naive(ai, bj, 3, 4, 3), 1e-12);
    }
}

TEST(Matmul, MatrixTimesBatchBroadcastsTheMatrix) {
  Tensor a = input({3, 4}, 3).detach(), b = input({2, 4, 5}, 4).detach();
  Tensor y = matmul(a, b);
  ASSERT_EQ(y.shape(), Shape({2, 3, 5}));
  std::vector<double> vb = b.to_vector<double>(), vy = y.to_vector<double>();
  for (int j = 0; j < 2; ++j)
    expect_near_all(std::vector<double>(vy.begin() + j * 15, vy.begin() + (j + 1) * 15),
                    naive(a.to_vector<double>(), std::vector<double>(vb.begin() + j * 20, vb.begin() + (j + 1) * 20), 3, 4, 5),
                    1e-12);
}

TEST(Matmul, ShapesOfBatchedVectorProducts) {
  EXPECT_EQ(matmul(input({2, 3, 4}, 1), input({4}, 2)).shape(), Shape({2, 3}));
  EXPECT_EQ(matmul(input({4}, 1), input({2, 4, 3}, 2)).shape(), Shape({2, 3}));
  EXPECT_EQ(matmul(input({5, 1, 3, 4}, 1), input({2, 4, 6}, 2)).shape(), Shape({5, 2, 3, 6}));
}

TEST(Matmul, Float32MatchesTripleLoopOnOddSizes) {
  for (auto [m, k, n] : {std::tuple{1, 70, 33}, {64, 70, 1}, {37, 53, 29}, {1, 1, 1}, {128, 3, 64}}) {
    SCOPED_TRACE(::testing::Message() << m << "x" << k << "x" << n);
    Tensor a = input({m, k}, 5, kFloat32).detach(), b = input({k, n}, 6, kFloat32).detach();
    expect_near_all(matmul(a, b).to_vector<double>(), naive(a.to_vector<double>(), b.to_vector<double>(), m, k, n), 1e-5);
  }
}

TEST(Matmul, SmallProductsInEveryLayoutMatchTheTripleLoop) {
  // ag's own loops run the products of up to 128 multiply-adds, and those of up to 4096 whose
  // rows of C (4, 8 or 16 wide, op(B) not transposed) or dot products (4, 8 or 16 long, op(A)
  // not transposed and op(B) transposed) fit its vector kernels; the others go to OpenBLAS (gemv
  // for one row or column). Both sides of each line, each operand stored as is or transposed (a
  // gemm flag, no copy), float32 and float64; linear adds its bias through beta = 1.
  for (auto [m, k, n] : {std::tuple{32, 8, 2}, {32, 2, 8}, {2, 32, 8}, {1, 8, 2}, {2, 1, 8}, {4, 8, 4}, {4, 8, 5},
                         {1, 128, 1}, {1, 129, 1}, {8, 16, 4}, {16, 4, 16}, {64, 8, 8}, {65, 8, 8}, {3, 16, 16},
                         {5, 9, 3}, {7, 17, 1}, {3, 1, 4}, {16, 32, 32}, {16, 33, 32}, {40, 256, 1}, {2, 257, 3}}) {
    SCOPED_TRACE(::testing::Message() << m << "x" << k << "x" << n);
    for (Dtype dtype : {kFloat32, kFloat64})
      for (bool ta : {false, true})
        for (bool tb : {false, true}) {
          const double tol = dtype == kFloat32 ? 1e-5 : 1e-12;
          Tensor a = ta ? input({k, m}, 11, dtype).detach().t() : input({m, k}, 11, dtype).detach();
          Tensor b = tb ? input({n, k}, 12, dtype).detach().t() : input({k, n}, 12, dtype).detach();
          const std::vector<double> want = naive(a.contiguous().to_vector<double>(), b.contiguous().to_vector<double>(), m, k, n);
          expect_near_all(matmul(a, b).to_vector<double>(), want, tol);
          Tensor bias = input({n}, 13, dtype).detach();
          std::vector<double> with_bias = want;
          const std::vector<double> bv = bias.to_vector<double>();
          for (std::size_t i = 0; i < with_bias.size(); ++i) with_bias[i] += bv[i % static_cast<std::size_t>(n)];
          expect_near_all(linear(a, b.t(), bias).to_vector<double>(), with_bias, tol);
        }
  }
}

TEST(Matmul, AgreesWithXtensorBlasDot) {
  Tensor a = input({37, 53}, 7).detach(), b = input({53, 29}, 8).detach();
  auto xa = xt::adapt(a.data_ptr<double>(), 37 * 53, xt::no_ownership(), std::vector<std::size_t>{37, 53});
  auto xb = xt::adapt(b.data_ptr<double>(), 53 * 29, xt::no_ownership(), std::vector<std::size_t>{53, 29});
  xt::xarray<double> expected = xt::linalg::dot(xa, xb);
  std::vector<double> ev(expected.begin(), expected.end());
  expect_near_all(matmul(a, b).to_vector<double>(), ev, 1e-12);

  Tensor af = a.to(kFloat32), bf = b.to(kFloat32);
  auto xaf = xt::adapt(af.data_ptr<float>(), 37 * 53, xt::no_ownership(), std::vector<std::size_t>{37, 53});
  auto xbf = xt::adapt(bf.data_ptr<float>(), 53 * 29, xt::no_ownership(), std::vector<std::size_t>{53, 29});
  xt::xarray<float> expected_f = xt::linalg::dot(xaf, xbf);
  std::vector<double> evf(expected_f.begin(), expected_f.end());
  expect_near_all(matmul(af, bf).to_vector<double>(), evf, 1e-5);
}

TEST(Matmul, EmptyInnerDimensionGivesZeros) {
  Tensor y = matmul(zeros({2, 0}, kFloat64), zeros({0, 3}, kFloat64));
  EXPECT_EQ(y.shape(), Shape({2, 3}));
  EXPECT_EQ(y.to_vector<double>(), std::vector<double>(6, 0.0));
}

TEST(Matmul, TensorMethodsCallTheFreeFunctions) {
  Tensor a = tensor({{1., 2.}, {3., 4.}}), b = tensor({{1., 0.}, {0., 1.}});
  EXPECT_EQ(a.matmul(b).to_vector<float>(), a.to_vector<float>());
  EXPECT_EQ(a.mm(b).to_vector<float>(), a.to_vector<float>());
}

// ---- gradients -----------------------------------------------------------------------------------

TEST(MatmulGradcheck, MatrixTimesMatrix) { check_both(mul_fn, {input({3, 4}, 1), input({4, 5}, 2)}); }
TEST(MatmulGradcheck, DotOfTwoVectors) { check_both(mul_fn, {input({4}, 1), input({4}, 2)}); }
TEST(MatmulGradcheck, MatrixTimesVector) { check_both(mul_fn, {input({3, 4}, 1), input({4}, 2)}); }
TEST(MatmulGradcheck, VectorTimesMatrix) { check_both(mul_fn, {input({4}, 1), input({4, 3}, 2)}); }
TEST(MatmulGradcheck, BatchedTimesMatrix) { check_both(mul_fn, {input({2, 3, 4}, 1), input({4, 5}, 2)}); }
TEST(MatmulGradcheck, BatchedTimesBatched) { check_both(mul_fn, {input({2, 3, 4}, 1), input({2, 4, 2}, 2)}); }
TEST(MatmulGradcheck, BroadcastBatchDims) { check_both(mul_fn, {input({2, 1, 3, 4}, 1), input({2, 4, 3}, 2)}); }
TEST(MatmulGradcheck, MatrixTimesBatched) { check_both(mul_fn, {input({3, 4}, 1), input({2, 4, 5}, 2)}); }
TEST(MatmulGradcheck, VectorTimesBatched) { check_both(mul_fn, {input({4}, 1), input({2, 4, 3}, 2)}); }
TEST(MatmulGradcheck, BatchedTimesVector) { check_both(mul_fn, {input({2, 3, 4}, 1), input({4}, 2)}); }

TEST(MatmulGradcheck, SingleRowAndColumnShapesThatRunOnGemv) {
  check_both(mul_fn, {input({1, 4}, 1), input({4, 5}, 2)});
  check_both(mul_fn, {input({3, 4}, 1), input({4, 1}, 2)});
  check_both(mul_fn, {input({1, 4}, 1), input({4, 1}, 2)});
  check_both(mul_fn, {input({3, 1}, 1), input({1, 5}, 2)});
}

TEST(MatmulGradcheck, OnlyOneOperandRequiresGrad) {
  Tensor a = input({3, 4}, 1), b = input({4, 2}, 2).detach();
  check_both(mul_fn, {a, b});
  check_both(mul_fn, {a.detach(), input({4, 2}, 3)});
}

TEST(Mm, Gradcheck) {
  check_both([](auto& v) { return mm(v[0], v[1]); }, {input({3, 4}, 1), input({4, 2}, 2)});
}

TEST(Bmm, Gradcheck) {
  check_both([](auto& v) { return bmm(v[0], v[1]); }, {input({2, 3, 4}, 1), input({2, 4, 2}, 2)});
}

TEST(Addmm, BetaBiasPlusAlphaProductWorkedByHand) {
  Tensor y = addmm(tensor({10., 20.}), tensor({{1., 2.}, {3., 4.}}), tensor({{5., 6.}, {7., 8.}}), 0.5, 2);
  // 0.5 * [10, 20] + 2 * [[19, 22], [43, 50]]
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{43, 54, 91, 110}));
}

TEST(Addmm, BetaZeroIgnoresTheBiasEvenNaN) {
  Tensor y = addmm(full({2, 2}, NAN), tensor({{1., 2.}, {3., 4.}}), tensor({{1., 0.}, {0., 1.}}), 0, 1);
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{1, 2, 3, 4}));
}

TEST(Addmm, Gradcheck) {
  check_both([](auto& v) { return addmm(v[0], v[1], v[2], 0.5, -1.5); }, {input({4}, 1), input({3, 2}, 2), input({2, 4}, 3)});
  check_both([](auto& v) { return addmm(v[0], v[1], v[2]); }, {input({3, 1}, 1), input({3, 2}, 2), input({2, 4}, 3)});
}

TEST(Linear, EqualsInputTimesTransposedWeightPlusBias) {
  Tensor x = input({2, 3, 4}, 1).detach(), w = input({5, 4}, 2).detach(), b = input({5}, 3).detach();
  Tensor y = linear(x, w, b);
  ASSERT_EQ(y.shape(), Shape({2, 3, 5}));
  std::vector<double> vx = x.to_vector<double>(), vw = w.to_vector<double>(), vb = b.to_vector<double>(), expected;
  for (int r = 0; r < 6; ++r)
    for (int o = 0; o < 5; ++o) {
      double s = vb[o];
      for (int i = 0; i < 4; ++i) s += vx[r * 4 + i] * vw[o * 4 + i];
      expected.push_back(s);
    }
  expect_near_all(y.to_vector<double>(), expected, 1e-12);
}

TEST(Linear, WithoutBiasAndOnAVector) {
  Tensor w = tensor({{1., 2.}, {3., 4.}, {5., 6.}}, kFloat64);
  Tensor y = linear(tensor({1., -1.}, kFloat64), w);
  EXPECT_EQ(y.shape(), Shape({3}));
  EXPECT_EQ(y.to_vector<double>(), (std::vector<double>{-1, -1, -1}));
}

TEST(Linear, GradcheckOverLeadingDims) {
  check_both([](auto& v) { return linear(v[0], v[1], v[2]); }, {input({2, 3, 4}, 1), input({5, 4}, 2), input({5}, 3)});
  check_both([](auto& v) { return linear(v[0], v[1]); }, {input({3, 4}, 1), input({2, 4}, 2)});
  check_both([](auto& v) { return linear(v[0], v[1], v[2]); }, {input({4}, 1), input({3, 4}, 2), input({3}, 3)});
}

TEST(Linear, BackwardWithoutAnInputGradient) {
  Tensor x = input({3, 4}, 1).detach(), w = input({2, 4}, 2), b = input({2}, 3);
  linear(x, w, b).sum().backward();
  // d sum(x W^T + b) / dW[o, i] = sum over rows of x[:, i]; d/db = number of rows
  std::vector<double> vx = x.to_vector<double>(), gw = w.grad().to_vector<double>();
  for (int o = 0; o < 2; ++o)
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(gw[o * 4 + i], vx[i] + vx[4 + i] + vx[8 + i], 1e-12);
  EXPECT_EQ(b.grad().to_vector<double>(), (std::vector<double>{3, 3}));
}

// ---- errors --------------------------------------------------------------------------------------

TEST(MatmulErrors, InnerSizeMismatchNamesBothShapes) {
  expect_throw_with<std::invalid_argument>([] { matmul(zeros({2, 3}), zeros({4, 5})); },
                                           {"matmul: cannot multiply [2, 3] by [4, 5] (3 != 4)"});
  expect_throw_with<std::invalid_argument>([] { matmul(zeros({3}), zeros({4})); }, {"matmul", "[3]", "[4]", "3 != 4"});
  expect_throw_with<std::invalid_argument>([] { matmul(zeros({2, 3, 4}), zeros({5})); }, {"[2, 3, 4]", "[5]", "4 != 5"});
}

TEST(MatmulErrors, BatchDimsThatDoNotBroadcast) {
  expect_throw_with<std::invalid_argument>([] { matmul(zeros({2, 3, 4}), zeros({3, 4, 5})); },
                                           {"matmul", "[2, 3, 4]", "[3, 4, 5]", "do not broadcast"});
}

TEST(MatmulErrors, ZeroDimensionalOperand) {
  expect_throw_with<std::invalid_argument>([] { matmul(scalar_tensor(2.0), zeros({2})); }, {"matmul", "at least one dimension"});
}

TEST(MatmulErrors, WrongDtypesNameTheOpAndDtype) {
  expect_throw_with<std::invalid_argument>([] { matmul(zeros({2, 2}, kInt64), zeros({2, 2}, kInt64)); }, {"matmul", "int64"});
  expect_throw_with<std::invalid_argument>([] { matmul(zeros({2, 2}), zeros({2, 2}, kFloat64)); },
                                           {"matmul", "same dtype", "float32", "float64"});
}

TEST(MatmulErrors, MmAndBmmCheckTheirRanks) {
  expect_throw_with<std::invalid_argument>([] { mm(zeros({2, 3, 4}), zeros({4, 5})); }, {"mm", "2-D", "[2, 3, 4]"});
  expect_throw_with<std::invalid_argument>([] { bmm(zeros({2, 3, 4}), zeros({3, 4, 5})); }, {"bmm", "batch", "2 != 3"});
}

TEST(MatmulErrors, LinearFeatureMismatch) {
  expect_throw_with<std::invalid_argument>([] { linear(zeros({2, 3}), zeros({5, 4})); }, {"linear", "[2, 3]", "[5, 4]", "3 != 4"});
  expect_throw_with<std::invalid_argument>([] { linear(zeros({2, 4}), zeros({5, 4}), zeros({4})); }, {"linear", "bias", "[4]", "5"});
}

// ---- threads -------------------------------------------------------------------------------------

TEST(Threads, DefaultIsOneUnlessTheEnvironmentSaysOtherwise) {
  const char* env = std::getenv("OPENBLAS_NUM_THREADS");
  EXPECT_EQ(get_num_threads(), env ? std::atoi(env) : 1);
}

TEST(Threads, SetNumThreadsChangesOpenBlas) {
  int before = get_num_threads();
  set_num_threads(2);
  EXPECT_EQ(get_num_threads(), 2);
  set_num_threads(before);
  EXPECT_EQ(get_num_threads(), before);
  EXPECT_THROW(set_num_threads(0), std::invalid_argument);
}

// ---- graphs are freed ----------------------------------------------------------------------------

TEST(MatmulGraph, SecondDerivativeGraphsLeaveNoNodesBehind) {
  const std::int64_t baseline = Node::live_count();
  {
    Tensor a = input({2, 1, 3, 4}, 1), b = input({2, 4, 3}, 2), x = input({5, 4}, 3), w = input({2, 4}, 4);
    Tensor y = matmul(a, b).sum() + linear(x, w).pow(2).sum();
    auto g = grad({y}, {a, b, w}, {}, true, true);
    grad({g[0].sum() + g[1].sum() + g[2].sum()}, {a, b, w}, {}, false, false, true);
  }
  EXPECT_EQ(Node::live_count(), baseline);
}
