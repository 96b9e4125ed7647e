// The bad-input catalogue: user mistakes across the public API, one per test. Each must throw the
// documented exception type (exactly that type, not a relative) with a message that names the
// operation and the offending shapes or values; none may crash. Non-finite inputs to losses are
// not mistakes: they give what PyTorch gives (nan or inf), without throwing.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <initializer_list>
#include <limits>
#include <memory>
#include <string>
#include <typeinfo>

#include "ag/autograd/autograd.h"
#include "ag/nn/nn.h"
#include "ag/optim/optim.h"
#include "ag/serialize/checkpoint.h"

using namespace ag;

namespace {

/// Runs fn, expecting an exception of exactly type E whose message contains every fragment.
template <class E, class F>
void expect_throw_with(F&& fn, std::initializer_list<const char*> fragments) {
  try {
    fn();
  } catch (const std::exception& e) {
    const std::string msg = e.what();
    EXPECT_EQ(typeid(e), typeid(E)) << "threw " << typeid(e).name() << " instead of " << typeid(E).name()
                                    << ": " << msg;
    for (const char* f : fragments)
      EXPECT_NE(msg.find(f), std::string::npos) << "the message lacks \"" << f << "\":\n  " << msg;
    return;
  }
  ADD_FAILURE() << "no exception; expected " << typeid(E).name();
}

using Invalid = std::invalid_argument;
using Misuse = std::logic_error;

Tensor f32(const Shape& shape) { return ones(shape); }
Tensor leaf(const Shape& shape) { return ones(shape, requires_grad()); }
Tensor idx(std::initializer_list<std::int64_t> values) {
  return tensor(std::vector<std::int64_t>(values), {static_cast<std::int64_t>(values.size())});
}
constexpr double kInf = std::numeric_limits<double>::infinity();

}  // namespace

// ---- shapes that do not broadcast or multiply -----------------------------------------------------

TEST(BadShape, AddOfNonBroadcastableShapes) {
  expect_throw_with<Invalid>([] { add(f32({2, 3}), f32({4, 3})); }, {"add", "[2, 3]", "[4, 3]"});
}

TEST(BadShape, SubOfNonBroadcastableShapes) {
  expect_throw_with<Invalid>([] { f32({2, 3}) - f32({3, 2}); }, {"sub", "[2, 3]", "[3, 2]"});
}

TEST(BadShape, MulOfMismatchedVectors) {
  expect_throw_with<Invalid>([] { f32({3}) * f32({4}); }, {"mul", "[3]", "[4]", "3 vs 4"});
}

TEST(BadShape, DivOfNonBroadcastableShapes) {
  expect_throw_with<Invalid>([] { f32({2, 3}) / f32({2, 2}); }, {"div", "[2, 3]", "[2, 2]"});
}

TEST(BadShape, MaximumOfNonBroadcastableShapes) {
  expect_throw_with<Invalid>([] { maximum(f32({2, 3}), f32({2, 4})); }, {"maximum", "[2, 3]", "[2, 4]"});
}

TEST(BadShape, WhereWithAConditionOfAnotherShape) {
  expect_throw_with<Invalid>([] { where(tensor({true, false}), f32({3}), f32({3})); }, {"where", "[2]", "[3]"});
}

TEST(BadShape, PowWithAnExponentOfAnotherShape) {
  expect_throw_with<Invalid>([] { pow(f32({2, 3}), f32({4})); }, {"pow", "[2, 3]", "[4]"});
}

TEST(BadShape, MatmulWithMismatchedInnerSizes) {
  expect_throw_with<Invalid>([] { matmul(f32({2, 3}), f32({4, 5})); }, {"matmul", "[2, 3]", "[4, 5]", "3 != 4"});
}

TEST(BadShape, MatmulWithNonBroadcastableBatches) {
  expect_throw_with<Invalid>([] { matmul(f32({2, 3, 4}), f32({3, 4, 5})); }, {"matmul", "[2, 3, 4]", "[3, 4, 5]"});
}

TEST(BadShape, MmWithMismatchedInnerSizes) {
  expect_throw_with<Invalid>([] { mm(f32({2, 3}), f32({2, 3})); }, {"mm", "[2, 3]", "3 != 2"});
}

TEST(BadShape, BmmWithDifferentBatchSizes) {
  expect_throw_with<Invalid>([] { bmm(f32({2, 3, 4}), f32({3, 4, 5})); }, {"bmm", "[2, 3, 4]", "[3, 4, 5]"});
}

TEST(BadShape, LinearWithAnInputOfTheWrongWidth) {
  expect_throw_with<Invalid>([] { linear(f32({4, 3}), f32({5, 2})); }, {"linear", "[4, 3]", "[5, 2]"});
}

