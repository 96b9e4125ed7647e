// ag_bench: the benchmark workloads of bench/README.md, one JSON line each.
//
//   build/bench/ag_bench [--threads N] [--set-to-none] [sentiment|mlp|embedding|embedding_sparse|embedding_sparse_1m|overhead|vecmath|sentiment_floor|mlp_floor|gradient_penalty|batch1 ...]
//
// Several workloads run one per child process, so that `peak_rss_mb` is each workload's own.
// Single-threaded unless --threads is given. The workloads (model, sizes, optimizer, step counts
// and warm-up) are those of bench/README.md. The optimizers' zero_grad() zeroes the gradients in
// place, PyTorch 1.13's default; --set-to-none drops them instead (zero_grad(true)), the cheaper
// step that ag's own default was before it followed PyTorch's.

#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <cblas.h>

#include "ag/autograd/autograd.h"
#include "ag/nn/nn.h"
#include "ag/optim/optim.h"

using namespace ag;

namespace {

using Clock = std::chrono::steady_clock;

bool g_set_to_none = false;  // --set-to-none

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

/// The median of an odd number of timings (the upper middle one of an even number).
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

// ---- sentiment: Embedding(4, 8, padding_idx=0) -> masked mean -> Linear(8, 2) -----------------

struct Batch {
  Tensor tokens, labels;
};

/// `batch` sequences of up to `seq` tokens from {1: 优 +2, 2: 良 +1, 3: 差 -2}, padded with 0;
/// label 1 when the score sum is positive.
Batch sentiment_batch(Generator& g, std::int64_t batch, std::int64_t seq) {
  Tensor lens = randint(1, seq + 1, {batch}, kInt64, &g);
  Tensor toks = randint(1, 4, {batch, seq}, kInt64, &g);
  Tensor mask = arange(seq).unsqueeze(0) < lens.unsqueeze(1);
  toks = toks * mask;
  Tensor score = index_select(tensor({0, 2, 1, -2}), 0, toks.flatten()).reshape({batch, seq}).sum(1);
  return {toks, (score > 0).to(kInt64)};
}

struct Sentiment : nn::Module {
  std::shared_ptr<nn::Embedding> emb;
  std::shared_ptr<nn::Linear> fc;
  Sentiment(std::int64_t vocab, std::int64_t dim)
      : emb(register_module("emb", std::make_shared<nn::Embedding>(nn::EmbeddingOptions(vocab, dim).padding_idx(0)))),
        fc(register_module("fc", std::make_shared<nn::Linear>(dim, 2))) {}
  Tensor forward(const Tensor& toks) override {
    Tensor e = (*emb)(toks);                                // [B, S, D]
    Tensor m = (toks != 0).to(kFloat32).unsqueeze(-1);      // [B, S, 1]
    return (*fc)((e * m).sum(1) / m.sum(1));                // [B, 2]
  }
};

/// `steps` training steps over the batches, cycled; returns the last loss.
Tensor train_sentiment(Sentiment& model, optim::Adam& opt, const std::vector<Batch>& data, int steps) {
  Tensor loss;
  for (int i = 0; i < steps; ++i) {
    const Batch& b = data[static_cast<std::size_t>(i) % data.size()];
    opt.zero_grad(g_set_to_none);
    loss = cross_entropy(model(b.tokens), b.labels);
    loss.backward();
    opt.step();
  }
  return loss;
}

std::string run_sentiment() {
  const int steps = 2000;
  manual_seed(0);
  Generator g(0);
  std::vector<Batch> data;
  for (int i = 0; i < 64; ++i) data.push_back(sentiment_batch(g, 32, 6));
  Sentiment model(4, 8);
  optim::Adam opt(model.parameters(), optim::AdamOptions(0.05));
  auto t0 = Clock::now();
  Tensor loss = train_sentiment(model, opt, data, steps);
  double dt = seconds_since(t0);
  Batch test = sentiment_batch(g, 1000, 6);
  NoGradGuard no_grad;
  double acc = (model(test.tokens).argmax(1) == test.labels).to(kFloat64).mean().item<double>();
  char buf[256];
  std::snprintf(buf, sizeof buf, "{\"workload\": \"sentiment\", \"steps_per_s\": %.1f, \"loss\": %.6f, \"accuracy\": %.4f",
                steps / dt, loss.item<double>(), acc);
  return buf;
}

// ---- sentiment_floor: the sentiment step written by hand, next to ag's ------------------------------
//
// The same model, data and Adam as run_sentiment, as the loops a person would write: per sequence
// the rows of its non-padding tokens are summed (padding skipped, not multiplied by a mask), then
// Linear, cross-entropy, their gradients and Adam on the three tensors, with no allocation in the
// loop. It starts from the weights ag's model starts from.

struct Floor {
  static constexpr int V = 4, D = 8, C = 2;
  float emb[V][D], w[C][D], b[C];
  float g_emb[V][D], g_w[C][D], g_b[C];
  float m_emb[V][D] = {}, v_emb[V][D] = {}, m_w[C][D] = {}, v_w[C][D] = {}, m_b[C] = {}, v_b[C] = {};
  int t = 0;

