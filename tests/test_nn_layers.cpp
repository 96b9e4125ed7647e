// The layers: Linear, Embedding, containers, activations, Dropout, Flatten, Identity, LayerNorm,
// and the functional forms.
#include <gtest/gtest.h>

#include <cmath>

#include "ag/nn/nn.h"

namespace nn = ag::nn;
namespace F = ag::nn::functional;
using ag::Tensor;

// ---- Linear ---------------------------------------------------------------------------------

TEST(NnLinear, WeightIsOutByInAndBiasIsOut) {
  nn::Linear lin(3, 5);
  EXPECT_EQ(lin.weight.shape(), ag::Shape({5, 3}));
  EXPECT_EQ(lin.bias.shape(), ag::Shape({5}));
  EXPECT_EQ(lin.named_parameters().keys(), (std::vector<std::string>{"weight", "bias"}));
  EXPECT_EQ(lin.options.in_features(), 3);
  EXPECT_EQ(lin.options.out_features(), 5);
}

TEST(NnLinear, AcceptsAnyLeadingDimensions) {
  nn::Linear lin(4, 2);
  EXPECT_EQ(lin(ag::randn({4})).shape(), ag::Shape({2}));
  EXPECT_EQ(lin(ag::randn({3, 4})).shape(), ag::Shape({3, 2}));
  EXPECT_EQ(lin(ag::randn({2, 3, 5, 4})).shape(), ag::Shape({2, 3, 5, 2}));
}

TEST(NnLinear, ForwardIsXTimesWeightTransposedPlusBias) {
  nn::Linear lin(4, 3);
  Tensor x = ag::randn({2, 6, 4});
  EXPECT_TRUE(ag::allclose(lin(x), x.matmul(lin.weight.t()) + lin.bias, 1e-5, 1e-6));
  nn::Linear nobias(nn::LinearOptions(4, 3).bias(false));
  EXPECT_FALSE(nobias.bias.defined());
  EXPECT_TRUE(ag::allclose(nobias(x), x.matmul(nobias.weight.t()), 1e-5, 1e-6));
}

TEST(NnLinear, GradientsMatchFiniteDifferencesInFloat64) {
  nn::Linear lin(3, 2);
  lin.to(ag::kFloat64);
  Tensor x = ag::randn({4, 3}, ag::TensorOptions(ag::kFloat64).requires_grad(true));
  EXPECT_TRUE(ag::gradcheck([&](const std::vector<Tensor>& in) { return lin(in[0]); }, {x}));
  // The parameters' gradients: L = sum(y * u) gives dW = u^T x and db = sum_rows(u).
  Tensor u = ag::randn({4, 2}, ag::kFloat64);
  (lin(x) * u).sum().backward();
  EXPECT_TRUE(ag::allclose(lin.weight.grad(), u.t().matmul(x.detach()), 1e-10, 1e-12));
  EXPECT_TRUE(ag::allclose(lin.bias.grad(), u.sum(0), 1e-10, 1e-12));
}