TEST(BadShape, LinearModuleWithAnInputOfTheWrongWidth) {
  nn::Linear lin(3, 5);
  expect_throw_with<Invalid>([&] { lin(f32({8, 4})); }, {"Linear(in_features=3, out_features=5", "[8, 4]"});
}

TEST(BadShape, MseLossOfMismatchedShapes) {
  // ag does not broadcast here: [N, 1] against [N] would silently give [N, N].
  expect_throw_with<Invalid>([] { mse_loss(f32({4, 1}), f32({4})); }, {"mse_loss", "[4, 1]", "[4]"});
}

TEST(BadShape, ReshapeToAnIncompatibleSize) {
  expect_throw_with<Invalid>([] { f32({2, 3}).reshape({4, 2}); }, {"reshape", "[4, 2]", "6"});
}

TEST(BadShape, ExpandToANegativeSize) {
  expect_throw_with<Invalid>([] { f32({1, 3}).expand({-2, 3}); }, {"expand", "-2", "[-2, 3]"});
}

TEST(BadShape, ZerosWithMoreElementsThanAnInt64Counts) {
  expect_throw_with<Invalid>([] { zeros({std::int64_t(1) << 40, std::int64_t(1) << 40}); },
                             {"[1099511627776, 1099511627776]", "more elements"});
}

TEST(BadShape, OneHotWithMoreClassesThanMemoryCanHold) {
  // 2^62 int64 elements is 2^65 bytes: refused before any allocation (it used to wrap around
  // to a tiny buffer and write past it).
  expect_throw_with<Invalid>([] { one_hot(idx({0}), std::int64_t(1) << 62); }, {"int64", "[1, 4611686018427387904]"});
}

TEST(BadShape, ReshapeToSizesWhoseProductOverflows) {
  expect_throw_with<Invalid>([] { f32({4}).reshape({std::int64_t(1) << 62, 4}); }, {"reshape", "4611686018427387904", "4 elements"});
}

TEST(BadShape, ArangeWithTooManyElements) {
  expect_throw_with<Invalid>([] { arange(0.0, 1.0, 1e-30); }, {"arange", "1e-30", "1e+30 elements"});
}

TEST(BadShape, CatOfTensorsDifferingOutsideTheDim) {
  expect_throw_with<Invalid>([] { cat({f32({2, 3}), f32({2, 4})}, 0); }, {"cat", "[2, 4]", "[2, 3]"});
}

// ---- wrong ranks ------------------------------------------------------------------------------------

TEST(BadRank, BmmOfMatrices) {
  expect_throw_with<Invalid>([] { bmm(f32({2, 3}), f32({3, 4})); }, {"bmm", "3-D", "[2, 3]", "[3, 4]"});
}

TEST(BadRank, MmOfABatch) {
  expect_throw_with<Invalid>([] { mm(f32({2, 2, 3}), f32({3, 4})); }, {"mm", "2-D", "[2, 2, 3]"});
}

TEST(BadRank, LinearWithAVectorWeight) {
  expect_throw_with<Invalid>([] { linear(f32({4, 3}), f32({3})); }, {"linear", "2-D", "[3]"});
}

TEST(BadRank, CrossEntropyWithAColumnOfTargets) {
  expect_throw_with<Invalid>([] { cross_entropy(f32({4, 3}), zeros({4, 1}, kInt64)); },
                             {"cross_entropy", "[4, 1]", "[4, 3]"});
}

TEST(BadRank, IndexSelectWithAMatrixOfIndices) {
  expect_throw_with<Invalid>([] { index_select(f32({4, 3}), 0, zeros({2, 2}, kInt64)); },
                             {"index_select", "1-D", "[2, 2]"});
}

TEST(BadRank, DimensionOutOfRange) {
  expect_throw_with<IndexError>([] { f32({2, 3}).sum(2); }, {"sum", "dimension 2", "2-d"});
}

// ---- int64 where floats are needed, and floats where indices are needed ------------------------------

TEST(BadDtype, RequiresGradOnInt64) {
  expect_throw_with<Invalid>([] { zeros({2, 3}, kInt64).requires_grad_(); }, {"requires_grad_", "int64", "[2, 3]"});
}

TEST(BadDtype, MeanOfInt64) {
  expect_throw_with<Invalid>([] { mean(zeros({2, 3}, kInt64)); }, {"mean", "int64", "[2, 3]"});
}

TEST(BadDtype, SoftmaxOfInt64) {
  expect_throw_with<Invalid>([] { softmax(zeros({2, 3}, kInt64), 1); }, {"softmax", "int64", "[2, 3]"});
}

TEST(BadDtype, EmbeddingWithAnInt64Weight) {
  expect_throw_with<Invalid>([] { embedding(zeros({4, 2}, kInt64), idx({0, 1})); }, {"embedding", "int64", "[4, 2]"});
}