  /// h = the mean of the rows of the sequence's non-padding tokens; returns their count.
  int pool(const std::int64_t* toks, int seq, float* h) const {
    int n = 0;
    for (int d = 0; d < D; ++d) h[d] = 0;
    for (int s = 0; s < seq; ++s) {
      const std::int64_t k = toks[s];
      if (k == 0) continue;
      ++n;
      for (int d = 0; d < D; ++d) h[d] += emb[k][d];
    }
    for (int d = 0; d < D; ++d) h[d] /= static_cast<float>(n);
    return n;
  }
  void logits(const float* h, float* z) const {
    for (int c = 0; c < C; ++c) {
      float acc = b[c];
      for (int d = 0; d < D; ++d) acc += w[c][d] * h[d];
      z[c] = acc;
    }
  }
  static void adam(float* p, const float* g, float* m, float* v, int n, float lr, float c1, float c2) {
    for (int i = 0; i < n; ++i) {
      m[i] = 0.9f * m[i] + 0.1f * g[i];
      v[i] = 0.999f * v[i] + 0.001f * g[i] * g[i];
      p[i] -= lr / c1 * m[i] / (std::sqrt(v[i]) / std::sqrt(c2) + 1e-8f);
    }
  }
  /// One training step on `batch` sequences of `seq` tokens; returns the mean loss.
  float step(const std::int64_t* toks, const std::int64_t* labels, int batch, int seq, float lr) {
    std::memset(g_emb, 0, sizeof g_emb);
    std::memset(g_w, 0, sizeof g_w);
    std::memset(g_b, 0, sizeof g_b);
    float loss = 0;
    for (int i = 0; i < batch; ++i) {
      const std::int64_t* tk = toks + i * seq;
      float h[D], z[C];
      const int n = pool(tk, seq, h);
      logits(h, z);
      const float mx = std::max(z[0], z[1]);
      float e[C], sum = 0;
      for (int c = 0; c < C; ++c) sum += e[c] = std::exp(z[c] - mx);
      const int y = static_cast<int>(labels[i]);
      loss += std::log(sum) + mx - z[y];
      float dz[C], dh[D] = {};
      for (int c = 0; c < C; ++c) dz[c] = (e[c] / sum - (c == y ? 1.0f : 0.0f)) / static_cast<float>(batch);
      for (int c = 0; c < C; ++c) {
        g_b[c] += dz[c];
        for (int d = 0; d < D; ++d) {
          g_w[c][d] += dz[c] * h[d];
          dh[d] += dz[c] * w[c][d];
        }
      }
      for (int s = 0; s < seq; ++s)
        if (tk[s] != 0)
          for (int d = 0; d < D; ++d) g_emb[tk[s]][d] += dh[d] / static_cast<float>(n);
    }
    ++t;
    const float c1 = 1.0f - std::pow(0.9f, static_cast<float>(t)), c2 = 1.0f - std::pow(0.999f, static_cast<float>(t));
    adam(&emb[0][0], &g_emb[0][0], &m_emb[0][0], &v_emb[0][0], V * D, lr, c1, c2);
    adam(&w[0][0], &g_w[0][0], &m_w[0][0], &v_w[0][0], C * D, lr, c1, c2);
    adam(b, g_b, m_b, v_b, C, lr, c1, c2);
    return loss / static_cast<float>(batch);
  }
};

std::string run_sentiment_floor() {
  const int steps = 2000, rounds = 5;
  manual_seed(0);
  Generator g(0);
  std::vector<Batch> data;
  for (int i = 0; i < 64; ++i) data.push_back(sentiment_batch(g, 32, 6));
  const Batch test = sentiment_batch(g, 1000, 6);
  std::vector<double> ag_rate, floor_rate;
  double ag_loss = 0, floor_loss = 0, ag_acc = 0, floor_acc = 0;
  for (int r = 0; r < rounds; ++r) {  // alternating, so that both see the same machine
    manual_seed(0);
    Sentiment model(4, 8);
    Floor f;
    {
      NoGradGuard no_grad;  // the floor starts from ag's initial weights
      std::memcpy(f.emb, model.emb->weight.contiguous().data_ptr<float>(), sizeof f.emb);
      std::memcpy(f.w, model.fc->weight.contiguous().data_ptr<float>(), sizeof f.w);
      std::memcpy(f.b, model.fc->bias.contiguous().data_ptr<float>(), sizeof f.b);
    }
    optim::Adam opt(model.parameters(), optim::AdamOptions(0.05));
    auto t0 = Clock::now();
    Tensor loss = train_sentiment(model, opt, data, steps);
    ag_rate.push_back(steps / seconds_since(t0));
    t0 = Clock::now();
    float fl = 0;
    for (int i = 0; i < steps; ++i) {
      const Batch& b = data[i % 64];
      fl = f.step(b.tokens.data_ptr<std::int64_t>(), b.labels.data_ptr<std::int64_t>(), 32, 6, 0.05f);
    }
    floor_rate.push_back(steps / seconds_since(t0));
    NoGradGuard no_grad;
    ag_loss = loss.item<double>();
    floor_loss = fl;
    ag_acc = (model(test.tokens).argmax(1) == test.labels).to(kFloat64).mean().item<double>();
    int right = 0;
    const std::int64_t* tt = test.tokens.data_ptr<std::int64_t>();
    const std::int64_t* tl = test.labels.data_ptr<std::int64_t>();
    for (int i = 0; i < 1000; ++i) {
      float h[Floor::D], z[Floor::C];
      f.pool(tt + i * 6, 6, h);
      f.logits(h, z);
      right += (z[1] > z[0] ? 1 : 0) == tl[i];
    }
    floor_acc = right / 1000.0;
  }
  const double a = median(ag_rate), fr = median(floor_rate);
  char buf[384];
  std::snprintf(buf, sizeof buf,
                "{\"workload\": \"sentiment_floor\", \"ag_steps_per_s\": %.1f, \"floor_steps_per_s\": %.1f, "
                "\"ag_share_of_floor\": %.3f, \"ag_loss\": %.6f, \"floor_loss\": %.6f, \"ag_accuracy\": %.4f, "
                "\"floor_accuracy\": %.4f",
                a, fr, a / fr, ag_loss, floor_loss, ag_acc, floor_acc);
  return buf;
}

// ---- mlp: 784-512-512-10 with ReLU, batch 128, SGD with momentum --------------------------------

struct Mlp {
  static constexpr int kBatch = 128;
  Tensor x, y;
  std::shared_ptr<nn::Linear> fc1, fc2, fc3;
  std::unique_ptr<nn::Sequential> model;
  std::unique_ptr<optim::SGD> opt;

