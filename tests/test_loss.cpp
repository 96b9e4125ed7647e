// softmax, log_softmax and the losses: PyTorch's values (tests/data/loss.json), cases worked out
// by hand (weights, label smoothing and ignore_index together), numerical stability, gradients
// against finite differences (gradcheck and gradgradcheck in float64) and error messages.

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

#include "ag/autograd/autograd.h"
#include "golden.h"
#include "test_util.h"

using namespace ag;
using testutil::expect_throw_with;
using testutil::check_both;
using testutil::check_first;
using testutil::Fn;
using testutil::input;

namespace {

void expect_near_all(const Tensor& actual, const std::vector<double>& expected, double tol) {
  std::vector<double> a = actual.to_vector<double>();
  ASSERT_EQ(a.size(), expected.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], expected[i], tol) << "element " << i;
}

Reduction reduction_of(const std::string& r) { return r == "none" ? kNone : r == "sum" ? kSum : kMean; }

const double kLog2 = std::log(2.0), kLog3 = std::log(3.0);

}  // namespace

// ---- PyTorch's values --------------------------------------------------------------------------

TEST(LossGolden, MatchesPyTorchValuesAndGradients) {
  auto cases = golden::load("loss.json");
  ASSERT_FALSE(cases.empty());
  for (golden::Layout layout : {golden::Layout::Contiguous, golden::Layout::Transposed, golden::Layout::Stepped})
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name + (layout == golden::Layout::Contiguous ? "" : " (non-contiguous inputs)"));
    std::map<std::string, Tensor> in;
    for (auto& [n, t] : c.inputs) in[n] = n == "upstream" ? t : golden::leaf(t, layout);
    const auto& p = c.params;
    Reduction r = reduction_of(p.value("reduction", "mean"));
    Tensor y;
    if (c.kind == "softmax") y = softmax(in["x"], p.at("dim"));
    else if (c.kind == "log_softmax") y = log_softmax(in["x"], p.at("dim"));
    else if (c.kind == "cross_entropy")
      y = cross_entropy(in["x"], in["t"], CrossEntropyOptions().reduction(r).ignore_index(p.value("ignore_index", -100))
                                              .label_smoothing(p.value("label_smoothing", 0.0)));
    else if (c.kind == "nll_loss") y = nll_loss(log_softmax(in["x"], -1), in["t"], NLLLossOptions().reduction(r));
    else if (c.kind == "mse_loss") y = mse_loss(in["a"], in["b"], r);
    else if (c.kind == "binary_cross_entropy_with_logits") y = binary_cross_entropy_with_logits(in["a"], in["b"], BCEWithLogitsOptions().reduction(r));
    else FAIL() << "unknown kind " << c.kind;
    EXPECT_TRUE(golden::close(y, c.outputs.at("y"), 1e-10));
    backward({y}, {in["upstream"]});
    for (auto& [n, g] : c.grads) EXPECT_TRUE(golden::close(in[n].grad(), g, 1e-10)) << "grad of " << n;
  }
}

// ---- softmax -----------------------------------------------------------------------------------

TEST(Softmax, WorkedExample) {
  Tensor x = tensor({0.0, std::log(3.0)}, kFloat64);
  expect_near_all(softmax(x, 0), {0.25, 0.75}, 1e-15);
  expect_near_all(log_softmax(x, 0), {std::log(0.25), std::log(0.75)}, 1e-15);
}

TEST(Softmax, NormalisesAlongTheGivenDim) {
  Tensor x = input({2, 3, 4}, 1).detach();
  for (std::int64_t d : {0, 1, 2, -1}) {
    SCOPED_TRACE(d);
    Tensor total = sum(softmax(x, d), {d});
    expect_near_all(total, std::vector<double>(static_cast<std::size_t>(total.numel()), 1.0), 1e-14);
    Tensor total_exp = sum(exp(log_softmax(x, d)), {d});
    expect_near_all(total_exp, std::vector<double>(static_cast<std::size_t>(total.numel()), 1.0), 1e-14);
  }
}