TEST(NnLinear, WrongInputWidthThrowsNamingTheLayer) {
  nn::Linear lin(3, 5);
  try {
    lin(ag::randn({2, 4}));
    FAIL() << "a [2, 4] input was accepted by Linear(3, 5)";
  } catch (const std::invalid_argument& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("in_features=3"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[2, 4]"), std::string::npos) << msg;
  }
  EXPECT_THROW(nn::Linear(-1, 2), std::invalid_argument);
}

TEST(NnLinear, ResetParametersWithAGeneratorIsRepeatable) {
  nn::Linear a(6, 4), b(6, 4);
  ag::Generator g1(5), g2(5);
  a.reset_parameters(&g1);
  b.reset_parameters(&g2);
  EXPECT_TRUE(ag::equal(a.weight, b.weight));
  EXPECT_TRUE(ag::equal(a.bias, b.bias));
  ag::manual_seed(11);
  nn::Linear c(6, 4);
  ag::manual_seed(11);
  nn::Linear d(6, 4);
  EXPECT_TRUE(ag::equal(c.weight, d.weight));
}

// ---- Embedding ------------------------------------------------------------------------------

TEST(NnEmbedding, LooksUpRowsForIndicesOfAnyShape) {
  nn::Embedding emb(10, 3);
  Tensor ids = ag::tensor({{1, 4, 4}, {0, 9, 2}});
  Tensor y = emb(ids);
  EXPECT_EQ(y.shape(), ag::Shape({2, 3, 3}));
  EXPECT_TRUE(ag::equal(y[1][1], emb.weight[9]));
  EXPECT_TRUE(ag::equal(y[0][2], emb.weight[4]));
  EXPECT_EQ(emb(ag::tensor({7})).shape(), ag::Shape({1, 3}));
}

TEST(NnEmbedding, OptionsChainAndConvenienceConstructorAgree) {
  nn::Embedding emb(nn::EmbeddingOptions(4, 8).padding_idx(0).max_norm(1.0).norm_type(2).scale_grad_by_freq(true));
  EXPECT_EQ(emb.options.num_embeddings(), 4);
  EXPECT_EQ(emb.options.embedding_dim(), 8);
  EXPECT_EQ(emb.options.padding_idx(), std::optional<std::int64_t>(0));
  EXPECT_EQ(emb.options.max_norm(), std::optional<double>(1.0));
  EXPECT_EQ(emb.options.norm_type(), 2.0);
  EXPECT_TRUE(emb.options.scale_grad_by_freq());
  EXPECT_FALSE(emb.options.sparse());
  nn::Embedding plain(3, 5);
  EXPECT_EQ(plain.weight.shape(), ag::Shape({3, 5}));
  EXPECT_FALSE(plain.options.padding_idx().has_value());
  EXPECT_FALSE(plain.options.max_norm().has_value());
}

TEST(NnEmbedding, PaddingRowStartsZeroAndGetsNoGradient) {
  nn::Embedding emb(nn::EmbeddingOptions(5, 4).padding_idx(-2));  // counts from the end: row 3
  ASSERT_EQ(emb.options.padding_idx(), std::optional<std::int64_t>(3));
  for (float v : emb.weight[3].to_vector<float>()) EXPECT_EQ(v, 0.0f);
  emb(ag::tensor({3, 1, 3})).sum().backward();
  for (float v : emb.weight.grad()[3].to_vector<float>()) EXPECT_EQ(v, 0.0f);
  for (float v : emb.weight.grad()[1].to_vector<float>()) EXPECT_EQ(v, 1.0f);
  emb.reset_parameters();
  for (float v : emb.weight[3].to_vector<float>()) EXPECT_EQ(v, 0.0f);
}

TEST(NnEmbedding, PaddingIndexOutOfRangeThrows) {
  EXPECT_THROW(nn::Embedding(nn::EmbeddingOptions(5, 4).padding_idx(5)), ag::IndexError);
  EXPECT_THROW(nn::Embedding(nn::EmbeddingOptions(5, 4).padding_idx(-6)), ag::IndexError);
  EXPECT_NO_THROW(nn::Embedding(nn::EmbeddingOptions(5, 4).padding_idx(-5)));
}

TEST(NnEmbedding, IndexOutOfRangeThrowsIndexError) {
  nn::Embedding emb(3, 5);
  EXPECT_THROW(emb(ag::tensor({3})), ag::IndexError);
  EXPECT_THROW(emb(ag::tensor({-4})), ag::IndexError);
}

TEST(NnEmbedding, GivenWeightIsSharedAndShapeChecked) {
  Tensor w = ag::randn({4, 2});
  nn::Embedding emb(nn::EmbeddingOptions(4, 2)._weight(w));
  EXPECT_TRUE(ag::equal(emb.weight, w));
  {
    ag::NoGradGuard no_grad;
    w.add_(1);
  }
  EXPECT_TRUE(ag::equal(emb.weight, w));  // shares the data
  EXPECT_THROW(nn::Embedding(nn::EmbeddingOptions(4, 3)._weight(w)), std::invalid_argument);
}

TEST(NnEmbedding, FromPretrainedNeedsA2DFloatingTable) {
  EXPECT_THROW(nn::Embedding::from_pretrained(ag::randn({4})), std::invalid_argument);
  EXPECT_THROW(nn::Embedding::from_pretrained(ag::randn({2, 3, 4})), std::invalid_argument);
  EXPECT_THROW(nn::Embedding::from_pretrained(ag::zeros({2, 3}, ag::kInt64)), std::invalid_argument);
}

TEST(NnEmbedding, FromPretrainedPassesTheLookupOptions) {
  auto emb = nn::Embedding::from_pretrained(
      ag::randn({6, 3}), nn::EmbeddingFromPretrainedOptions().freeze(false).padding_idx(-1).max_norm(0.5));
  EXPECT_EQ(emb->options.padding_idx(), std::optional<std::int64_t>(5));
  EXPECT_TRUE(emb->weight.requires_grad());
  Tensor y = (*emb)(ag::tensor({0, 1, 2}));
  for (std::int64_t i = 0; i < 3; ++i) EXPECT_LE(y[i].norm().item<double>(), 0.5 + 1e-6);
}

TEST(NnEmbedding, SparseGivesASparseGradientOfTheLookedUpRows) {
  nn::Embedding emb(nn::EmbeddingOptions(6, 2).sparse(true));
  emb(ag::tensor({1, 4})).sum().backward();
  Tensor g = emb.weight.grad();
  ASSERT_TRUE(g.is_sparse());
  EXPECT_EQ(g.shape(), ag::Shape({6, 2}));
  EXPECT_TRUE(ag::equal(g.indices(), ag::tensor({{1, 4}})));
  Tensor dense = g.to_dense();
  for (std::int64_t r : {0, 2, 3, 5}) EXPECT_EQ(dense[r].abs().sum().item<double>(), 0.0);
  for (std::int64_t r : {1, 4}) EXPECT_EQ(dense[r].sum().item<double>(), 2.0);
}

// ---- containers -----------------------------------------------------------------------------

TEST(NnSequential, AppliesModulesInOrder) {
  auto fc1 = std::make_shared<nn::Linear>(3, 4);
  auto fc2 = std::make_shared<nn::Linear>(4, 2);
  auto seq = std::make_shared<nn::Sequential>(fc1, std::make_shared<nn::ReLU>(), fc2);
  Tensor x = ag::randn({5, 3});
  EXPECT_TRUE(ag::equal(seq->forward(x), (*fc2)((*fc1)(x).relu())));
  EXPECT_TRUE(ag::equal((*seq)(x), seq->forward(x)));
  EXPECT_EQ(seq->size(), 3u);
}

TEST(NnSequential, NamedChildrenNameTheParameters) {
  nn::Sequential seq({{"fc1", std::make_shared<nn::Linear>(3, 4)},
                      {"act", std::make_shared<nn::Tanh>()},
                      {"fc2", std::make_shared<nn::Linear>(4, 1)}});
  EXPECT_EQ(seq.named_parameters().keys(), (std::vector<std::string>{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}));
  EXPECT_EQ(seq.named_children().keys(), (std::vector<std::string>{"fc1", "act", "fc2"}));
  EXPECT_EQ(seq(ag::randn({2, 3})).shape(), ag::Shape({2, 1}));
}

TEST(NnSequential, BraceListPushBackIndexingAndIteration) {
  nn::Sequential seq{std::make_shared<nn::Linear>(2, 2), std::make_shared<nn::Sigmoid>()};
  seq.push_back(std::make_shared<nn::Identity>());
  seq.push_back("out", std::make_shared<nn::Linear>(2, 1));
  EXPECT_EQ(seq.named_children().keys(), (std::vector<std::string>{"0", "1", "2", "out"}));
  EXPECT_EQ(seq[-1]->name(), "Linear");
  EXPECT_EQ(seq.at<nn::Linear>(3)->options.out_features(), 1);
  EXPECT_THROW(seq.at<nn::Linear>(1), std::invalid_argument);
  EXPECT_THROW(seq[4], ag::IndexError);
  std::vector<std::string> names;
  for (const auto& m : seq) names.push_back(m->name());
  EXPECT_EQ(names, (std::vector<std::string>{"Linear", "Sigmoid", "Identity", "Linear"}));
}

TEST(NnSequential, EmptyReturnsItsInput) {
  nn::Sequential seq;
  Tensor x = ag::randn({2});
  EXPECT_TRUE(seq(x).is_same(x));
}

TEST(NnModuleList, RegistersNumberedChildrenAndIterates) {
  nn::ModuleList list(std::make_shared<nn::Linear>(2, 3), std::make_shared<nn::Linear>(3, 3));
  list.push_back(std::make_shared<nn::Linear>(3, 1));
  EXPECT_EQ(list.size(), 3u);
  EXPECT_EQ(list.named_parameters().keys().at(4), "2.weight");
  Tensor x = ag::randn({4, 2});
  for (const auto& layer : list) x = (*layer)(x);
  EXPECT_EQ(x.shape(), ag::Shape({4, 1}));
  list.extend(list);
  EXPECT_EQ(list.size(), 6u);
  EXPECT_EQ(list.parameters().size(), 6u);  // the same three layers, listed once
  EXPECT_THROW(list(x), std::logic_error);
}

// ---- activations, Flatten, Identity ---------------------------------------------------------

TEST(NnActivation, ModulesEqualTheirOps) {
  Tensor x = ag::randn({3, 4});
  EXPECT_TRUE(ag::equal(nn::ReLU()(x), x.relu()));
  EXPECT_TRUE(ag::equal(nn::Tanh()(x), x.tanh()));
  EXPECT_TRUE(ag::equal(nn::Sigmoid()(x), x.sigmoid()));
  EXPECT_TRUE(ag::equal(nn::GELU()(x), ag::gelu(x)));
  EXPECT_TRUE(ag::equal(nn::Softmax(1)(x), x.softmax(1)));
  EXPECT_TRUE(ag::equal(nn::LogSoftmax(0)(x), x.log_softmax(0)));
}

TEST(NnActivation, KnownValues) {
  Tensor x = ag::tensor({-1.0, 0.0, 2.0}, ag::kFloat64);
  EXPECT_EQ(nn::ReLU()(x).to_vector<double>(), (std::vector<double>{0, 0, 2}));
  std::vector<double> s = nn::Sigmoid()(x).to_vector<double>();
  EXPECT_NEAR(s[0], 1 / (1 + std::exp(1.0)), 1e-15);
  EXPECT_NEAR(s[1], 0.5, 1e-15);
  std::vector<double> g = nn::GELU()(x).to_vector<double>();
  EXPECT_NEAR(g[2], 2 * 0.5 * (1 + std::erf(2 / std::sqrt(2.0))), 1e-12);
  std::vector<double> p = nn::Softmax(0)(x).to_vector<double>();
  double z = std::exp(-1.0) + 1 + std::exp(2.0);
  EXPECT_NEAR(p[2], std::exp(2.0) / z, 1e-15);
  EXPECT_NEAR(nn::LogSoftmax(0)(x).to_vector<double>()[0], -1 - std::log(z), 1e-12);
}

TEST(NnFlatten, MergesTheChosenDimensions) {
  Tensor x = ag::randn({2, 3, 4, 5});
  EXPECT_EQ(nn::Flatten()(x).shape(), ag::Shape({2, 60}));
  EXPECT_EQ(nn::Flatten(0, 1)(x).shape(), ag::Shape({6, 4, 5}));
  EXPECT_EQ(nn::Flatten(-2)(x).shape(), ag::Shape({2, 3, 20}));
  EXPECT_EQ(nn::Flatten()(x).to_vector<float>(), x.to_vector<float>());
}

TEST(NnIdentity, ReturnsItsInput) {
  Tensor x = ag::randn({2, 2}, ag::requires_grad());
  EXPECT_TRUE(nn::Identity()(x).is_same(x));
}

// ---- Dropout --------------------------------------------------------------------------------

TEST(NnDropout, TrainingZeroesAboutPAndScalesTheRestByOneOverOneMinusP) {
  const double p = 0.3;
  const std::int64_t n = 100000;
  nn::Dropout drop(p);
  Tensor y = drop(ag::ones({n}));
  std::int64_t zeros = 0;
  for (float v : y.to_vector<float>()) {
    if (v == 0.0f) ++zeros;
    else EXPECT_FLOAT_EQ(v, static_cast<float>(1 / (1 - p)));
  }
  // The zero count is Binomial(n, p): standard deviation sqrt(n p (1-p)) ~ 145; allow 5 of them.
  EXPECT_NEAR(static_cast<double>(zeros), p * n, 5 * std::sqrt(n * p * (1 - p)));
}

TEST(NnDropout, EvalIsTheIdentity) {
  nn::Dropout drop(0.5);
  drop.eval();
  Tensor x = ag::randn({10});
  EXPECT_TRUE(drop(x).is_same(x));
  drop.train();
  EXPECT_FALSE(ag::equal(drop(ag::ones({100})), ag::ones({100})));
}

TEST(NnDropout, SeedingTheDefaultGeneratorRepeatsTheMask) {
  nn::Dropout drop(0.5);
  Tensor x = ag::randn({50});
  ag::manual_seed(123);
  Tensor a = drop(x);
  ag::manual_seed(123);
  Tensor b = drop(x);
  EXPECT_TRUE(ag::equal(a, b));
  ag::Generator g1(9), g2(9);
  EXPECT_TRUE(ag::equal(F::dropout(x, 0.5, true, &g1), F::dropout(x, 0.5, true, &g2)));
}

TEST(NnDropout, GradientIsTheScaledMask) {
  Tensor x = ag::randn({1000}, ag::requires_grad());
  Tensor y = nn::Dropout(0.25)(x);
  y.sum().backward();
  std::vector<float> yv = y.to_vector<float>(), xv = x.to_vector<float>(), gv = x.grad().to_vector<float>();
  for (std::size_t i = 0; i < yv.size(); ++i) {
    float expected = yv[i] == 0.0f ? 0.0f : 1.0f / 0.75f;
    EXPECT_FLOAT_EQ(gv[i], expected) << i;
  }
}

TEST(NnDropout, EdgeProbabilities) {
  Tensor x = ag::randn({20});
  EXPECT_TRUE(nn::Dropout(0.0)(x).is_same(x));
  EXPECT_EQ(nn::Dropout(1.0)(x).abs().sum().item<double>(), 0.0);
  EXPECT_THROW(nn::Dropout(1.5), std::invalid_argument);
  EXPECT_THROW(F::dropout(x, -0.1), std::invalid_argument);
  EXPECT_THROW(F::dropout(ag::zeros({3}, ag::kInt64), 0.5), std::invalid_argument);
}

// ---- LayerNorm ------------------------------------------------------------------------------

TEST(NnLayerNorm, NormalisesTheLastDimension) {
  nn::LayerNorm ln(nn::LayerNormOptions({3}).eps(0.0));
  Tensor y = ln(ag::tensor({{1.0, 2.0, 3.0}, {-2.0, 0.0, 8.0}}, ag::kFloat64).to(ag::kFloat32));
  // Row 1: mean 2, biased variance 2/3, so y = (x - 2) / sqrt(2/3).
  std::vector<float> v = y.to_vector<float>();
  EXPECT_NEAR(v[0], -1 / std::sqrt(2.0 / 3.0), 1e-6);
  EXPECT_NEAR(v[1], 0.0, 1e-6);
  EXPECT_NEAR(v[2], 1 / std::sqrt(2.0 / 3.0), 1e-6);
  // Row 2: mean 2, variance (16 + 4 + 36) / 3.
  EXPECT_NEAR(v[5], 6 / std::sqrt(56.0 / 3.0), 1e-6);
}

TEST(NnLayerNorm, OutputRowsHaveMeanZeroAndUnitVarianceOverSeveralDims) {
  nn::LayerNorm ln(std::vector<std::int64_t>{4, 5});
  EXPECT_EQ(ln.weight.shape(), ag::Shape({4, 5}));
  Tensor y = ln(ag::randn({3, 4, 5}) * 3 + 1);
  Tensor mean = y.mean({1, 2});
  Tensor var = ((y - y.mean({1, 2}, true)).pow(2)).mean({1, 2});
  for (float m : mean.to_vector<float>()) EXPECT_NEAR(m, 0.0, 1e-5);
  for (float s : var.to_vector<float>()) EXPECT_NEAR(s, 1.0, 1e-3);  // eps = 1e-5 shrinks it slightly
}

TEST(NnLayerNorm, AffineParametersScaleAndShift) {
  nn::LayerNorm ln(3);
  {
    ag::NoGradGuard no_grad;
    ln.weight.copy_(ag::tensor({1.0, 2.0, 3.0}));
    ln.bias.copy_(ag::tensor({0.5, 0.5, 0.5}));
  }
  Tensor x = ag::randn({2, 3});
  nn::LayerNorm plain(nn::LayerNormOptions({3}).elementwise_affine(false));
  EXPECT_TRUE(plain.parameters().empty());
  EXPECT_TRUE(ag::allclose(ln(x), plain(x) * ag::tensor({1.0, 2.0, 3.0}) + 0.5, 1e-6, 1e-6));
}

TEST(NnLayerNorm, GradcheckFloat64) {
  Tensor x = ag::randn({2, 3, 4}, ag::TensorOptions(ag::kFloat64).requires_grad(true));
  Tensor w = ag::randn({3, 4}, ag::TensorOptions(ag::kFloat64).requires_grad(true));
  Tensor b = ag::randn({3, 4}, ag::TensorOptions(ag::kFloat64).requires_grad(true));
  EXPECT_TRUE(ag::gradcheck(
      [](const std::vector<Tensor>& in) { return F::layer_norm(in[0], {3, 4}, in[1], in[2]); }, {x, w, b}));
  nn::LayerNorm ln(4);
  ln.to(ag::kFloat64);
  EXPECT_TRUE(ag::gradcheck([&](const std::vector<Tensor>& in) { return ln(in[0]); }, {x}));
  EXPECT_TRUE(ag::gradgradcheck(
      [](const std::vector<Tensor>& in) { return F::layer_norm(in[0], {4}, in[1], in[2]); },
      {x, ag::randn({4}, ag::TensorOptions(ag::kFloat64).requires_grad(true)),
       ag::randn({4}, ag::TensorOptions(ag::kFloat64).requires_grad(true))}));
}

TEST(NnLayerNorm, WrongTrailingShapeThrows) {
  nn::LayerNorm ln(std::vector<std::int64_t>{4, 5});
  try {
    ln(ag::randn({2, 5, 4}));
    FAIL();
  } catch (const std::invalid_argument& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("[4, 5]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[2, 5, 4]"), std::string::npos) << msg;
  }
  EXPECT_THROW(nn::LayerNorm(std::vector<std::int64_t>{}), std::invalid_argument);
}