  Mlp() {
    manual_seed(0);
    x = randn({kBatch, 784});
    y = randint(0, 10, {kBatch});
    // The layers are made first to last, as PyTorch makes them (the order in which a call's
    // arguments are evaluated is unspecified in C++: g++ goes right to left), so that each layer
    // draws the initial weights PyTorch's does.
    fc1 = std::make_shared<nn::Linear>(784, 512);
    fc2 = std::make_shared<nn::Linear>(512, 512);
    fc3 = std::make_shared<nn::Linear>(512, 10);
    model = std::make_unique<nn::Sequential>(fc1, std::make_shared<nn::ReLU>(), fc2, std::make_shared<nn::ReLU>(), fc3);
    opt = std::make_unique<optim::SGD>(model->parameters(), optim::SGDOptions(0.01).momentum(0.9));
  }
  Tensor step() {
    opt->zero_grad(g_set_to_none);
    Tensor loss = cross_entropy((*model)(x), y);
    loss.backward();
    opt->step();
    return loss;
  }
};

std::string run_mlp() {
  const int steps = 100;
  Mlp mlp;
  for (int i = 0; i < 3; ++i) mlp.step();
  Tensor loss;
  auto t0 = Clock::now();
  for (int i = 0; i < steps; ++i) loss = mlp.step();
  double dt = seconds_since(t0);
  double flops = 3.0 * 2 * Mlp::kBatch * (784.0 * 512 + 512.0 * 512 + 512.0 * 10);
  char buf[256];
  std::snprintf(buf, sizeof buf, "{\"workload\": \"mlp\", \"steps_per_s\": %.2f, \"gflops\": %.1f, \"loss\": %.6f",
                steps / dt, flops * steps / dt / 1e9, loss.item<double>());
  return buf;
}

// ---- mlp_floor: the mlp step's eight matrix products alone, next to ag's step --------------------
//
// The products ag's mlp step hands to OpenBLAS, called directly on buffers made once: forward
// x W^T for the three layers; backward g W and g^T h for the two upper layers, g^T x for the
// first (its input needs no gradient). Alternating with ag's step, 5 rounds of 100 steps after 3
// warm-up steps, medians. Their speed is the most any framework can reach on these BLAS kernels,
// and ag's share of it the share of its step spent in them.

std::string run_mlp_floor() {
  const int steps = 100, rounds = 5, B = Mlp::kBatch;
  Mlp mlp;
  auto buffer = [](std::size_t n) { return std::vector<float>(n, 0.01f); };
  std::vector<float> x = buffer(B * 784), w1 = buffer(512 * 784), w2 = buffer(512 * 512), w3 = buffer(10 * 512);
  std::vector<float> h1 = buffer(B * 512), h2 = buffer(B * 512), out = buffer(B * 10), d2 = buffer(B * 512),
                     d1 = buffer(B * 512), g1 = buffer(512 * 784), g2 = buffer(512 * 512), g3 = buffer(10 * 512);
  const auto N = CblasNoTrans, T = CblasTrans;
  auto products = [&] {
    cblas_sgemm(CblasRowMajor, N, T, B, 512, 784, 1, x.data(), 784, w1.data(), 784, 1, h1.data(), 512);
    cblas_sgemm(CblasRowMajor, N, T, B, 512, 512, 1, h1.data(), 512, w2.data(), 512, 1, h2.data(), 512);
    cblas_sgemm(CblasRowMajor, N, T, B, 10, 512, 1, h2.data(), 512, w3.data(), 512, 1, out.data(), 10);
    cblas_sgemm(CblasRowMajor, N, N, B, 512, 10, 1, out.data(), 10, w3.data(), 512, 0, d2.data(), 512);
    cblas_sgemm(CblasRowMajor, T, N, 10, 512, B, 1, out.data(), 10, h2.data(), 512, 0, g3.data(), 512);
    cblas_sgemm(CblasRowMajor, N, N, B, 512, 512, 1, d2.data(), 512, w2.data(), 512, 0, d1.data(), 512);
    cblas_sgemm(CblasRowMajor, T, N, 512, 512, B, 1, d2.data(), 512, h1.data(), 512, 0, g2.data(), 512);
    cblas_sgemm(CblasRowMajor, T, N, 512, 784, B, 1, d1.data(), 512, x.data(), 784, 0, g1.data(), 784);
  };
  for (int i = 0; i < 3; ++i) mlp.step(), products();
  std::vector<double> ag_rate, floor_rate;
  for (int r = 0; r < rounds; ++r) {  // alternating, so that both see the same machine
    auto t0 = Clock::now();
    for (int i = 0; i < steps; ++i) mlp.step();
    ag_rate.push_back(steps / seconds_since(t0));
    t0 = Clock::now();
    for (int i = 0; i < steps; ++i) products();
    floor_rate.push_back(steps / seconds_since(t0));
  }
  const double a = median(ag_rate), f = median(floor_rate);
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "{\"workload\": \"mlp_floor\", \"ag_steps_per_s\": %.2f, \"sgemm_steps_per_s\": %.2f, "
                "\"ag_share_in_sgemm\": %.3f",
                a, f, a / f);
  return buf;
}