TEST(Softmax, StableForHugeLogits) {
  Tensor x = tensor({1000.0, 0.0, -1000.0});
  expect_near_all(softmax(x, 0), {1, 0, 0}, 0);
  expect_near_all(log_softmax(x, 0), {0, -1000, -2000}, 0);
}

TEST(Softmax, Gradcheck) {
  for (std::int64_t d : {0, 1, -1}) {
    SCOPED_TRACE(d);
    check_both([d](auto& v) { return softmax(v[0], d); }, {input({3, 4, 2}, 2)});
    check_both([d](auto& v) { return log_softmax(v[0], d); }, {input({3, 4, 2}, 3)});
  }
  check_both([](auto& v) { return softmax(v[0], 0); }, {input({5}, 4)});
}

TEST(Softmax, CreateGraphBackwardEqualsPlainBackward) {
  Tensor x = input({3, 5}, 5), up = input({3, 5}, 6).detach();
  for (bool log : {false, true}) {
    Tensor y1 = log ? log_softmax(x, 1) : softmax(x, 1);
    Tensor plain = grad({y1}, {x}, {up})[0];
    Tensor y2 = log ? log_softmax(x, 1) : softmax(x, 1);
    Tensor recorded = grad({y2}, {x}, {up}, true, true)[0];
    EXPECT_TRUE(recorded.requires_grad());
    EXPECT_TRUE(allclose(plain, recorded, 1e-13, 1e-15));
  }
}

// ---- cross_entropy -------------------------------------------------------------------------------

TEST(CrossEntropy, UniformLogitsGiveLogOfTheClassCount) {
  EXPECT_NEAR(cross_entropy(zeros({3, 4}, kFloat64), tensor({0, 3, 1})).item<double>(), std::log(4.0), 1e-15);
}

TEST(CrossEntropy, WeightAndLabelSmoothingWorkedByHand) {
  // x = [0, log 2, log 5]: log_softmax = [-3 log 2, -2 log 2, log(5/8)]; t = 1, w = [1, 2, 3], eps = 0.3
  // q = 0.7 w_t [c == t] + (0.3 / 3) w = [0.1, 1.6, 0.3]; loss = -Σ q lp / w_t
  Tensor x = tensor({{0.0, std::log(2.0), std::log(5.0)}}, kFloat64).requires_grad_(true);
  auto opts = CrossEntropyOptions().weight(tensor({1., 2., 3.}, kFloat64)).label_smoothing(0.3);
  Tensor loss = cross_entropy(x, tensor({1}), opts);
  EXPECT_NEAR(loss.item<double>(), (3.5 * kLog2 - 0.3 * std::log(0.625)) / 2, 1e-15);
  loss.backward();
  // (Σq softmax - q) / w_t = (2 [1/8, 2/8, 5/8] - q) / 2
  expect_near_all(x.grad(), {0.075, -0.55, 0.475}, 1e-15);
}

TEST(CrossEntropy, IgnoredSamplesLeaveTheWeightedMean) {
  // zero logits: lse - x_c = log 3 everywhere. t = [0, 2, 1, 2] with 1 ignored, w = [1, 2, 3], eps = 0.3:
  // loss_s = (0.7 w_t + 0.1 Σw) log 3 = [1.3, 2.7, 0, 2.7] log 3; mean divides by w_0 + w_2 + w_2 = 7.
  Tensor x = zeros({4, 3}, kFloat64), t = tensor({0, 2, 1, 2});
  auto opts = CrossEntropyOptions().weight(tensor({1., 2., 3.}, kFloat64)).ignore_index(1).label_smoothing(0.3);
  EXPECT_NEAR(cross_entropy(x, t, opts).item<double>(), 6.7 / 7 * kLog3, 1e-15);
  EXPECT_NEAR(cross_entropy(x, t, CrossEntropyOptions(opts).reduction(kSum)).item<double>(), 6.7 * kLog3, 1e-14);
  expect_near_all(cross_entropy(x, t, CrossEntropyOptions(opts).reduction(kNone)),
                  {1.3 * kLog3, 2.7 * kLog3, 0.0, 2.7 * kLog3}, 1e-15);
}

