// The 30-step sentiment run of tests/data/train.json: Embedding + masked mean + Linear trained
// with Adam from PyTorch's initial weights and batches must reproduce PyTorch's loss at every step
// and its final weights.

#include <gtest/gtest.h>

#include <memory>

#include "golden.h"
#include "ag/nn/nn.h"
#include "ag/optim/optim.h"

namespace nn = ag::nn;
using ag::Tensor;

namespace {

/// logits = Linear(dim, 2)(mean of the embeddings of the non-pad tokens), as the case's "model".
struct Sentiment : nn::Module {
  std::shared_ptr<nn::Embedding> emb;
  std::shared_ptr<nn::Linear> fc;

  Sentiment(std::int64_t vocab, std::int64_t dim, std::int64_t padding_idx) {
    emb = register_module("emb",
                          std::make_shared<nn::Embedding>(nn::EmbeddingOptions(vocab, dim).padding_idx(padding_idx)));
    fc = register_module("fc", std::make_shared<nn::Linear>(dim, 2));
  }

  /// tokens [B, S] (int64, 0 = pad) -> logits [B, 2]
  Tensor forward(const Tensor& tokens) override {
    Tensor e = (*emb)(tokens);                                // [B, S, D]
    Tensor mask = (tokens != 0).to(ag::kFloat32).unsqueeze(2);  // [B, S, 1]
    Tensor pooled = (e * mask).sum(1) / mask.sum(1);          // [B, D]
    return (*fc)(pooled);                                     // [B, 2]
  }
};

}  // namespace

TEST(TrainGolden, SentimentRunWithAdamMatchesPyTorch) {
  std::vector<golden::Case> cases = golden::load("train.json");
  ASSERT_EQ(cases.size(), 1u);
  const golden::Case& c = cases[0];
  ASSERT_EQ(c.params.at("optimizer"), "Adam");
  const std::int64_t dim = c.params.at("dim"), padding_idx = c.params.at("padding_idx");
  const std::int64_t vocab = static_cast<std::int64_t>(c.params.at("vocab").size());

  auto model = std::make_shared<Sentiment>(vocab, dim, padding_idx);
  nn::StateDict initial;
  for (const char* name : {"emb.weight", "fc.weight", "fc.bias"}) initial.insert(name, c.inputs.at(name));
  model->load_state_dict(initial);

  ag::optim::Adam opt(model->parameters(), ag::optim::AdamOptions(c.params.at("lr").get<double>()));
  const Tensor& tokens = c.inputs.at("tokens");  // [steps, B, S]
  const Tensor& labels = c.inputs.at("labels");  // [steps, B]
  const std::vector<double> expected_losses = c.outputs.at("losses").to_vector<double>();
  ASSERT_EQ(static_cast<std::int64_t>(expected_losses.size()), tokens.size(0));

  for (std::int64_t step = 0; step < tokens.size(0); ++step) {
    opt.zero_grad();
    Tensor loss = ag::cross_entropy((*model)(tokens[step]), labels[step]);
    loss.backward();
    opt.step();
    const double got = loss.item<double>(), want = expected_losses[static_cast<std::size_t>(step)];
    EXPECT_LE(std::abs(got - want), 1e-4 * std::abs(want)) << "step " << step << ": loss " << got << ", PyTorch "
                                                           << want;
  }
  nn::StateDict final_weights = model->state_dict();
  for (const char* name : {"emb.weight", "fc.weight", "fc.bias"})
    EXPECT_TRUE(golden::close(final_weights.at(name), c.outputs.at(name), 1e-4)) << name;
}
