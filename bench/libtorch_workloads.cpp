// libtorch_bench: ag_bench's workloads (bench/workloads.cpp) in LibTorch's C++ API, one JSON line
// each, as a reference to measure ag against. It does not link ag; nothing in ag depends on it.
//
//   build-libtorch/bench/libtorch_bench [--threads N] [sentiment|mlp|embedding|embedding_sparse|embedding_sparse_1m|overhead|gradient_penalty|batch1 ...]
//
// Built only with -DAG_BENCH_LIBTORCH=ON and Debian's libtorch-dev (LibTorch 1.13) installed:
//
//   cmake -S . -B build-libtorch -DCMAKE_BUILD_TYPE=Release -DAG_BENCH_LIBTORCH=ON
//   cmake --build build-libtorch --target libtorch_bench
//
// The workloads (model, sizes, optimizer, step counts and warm-up) are those of workloads.cpp; the
// lines have ag_bench's keys plus "framework": "libtorch". The sentiment data follow the same
// recipe, drawn from LibTorch's own generator seeded with 0: other values than ag's, the same work
// per step. Each workload runs in a child process of its own, so that `peak_rss_mb` is its own.
// Single-threaded unless --threads is given: torch::set_num_threads and the OpenBLAS and OpenMP
// pools are all given N threads. With N > 1, LibTorch's OpenMP threads wait for work by spinning
// (libgomp's default); when another process keeps a core busy, each parallel region then waits for
// a time slice and the figures drop many times over. An OMP_WAIT_POLICY=passive in the environment
// is passed on.
//
// Gradients are zeroed with Optimizer::zero_grad(), which in LibTorch 1.13 takes no argument and,
// for every parameter whose gradient is defined, detaches the gradient and zeroes it in place
// (grad.detach_(); grad.zero_()): PyTorch 1.13's default, and ag_bench's without --set-to-none.
//
// embedding_sparse and embedding_sparse_1m print a line with "skipped": LibTorch 1.13's C++ API has
// no torch::optim::SparseAdam (Python's torch.optim.SparseAdam has no C++ counterpart), and its Adam
// refuses sparse gradients.

#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace F = torch::nn::functional;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

// ---- sentiment: Embedding(4, 8, padding_idx=0) -> masked mean -> Linear(8, 2) -----------------

struct Batch {
  torch::Tensor tokens, labels;
};

// `batch` sequences of 1..`seq` tokens from {1: 优 +2, 2: 良 +1, 3: 差 -2}, padded with 0; label 1
// when the score sum is positive.
Batch sentiment_batch(at::Generator& g, std::int64_t batch, std::int64_t seq) {
  torch::Tensor lens = torch::randint(1, seq + 1, {batch}, g, torch::kInt64);
  torch::Tensor toks = torch::randint(1, 4, {batch, seq}, g, torch::kInt64);
  torch::Tensor mask = torch::arange(seq).unsqueeze(0) < lens.unsqueeze(1);
  toks = toks * mask;
  torch::Tensor scores = torch::tensor({0, 2, 1, -2}, torch::kInt64);
  torch::Tensor score = torch::index_select(scores, 0, toks.flatten()).reshape({batch, seq}).sum(1);
  return {toks, (score > 0).to(torch::kInt64)};
}

struct SentimentImpl : torch::nn::Module {
  torch::nn::Embedding emb{nullptr};
  torch::nn::Linear fc{nullptr};
  SentimentImpl(std::int64_t vocab, std::int64_t dim)
      : emb(register_module("emb", torch::nn::Embedding(torch::nn::EmbeddingOptions(vocab, dim).padding_idx(0)))),
        fc(register_module("fc", torch::nn::Linear(dim, 2))) {}
  torch::Tensor forward(const torch::Tensor& toks) {
    torch::Tensor e = emb(toks);                                  // [B, S, D]
    torch::Tensor m = (toks != 0).to(torch::kFloat32).unsqueeze(-1);  // [B, S, 1]
    return fc((e * m).sum(1) / m.sum(1));                         // [B, 2]
  }
};
TORCH_MODULE(Sentiment);

// `steps` training steps over the batches, cycled; returns the last loss.
torch::Tensor train_sentiment(Sentiment& model, torch::optim::Adam& opt, const std::vector<Batch>& data, int steps) {
  torch::Tensor loss;
  for (int i = 0; i < steps; ++i) {
    const Batch& b = data[static_cast<std::size_t>(i) % data.size()];
    opt.zero_grad();
    loss = F::cross_entropy(model(b.tokens), b.labels);
    loss.backward();
    opt.step();
  }
  return loss;
}