// ---- functional -----------------------------------------------------------------------------

TEST(NnFunctional, FormsMatchTheLayers) {
  nn::Linear lin(3, 2);
  Tensor x = ag::randn({4, 3});
  EXPECT_TRUE(ag::equal(F::linear(x, lin.weight, lin.bias), lin(x)));
  nn::Embedding emb(nn::EmbeddingOptions(5, 2).padding_idx(0));
  Tensor ids = ag::tensor({0, 3, 4});
  EXPECT_TRUE(ag::equal(F::embedding(ids, emb.weight, F::EmbeddingFuncOptions().padding_idx(0)), emb(ids)));
  EXPECT_TRUE(ag::equal(F::relu(x), nn::ReLU()(x)));
  EXPECT_TRUE(ag::equal(F::softmax(x, 1), nn::Softmax(1)(x)));
  Tensor target = ag::tensor({0, 1, 1, 0});
  Tensor logits = lin(x);
  EXPECT_TRUE(ag::allclose(F::cross_entropy(logits, target), F::nll_loss(F::log_softmax(logits, 1), target)));
  EXPECT_NEAR(F::mse_loss(ag::tensor({1.0, 3.0}), ag::tensor({0.0, 0.0})).item<double>(), 5.0, 1e-6);
  EXPECT_NEAR(F::l1_loss(ag::tensor({1.0, -3.0}), ag::tensor({0.0, 0.0})).item<double>(), 2.0, 1e-6);
  EXPECT_NEAR(F::binary_cross_entropy_with_logits(ag::tensor({0.0}), ag::tensor({1.0})).item<double>(), std::log(2.0),
              1e-6);
}