TEST(BadDtype, MatmulOfInt64) {
  expect_throw_with<Invalid>([] { matmul(zeros({2, 3}, kInt64), zeros({3, 2}, kInt64)); },
                             {"matmul", "int64", "[2, 3]"});
}

TEST(BadDtype, MatmulOfMixedFloatWidths) {
  expect_throw_with<Invalid>([] { matmul(f32({2, 3}), ones({3, 2}, kFloat64)); },
                             {"matmul", "float32", "float64", "[3, 2]"});
}

TEST(BadDtype, EmbeddingWithFloatIndices) {
  expect_throw_with<Invalid>([] { embedding(f32({4, 2}), tensor({0.0, 1.0})); }, {"embedding", "int64", "float32", "[2]"});
}

TEST(BadDtype, IndexSelectWithFloatIndices) {
  expect_throw_with<Invalid>([] { index_select(f32({4, 2}), 0, tensor({0.0, 1.0})); },
                             {"index_select", "int64", "float32"});
}

TEST(BadDtype, GatherWithFloatIndices) {
  expect_throw_with<Invalid>([] { gather(f32({2, 3}), 1, zeros({2, 1})); }, {"gather", "int64", "float32", "[2, 1]"});
}

TEST(BadDtype, CrossEntropyWithFloatTargets) {
  expect_throw_with<Invalid>([] { cross_entropy(f32({4, 3}), zeros({4})); }, {"cross_entropy", "int64", "float32", "[4]"});
}

TEST(BadDtype, CrossEntropyWithInt64Logits) {
  expect_throw_with<Invalid>([] { cross_entropy(zeros({4, 3}, kInt64), zeros({4}, kInt64)); },
                             {"cross_entropy", "int64", "[4, 3]"});
}

TEST(BadDtype, WhereWithAFloatCondition) {
  expect_throw_with<Invalid>([] { where(tensor({1.0, 0.0}), f32({2}), f32({2})); }, {"where", "bool", "float32", "[2]"});
}

TEST(BadDtype, WhereWithAnInt64Condition) {
  expect_throw_with<Invalid>([] { where(idx({1, 0}), f32({2}), f32({2})); }, {"where", "bool", "int64", "!= 0"});
}

TEST(BadDtype, LoadingFloatValuesIntoAnInt64Buffer) {
  struct Counter : nn::Module {
    Counter() { register_buffer("count", zeros({1}, kInt64)); }
  } m;
  nn::StateDict sd;
  sd.insert("count", tensor({0.5}));
  expect_throw_with<Invalid>([&] { m.load_state_dict(sd); }, {"load_state_dict", "count", "float32", "int64"});
}

// ---- indices out of range: negative and equal to the size ----------------------------------------------

TEST(BadIndex, EmbeddingIndexEqualToTheTableSize) {
  nn::Embedding emb(4, 2);
  expect_throw_with<IndexError>([&] { emb(idx({1, 4})); }, {"embedding", "index 4", "4"});
}

TEST(BadIndex, EmbeddingNegativeIndex) {
  expect_throw_with<IndexError>([] { embedding(f32({4, 2}), idx({-1})); }, {"embedding", "index -1", "4"});
}

TEST(BadIndex, IndexSelectIndexEqualToTheSize) {
  expect_throw_with<IndexError>([] { index_select(f32({4, 2}), 1, idx({0, 2})); },
                                {"index_select", "index 2", "dimension 1", "size 2"});
}

TEST(BadIndex, IndexSelectNegativeIndex) {
  expect_throw_with<IndexError>([] { index_select(f32({4, 2}), 0, idx({-1})); },
                                {"index_select", "index -1", "dimension 0", "size 4"});
}

TEST(BadIndex, GatherIndexEqualToTheSize) {
  expect_throw_with<IndexError>([] { gather(f32({2, 3}), 1, tensor({{0}, {3}})); },
                                {"gather", "index 3", "dimension 1", "size 3"});
}

TEST(BadIndex, GatherNegativeIndex) {
  expect_throw_with<IndexError>([] { gather(f32({2, 3}), 0, tensor({{-1, 0, 0}})); },
                                {"gather", "index -1", "dimension 0", "size 2"});
}

TEST(BadIndex, CrossEntropyTargetEqualToTheClassCount) {
  expect_throw_with<IndexError>([] { cross_entropy(f32({2, 3}), idx({0, 3})); }, {"cross_entropy", "target 3", "3"});
}

TEST(BadIndex, CrossEntropyNegativeTarget) {
  // -1 is not the ignore_index (-100 by default): an error, as in PyTorch.
  expect_throw_with<IndexError>([] { cross_entropy(f32({2, 3}), idx({-1, 0})); }, {"cross_entropy", "target -1", "3"});
}

TEST(BadIndex, NllLossTargetEqualToTheClassCount) {
  expect_throw_with<IndexError>([] { nll_loss(f32({2, 3}), idx({3, 0})); }, {"nll_loss", "target 3", "3"});
}

