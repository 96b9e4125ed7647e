// Index ops: index_select, gather, embedding (padding_idx, max_norm, scale_grad_by_freq) and
// one_hot. PyTorch's values for the embedding cases of tests/data/nn.json, hand-worked cases,
// embedding as a one-hot matmul, gradients against finite differences and error messages.

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
using testutil::Fn;
using testutil::input;

namespace {

EmbeddingFuncOptions options_of(const golden::json& p) {
  EmbeddingFuncOptions o;
  if (p.contains("padding_idx")) o.padding_idx(p.at("padding_idx").get<std::int64_t>());
  if (p.contains("max_norm")) o.max_norm(p.at("max_norm").get<double>());
  if (p.contains("norm_type")) o.norm_type(p.at("norm_type").get<double>());
  if (p.contains("scale_grad_by_freq")) o.scale_grad_by_freq(p.at("scale_grad_by_freq").get<bool>());
  return o;
}

}  // namespace

// ---- embedding: PyTorch's values -------------------------------------------------------------------

TEST(EmbeddingGolden, MatchesPyTorchOutputsGradientsAndRenormalisedWeights) {
  int seen = 0;
  for (const auto& c : golden::load("nn.json")) {
    if (c.kind != "embedding") continue;
    ++seen;
    SCOPED_TRACE(c.name);
    // nn.Embedding holds float32 weights: the float64 input is its initial value
    Tensor w = c.inputs.at("weight").to(kFloat32).requires_grad_(true);
    Tensor y = embedding(w, c.inputs.at("indices"), options_of(c.params));
    EXPECT_TRUE(golden::close(y, c.outputs.at("y"), 1e-5));
    EXPECT_TRUE(golden::close(w.detach(), c.outputs.at("weight_after"), 1e-5));
    auto g = golden::grads_of(y, c.inputs.at("upstream"), {w});
    EXPECT_TRUE(golden::close(g[0], c.grads.at("weight"), 1e-5));
  }
  EXPECT_EQ(seen, 7);
}

// ---- embedding: behaviour ------------------------------------------------------------------------

TEST(Embedding, LooksUpRowsIntoIndicesShapePlusDim) {
  Tensor w = tensor({{0., 1.}, {10., 11.}, {20., 21.}});
  Tensor y = embedding(w, tensor({{2, 0}, {1, 1}, {0, 2}}));
  EXPECT_EQ(y.shape(), Shape({3, 2, 2}));
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{20, 21, 0, 1, 10, 11, 10, 11, 0, 1, 20, 21}));
  EXPECT_EQ(embedding(w, scalar_tensor(1, kInt64)).shape(), Shape({2}));
}

TEST(Embedding, EqualsOneHotTimesWeightWithTheSameGradients) {
  // Embedding is Linear on one-hot input: W[idx] == one_hot(idx, N) @ W.
  Tensor w1 = input({5, 3}, 1), w2 = w1.detach().clone().requires_grad_(true);
  Tensor idx = tensor({{4, 0, 2}, {2, 2, 1}});
  Tensor up = input({2, 3, 3}, 2).detach();
  Tensor y1 = embedding(w1, idx);
  Tensor y2 = matmul(one_hot(idx, 5).to(kFloat64), w2);
  EXPECT_TRUE(allclose(y1, y2, 0, 0));
  backward({y1}, {up});
  backward({y2}, {up});
  EXPECT_TRUE(allclose(w1.grad(), w2.grad(), 1e-14, 1e-15));
}

TEST(Embedding, PaddingRowGetsExactlyZeroGradient) {
  Tensor w = input({4, 3}, 1);
  embedding(w, tensor({1, 1, 3, 1}), EmbeddingFuncOptions().padding_idx(1)).sum().backward();
  std::vector<double> g = w.grad().to_vector<double>();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(g[0 * 3 + i], 0.0);
    EXPECT_EQ(g[1 * 3 + i], 0.0);  // used three times, still zero
    EXPECT_EQ(g[2 * 3 + i], 0.0);
    EXPECT_EQ(g[3 * 3 + i], 1.0);
  }
}

TEST(Embedding, NegativePaddingIdxCountsFromTheEnd) {
  Tensor w = input({4, 2}, 1);
  embedding(w, tensor({3, 0}), EmbeddingFuncOptions().padding_idx(-1)).sum().backward();
  EXPECT_EQ(w.grad().to_vector<double>(), (std::vector<double>{1, 1, 0, 0, 0, 0, 0, 0}));
}