// ---- embedding: Embedding(50000, 64), mean over 16 tokens, Linear(64, 2), Adam -------------------

std::string run_embedding() {
  const int steps = 50;
  manual_seed(0);
  Tensor toks = randint(0, 50000, {256, 16});
  Tensor y = randint(0, 2, {256});
  nn::Embedding emb(50000, 64);
  nn::Linear fc(64, 2);
  std::vector<Tensor> params = emb.parameters();
  for (const Tensor& p : fc.parameters()) params.push_back(p);
  optim::Adam opt(params, optim::AdamOptions(1e-3));
  Tensor loss;
  auto t0 = Clock::now();
  for (int i = 0; i < steps; ++i) {
    opt.zero_grad(g_set_to_none);
    loss = cross_entropy(fc(emb(toks).mean(1)), y);
    loss.backward();
    opt.step();
  }
  double dt = seconds_since(t0);
  char buf[256];
  std::snprintf(buf, sizeof buf, "{\"workload\": \"embedding\", \"steps_per_s\": %.2f, \"loss\": %.6f", steps / dt,
                loss.item<double>());
  return buf;
}

// ---- embedding_sparse: the same with sparse(true) + SparseAdam, at 50,000 and 1,000,000 words ----

std::string run_embedding_sparse(std::int64_t vocab, const char* name) {
  const int warmup = 10, steps = 200;
  manual_seed(0);
  Tensor toks = randint(0, vocab, {256, 16});
  Tensor y = randint(0, 2, {256});
  nn::Embedding emb(nn::EmbeddingOptions(vocab, 64).sparse(true));
  nn::Linear fc(64, 2);
  optim::SparseAdam sparse_opt(emb.parameters(), optim::SparseAdamOptions(1e-3));
  optim::Adam dense_opt(fc.parameters(), optim::AdamOptions(1e-3));
  Tensor loss;
  auto step = [&] {
    sparse_opt.zero_grad(g_set_to_none);
    dense_opt.zero_grad(g_set_to_none);
    loss = cross_entropy(fc(emb(toks).mean(1)), y);
    loss.backward();
    sparse_opt.step();
    dense_opt.step();
  };
  for (int i = 0; i < warmup; ++i) step();
  auto t0 = Clock::now();
  for (int i = 0; i < steps; ++i) step();
  double dt = seconds_since(t0);
  char buf[256];
  std::snprintf(buf, sizeof buf, "{\"workload\": \"%s\", \"vocab\": %lld, \"steps_per_s\": %.2f, \"us_per_step\": %.1f, \"loss\": %.6f",
                name, static_cast<long long>(vocab), steps / dt, dt / steps * 1e6, loss.item<double>());
  return buf;
}