TEST(BadIndex, OneHotClassEqualToNumClasses) {
  expect_throw_with<IndexError>([] { one_hot(idx({0, 3}), 3); }, {"one_hot", "class 3", "3"});
}

TEST(BadIndex, OneHotNegativeClass) {
  expect_throw_with<IndexError>([] { one_hot(idx({-2}), 3); }, {"one_hot", "class -2"});
}

TEST(BadIndex, EmbeddingModulePaddingIdxOutOfRange) {
  expect_throw_with<IndexError>([] { nn::Embedding(nn::EmbeddingOptions(4, 2).padding_idx(4)); },
                                {"Embedding", "padding_idx 4", "4"});
}

TEST(BadIndex, EmbeddingFunctionalPaddingIdxOutOfRange) {
  expect_throw_with<IndexError>([] { embedding(f32({4, 2}), idx({0}), EmbeddingFuncOptions().padding_idx(-5)); },
                                {"embedding", "padding_idx -5", "4"});
}

TEST(BadIndex, SelectPastTheEnd) {
  expect_throw_with<IndexError>([] { f32({2, 3})[2]; }, {"select", "index 2", "size 2"});
}

TEST(BadIndex, SequentialIndexPastTheEnd) {
  nn::Sequential seq(std::make_shared<nn::Linear>(2, 2), std::make_shared<nn::ReLU>());
  expect_throw_with<IndexError>([&] { seq[2]; }, {"Sequential", "index 2", "2 modules"});
}

// ---- autograd misuse ------------------------------------------------------------------------------------

TEST(BadAutograd, BackwardTwiceThroughAFreedGraph) {
  Tensor x = leaf({3});
  Tensor y = (x * x).sum();
  y.backward();
  expect_throw_with<Misuse>([&] { y.backward(); }, {"backward", "second time", "MulBackward0", "retain_graph"});
}

TEST(BadAutograd, BackwardOfANonScalarWithoutAGradient) {
  Tensor y = leaf({2, 3}) * 2;
  expect_throw_with<Misuse>([&] { y.backward(); }, {"backward", "one-element", "[2, 3]"});
}

TEST(BadAutograd, BackwardWithAGradientOfTheWrongShape) {
  Tensor y = leaf({2, 3}) * 2;
  expect_throw_with<Invalid>([&] { y.backward(ones({3, 2})); }, {"backward", "[3, 2]", "[2, 3]"});
}

TEST(BadAutograd, BackwardOfATensorThatDoesNotRequireGrad) {
  Tensor y = (f32({3}) * 2).sum();
  expect_throw_with<Misuse>([&] { y.backward(); }, {"backward", "does not require grad", "[]"});
}

TEST(BadAutograd, BackwardOfATensorComputedUnderNoGrad) {
  Tensor x = leaf({3});
  Tensor y;
  {
    NoGradGuard no_grad;
    y = (x * x).sum();
  }
  expect_throw_with<Misuse>([&] { y.backward(); }, {"backward", "does not require grad", "NoGradGuard"});
}

TEST(BadAutograd, ModifyingASavedTensorInPlace) {
  Tensor x = leaf({3});
  Tensor h = x * 2;
  Tensor y = (h * h).sum();  // saves h
  h.add_(1);
  expect_throw_with<Misuse>([&] { y.backward(); },
                            {"backward", "MulBackward0", "[3]", "in-place", "version 1", "expected version 0"});
}

TEST(BadAutograd, GradOfANonLeaf) {
  Tensor h = leaf({3}) * 2;
  h.sum().backward();
  expect_throw_with<Misuse>([&] { h.grad(); }, {"grad()", "not a leaf", "MulBackward", "retain_grad"});
}

TEST(BadAutograd, InPlaceOnALeafThatRequiresGrad) {
  Tensor w = leaf({3});
  expect_throw_with<Misuse>([&] { w.add_(1); }, {"add_", "leaf", "requires grad", "NoGradGuard"});
}

TEST(BadAutograd, RequiresGradOnANonLeaf) {
  Tensor h = leaf({3}) * 2;
  expect_throw_with<Misuse>([&] { h.requires_grad_(false); }, {"requires_grad_", "MulBackward", "detach"});
}

TEST(BadAutograd, GradOfAnUnusedInput) {
  Tensor x = leaf({3}), z = leaf({2});
  expect_throw_with<Misuse>([&] { ag::grad({(x * x).sum()}, {z}); }, {"grad", "input 0", "[2]", "allow_unused"});
}

TEST(BadAutograd, SetGradOfTheWrongShape) {
  Tensor w = leaf({2, 3});
  expect_throw_with<Invalid>([&] { w.set_grad(ones({3, 2})); }, {"set_grad", "[3, 2]", "[2, 3]"});
}