TEST(CrossEntropy, AllTargetsIgnoredUnderMeanIsNaN) {
  Tensor x = input({3, 4}, 1);
  Tensor loss = cross_entropy(x, tensor({-100, -100, -100}), CrossEntropyOptions().label_smoothing(0.1));
  EXPECT_TRUE(std::isnan(loss.item<double>()));
  loss.backward();  // every sample is ignored: no gradient reaches x, as in PyTorch
  expect_near_all(x.grad(), std::vector<double>(12, 0.0), 0);
  EXPECT_EQ(cross_entropy(x, tensor({-100, -100, -100}), CrossEntropyOptions().reduction(kSum)).item<double>(), 0.0);
}

TEST(CrossEntropy, OneSampleOfClassScoresWithA0dTarget) {
  Tensor loss = cross_entropy(tensor({0.0, std::log(2.0), std::log(5.0)}, kFloat64), scalar_tensor(2, kInt64));
  EXPECT_EQ(loss.dim(), 0);
  EXPECT_NEAR(loss.item<double>(), std::log(1.6), 1e-15);
}

TEST(CrossEntropy, ExtraDimsEqualTheFlattenedSamples) {
  // [N, C, d] with targets [N, d] is [N*d, C] with the class dim moved last
  Tensor x = input({2, 3, 4}, 1).detach(), t = tensor({{0, 2, 1, 1}, {2, 0, 0, 1}});
  auto opts = CrossEntropyOptions().weight(tensor({0.5, 2.0, 1.0}, kFloat64)).ignore_index(0).label_smoothing(0.2);
  Tensor flat_x = reshape(permute(x, {0, 2, 1}), {8, 3}), flat_t = reshape(t, {8});
  EXPECT_NEAR(cross_entropy(x, t, opts).item<double>(), cross_entropy(flat_x, flat_t, opts).item<double>(), 1e-14);
  EXPECT_TRUE(allclose(cross_entropy(x, t, CrossEntropyOptions(opts).reduction(kNone)),
                       reshape(cross_entropy(flat_x, flat_t, CrossEntropyOptions(opts).reduction(kNone)), {2, 4}), 1e-14));
}

TEST(CrossEntropy, StableForHugeLogits) {
  EXPECT_NEAR(cross_entropy(tensor({{1000.0, 0.0}}), tensor({1})).item<double>(), 1000.0, 1e-3);
  EXPECT_NEAR(cross_entropy(tensor({{1000.0, 0.0}}), tensor({0})).item<double>(), 0.0, 1e-6);
}

TEST(CrossEntropy, Float32AgreesWithFloat64) {
  Tensor x = input({6, 5}, 3).detach(), t = tensor({0, 4, 2, 2, 1, 3});
  auto opts = CrossEntropyOptions().weight(tensor({1., 2., 3., 4., 5.})).label_smoothing(0.1).ignore_index(2);
  Tensor xf = x.to(kFloat32).requires_grad_(true), xd = x.clone().requires_grad_(true);
  Tensor lf = cross_entropy(xf, t, opts), ld = cross_entropy(xd, t, opts);
  EXPECT_EQ(lf.dtype(), kFloat32);
  EXPECT_NEAR(lf.item<double>(), ld.item<double>(), 1e-6);
  lf.backward();
  ld.backward();
  EXPECT_TRUE(allclose(xf.grad().to(kFloat64), xd.grad(), 1e-5, 1e-6));
}