TEST(Embedding, ScaleGradByFreqDividesByTheCountInTheBatch) {
  Tensor w = input({4, 2}, 1);
  // index 1 appears 3 times, 2 once: with unit upstream gradients each used row gets 1
  embedding(w, tensor({{1, 2}, {1, 1}}), EmbeddingFuncOptions().scale_grad_by_freq(true)).sum().backward();
  EXPECT_EQ(w.grad().to_vector<double>(), (std::vector<double>{0, 0, 1, 1, 1, 1, 0, 0}));
}

TEST(Embedding, MaxNormRenormalisesLookedUpRowsInPlace) {
  Tensor w = tensor({{3., 4.}, {0.3, 0.4}, {6., 8.}}, kFloat64);
  std::uint32_t before = w.version();
  Tensor y = embedding(w, tensor({0, 1, 0}), EmbeddingFuncOptions().max_norm(1.0));
  // row 0 has norm 5 > 1: scaled by 1 / (5 + 1e-7); row 1 (norm 0.5) and unused row 2 stay
  const double s = 1.0 / (5.0 + 1e-7);
  std::vector<double> after = w.to_vector<double>();
  EXPECT_DOUBLE_EQ(after[0], 3 * s);
  EXPECT_DOUBLE_EQ(after[1], 4 * s);
  EXPECT_EQ(after[2], 0.3);
  EXPECT_EQ(after[3], 0.4);
  EXPECT_EQ(after[4], 6.0);
  EXPECT_EQ(after[5], 8.0);
  EXPECT_GT(w.version(), before);
  std::vector<double> vy = y.to_vector<double>();
  EXPECT_DOUBLE_EQ(vy[0], 3 * s);
  EXPECT_DOUBLE_EQ(vy[4], 3 * s);
}

TEST(Embedding, MaxNormWithL1Norm) {
  Tensor w = tensor({{3., -1.}}, kFloat64);
  embedding(w, tensor({0}), EmbeddingFuncOptions().max_norm(2.0).norm_type(1.0));
  const double s = 2.0 / (4.0 + 1e-7);  // |3| + |-1| = 4
  EXPECT_DOUBLE_EQ(w.to_vector<double>()[0], 3 * s);
  EXPECT_DOUBLE_EQ(w.to_vector<double>()[1], -1 * s);
}

TEST(Embedding, MaxNormOnALeafThatRequiresGrad) {
  Tensor w = tensor({{3., 4.}}, kFloat64).requires_grad_(true);
  Tensor y = embedding(w, tensor({0, 0}), EmbeddingFuncOptions().max_norm(1.0));
  y.sum().backward();
  EXPECT_EQ(w.grad().to_vector<double>(), (std::vector<double>{2, 2}));
  EXPECT_NEAR(w.norm().item<double>(), 1.0, 1e-6);
}

TEST(Embedding, Gradcheck) {
  Tensor idx = tensor({{4, 0, 2}, {2, 2, 1}});
  check_both([idx](auto& v) { return embedding(v[0], idx); }, {input({5, 3}, 1)});
}

TEST(Embedding, BackwardWithPaddingAndFreqScalingIsDifferentiableInTheUpstreamGradient) {
  // padding_idx and scale_grad_by_freq change the gradient on purpose (it is no longer the
  // derivative of the lookup), so finite differences check the backward itself: a linear map
  // of the upstream gradient, recorded under create_graph.
  Tensor idx = tensor({{4, 0, 2}, {2, 2, 1}});
  Tensor w = input({5, 3}, 1);
  for (auto opts : {EmbeddingFuncOptions().padding_idx(2), EmbeddingFuncOptions().scale_grad_by_freq(true).padding_idx(0)})
    check_both(
        [&](auto& v) {
          AutoGradMode on(true);  // gradcheck probes under no-grad; this backward needs its graph
          return grad({embedding(w, idx, opts)}, {w}, {v[0]}, true, true)[0];
        },
        {input({2, 3, 3}, 2)});
}