TEST(BadAutograd, ItemOfAManyElementTensor) {
  expect_throw_with<Invalid>([] { f32({2, 2}).item<float>(); }, {"item", "[2, 2]"});
}

// ---- optimizer and scheduler options --------------------------------------------------------------------

TEST(BadOptions, SgdNegativeLearningRate) {
  expect_throw_with<Invalid>([] { optim::SGD({leaf({2})}, optim::SGDOptions(-0.1)); },
                             {"SGD", "learning rate -0.1"});
}

TEST(BadOptions, SgdNesterovWithoutMomentum) {
  expect_throw_with<Invalid>([] { optim::SGD({leaf({2})}, optim::SGDOptions(0.1).nesterov(true)); },
                             {"SGD", "nesterov", "momentum"});
}

TEST(BadOptions, SgdNegativeMomentum) {
  expect_throw_with<Invalid>([] { optim::SGD({leaf({2})}, optim::SGDOptions(0.1).momentum(-0.5)); },
                             {"SGD", "momentum -0.5"});
}

TEST(BadOptions, AdamNegativeEps) {
  expect_throw_with<Invalid>([] { optim::Adam({leaf({2})}, optim::AdamOptions(0.1).eps(-1e-8)); },
                             {"Adam", "eps -1e-08"});
}

TEST(BadOptions, AdamBeta1OfOne) {
  expect_throw_with<Invalid>([] { optim::Adam({leaf({2})}, optim::AdamOptions(0.1).betas(1.0, 0.999)); },
                             {"Adam", "beta1 1", "0 <= beta1 < 1"});
}

TEST(BadOptions, AdamWNegativeBeta2) {
  expect_throw_with<Invalid>([] { optim::AdamW({leaf({2})}, optim::AdamWOptions(0.1).betas(0.9, -0.1)); },
                             {"AdamW", "beta2 -0.1"});
}

TEST(BadOptions, AdamNaNLearningRate) {
  expect_throw_with<Invalid>(
      [] { optim::Adam({leaf({2})}, optim::AdamOptions(std::numeric_limits<double>::quiet_NaN())); },
      {"Adam", "learning rate nan"});
}

TEST(BadOptions, OptimizerOverAnInt64Tensor) {
  expect_throw_with<Invalid>([] { optim::SGD({zeros({2}, kInt64)}, optim::SGDOptions(0.1)); }, {"SGD", "int64"});
}

TEST(BadOptions, OptimizerOverANonLeaf) {
  expect_throw_with<Invalid>([] { optim::SGD({leaf({2}) * 2}, optim::SGDOptions(0.1)); },
                             {"SGD", "not a leaf", "MulBackward"});
}

TEST(BadOptions, StepLRStepSizeZero) {
  optim::SGD opt({leaf({2})}, optim::SGDOptions(0.1));
  expect_throw_with<Invalid>([&] { optim::StepLR(opt, 0); }, {"StepLR", "step_size 0"});
}

TEST(BadOptions, StepLRNegativeGamma) {
  optim::SGD opt({leaf({2})}, optim::SGDOptions(0.1));
  expect_throw_with<Invalid>([&] { optim::StepLR(opt, 10, -0.5); }, {"StepLR", "gamma -0.5"});
}

TEST(BadOptions, MultiStepLRNegativeMilestone) {
  optim::SGD opt({leaf({2})}, optim::SGDOptions(0.1));
  expect_throw_with<Invalid>([&] { optim::MultiStepLR(opt, {30, -5}); }, {"MultiStepLR", "milestone -5"});
}

TEST(BadOptions, ExponentialLRZeroGamma) {
  optim::SGD opt({leaf({2})}, optim::SGDOptions(0.1));
  expect_throw_with<Invalid>([&] { optim::ExponentialLR(opt, 0.0); }, {"ExponentialLR", "gamma 0"});
}

TEST(BadOptions, CosineAnnealingLRZeroTMax) {
  optim::SGD opt({leaf({2})}, optim::SGDOptions(0.1));
  expect_throw_with<Invalid>([&] { optim::CosineAnnealingLR(opt, 0); }, {"CosineAnnealingLR", "T_max 0"});
}

TEST(BadOptions, CosineAnnealingLRNegativeEtaMin) {
  optim::SGD opt({leaf({2})}, optim::SGDOptions(0.1));
  expect_throw_with<Invalid>([&] { optim::CosineAnnealingLR(opt, 10, -1e-3); }, {"CosineAnnealingLR", "eta_min -0.001"});
}

TEST(BadOptions, LinearLRZeroStartFactor) {
  optim::SGD opt({leaf({2})}, optim::SGDOptions(0.1));
  expect_throw_with<Invalid>([&] { optim::LinearLR(opt, 0.0); }, {"LinearLR", "start_factor 0"});
}