TEST(CrossEntropy, Gradcheck) {
  Tensor w = tensor({0.5, 2.0, 1.0, 1.5}, kFloat64);
  Tensor t = tensor({0, 3, 1, 2, 1});
  for (Reduction r : {kMean, kSum, kNone})
    for (bool weighted : {false, true})
      for (double eps : {0.0, 0.25})
        for (std::int64_t ignore : {-100, 1}) {
          SCOPED_TRACE(::testing::Message() << int(r) << weighted << eps << ignore);
          auto opts = CrossEntropyOptions().reduction(r).label_smoothing(eps).ignore_index(ignore);
          if (weighted) opts.weight(w);
          check_first([&](auto& v) { return cross_entropy(v[0], v[1], opts); }, {input({5, 4}, 7), t});
        }
}

TEST(CrossEntropy, GradgradcheckWithWeightsSmoothingAndIgnoredSamples) {
  auto opts = CrossEntropyOptions().weight(tensor({0.5, 2.0, 1.0}, kFloat64)).label_smoothing(0.2).ignore_index(2);
  Tensor t = tensor({0, 2, 1, 1});
  check_both([&](auto& v) { return cross_entropy(v[0], v[1], opts); }, {input({4, 3}, 8), t});
  check_both([&](auto& v) { return cross_entropy(v[0], v[1], CrossEntropyOptions(opts).reduction(kNone)); },
             {input({4, 3}, 9), t});
  check_both([](auto& v) { return cross_entropy(v[0], v[1]); }, {input({2, 3, 2}, 10), tensor({{0, 2}, {1, 1}})});
}

TEST(CrossEntropy, GradcheckOnClassVectorsAndExtraDims) {
  check_first([](auto& v) { return cross_entropy(v[0], v[1]); }, {input({4}, 1), scalar_tensor(3, kInt64)});
  auto opts = CrossEntropyOptions().weight(tensor({0.5, 2.0, 1.0}, kFloat64)).label_smoothing(0.1).reduction(kNone);
  check_first([&](auto& v) { return cross_entropy(v[0], v[1], opts); },
              {input({2, 3, 2, 2}, 2), tensor({{{0, 2}, {1, 1}}, {{2, 2}, {0, 1}}})});
}

TEST(CrossEntropy, CreateGraphBackwardEqualsPlainBackward) {
  Tensor t = tensor({0, 2, 1, 1});
  auto opts = CrossEntropyOptions().weight(tensor({0.5, 2.0, 1.0}, kFloat64)).label_smoothing(0.2).ignore_index(2);
  Tensor x = input({4, 3}, 4);
  Tensor plain = grad({cross_entropy(x, t, opts)}, {x})[0];
  Tensor recorded = grad({cross_entropy(x, t, opts)}, {x}, {}, true, true)[0];
  EXPECT_TRUE(recorded.requires_grad());
  EXPECT_TRUE(allclose(plain, recorded, 1e-13, 1e-15));
}

// ---- nll_loss ------------------------------------------------------------------------------------

TEST(NllLoss, PicksTheTargetLogProbabilities) {
  Tensor lp = tensor({{-1.0, -2.0}, {-3.0, -4.0}, {-5.0, -6.0}}, kFloat64);
  Tensor t = tensor({1, 0, 1});
  EXPECT_NEAR(nll_loss(lp, t).item<double>(), (2.0 + 3.0 + 6.0) / 3, 1e-15);
  // weights [1, 3]: (3*2 + 1*3 + 3*6) / (3 + 1 + 3)
  EXPECT_NEAR(nll_loss(lp, t, NLLLossOptions().weight(tensor({1., 3.}, kFloat64))).item<double>(), 27.0 / 7, 1e-15);
  expect_near_all(nll_loss(lp, t, NLLLossOptions().reduction(kNone).ignore_index(0)), {2.0, 0.0, 6.0}, 0);
}