TEST(Embedding, CreateGraphGradientIsDifferentiableInTheUpstreamGradient) {
  Tensor w = input({4, 2}, 1), up = input({3, 2}, 2);
  Tensor idx = tensor({1, 3, 1});
  auto opts = EmbeddingFuncOptions().scale_grad_by_freq(true).padding_idx(3);
  Tensor gw = grad({embedding(w, idx, opts)}, {w}, {up}, true, true)[0];
  // gw[1] = (up[0] + up[2]) / 2: d sum(gw) / d up = 1/2 at rows 0 and 2, 0 at row 1 (padding)
  Tensor dup = grad({gw.sum()}, {up})[0];
  EXPECT_EQ(dup.to_vector<double>(), (std::vector<double>{0.5, 0.5, 0, 0, 0.5, 0.5}));
}

// ---- index_select and gather ---------------------------------------------------------------------

TEST(IndexSelect, PicksSlicesAlongADim) {
  Tensor x = tensor({{1., 2., 3.}, {4., 5., 6.}});
  EXPECT_EQ(index_select(x, 1, tensor({2, 0, 2})).to_vector<float>(), (std::vector<float>{3, 1, 3, 6, 4, 6}));
  EXPECT_EQ(index_select(x, 0, tensor({1})).to_vector<float>(), (std::vector<float>{4, 5, 6}));
  EXPECT_EQ(x.index_select(-1, tensor({1})).shape(), Shape({2, 1}));
}

TEST(IndexSelect, GradientAddsUpRepeatedIndices) {
  Tensor x = input({2, 3}, 1);
  index_select(x, 1, tensor({2, 0, 2})).sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{1, 0, 2, 1, 0, 2}));
}

TEST(IndexSelect, Gradcheck) {
  check_both([](auto& v) { return index_select(v[0], 0, tensor({2, 0, 2, 1})); }, {input({3, 4}, 1)});
  check_both([](auto& v) { return index_select(v[0], 1, tensor({3, 3})); }, {input({2, 4, 2}, 2)});
}

TEST(Gather, PicksOneEntryPerIndexAlongDim) {
  Tensor x = tensor({{1., 2.}, {3., 4.}});
  EXPECT_EQ(gather(x, 1, tensor({{0, 0}, {1, 0}})).to_vector<float>(), (std::vector<float>{1, 1, 4, 3}));
  EXPECT_EQ(gather(x, 0, tensor({{1, 0}})).to_vector<float>(), (std::vector<float>{3, 2}));
  EXPECT_EQ(x.gather(1, tensor({{1}, {0}})).to_vector<float>(), (std::vector<float>{2, 3}));
}

TEST(Gather, GradientScatterAddsIntoTheInputShape) {
  Tensor x = input({2, 3}, 1);
  gather(x, 1, tensor({{0, 0}, {2, 1}})).sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2, 0, 0, 0, 1, 1}));
}

TEST(Gather, Gradcheck) {
  check_both([](auto& v) { return gather(v[0], 1, tensor({{0, 0, 2}, {1, 2, 2}})); }, {input({2, 3}, 1)});
  check_both([](auto& v) { return gather(v[0], 0, tensor({{{1, 0}}, {{0, 0}}})); }, {input({2, 3, 2}, 2)});
}

// ---- one_hot -------------------------------------------------------------------------------------

TEST(OneHot, RowsOfTheIdentityAsInt64) {
  Tensor y = one_hot(tensor({2, 0}), 3);
  EXPECT_EQ(y.dtype(), kInt64);
  EXPECT_EQ(y.shape(), Shape({2, 3}));
  EXPECT_EQ(y.to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 0, 1, 1, 0, 0}));
}

TEST(OneHot, InfersTheClassCountFromTheLargestIndex) {
  EXPECT_EQ(one_hot(tensor({{1}, {3}})).shape(), Shape({2, 1, 4}));
}

// ---- errors --------------------------------------------------------------------------------------

TEST(IndexErrors, EmbeddingIndexOutOfRange) {
  Tensor w = zeros({3, 2});
  expect_throw_with<IndexError>([&] { embedding(w, tensor({3})); },
                                {"embedding: index 3 is out of range for 3 embeddings (valid: 0..2) at position [0]"});
  expect_throw_with<IndexError>([&] { embedding(w, tensor({{0, 1}, {-1, 2}})); },
                                {"embedding: index -1 is out of range", "at position [1, 0]"});
}

