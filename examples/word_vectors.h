#pragma once
// The word vectors of the sentiment model before and after training, for cell 5 of
// examples/embedding_vs_linear (and its test against PyTorch, tests/test_seed_article.cpp).

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "ag/autograd/autograd.h"
#include "ag/nn/nn.h"
#include "ag/optim/optim.h"

namespace sentiment {

/// The cosine of the angle between two vectors: 1 alike, 0 unrelated, -1 opposite.
inline double cosine(const ag::Tensor& a, const ag::Tensor& b) {
  return ((a * b).sum() / (a.norm() * b.norm())).item<double>();
}

/// The cosine similarities of 优/良, 优/差 and 良/差 before and after training, and the last loss.
struct WordVectorSimilarities {
  std::vector<double> before, after;
  double loss = 0;
};

/// The sentiment model (Embedding(4, 5, padding_idx=0) -> mean over the words -> Linear(5, 2))
/// after manual_seed(seed), trained with Adam (lr 0.05, 200 full-batch steps) on every review of
/// 1 to 4 words, labelled by the built-in rule (优 +2, 良 +1, 差 -2: positive when the sum is > 0).
///
///     auto s = sentiment::train_word_vectors(1);   // s.before[0]: cos(优, 良) before training
inline WordVectorSimilarities train_word_vectors(std::uint64_t seed) {
  using namespace ag;
  manual_seed(seed);
  nn::Embedding words(nn::EmbeddingOptions(4, 5).padding_idx(0));  // <pad>, 优, 良, 差
  nn::Linear fc(5, 2);
  // The 120 reviews, in the order of Python's itertools.product([1, 2, 3], repeat=n), padded to 4.
  const int score[] = {0, 2, 1, -2};
  std::vector<std::int64_t> toks, labs;
  for (std::size_t n = 1; n <= 4; ++n) {
    std::vector<std::int64_t> ids(n, 1);
    for (bool more = true; more;) {
      int sum = 0;
      for (std::size_t i = 0; i < 4; ++i) toks.push_back(i < n ? ids[i] : 0);
      for (std::int64_t id : ids) sum += score[id];
      labs.push_back(sum > 0 ? 1 : 0);
      std::size_t k = n;  // the last position counts fastest
      while (k > 0 && ids[k - 1] == 3) ids[--k] = 1;
      if (k == 0) more = false;
      else ++ids[k - 1];
    }
  }
  const auto reviews = static_cast<std::int64_t>(labs.size());
  Tensor tokens = tensor(toks, {reviews, 4}), labels = tensor(labs, {reviews});
  Tensor mask = (tokens != 0).to(kFloat32).unsqueeze(-1);  // [120, 4, 1]: 1 for words, 0 for padding
  auto similarities = [&] {
    NoGradGuard no_grad;
    const Tensor& w = words.weight;
    return std::vector<double>{cosine(w[1], w[2]), cosine(w[1], w[3]), cosine(w[2], w[3])};
  };
  WordVectorSimilarities out;
  out.before = similarities();
  std::vector<Tensor> params = words.parameters();
  for (const Tensor& p : fc.parameters()) params.push_back(p);
  optim::Adam opt(params, optim::AdamOptions(0.05));
  for (int step = 0; step < 200; ++step) {
    opt.zero_grad();
    Tensor loss = cross_entropy(fc((words(tokens) * mask).sum(1) / mask.sum(1)), labels);
    loss.backward();
    opt.step();
    out.loss = loss.item<double>();
  }
  out.after = similarities();
  return out;
}

/// Cell 5's table: the similarities after manual_seed(1), then the range they end in over the
/// seeds 0 to 7 and how often training raised them.
inline std::string word_vector_table() {
  const char* pairs[] = {"优, 良", "优, 差", "良, 差"};
  std::string out;
  char line[200];
  WordVectorSimilarities s = train_word_vectors(1);
  std::snprintf(line, sizeof line,
                "manual_seed(1); trained on the 120 reviews of 1-4 words (200 full-batch Adam steps): loss %.4f\n"
                "cosine similarity  before   after\n",
                s.loss);
  out += line;
  for (std::size_t i = 0; i < 3; ++i) {
    std::snprintf(line, sizeof line, "%s             %7.4f  %7.4f\n", pairs[i], s.before[i], s.after[i]);
    out += line;
  }
  out += "the same after manual_seed(0) .. manual_seed(7), lowest and highest after training:\n";
  std::vector<WordVectorSimilarities> runs;
  for (std::uint64_t seed = 0; seed < 8; ++seed) runs.push_back(train_word_vectors(seed));
  for (std::size_t i = 0; i < 3; ++i) {
    double lo = 1, hi = -1;
    int rose = 0;
    for (const WordVectorSimilarities& r : runs) {
      lo = std::min(lo, r.after[i]);
      hi = std::max(hi, r.after[i]);
      rose += r.after[i] > r.before[i];
    }
    std::snprintf(line, sizeof line, "%s             %7.4f  %7.4f  (higher than before: %d of 8)\n", pairs[i], lo, hi,
                  rose);
    out += line;
  }
  return out;
}

}  // namespace sentiment