TEST(BadOptions, UniformWithFromAboveTo) {
  Tensor x = f32({4});
  expect_throw_with<Invalid>([&] { x.uniform_(1, 0); }, {"uniform_", "from=1", "to=0"});
}

TEST(BadOptions, DropoutProbabilityAboveOne) {
  expect_throw_with<Invalid>([] { nn::Dropout(1.5); }, {"Dropout", "1.5"});
}

TEST(BadOptions, ClipGradNormNegativeMaxNorm) {
  Tensor w = leaf({2});
  expect_throw_with<Invalid>([&] { nn::utils::clip_grad_norm_({w}, -1.0); }, {"clip_grad_norm_", "max_norm", "-1"});
}

// ---- state dicts ------------------------------------------------------------------------------------------

TEST(BadStateDict, ModuleLoadWithAMissingKey) {
  nn::Linear lin(3, 2);
  nn::StateDict sd;
  sd.insert("weight", zeros({2, 3}));
  expect_throw_with<Invalid>([&] { lin.load_state_dict(sd); }, {"load_state_dict", "Linear", "missing keys", "\"bias\""});
}

TEST(BadStateDict, ModuleLoadWithAnUnexpectedKey) {
  nn::Linear lin(3, 2);
  nn::StateDict sd = lin.state_dict();
  sd.insert("scale", ones({1}));
  expect_throw_with<Invalid>([&] { lin.load_state_dict(sd); }, {"load_state_dict", "unexpected keys", "\"scale\""});
}

TEST(BadStateDict, ModuleLoadWithAMisshapedKey) {
  nn::Linear lin(3, 2);
  nn::StateDict sd;
  sd.insert("weight", zeros({3, 2}));
  sd.insert("bias", zeros({2}));
  expect_throw_with<Invalid>([&] { lin.load_state_dict(sd); }, {"load_state_dict", "\"weight\"", "[3, 2]", "[2, 3]"});
}

TEST(BadStateDict, ModuleLoadOfAnotherModelsState) {
  // The in-memory form of "loading a checkpoint of another model": every difference is listed.
  nn::Sequential a(std::make_shared<nn::Linear>(3, 4), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(4, 2));
  nn::Sequential b(std::make_shared<nn::Linear>(3, 5), std::make_shared<nn::Linear>(5, 2));
  const Tensor before = b.named_parameters()["0.weight"].clone();
  expect_throw_with<Invalid>([&] { b.load_state_dict(a.state_dict()); },
                             {"load_state_dict", "Sequential", "missing keys: \"1.weight\", \"1.bias\"",
                              "unexpected keys: \"2.weight\", \"2.bias\"", "\"0.weight\"", "[4, 3]", "[5, 3]"});
  EXPECT_TRUE(equal(b.named_parameters()["0.weight"], before)) << "a failed load must change nothing";
}

TEST(BadStateDict, LoadingACheckpointOfAnotherModel) {
  nn::Sequential a(std::make_shared<nn::Linear>(3, 4), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(4, 2));
  nn::Sequential b(std::make_shared<nn::Linear>(3, 5), std::make_shared<nn::Linear>(5, 2));
  const std::string path = ::testing::TempDir() + "ag_bad_input_" + std::to_string(::getpid()) + ".ag";
  ag::save(a, path);
  const Tensor before = b.named_parameters()["0.weight"].clone();
  expect_throw_with<Invalid>([&] { ag::load(b, path); },
                             {path.c_str(), "missing keys: \"1.weight\", \"1.bias\"",
                              "unexpected keys: \"2.weight\", \"2.bias\"", "\"0.weight\"", "[4, 3]", "[5, 3]"});
  EXPECT_TRUE(equal(b.named_parameters()["0.weight"], before)) << "a failed load must change nothing";
  std::remove(path.c_str());
}

TEST(BadStateDict, ParameterAssignmentOfTheWrongShape) {
  nn::Linear lin(3, 5);
  expect_throw_with<Invalid>([&] { lin.weight = nn::Parameter(ones({3, 5})); }, {"Linear", "weight", "[3, 5]", "[5, 3]"});
}

TEST(BadStateDict, OptimizerLoadWithAnInt64State) {
  Tensor w = leaf({2, 3});
  optim::Adam opt({w}, optim::AdamOptions(0.1));
  w.set_grad(ones({2, 3}));
  opt.step();
  optim::StateDict sd = opt.state_dict();
  sd.tensors.at("state.0.exp_avg") = zeros({2, 3}, kInt64);
  expect_throw_with<Invalid>([&] { opt.load_state_dict(sd); }, {"Adam.load_state_dict", "state.0.exp_avg", "int64", "float32"});
}