TEST(IndexErrors, PaddingIdxOutOfRange) {
  expect_throw_with<IndexError>([] { embedding(zeros({3, 2}), tensor({0}), EmbeddingFuncOptions().padding_idx(3)); },
                                {"embedding: padding_idx 3 is out of range for 3 embeddings (valid: -3..2)"});
  expect_throw_with<IndexError>([] { embedding(zeros({3, 2}), tensor({0}), EmbeddingFuncOptions().padding_idx(-4)); },
                                {"padding_idx -4"});
}

TEST(IndexErrors, IndexSelectOutOfRange) {
  expect_throw_with<IndexError>([] { index_select(zeros({2, 3}), 1, tensor({0, 3})); },
                                {"index_select: index 3 is out of range for dimension 1 of size 3 (valid: 0..2) at position [1]"});
  expect_throw_with<IndexError>([] { index_select(zeros({2, 3}), 0, tensor({-1})); }, {"index_select: index -1", "position [0]"});
}

TEST(IndexErrors, GatherOutOfRange) {
  expect_throw_with<IndexError>([] { gather(zeros({2, 3}), 1, tensor({{0, 3}, {0, 0}})); },
                                {"gather: index 3 is out of range for dimension 1 of size 3 (valid: 0..2) at position [0, 1]"});
  expect_throw_with<IndexError>([] { gather(zeros({2, 3}), 0, tensor({{0, 0}, {-1, 0}})); }, {"gather: index -1", "position [1, 0]"});
}

TEST(IndexErrors, OneHotOutOfRange) {
  expect_throw_with<IndexError>([] { one_hot(tensor({0, 3}), 3); }, {"one_hot: class 3 is out of range for 3 classes", "position [1]"});
  expect_throw_with<IndexError>([] { one_hot(tensor({-2})); }, {"one_hot: class -2"});
}

TEST(IndexErrors, WrongDtypesNameTheOpAndDtype) {
  expect_throw_with<std::invalid_argument>([] { embedding(zeros({3, 2}), tensor({0., 1.})); }, {"embedding", "indices", "float32"});
  expect_throw_with<std::invalid_argument>([] { embedding(zeros({3, 2}, kInt64), tensor({0})); }, {"embedding", "weight", "int64"});
  expect_throw_with<std::invalid_argument>([] { index_select(zeros({3}), 0, tensor({0.})); }, {"index_select", "float32"});
  expect_throw_with<std::invalid_argument>([] { gather(zeros({3}), 0, tensor({0.})); }, {"gather", "float32"});
}

TEST(IndexErrors, GatherIndexShape) {
  expect_throw_with<std::invalid_argument>([] { gather(zeros({2, 3}), 1, tensor({0, 1})); }, {"gather", "rank", "[2]", "[2, 3]"});
  expect_throw_with<std::invalid_argument>([] { gather(zeros({2, 3}), 1, tensor({{0}, {0}, {0}})); }, {"gather", "[3, 1]", "dimension 0"});
}

// ---- graphs are freed ----------------------------------------------------------------------------

TEST(IndexGraph, SecondDerivativeGraphsLeaveNoNodesBehind) {
  const std::int64_t baseline = Node::live_count();
  {
    Tensor w = input({5, 3}, 1), up = input({2, 2, 3}, 2);
    Tensor y = embedding(w, tensor({{1, 4}, {1, 0}}), EmbeddingFuncOptions().padding_idx(0).scale_grad_by_freq(true));
    Tensor z = index_select(w, 0, tensor({2, 2})).pow(2).sum() + gather(w, 1, tensor({{0}, {2}})).pow(2).sum();
    auto g = grad({(y * up).sum() + z}, {w, up}, {}, true, true);
    grad({g[0].pow(2).sum()}, {w, up}, {}, false, false, true);
  }
  EXPECT_EQ(Node::live_count(), baseline);
}

TEST(IndexSelectInt, Int64TablesCanBeIndexed) {
  // a lookup table of integers (e.g. per-token scores): no gradient involved
  auto scores = ag::tensor({0, 2, 1, -2});
  auto picked = ag::index_select(scores, 0, ag::tensor({1, 3, 3, 0}));
  EXPECT_EQ(picked.dtype(), ag::kInt64);
  EXPECT_EQ(picked.to_vector<std::int64_t>(), (std::vector<std::int64_t>{2, -2, -2, 0}));
  EXPECT_EQ(ag::gather(ag::tensor({{1, 2}, {3, 4}}), 1, ag::tensor({{1}, {0}})).to_vector<std::int64_t>(),
            (std::vector<std::int64_t>{2, 3}));
}