// ---- overhead: 100 tiny ops and a backward, 200 times ----------------------------------------------

std::string run_overhead() {
  const int reps = 200, chain = 100;
  manual_seed(0);
  Tensor x = randn({2, 5}, requires_grad());
  auto t0 = Clock::now();
  for (int r = 0; r < reps; ++r) {
    Tensor y = x;
    for (int i = 0; i < chain / 2; ++i) y = y * 0.999 + 0.001;
    y.sum().backward();
  }
  double dt = seconds_since(t0);
  char buf[128];
  std::snprintf(buf, sizeof buf, "{\"workload\": \"overhead\", \"us_per_op\": %.4f", dt / (reps * chain) * 1e6);
  return buf;
}

// ---- gradient_penalty: a create_graph step, Linear(16, 64)-Tanh-Linear(64, 1) -----------------------
//
// loss = mean(out) + 10 * mean((|d sum(out) / dx|_2 - 1)^2) over a fixed batch of 64 (a WGAN-GP
// style penalty): the gradient with respect to the input is taken with create_graph, then the
// whole loss is differentiated again; Adam(1e-3). 5 warm-up steps, 500 timed.

std::string run_gradient_penalty() {
  const int warmup = 5, steps = 500;
  manual_seed(0);
  Tensor x = randn({64, 16}, requires_grad());
  auto fc1 = std::make_shared<nn::Linear>(16, 64);  // first to last, as in run_mlp
  auto fc2 = std::make_shared<nn::Linear>(64, 1);
  nn::Sequential model(fc1, std::make_shared<nn::Tanh>(), fc2);
  optim::Adam opt(model.parameters(), optim::AdamOptions(1e-3));
  Tensor loss;
  auto step = [&] {
    opt.zero_grad(g_set_to_none);
    Tensor out = model.forward(x);
    Tensor dx = grad({out.sum()}, {x}, {}, true, true)[0];
    Tensor penalty = (sqrt(dx.pow(2).sum(1) + 1e-12) - 1).pow(2).mean();
    loss = out.mean() + 10 * penalty;
    loss.backward();
    opt.step();
  };
  for (int i = 0; i < warmup; ++i) step();
  auto t0 = Clock::now();
  for (int i = 0; i < steps; ++i) step();
  double dt = seconds_since(t0);
  char buf[256];
  std::snprintf(buf, sizeof buf, "{\"workload\": \"gradient_penalty\", \"steps_per_s\": %.1f, \"us_per_step\": %.2f, \"loss\": %.6f",
                steps / dt, dt / steps * 1e6, loss.item<double>());
  return buf;
}