std::string run_sentiment() {
  const int steps = 2000;
  torch::manual_seed(0);
  at::Generator g = at::detail::createCPUGenerator(0);
  std::vector<Batch> data;
  for (int i = 0; i < 64; ++i) data.push_back(sentiment_batch(g, 32, 6));
  Sentiment model(4, 8);
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(0.05));
  auto t0 = Clock::now();
  torch::Tensor loss = train_sentiment(model, opt, data, steps);
  double dt = seconds_since(t0);
  Batch test = sentiment_batch(g, 1000, 6);
  torch::NoGradGuard no_grad;
  double acc = (model(test.tokens).argmax(1) == test.labels).to(torch::kFloat64).mean().item<double>();
  char buf[256];
  std::snprintf(buf, sizeof buf, "{\"workload\": \"sentiment\", \"steps_per_s\": %.1f, \"loss\": %.6f, \"accuracy\": %.4f",
                steps / dt, loss.item<double>(), acc);
  return buf;
}

// ---- mlp: 784-512-512-10 with ReLU, batch 128, SGD with momentum --------------------------------

std::string run_mlp() {
  const int steps = 100, batch = 128;
  torch::manual_seed(0);
  torch::Tensor x = torch::randn({batch, 784});
  torch::Tensor y = torch::randint(0, 10, {batch}, torch::kInt64);
  // The layers are made (and their weights drawn) first to last, as PyTorch's nn.Sequential(...) does:
  // the order in which a function's arguments are evaluated is unspecified in C++.
  torch::nn::Linear fc1(784, 512), fc2(512, 512), fc3(512, 10);
  torch::nn::Sequential model(fc1, torch::nn::ReLU(), fc2, torch::nn::ReLU(), fc3);
  torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
  auto step = [&] {
    opt.zero_grad();
    torch::Tensor loss = F::cross_entropy(model->forward(x), y);
    loss.backward();
    opt.step();
    return loss;
  };
  for (int i = 0; i < 3; ++i) step();
  torch::Tensor loss;
  auto t0 = Clock::now();
  for (int i = 0; i < steps; ++i) loss = step();
  double dt = seconds_since(t0);
  double flops = 3.0 * 2 * batch * (784.0 * 512 + 512.0 * 512 + 512.0 * 10);
  char buf[256];
  std::snprintf(buf, sizeof buf, "{\"workload\": \"mlp\", \"steps_per_s\": %.2f, \"gflops\": %.1f, \"loss\": %.6f",
                steps / dt, flops * steps / dt / 1e9, loss.item<double>());
  return buf;
}

// ---- embedding: Embedding(50000, 64), mean over 16 tokens, Linear(64, 2), Adam -------------------

std::string run_embedding() {
  const int steps = 50;
  torch::manual_seed(0);
  torch::Tensor toks = torch::randint(0, 50000, {256, 16}, torch::kInt64);
  torch::Tensor y = torch::randint(0, 2, {256}, torch::kInt64);
  torch::nn::Embedding emb(50000, 64);
  torch::nn::Linear fc(64, 2);
  std::vector<torch::Tensor> params = emb->parameters();
  for (const torch::Tensor& p : fc->parameters()) params.push_back(p);
  torch::optim::Adam opt(params, torch::optim::AdamOptions(1e-3));
  torch::Tensor loss;
  auto t0 = Clock::now();
  for (int i = 0; i < steps; ++i) {
    opt.zero_grad();
    loss = F::cross_entropy(fc(emb(toks).mean(1)), y);
    loss.backward();
    opt.step();
  }
  double dt = seconds_since(t0);
  char buf[256];
  std::snprintf(buf, sizeof buf, "{\"workload\": \"embedding\", \"steps_per_s\": %.2f, \"loss\": %.6f", steps / dt,
                loss.item<double>());
  return buf;
}

// ---- embedding_sparse: sparse(true) + SparseAdam, which LibTorch 1.13's C++ API does not have ----

std::string run_embedding_sparse(std::int64_t vocab, const char* name) {
  char buf[384];
  std::snprintf(buf, sizeof buf,
                "{\"workload\": \"%s\", \"vocab\": %lld, \"skipped\": \"LibTorch 1.13's C++ API has no "
                "torch::optim::SparseAdam, and its Adam does not take sparse gradients\"",
                name, static_cast<long long>(vocab));
  return buf;
}

// ---- overhead: 100 tiny ops and a backward, 200 times ----------------------------------------------