TEST(BadStateDict, OptimizerLoadWithAMisshapedState) {
  Tensor w = leaf({2, 3});
  optim::SGD opt({w}, optim::SGDOptions(0.1).momentum(0.9));
  w.set_grad(ones({2, 3}));
  opt.step();
  optim::StateDict sd = opt.state_dict();
  sd.tensors.at("state.0.momentum_buffer") = zeros({3, 2});
  expect_throw_with<Invalid>([&] { opt.load_state_dict(sd); },
                             {"SGD.load_state_dict", "state.0.momentum_buffer", "[3, 2]", "[2, 3]"});
}

TEST(BadStateDict, OptimizerLoadOfAnotherOptimizersState) {
  Tensor w = leaf({2});
  optim::SGD sgd({w}, optim::SGDOptions(0.1));
  optim::Adam adam({w}, optim::AdamOptions(0.1));
  expect_throw_with<Invalid>([&] { sgd.load_state_dict(adam.state_dict()); }, {"SGD.load_state_dict", "momentum"});
}

TEST(BadStateDict, OptimizerLoadWithAnotherGroupSize) {
  optim::SGD one({leaf({2})}, optim::SGDOptions(0.1));
  optim::SGD two({leaf({2}), leaf({3})}, optim::SGDOptions(0.1));
  expect_throw_with<Invalid>([&] { one.load_state_dict(two.state_dict()); },
                             {"SGD.load_state_dict", "group 0", "2 parameters", "1 in this optimizer"});
}

TEST(BadStateDict, SchedulerLoadWithANegativeGamma) {
  optim::SGD opt({leaf({2})}, optim::SGDOptions(0.1));
  optim::StepLR sched(opt, 10);
  optim::StateDict sd = sched.state_dict();
  sd.scalars.at("gamma") = -2.0;
  expect_throw_with<Invalid>([&] { sched.load_state_dict(sd); }, {"StepLR", "gamma -2"});
  EXPECT_DOUBLE_EQ(sched.state_dict().scalars.at("gamma"), 0.1) << "a failed load must change nothing";
}

// ---- empty tensors where an op needs elements ---------------------------------------------------------

TEST(BadEmpty, MaxOfAnEmptyTensor) {
  expect_throw_with<Invalid>([] { zeros({0, 3}).max(); }, {"max", "empty", "[0, 3]"});
}

TEST(BadEmpty, ArgmaxOfAnEmptyTensor) {
  expect_throw_with<Invalid>([] { zeros({0}).argmax(); }, {"argmax", "empty", "[0]"});
}

TEST(BadEmpty, MaxAlongAnEmptyDimension) {
  expect_throw_with<Invalid>([] { zeros({2, 0}).max(1); }, {"max", "empty", "[2, 0]"});
}

TEST(BadEmpty, OneHotOfNoIndicesWithoutNumClasses) {
  expect_throw_with<Invalid>([] { one_hot(zeros({0}, kInt64)); }, {"one_hot", "empty", "num_classes"});
}

TEST(BadEmpty, CatOfNoTensors) {
  expect_throw_with<Invalid>([] { cat({}); }, {"cat", "non-empty"});
}

// ---- non-finite inputs to losses: PyTorch's values, no exception ---------------------------------------

TEST(NonFiniteLoss, CrossEntropyWithAnInfiniteLogitIsNaN) {
  // log_softmax of [inf, 0] is inf - inf: PyTorch gives nan whatever the target.
  Tensor logits = tensor({{kInf, 0.0}});
  EXPECT_TRUE(std::isnan(cross_entropy(logits, idx({0})).item<double>()));
  EXPECT_TRUE(std::isnan(cross_entropy(logits, idx({1})).item<double>()));
}

TEST(NonFiniteLoss, CrossEntropyWithAMinusInfiniteLogit) {
  // A class ruled out by -inf: inf loss when it is the target, 0 (and zero gradient) otherwise.
  Tensor logits = tensor({{-kInf, 0.0}}, requires_grad());
  EXPECT_EQ(cross_entropy(logits, idx({0})).item<double>(), kInf);
  Tensor loss = cross_entropy(logits, idx({1}));
  EXPECT_EQ(loss.item<double>(), 0.0);
  loss.backward();
  EXPECT_EQ(logits.grad().to_vector<double>(), (std::vector<double>{0.0, 0.0}));
}

TEST(NonFiniteLoss, CrossEntropyGradientOfAnInfiniteLogitIsNaN) {
  Tensor logits = tensor({{kInf, 0.0}}, requires_grad());
  cross_entropy(logits, idx({0})).backward();
  for (double g : logits.grad().to_vector<double>()) EXPECT_TRUE(std::isnan(g));
}

TEST(NonFiniteLoss, CrossEntropyWithANaNLogitIsNaN) {
  Tensor logits = tensor({{std::nan(""), 0.0}});
  EXPECT_TRUE(std::isnan(cross_entropy(logits, idx({1})).item<double>()));
}