TEST(NllLoss, Gradcheck) {
  Tensor t = tensor({1, 0, 2, 2});
  for (Reduction r : {kMean, kSum, kNone}) {
    auto opts = NLLLossOptions().reduction(r).weight(tensor({1.0, 0.5, 2.0}, kFloat64)).ignore_index(0);
    check_both([&](auto& v) { return nll_loss(v[0], v[1], opts); }, {input({4, 3}, 1), t});
  }
}

// ---- regression and binary losses ------------------------------------------------------------------

TEST(MseLoss, WorkedByHand) {
  Tensor a = tensor({1., 2., 3.}, kFloat64), b = tensor({1., 0., 0.}, kFloat64);
  EXPECT_DOUBLE_EQ(mse_loss(a, b).item<double>(), 13.0 / 3);
  EXPECT_DOUBLE_EQ(mse_loss(a, b, kSum).item<double>(), 13.0);
  expect_near_all(mse_loss(a, b, kNone), {0, 4, 9}, 0);
}

TEST(L1Loss, WorkedByHand) {
  Tensor a = tensor({1., 2., -3.}, kFloat64), b = tensor({1., 0., 0.}, kFloat64);
  EXPECT_DOUBLE_EQ(l1_loss(a, b).item<double>(), 5.0 / 3);
  EXPECT_DOUBLE_EQ(l1_loss(a, b, kSum).item<double>(), 5.0);
  expect_near_all(l1_loss(a, b, kNone), {0, 2, 3}, 0);
}

TEST(MseAndL1Loss, Gradcheck) {
  for (Reduction r : {kMean, kSum, kNone}) {
    check_both([r](auto& v) { return mse_loss(v[0], v[1], r); }, {input({3, 4}, 1), input({3, 4}, 2)});
    check_both([r](auto& v) { return l1_loss(v[0], v[1], r); }, {input({3, 4}, 3), input({3, 4}, 4)});
  }
}

TEST(BCEWithLogits, PosWeightAndWeightWorkedByHand) {
  // x = 0: softplus(-x) = log 2; loss = (1 - t) x + (1 + (pw - 1) t) log 2 = [3 log 2, log 2] for t = [1, 0]
  Tensor x = zeros({2}, kFloat64), t = tensor({1., 0.}, kFloat64);
  auto opts = BCEWithLogitsOptions().pos_weight(tensor({3.}, kFloat64));
  EXPECT_NEAR(binary_cross_entropy_with_logits(x, t, opts).item<double>(), 2 * kLog2, 1e-15);
  expect_near_all(binary_cross_entropy_with_logits(x, t, BCEWithLogitsOptions(opts).weight(tensor({2., 1.}, kFloat64)).reduction(kNone)),
                  {6 * kLog2, kLog2}, 1e-15);
}

TEST(BCEWithLogits, StableForHugeLogits) {
  Tensor x = tensor({100.0, -100.0, 100.0}), t = tensor({1.0, 1.0, 0.0});
  expect_near_all(binary_cross_entropy_with_logits(x, t, BCEWithLogitsOptions().reduction(kNone)), {0.0, 100.0, 100.0}, 1e-4);
}

TEST(BCEWithLogits, GradcheckForInputTargetAndWeights) {
  Generator g(5);
  Tensor t = rand({3, 4}, kFloat64, &g).requires_grad_(true);
  for (Reduction r : {kMean, kSum, kNone}) {
    check_both([r](auto& v) { return binary_cross_entropy_with_logits(v[0], v[1], BCEWithLogitsOptions().reduction(r)); },
               {input({3, 4}, 1), t});
    auto opts = BCEWithLogitsOptions().reduction(r).weight(tensor({{0.5}, {1.0}, {2.0}}, kFloat64)).pos_weight(tensor({1., 2., 3., 0.5}, kFloat64));
    check_both([opts](auto& v) { return binary_cross_entropy_with_logits(v[0], v[1], opts); }, {input({3, 4}, 2), t});
  }
}