std::string run_overhead() {
  const int reps = 200, chain = 100;
  torch::manual_seed(0);
  torch::Tensor x = torch::randn({2, 5}, torch::requires_grad());
  auto t0 = Clock::now();
  for (int r = 0; r < reps; ++r) {
    torch::Tensor y = x;
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
// loss = mean(out) + 10 * mean((|d sum(out) / dx|_2 - 1)^2) over a fixed batch of 64: the gradient
// with respect to the input is taken with create_graph, then the whole loss is differentiated
// again; Adam(1e-3). 5 warm-up steps, 500 timed.

std::string run_gradient_penalty() {
  const int warmup = 5, steps = 500;
  torch::manual_seed(0);
  torch::Tensor x = torch::randn({64, 16}, torch::requires_grad());
  torch::nn::Linear fc1(16, 64), fc2(64, 1);  // drawn first to last, as in run_mlp
  torch::nn::Sequential model(fc1, torch::nn::Tanh(), fc2);
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-3));
  torch::Tensor loss;
  auto step = [&] {
    opt.zero_grad();
    torch::Tensor out = model->forward(x);
    torch::Tensor dx = torch::autograd::grad({out.sum()}, {x}, {}, /*retain_graph=*/true, /*create_graph=*/true)[0];
    torch::Tensor penalty = (torch::sqrt(dx.pow(2).sum(1) + 1e-12) - 1).pow(2).mean();
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
// backward, Adam), 20,000 times over 64 pre-made sequences after 100 warm-up steps; then 100,000
// single predictions (the model's logits for one sequence) under NoGradGuard.

std::string run_batch1() {
  const int steps = 20000, predictions = 100000;
  torch::manual_seed(0);
  at::Generator g = at::detail::createCPUGenerator(0);
  std::vector<Batch> data;
  for (int i = 0; i < 64; ++i) data.push_back(sentiment_batch(g, 1, 6));
  Sentiment model(4, 8);
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(0.05));
  train_sentiment(model, opt, data, 100);  // warm-up
  auto t0 = Clock::now();
  torch::Tensor loss = train_sentiment(model, opt, data, steps);
  const double step_us = seconds_since(t0) / steps * 1e6;
  torch::NoGradGuard no_grad;
  double checksum = 0;
  t0 = Clock::now();
  for (int i = 0; i < predictions; ++i) {
    torch::Tensor logits = model(data[static_cast<std::size_t>(i) % data.size()].tokens);
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

int usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--threads N] [sentiment|mlp|embedding|embedding_sparse|embedding_sparse_1m|overhead|gradient_penalty|batch1 ...]\n", argv0);
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
      {"gradient_penalty", run_gradient_penalty},
      {"batch1", run_batch1}};
  const std::vector<std::string> order{"sentiment", "mlp", "embedding", "embedding_sparse", "embedding_sparse_1m",
                                       "overhead", "gradient_penalty", "batch1"};
  int threads = 1;
  std::vector<std::string> chosen;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
      if (threads < 1) return usage(argv[0]);
    } else if (workloads.count(a)) {
      chosen.push_back(a);
    } else {
      return usage(argv[0]);
    }
  }
  if (chosen.empty()) chosen = order;
  // LibTorch does its GEMMs in the system OpenBLAS, whose thread pool starts when the library loads,
  // before main, sized by OPENBLAS_NUM_THREADS or the core count; torch::set_num_threads sizes
  // LibTorch's own OpenMP pool only. So both variables are set to the size asked for and the
  // program runs again with them.
  const std::string want = std::to_string(threads);
  const char* have_blas = std::getenv("OPENBLAS_NUM_THREADS");
  const char* have_omp = std::getenv("OMP_NUM_THREADS");
  if (!have_blas || want != have_blas || !have_omp || want != have_omp) {
    setenv("OPENBLAS_NUM_THREADS", want.c_str(), 1);
    setenv("OMP_NUM_THREADS", want.c_str(), 1);
    execv("/proc/self/exe", argv);  // returns only on failure: then carry on as we are
  }
  if (chosen.size() == 1) {
    torch::set_num_threads(threads);
    std::string line = workloads.at(chosen[0])();
    std::printf("%s, \"framework\": \"libtorch\", \"threads\": %d, \"peak_rss_mb\": %.1f}\n", line.c_str(), threads,
                peak_rss_mb());
    return 0;
  }
  int status = 0;
  for (std::string name : chosen) {
    std::fflush(stdout);
    char* child_argv[] = {argv[0], const_cast<char*>("--threads"), const_cast<char*>(want.c_str()), name.data(),
                          nullptr};
    pid_t pid = 0;
    int ws = 0;
    if (posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, child_argv, environ) != 0 || waitpid(pid, &ws, 0) < 0 ||
        !WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
      std::fprintf(stderr, "libtorch_bench: workload %s failed\n", name.c_str());
      status = 1;
    }
  }
  return status;
}