TEST(NonFiniteLoss, CrossEntropyOfOnlyIgnoredTargetsIsNaN) {
  EXPECT_TRUE(std::isnan(cross_entropy(f32({2, 3}), idx({-100, -100})).item<double>()));
}

TEST(NonFiniteLoss, NllLossOfAMinusInfiniteLogProbabilityIsInf) {
  EXPECT_EQ(nll_loss(tensor({{-kInf, 0.0}}), idx({0})).item<double>(), kInf);
}

TEST(NonFiniteLoss, MseLossOfInfAndNaN) {
  EXPECT_EQ(mse_loss(tensor({kInf, 1.0}), tensor({0.0, 1.0})).item<double>(), kInf);
  EXPECT_TRUE(std::isnan(mse_loss(tensor({kInf, 1.0}), tensor({kInf, 1.0})).item<double>()));  // inf - inf
  EXPECT_TRUE(std::isnan(mse_loss(tensor({std::nan(""), 1.0}), tensor({0.0, 1.0})).item<double>()));
}

TEST(NonFiniteLoss, L1LossOfAnInfiniteInputIsInf) {
  EXPECT_EQ(l1_loss(tensor({kInf, 1.0}), tensor({0.0, 1.0})).item<double>(), kInf);
}

TEST(NonFiniteLoss, BinaryCrossEntropyWithInfiniteLogitsIsNaN) {
  // (1 - t) * x with x = inf and t = 1 is 0 * inf: nan, as in PyTorch, even for right answers.
  Tensor loss = binary_cross_entropy_with_logits(tensor({kInf, -kInf}), tensor({1.0, 0.0}));
  EXPECT_TRUE(std::isnan(loss.item<double>()));
}

TEST(NonFiniteLoss, SoftmaxOfAnInfiniteEntryIsNaN) {
  for (double p : softmax(tensor({kInf, 0.0}), 0).to_vector<double>()) EXPECT_TRUE(std::isnan(p));
}

// ---- extreme but valid inputs: defined results (PyTorch's), never undefined behaviour ----------------

TEST(ExtremeInput, Int64ArithmeticWrapsAroundOnOverflow) {
  const std::int64_t max = std::numeric_limits<std::int64_t>::max(), min = std::numeric_limits<std::int64_t>::min();
  auto one = [](const Tensor& t) { return t.to_vector<std::int64_t>()[0]; };
  EXPECT_EQ(one(idx({max}) + 1), min);
  EXPECT_EQ(one(idx({max}) + idx({1})), min);
  EXPECT_EQ(one(idx({min}) - 1), max);
  EXPECT_EQ(one(idx({max}) * 2), -2);
  EXPECT_EQ(one(idx({min}) * idx({-1})), min);
  EXPECT_EQ(one(-idx({min})), min);
  EXPECT_EQ(one(idx({min}).abs()), min);
  EXPECT_EQ(idx({max, 1}).sum().item<std::int64_t>(), min);
}

TEST(ExtremeInput, FloatToInt64OfNaNAndOutOfRangeValuesGivesInt64Min) {
  const std::int64_t min = std::numeric_limits<std::int64_t>::min();
  const std::vector<std::int64_t> expected{min, min, min, 2, -2};  // PyTorch's on x86
  EXPECT_EQ(tensor({std::nan(""), 1e30, -1e30, 2.7, -2.7}).to(kInt64).to_vector<std::int64_t>(), expected);
  EXPECT_EQ(tensor({std::nan(""), 1e30, -1e30, 2.7, -2.7}, kFloat64).to(kInt64).to_vector<std::int64_t>(), expected);
  EXPECT_EQ(full({1}, kInf, kInt64).item<std::int64_t>(), min);
}

TEST(ExtremeInput, RandintOverTheWholeInt64Range) {
  Generator gen(3);
  const std::int64_t min = std::numeric_limits<std::int64_t>::min(), max = std::numeric_limits<std::int64_t>::max();
  std::vector<std::int64_t> v = randint(min, max, {64}, kInt64, &gen).to_vector<std::int64_t>();
  EXPECT_NE(*std::min_element(v.begin(), v.end()), *std::max_element(v.begin(), v.end()));
  EXPECT_LT(*std::min_element(v.begin(), v.end()), 0);  // both halves of the range are reached
  EXPECT_GT(*std::max_element(v.begin(), v.end()), 0);
}

TEST(ExtremeInput, MatmulOfAMatrixWithNoColumnsByAnEmptyVector) {
  // The inner size 0 gives zeros, as in PyTorch (it used to fail inside reshape).
  Tensor a = zeros({3, 0}, requires_grad());
  Tensor y = matmul(a, zeros({0}));
  EXPECT_EQ(y.shape(), Shape({3}));
  EXPECT_EQ(y.to_vector<float>(), std::vector<float>(3, 0.0f));
  y.sum().backward();
  EXPECT_EQ(a.grad().shape(), Shape({3, 0}));
}