TEST(BCEWithLogits, GradientAtZeroLogitIsSigmoidMinusTarget) {
  Tensor x = zeros({2}, kFloat64).requires_grad_(true);
  binary_cross_entropy_with_logits(x, tensor({1., 0.}, kFloat64), BCEWithLogitsOptions().reduction(kSum)).backward();
  expect_near_all(x.grad(), {-0.5, 0.5}, 1e-15);
}

// ---- errors --------------------------------------------------------------------------------------

TEST(LossErrors, TargetOutOfRangeNamesValueRangeAndPosition) {
  expect_throw_with<IndexError>([] { cross_entropy(zeros({2, 3}), tensor({0, 3})); },
                                {"cross_entropy: target 3 is out of range for 3 classes (valid: 0..2) at position [1]"});
  expect_throw_with<IndexError>([] { cross_entropy(zeros({2, 3}), tensor({-1, 0})); },
                                {"cross_entropy: target -1 is out of range", "position [0]"});
  expect_throw_with<IndexError>([] { cross_entropy(zeros({2, 3, 2}), tensor({{0, 1}, {2, 5}})); }, {"target 5", "position [1, 1]"});
  expect_throw_with<IndexError>([] { nll_loss(zeros({2, 3}), tensor({0, 7})); }, {"nll_loss: target 7"});
}

TEST(LossErrors, TargetDtypeAndShape) {
  expect_throw_with<std::invalid_argument>([] { cross_entropy(zeros({2, 3}), tensor({0., 1.})); },
                                           {"cross_entropy", "int64", "float32"});
  expect_throw_with<std::invalid_argument>([] { cross_entropy(zeros({2, 3}), tensor({0, 1, 2})); },
                                           {"cross_entropy", "[3]", "[2, 3]", "expected [2]"});
  expect_throw_with<std::invalid_argument>([] { cross_entropy(zeros({2, 3}, kInt64), tensor({0, 1})); }, {"cross_entropy", "int64"});
}

TEST(LossErrors, WeightOfTheWrongShape) {
  expect_throw_with<std::invalid_argument>(
      [] { cross_entropy(zeros({2, 3}), tensor({0, 1}), CrossEntropyOptions().weight(ones({2}))); },
      {"cross_entropy", "weight", "[3]", "[2]"});
}

TEST(LossErrors, NllLossHasNoLabelSmoothing) {
  expect_throw_with<std::invalid_argument>(
      [] { nll_loss(zeros({2, 3}), tensor({0, 1}), NLLLossOptions().label_smoothing(0.1)); }, {"nll_loss", "label_smoothing"});
}

TEST(LossErrors, ElementwiseLossesNeedMatchingShapes) {
  expect_throw_with<std::invalid_argument>([] { mse_loss(zeros({4, 1}), zeros({4})); }, {"mse_loss", "[4, 1]", "[4]"});
  expect_throw_with<std::invalid_argument>([] { l1_loss(zeros({4}), zeros({3})); }, {"l1_loss", "[4]", "[3]"});
  expect_throw_with<std::invalid_argument>([] { binary_cross_entropy_with_logits(zeros({4}), zeros({2, 2})); },
                                           {"binary_cross_entropy_with_logits", "[4]", "[2, 2]"});
}

// ---- graphs are freed ----------------------------------------------------------------------------

TEST(LossGraph, SecondDerivativeGraphsLeaveNoNodesBehind) {
  const std::int64_t baseline = Node::live_count();
  {
    Tensor x = input({4, 3}, 1);
    auto opts = CrossEntropyOptions().weight(tensor({0.5, 2.0, 1.0}, kFloat64)).label_smoothing(0.2);
    Tensor y = cross_entropy(x, tensor({0, 2, 1, 1}), opts) + softmax(x, 0).pow(2).sum() + log_softmax(x, 1).pow(2).sum();
    Tensor g = grad({y}, {x}, {}, true, true)[0];
    grad({g.pow(2).sum()}, {x});
  }
  EXPECT_EQ(Node::live_count(), baseline);
}