// ---- batch1: the sentiment model one sequence at a time ---------------------------------------------
//
// A training step on a batch of one sequence of 6 tokens (zero_grad, forward, cross-entropy,
// backward, Adam), 20,000 times over 64 pre-made sequences; then 100,000 single predictions
// (the model's logits for one sequence) under NoGradGuard.

std::string run_batch1() {
  const int steps = 20000, predictions = 100000;
  manual_seed(0);
  Generator g(0);
  std::vector<Batch> data;
  for (int i = 0; i < 64; ++i) data.push_back(sentiment_batch(g, 1, 6));
  Sentiment model(4, 8);
  optim::Adam opt(model.parameters(), optim::AdamOptions(0.05));
  train_sentiment(model, opt, data, 100);  // warm-up
  auto t0 = Clock::now();
  Tensor loss = train_sentiment(model, opt, data, steps);
  const double step_us = seconds_since(t0) / steps * 1e6;
  NoGradGuard no_grad;
  double checksum = 0;
  t0 = Clock::now();
  for (int i = 0; i < predictions; ++i) {
    Tensor logits = model(data[static_cast<std::size_t>(i) % data.size()].tokens);
    if (i % 1024 == 0) checksum += logits.data_ptr<float>()[0];
  }
  const double predict_us = seconds_since(t0) / predictions * 1e6;
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "{\"workload\": \"batch1\", \"us_per_step\": %.3f, \"us_per_prediction\": %.3f, \"loss\": %.6f, "
                "\"checksum\": %.4f",
                step_us, predict_us, loss.item<double>(), checksum);
  return buf;
}

// ---- vecmath: exp, tanh, sigmoid, log, erf and gelu of 1M floats, ag's op against a scalar libm loop --

std::string run_vecmath() {
  const std::int64_t n = 1 << 20;
  const int reps = 31;
  manual_seed(0);
  Tensor x = randn({n}) * 3;
  Tensor pos = x.abs() + 1e-3;
  std::vector<float> out(static_cast<std::size_t>(n));
  NoGradGuard no_grad;
  struct Case {
    const char* name;
    Tensor (*op)(const Tensor&);
    float (*scalar)(float);
    const Tensor* input;
  };
  const Case cases[] = {
      {"exp", [](const Tensor& t) { return ag::exp(t); }, [](float v) { return std::exp(v); }, &x},
      {"tanh", [](const Tensor& t) { return ag::tanh(t); }, [](float v) { return std::tanh(v); }, &x},
      {"sigmoid", [](const Tensor& t) { return ag::sigmoid(t); },
       [](float v) { return v >= 0 ? 1.0f / (1.0f + std::exp(-v)) : std::exp(v) / (1.0f + std::exp(v)); }, &x},
      {"log", [](const Tensor& t) { return ag::log(t); }, [](float v) { return std::log(v); }, &pos},
      {"erf", [](const Tensor& t) { return ag::erf(t); }, [](float v) { return std::erf(v); }, &x},
      {"gelu", [](const Tensor& t) { return ag::gelu(t); },
       [](float v) { return v * 0.5f * (1.0f + std::erf(v * static_cast<float>(M_SQRT1_2))); }, &x},
  };
  std::string line = std::string("{\"workload\": \"vecmath\", \"isa\": \"") + cpu_capability() + "\", \"n\": " + std::to_string(n);
  for (const Case& c : cases) {
    const float* in = c.input->data_ptr<float>();
    std::vector<double> t_ag, t_libm;
    for (int r = 0; r < reps; ++r) {  // alternating, so that both see the same machine
      auto t0 = Clock::now();
      Tensor y = c.op(*c.input);
      t_ag.push_back(seconds_since(t0));
      t0 = Clock::now();
      for (std::int64_t i = 0; i < n; ++i) out[static_cast<std::size_t>(i)] = c.scalar(in[i]);
      t_libm.push_back(seconds_since(t0));
    }
    const double a = median(t_ag), l = median(t_libm);
    char buf[160];
    std::snprintf(buf, sizeof buf, ", \"%s_ns\": %.3f, \"%s_libm_ns\": %.3f, \"%s_speedup\": %.2f", c.name, a / n * 1e9,
                  c.name, l / n * 1e9, c.name, l / a);
    line += buf;
  }
  return line;
}

int usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--threads N] [--set-to-none] [sentiment|mlp|embedding|embedding_sparse|embedding_sparse_1m|overhead|vecmath|sentiment_floor|mlp_floor|gradient_penalty|batch1 ...]\n", argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  const std::map<std::string, std::function<std::string()>> workloads{
      {"sentiment", run_sentiment},
      {"mlp", run_mlp},
      {"embedding", run_embedding},
      {"embedding_sparse", [] { return run_embedding_sparse(50000, "embedding_sparse"); }},
      {"embedding_sparse_1m", [] { return run_embedding_sparse(1000000, "embedding_sparse_1m"); }},
      {"overhead", run_overhead},
      {"vecmath", run_vecmath},
      {"sentiment_floor", run_sentiment_floor},
      {"mlp_floor", run_mlp_floor},
      {"gradient_penalty", run_gradient_penalty},
      {"batch1", run_batch1}};
  const std::vector<std::string> order{"sentiment", "mlp", "embedding", "embedding_sparse", "embedding_sparse_1m",
                                       "overhead", "vecmath", "sentiment_floor", "mlp_floor", "gradient_penalty", "batch1"};
  int threads = 1;
  std::vector<std::string> chosen;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
      if (threads < 1) return usage(argv[0]);
    } else if (a == "--set-to-none") {
      g_set_to_none = true;
    } else if (workloads.count(a)) {
      chosen.push_back(a);
    } else {
      return usage(argv[0]);
    }
  }
  if (chosen.empty()) chosen = order;
  // OpenBLAS starts its thread pool when it loads, before main, sized by OPENBLAS_NUM_THREADS or
  // the core count; idle pool threads spin for a while, which a run of a few milliseconds feels.
  // So the pool is made the size asked for: run again with the variable set.
  std::string want = std::to_string(threads);
  const char* have = std::getenv("OPENBLAS_NUM_THREADS");
  if (!have || want != have) {
    setenv("OPENBLAS_NUM_THREADS", want.c_str(), 1);
    execv("/proc/self/exe", argv);  // returns only on failure: then carry on as we are
  }
  if (chosen.size() == 1) {
    set_num_threads(threads);
    std::string line = workloads.at(chosen[0])();
    std::printf("%s, \"threads\": %d,%s \"peak_rss_mb\": %.1f}\n", line.c_str(), threads,
                g_set_to_none ? " \"set_to_none\": true," : "", peak_rss_mb());
    return 0;
  }
  int status = 0;
  std::string threads_arg = std::to_string(threads);
  for (std::string name : chosen) {
    std::fflush(stdout);
    char* child_argv[] = {argv[0], const_cast<char*>("--threads"), threads_arg.data(), name.data(),
                          const_cast<char*>(g_set_to_none ? "--set-to-none" : nullptr), nullptr};
    pid_t pid = 0;
    int ws = 0;
    if (posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, child_argv, environ) != 0 || waitpid(pid, &ws, 0) < 0 ||
        !WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
      std::fprintf(stderr, "ag_bench: workload %s failed\n", name.c_str());
      status = 1;
    }
  }
  return status;
}
