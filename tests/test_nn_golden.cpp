// tests/data/nn.json through the layers: PyTorch 1.13's outputs, weight gradients (of
// L = sum(y * upstream)) and weights after the forward (max_norm renormalises in place), for
// Linear and for Embedding with each of its options. float32, relative error <= 1e-5.
#include <gtest/gtest.h>

#include "golden.h"
#include "ag/nn/nn.h"

namespace nn = ag::nn;
using ag::Tensor;

namespace {

constexpr double kTol = 1e-5;

const std::vector<golden::Case>& cases() {
  static const std::vector<golden::Case> all = golden::load("nn.json");
  return all;
}

// The weight from the case, as the float32 parameter PyTorch used.
nn::Parameter weight_of(const golden::Case& c, const std::string& name) {
  return nn::Parameter(c.inputs.at(name).to(ag::kFloat32));
}

void check_linear(const golden::Case& c) {
  const auto& p = c.params;
  nn::Linear lin(nn::LinearOptions(p.at("in_features"), p.at("out_features")).bias(p.at("bias").get<bool>()));
  lin.weight = weight_of(c, "weight");
  if (lin.bias.defined()) lin.bias = weight_of(c, "bias");

  Tensor y = lin(c.inputs.at("x"));
  EXPECT_TRUE(golden::close(y, c.outputs.at("y"), kTol)) << c.name << " y";
  std::vector<Tensor> params = {lin.weight};
  if (lin.bias.defined()) params.push_back(lin.bias);
  std::vector<Tensor> g = golden::grads_of(y, c.inputs.at("upstream"), params);
  EXPECT_TRUE(golden::close(g[0], c.grads.at("weight"), kTol)) << c.name << " dweight";
  if (lin.bias.defined()) EXPECT_TRUE(golden::close(g[1], c.grads.at("bias"), kTol)) << c.name << " dbias";
  EXPECT_TRUE(golden::close(lin.weight, c.outputs.at("weight_after"), kTol)) << c.name << " weight_after";
  if (c.outputs.count("bias_after"))
    EXPECT_TRUE(golden::close(lin.bias, c.outputs.at("bias_after"), kTol)) << c.name << " bias_after";
}

void check_embedding(const golden::Case& c) {
  const auto& p = c.params;
  nn::EmbeddingOptions options(p.at("num_embeddings"), p.at("embedding_dim"));
  if (p.contains("padding_idx")) options.padding_idx(p.at("padding_idx").get<std::int64_t>());
  if (p.contains("max_norm")) options.max_norm(p.at("max_norm").get<double>());
  if (p.contains("norm_type")) options.norm_type(p.at("norm_type").get<double>());
  if (p.contains("scale_grad_by_freq")) options.scale_grad_by_freq(p.at("scale_grad_by_freq").get<bool>());
  nn::Embedding emb(options);
  emb.weight = weight_of(c, "weight");

  Tensor y = emb(c.inputs.at("indices"));
  EXPECT_TRUE(golden::close(y, c.outputs.at("y"), kTol)) << c.name << " y";
  std::vector<Tensor> g = golden::grads_of(y, c.inputs.at("upstream"), {emb.weight});
  EXPECT_TRUE(golden::close(g[0], c.grads.at("weight"), kTol)) << c.name << " dweight";
  EXPECT_TRUE(golden::close(emb.weight, c.outputs.at("weight_after"), kTol)) << c.name << " weight_after";
}

}  // namespace

TEST(NnGolden, EveryCaseIsKnownAndCovered) {
  std::map<std::string, int> kinds;
  for (const auto& c : cases()) ++kinds[c.kind];
  EXPECT_EQ(kinds["linear"], 2);
  EXPECT_EQ(kinds["embedding"], 7);
  EXPECT_EQ(kinds.size(), 2u) << "a new kind of case needs a check here";
}

TEST(NnGolden, LinearCases) {
  for (const auto& c : cases())
    if (c.kind == "linear") check_linear(c);
}

TEST(NnGolden, EmbeddingCases) {
  for (const auto& c : cases())
    if (c.kind == "embedding") check_embedding(c);
}

TEST(NnGolden, MaxNormCasesDoRenormaliseTheWeight) {
  // Guards against a vacuous weight_after check: the max_norm cases' weights must change.
  for (const auto& c : cases()) {
    if (c.kind != "embedding" || !c.params.contains("max_norm")) continue;
    EXPECT_FALSE(golden::close(c.inputs.at("weight").to(ag::kFloat32), c.outputs.at("weight_after"), kTol)) << c.name;
  }
}
