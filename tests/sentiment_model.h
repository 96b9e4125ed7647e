#pragma once
// The sentiment workload of bench/workloads.cpp, shared by the leak, soak and thread tests:
// Embedding(4, 8, padding_idx=0) -> mean over the non-padding tokens -> Linear(8, 2), trained with
// cross_entropy and Adam (lr 0.05) on batches of 32 sequences of up to 6 tokens.
//
// Everything random comes from the Generator passed in (initialisation and data), so two
// trainers with equal seeds share no state and follow the same trajectory bit for bit.

#include <cstdint>
#include <memory>

#include "ag/autograd/autograd.h"
#include "ag/nn/nn.h"
#include "ag/optim/optim.h"

namespace sentiment {

struct Batch {
  ag::Tensor tokens;  // [batch, seq] int64: 0 pads, 1 优 (+2), 2 良 (+1), 3 差 (-2)
  ag::Tensor labels;  // [batch] int64: 1 when the scores add up to more than 0
};

/// `batch` sequences of 1..seq tokens, padded with 0 to `seq`.
inline Batch make_batch(ag::Generator& gen, std::int64_t batch = 32, std::int64_t seq = 6) {
  using namespace ag;
  Tensor lens = randint(1, seq + 1, {batch}, kInt64, &gen);
  Tensor toks = randint(1, 4, {batch, seq}, kInt64, &gen);
  toks = toks * (arange(seq).unsqueeze(0) < lens.unsqueeze(1));
  Tensor score = index_select(tensor({0, 2, 1, -2}), 0, toks.flatten()).reshape({batch, seq}).sum(1);
  return {toks, (score > 0).to(kInt64)};
}

struct Model : ag::nn::Module {
  std::shared_ptr<ag::nn::Embedding> emb = register_module(
      "emb", std::make_shared<ag::nn::Embedding>(ag::nn::EmbeddingOptions(4, 8).padding_idx(0)));
  std::shared_ptr<ag::nn::Linear> fc = register_module("fc", std::make_shared<ag::nn::Linear>(8, 2));

  explicit Model(ag::Generator& gen) {
    emb->reset_parameters(&gen);
    fc->reset_parameters(&gen);
  }
  ag::Tensor forward(const ag::Tensor& toks) override {
    ag::Tensor e = (*emb)(toks);                                   // [B, S, 8]
    ag::Tensor m = (toks != 0).to(ag::kFloat32).unsqueeze(-1);     // [B, S, 1]
    return (*fc)((e * m).sum(1) / m.sum(1));                       // [B, 2]
  }
};

/// A model, its optimizer and its own generator; step() trains on one fresh batch.
struct Trainer {
  ag::Generator gen;
  Model model;
  ag::optim::Adam opt;

  explicit Trainer(std::uint64_t seed)
      : gen(seed), model(gen), opt(model.parameters(), ag::optim::AdamOptions(0.05)) {}

  /// One step; returns the batch's loss before the update.
  float step() {
    Batch b = make_batch(gen);
    opt.zero_grad();
    ag::Tensor loss = ag::cross_entropy(model(b.tokens), b.labels);
    loss.backward();
    opt.step();
    return loss.item<float>();
  }
};

}  // namespace sentiment
