// Sparse embedding gradients: the sparse tensor itself, accumulation, zero_grad and hooks, the
// optimizers that take sparse gradients (SparseAdam, SGD, Adagrad) against PyTorch 1.13's
// trajectories in tests/data/sparse.json (tests/data/make_sparse.py), clipping, state dicts, and
// the errors.

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "ag/ag.h"
#include "golden.h"
#include "test_util.h"

using namespace ag;
using testutil::expect_throw_with;
using json = nlohmann::json;

namespace {

json load_cases() {
  std::ifstream in(std::string(AG_TEST_DATA_DIR) + "/sparse.json");
  if (!in) throw std::runtime_error("cannot open tests/data/sparse.json");
  return json::parse(in).at("cases");
}

std::unique_ptr<optim::Optimizer> make_optimizer(const json& params, const Tensor& w) {
  const std::string name = params.at("optimizer");
  const json& o = params.at("options");
  auto get = [&](const char* key, double fallback) { return o.contains(key) ? o.at(key).get<double>() : fallback; };
  auto flag = [&](const char* key) { return o.contains(key) && o.at(key).get<bool>(); };
  if (name == "SparseAdam") {
    optim::SparseAdamOptions opts(get("lr", 1e-3));
    if (o.contains("betas")) opts.betas(o.at("betas")[0].get<double>(), o.at("betas")[1].get<double>());
    opts.eps(get("eps", 1e-8)).maximize(flag("maximize"));
    return std::make_unique<optim::SparseAdam>(std::vector<Tensor>{w}, opts);
  }
  if (name == "SGD")
    return std::make_unique<optim::SGD>(std::vector<Tensor>{w}, optim::SGDOptions(get("lr", 0))
                                                                     .momentum(get("momentum", 0))
                                                                     .dampening(get("dampening", 0))
                                                                     .nesterov(flag("nesterov")));
  if (name == "Adagrad")
    return std::make_unique<optim::Adagrad>(std::vector<Tensor>{w}, optim::AdagradOptions(get("lr", 1e-2))
                                                                         .lr_decay(get("lr_decay", 0))
                                                                         .weight_decay(get("weight_decay", 0))
                                                                         .initial_accumulator_value(get("initial_accumulator_value", 0))
                                                                         .eps(get("eps", 1e-10))
                                                                         .maximize(flag("maximize")));
  throw std::runtime_error("unknown optimizer " + name);
}

/// |a - b| <= rtol * |b| elementwise, with the worst ratio in the failure message.
::testing::AssertionResult close_rel(const Tensor& a, const Tensor& b, double rtol) {
  if (a.shape() != b.shape()) return ::testing::AssertionFailure() << "shapes " << a.shape() << " and " << b.shape();
  const Tensor x = a.to(kFloat64).contiguous(), y = b.to(kFloat64).contiguous();
  double worst = 0;
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    const double d = std::abs(x.data_ptr<double>()[i] - y.data_ptr<double>()[i]);
    const double s = std::max(std::abs(y.data_ptr<double>()[i]), 1e-3);  // near-zero entries: absolute 1e-3 * rtol
    worst = std::max(worst, d / s);
  }
  if (worst <= rtol) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "worst relative difference " << worst << " > " << rtol;
}

/// ||a - b|| <= rtol * ||b||: float32 trajectories, whose elements round differently once
/// PyTorch's uncoalesced momentum buffer and ag's coalesced one add up rows in another order.
::testing::AssertionResult close_norm(const Tensor& a, const Tensor& b, double rtol) {
  const double d = norm((a.to(kFloat64) - b.to(kFloat64))).item<double>(), s = norm(b.to(kFloat64)).item<double>();
  if (d <= rtol * s) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "relative difference " << d / s << " > " << rtol;
}

Tensor sparse_example() {  // rows 2, 0, 2 of a [4, 3] tensor
  return sparse_coo_tensor(tensor({{2, 0, 2}}), tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}, {0.5, 0.5, 0.5}}), {4, 3});
}

}  // namespace

// ---- the sparse tensor ------------------------------------------------------------------------

TEST(SparseTensor, HoldsRowsAndCoalescesThemOnDemand) {
  Tensor s = sparse_example();
  EXPECT_TRUE(s.is_sparse());
  EXPECT_FALSE(s.is_coalesced());
  EXPECT_EQ(s._nnz(), 3);
  EXPECT_EQ(s.shape(), Shape({4, 3}));
  EXPECT_TRUE(equal(s.indices(), tensor({{2, 0, 2}})));
  EXPECT_TRUE(equal(s.to_dense(), tensor({{4.0, 5.0, 6.0}, {0.0, 0.0, 0.0}, {1.5, 2.5, 3.5}, {0.0, 0.0, 0.0}})));
  Tensor c = s.coalesce();
  EXPECT_TRUE(c.is_coalesced());
  EXPECT_TRUE(equal(c.indices(), tensor({{0, 2}})));
  EXPECT_TRUE(equal(c.values(), tensor({{4.0, 5.0, 6.0}, {1.5, 2.5, 3.5}})));
  EXPECT_TRUE(equal(c.to_dense(), s.to_dense()));
  EXPECT_NE(s.str().find("layout=sparse_coo"), std::string::npos) << s.str();
}

TEST(SparseTensor, SparsePlusSparseStaysSparseAndPlusDenseIsDense) {
  Tensor a = sparse_example();
  Tensor b = sparse_coo_tensor(tensor({3, 2}), ones({2, 3}, kFloat64), {4, 3});
  Tensor sum = a + b;
  EXPECT_TRUE(sum.is_sparse());
  EXPECT_TRUE(equal(sum.indices(), tensor({{2, 0, 2, 3, 2}}))) << "PyTorch's merge of [2, 0, 2] and [3, 2]";
  Tensor sorted = sparse_coo_tensor(tensor({2, 3}), ones({2, 3}), {4, 3}).coalesce() +
                  sparse_coo_tensor(tensor({2}), ones({1, 3}), {4, 3}).coalesce();
  EXPECT_TRUE(sorted.is_coalesced()) << "two coalesced tensors merge into a coalesced one";
  EXPECT_TRUE(equal(sorted.values(), tensor({{2.0f, 2.0f, 2.0f}, {1.0f, 1.0f, 1.0f}})));
  EXPECT_TRUE(equal(sum.to_dense(), a.to_dense() + b.to_dense()));
  Tensor dense = full({4, 3}, 10.0, kFloat64);
  for (const Tensor& d : {a + dense, dense + a}) {
    EXPECT_FALSE(d.is_sparse());
    EXPECT_TRUE(equal(d, a.to_dense() + dense));
  }
  EXPECT_TRUE(equal((a * 2).to_dense(), a.to_dense() * 2));
  EXPECT_TRUE(equal((-a).to_dense(), -a.to_dense()));
  EXPECT_TRUE(equal((dense - a), dense - a.to_dense()));
  Tensor into = dense.clone();
  into.add_(a, 0.5);
  EXPECT_TRUE(equal(into, dense + a.to_dense() * 0.5));
  EXPECT_DOUBLE_EQ(norm(a).item<double>(), norm(a.to_dense()).item<double>());
}

TEST(SparseTensor, DenseOnlyOpsSayWhatToDo) {
  Tensor s = sparse_example();
  expect_throw_with<std::invalid_argument>([&] { matmul(s, ones({3, 2})); }, {"sparse", "[4, 3]", "to_dense()"});
  expect_throw_with<std::invalid_argument>([&] { s.sum(); }, {"sparse", "to_dense()"});
  expect_throw_with<std::invalid_argument>([&] { s + ones({3}, kFloat64); }, {"add", "[4, 3]", "[3]", "do not broadcast"});
  expect_throw_with<std::out_of_range>([&] { sparse_coo_tensor(tensor({4}), ones({1, 3}), {4, 3}); },
                                       {"sparse_coo_tensor", "index 4", "size 4"});
}

TEST(SparseTensor, ToDenseOfAHugeTableWhenMemoryIsShortIsAClearError) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "the sanitizers' allocators abort instead of throwing bad_alloc";
#endif
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // a child whose address space may grow by 512 MiB; the table needs 16 GiB
    rlimit limit{};
    ::getrlimit(RLIMIT_AS, &limit);
    std::ifstream status("/proc/self/status");
    std::string line;
    rlim_t vm_kib = 0;
    while (std::getline(status, line))
      if (line.rfind("VmSize:", 0) == 0) vm_kib = std::stoull(line.substr(7));
    limit.rlim_cur = (vm_kib + 512 * 1024) * 1024;
    ::setrlimit(RLIMIT_AS, &limit);
    Tensor g = sparse_coo_tensor(tensor({5, 7}), ones({2, 64}), {std::int64_t(1) << 26, 64});
    try {
      g.to_dense();
    } catch (const std::invalid_argument& e) {
      const std::string msg = e.what();
      std::_Exit(msg.find("to_dense") != std::string::npos && msg.find("[67108864, 64]") != std::string::npos &&
                         msg.find("16384 MiB") != std::string::npos
                     ? 0
                     : 2);
    } catch (...) {
      std::_Exit(3);
    }
    std::_Exit(4);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "the child died";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "2: the message, 3: another exception, 4: no exception";
}

// ---- Embedding(sparse) gradients ----------------------------------------------------------------

TEST(SparseEmbedding, TheGradientIsTheLookedUpRowsAndEqualsTheDenseOne) {
  for (bool scale : {false, true}) {
    Tensor w = testutil::input({8, 3}, 1);
    Tensor idx = tensor({{0, 3, 3}, {1, 5, 3}});
    Tensor up = testutil::input({2, 3, 3}, 2).detach();
    auto opts = EmbeddingFuncOptions().padding_idx(1).scale_grad_by_freq(scale);
    (embedding(w, idx, EmbeddingFuncOptions(opts).sparse(true)) * up).sum().backward();
    Tensor sparse = w.grad();
    w.set_grad({});
    (embedding(w, idx, opts) * up).sum().backward();
    ASSERT_TRUE(sparse.is_sparse());
    EXPECT_EQ(sparse._nnz(), 5) << "one row per index, the padding one left out";
    EXPECT_TRUE(allclose(sparse.to_dense(), w.grad(), 1e-15, 0)) << "scale_grad_by_freq " << scale;
  }
}

TEST(SparseEmbedding, AccumulatesSparselyZeroGradKeepsItSparseAndHooksSeeIt) {
  auto emb = std::make_shared<nn::Embedding>(nn::EmbeddingOptions(6, 2).sparse(true));
  std::int64_t hooked_nnz = -1;
  emb->weight.register_hook([&](const Tensor& g) {
    hooked_nnz = g.is_sparse() ? g._nnz() : -2;
    return Tensor();
  });
  (*emb)(tensor({1, 2})).sum().backward();
  EXPECT_EQ(hooked_nnz, 2);
  (*emb)(tensor({2, 4, 4})).sum().backward();
  ASSERT_TRUE(emb->weight.grad().is_sparse());
  EXPECT_TRUE(equal(emb->weight.grad().indices(), tensor({{1, 2, 4, 4}}))) << "[1, 2] merged with [2, 4, 4]: the 2s summed";
  EXPECT_TRUE(equal(emb->weight.grad().to_dense().sum(1), tensor({0.0f, 2.0f, 4.0f, 0.0f, 4.0f, 0.0f})));
  emb->zero_grad();  // PyTorch 1.13's default: zeroed in place, still sparse, no rows
  ASSERT_TRUE(emb->weight.grad().defined());
  EXPECT_TRUE(emb->weight.grad().is_sparse());
  EXPECT_EQ(emb->weight.grad()._nnz(), 0);
  Tensor dense_grad = ones({6, 2});
  emb->weight.mutable_grad() = emb->weight.grad() + dense_grad;  // sparse + dense: dense
  EXPECT_FALSE(emb->weight.grad().is_sparse());
  emb->zero_grad(true);
  EXPECT_FALSE(emb->weight.grad().defined());
}

TEST(SparseEmbedding, ManyRowsAndAnExpandedGradientGiveTheDenseGradient) {
  // 200 lookups (coalesce sorts them by radix) into 300 rows, the gradient arriving as the
  // expanded view mean's backward makes (read in place, not copied).
  manual_seed(3);
  Tensor idx = randint(0, 300, {40, 5});
  Tensor w0 = randn({300, 3}, kFloat64);
  Tensor ws = w0.clone().requires_grad_(), wd = w0.clone().requires_grad_();
  Tensor up = randn({40, 3}, kFloat64);
  (embedding(ws, idx, EmbeddingFuncOptions().sparse(true)).mean(1) * up).sum().backward();
  (embedding(wd, idx) * up.unsqueeze(1) / 5.0).sum().backward();
  const Tensor g = ws.grad();
  ASSERT_TRUE(g.is_sparse());
  EXPECT_EQ(g._nnz(), 200);
  EXPECT_TRUE(allclose(g.to_dense(), wd.grad(), 1e-14, 0));
  const Tensor c = g.coalesce();
  EXPECT_TRUE(c.is_coalesced());
  const Tensor rows = c.indices()[0];
  for (std::int64_t k = 1; k < c._nnz(); ++k) EXPECT_LT(rows[k - 1].item<std::int64_t>(), rows[k].item<std::int64_t>());
  EXPECT_TRUE(allclose(c.to_dense(), wd.grad(), 1e-14, 0));
  // A zeroed .grad takes the next pass's rows in place: a handle taken before sees them.
  Tensor held = ws.grad();
  ws.mutable_grad().zero_();
  EXPECT_EQ(held._nnz(), 0);
  (embedding(ws, idx, EmbeddingFuncOptions().sparse(true)).mean(1) * up).sum().backward();
  EXPECT_EQ(held._nnz(), 200);
  EXPECT_TRUE(allclose(held.to_dense(), wd.grad(), 1e-14, 0));
}

TEST(SparseEmbedding, FromPretrainedKeepsTheSparseOption) {
  auto emb = nn::Embedding::from_pretrained(ones({5, 2}), nn::EmbeddingFromPretrainedOptions().freeze(false).sparse(true));
  (*emb)(tensor({3})).sum().backward();
  EXPECT_TRUE(emb->weight.grad().is_sparse());
  EXPECT_NE(emb->extra_repr().find("sparse=true"), std::string::npos);
}

TEST(SparseEmbedding, CreateGraphGivesADenseGradientThatCanBeDifferentiated) {
  Tensor w = testutil::input({5, 2}, 3);
  Tensor y = embedding(w, tensor({1, 1, 4}), EmbeddingFuncOptions().sparse(true));
  Tensor g = grad({(y * y).sum()}, {w}, {}, true, true)[0];
  EXPECT_FALSE(g.is_sparse());
  EXPECT_TRUE(allclose(g, (w.detach() * tensor({0.0, 4.0, 0.0, 0.0, 2.0}).unsqueeze(1)), 1e-15, 0));
}

// ---- PyTorch 1.13's trajectories ---------------------------------------------------------------

TEST(SparseOptimizers, MatchPyTorchOverSixStepsWithRepeatedAndPaddedIndices) {
  const json cases = load_cases();
  ASSERT_GE(cases.size(), 10u);
  for (const json& c : cases) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    const json& params = c.at("params");
    const Tensor w0 = golden::to_tensor(c.at("inputs").at("weight"));
    const bool f32 = w0.dtype() == kFloat32;
    const double rtol = f32 ? 1e-6 : 1e-12;  // float32: relative to the norm (each element within 4e-6)
    if (c.at("kind") == "dense") {
      Tensor p = w0.clone().requires_grad_(true);
      auto opt = make_optimizer(params, p);
      for (const json& step : c.at("steps")) {
        opt->zero_grad();
        p.set_grad(golden::to_tensor(step.at("grad")));
        opt->step();
        EXPECT_TRUE(close_rel(p, golden::to_tensor(step.at("weight")), rtol));
      }
      continue;
    }
    auto pretrained = nn::EmbeddingFromPretrainedOptions().freeze(false).sparse(true);
    if (!params.at("padding_idx").is_null()) pretrained.padding_idx(params.at("padding_idx").get<std::int64_t>());
    auto emb = nn::Embedding::from_pretrained(w0.clone(), pretrained);
    auto opt = make_optimizer(params, emb->weight);
    int k = 0;
    for (const json& step : c.at("steps")) {
      SCOPED_TRACE("step " + std::to_string(++k));
      const Tensor idx = golden::to_tensor(step.at("indices"));
      opt->zero_grad();
      ((*emb)(idx) * golden::to_tensor(step.at("upstream"))).sum().backward();
      if (step.contains("upstream2")) ((*emb)(idx) * golden::to_tensor(step.at("upstream2"))).sum().backward();
      const Tensor g = emb->weight.grad();
      ASSERT_TRUE(g.is_sparse());
      const Tensor coalesced = g.coalesce();
      EXPECT_TRUE(equal(coalesced.indices()[0], golden::to_tensor(step.at("grad_indices"))));
      if (coalesced._nnz() > 0)  // (PyTorch's empty values have shape [0]; ag's [0, D])
        EXPECT_TRUE(equal(coalesced.values(), golden::to_tensor(step.at("grad_values"))))
            << "the coalesced gradient equals PyTorch's exactly";
      else
        EXPECT_EQ(golden::to_tensor(step.at("grad_values")).numel(), 0);
      opt->step();
      const Tensor expected = golden::to_tensor(step.at("weight"));
      EXPECT_TRUE(f32 ? close_norm(emb->weight, expected, 1e-6) && close_rel(emb->weight, expected, 4e-6)
                      : close_rel(emb->weight, expected, 1e-12));
    }
  }
}

TEST(SparseOptimizers, SparseAdamMovesOnlyTheRowsOfTheBatch) {
  Tensor w = ones({1000, 4}).requires_grad_(true);
  optim::SparseAdam opt({w}, optim::SparseAdamOptions(0.1));
  (embedding(w, tensor({7, 993, 7}), EmbeddingFuncOptions().sparse(true)) * 2).sum().backward();
  opt.step();
  Tensor moved = (w.detach() != 1).any(1);
  EXPECT_EQ(moved.sum().item<std::int64_t>(), 2);
  EXPECT_TRUE(moved[7].item<bool>() && moved[993].item<bool>());
}

TEST(SparseOptimizers, StateDictsRoundTripAndResumeIdentically) {
  auto run = [](auto make, int steps_before, int steps_after) {
    Tensor w = testutil::input({12, 3}, 5).detach().requires_grad_(true);
    auto opt = make(w);
    auto step = [&](int k) {
      opt->zero_grad();
      (embedding(w, tensor({k % 12, (3 * k) % 12, k % 12}), EmbeddingFuncOptions().sparse(true)) *
       testutil::input({3, 3}, 100 + k).detach())
          .sum()
          .backward();
      opt->step();
    };
    for (int k = 0; k < steps_before; ++k) step(k);
    optim::StateDict saved = opt->state_dict();
    Tensor w_saved = w.detach().clone();
    for (int k = steps_before; k < steps_before + steps_after; ++k) step(k);
    Tensor straight = w.detach().clone();
    // Resume: a fresh optimizer on the saved weights, loaded from the state dict.
    { NoGradGuard ng; w.copy_(w_saved); }
    opt = make(w);
    opt->load_state_dict(saved);
    for (int k = steps_before; k < steps_before + steps_after; ++k) step(k);
    return std::make_pair(straight, w.detach().clone());
  };
  auto sgd = [](const Tensor& w) { return std::make_unique<optim::SGD>(std::vector<Tensor>{w}, optim::SGDOptions(0.1).momentum(0.9)); };
  auto adam = [](const Tensor& w) { return std::make_unique<optim::SparseAdam>(std::vector<Tensor>{w}, optim::SparseAdamOptions(0.1)); };
  auto adagrad = [](const Tensor& w) { return std::make_unique<optim::Adagrad>(std::vector<Tensor>{w}, optim::AdagradOptions(0.1)); };
  for (auto [a, b] : {run(sgd, 3, 3), run(adam, 3, 3), run(adagrad, 3, 3)}) EXPECT_TRUE(equal(a, b));
  // SGD's sparse momentum buffer is saved as its indices and values.
  Tensor w = ones({12, 3}).requires_grad_(true);
  optim::SGD opt({w}, optim::SGDOptions(0.1).momentum(0.9));
  embedding(w, tensor({4, 4, 1}), EmbeddingFuncOptions().sparse(true)).sum().backward();
  opt.step();
  optim::StateDict d = opt.state_dict();
  ASSERT_TRUE(d.tensors.contains("state.0.momentum_buffer.indices"));
  EXPECT_TRUE(equal(d.tensors.at("state.0.momentum_buffer.indices"), tensor({1, 4})));
  EXPECT_TRUE(equal(d.tensors.at("state.0.momentum_buffer.values"), tensor({{1.0f, 1.0f, 1.0f}, {2.0f, 2.0f, 2.0f}})));
  d.tensors.at("state.0.momentum_buffer.indices") = tensor({1, 12});
  expect_throw_with<std::invalid_argument>([&] { opt.load_state_dict(d); },
                                           {"SGD.load_state_dict", "momentum_buffer", "index 12", "[12, 3]"});
}

TEST(SparseOptimizers, ClipGradNormCountsEachRowOnce) {
  Tensor w = ones({10, 2}).requires_grad_(true), v = ones({3}).requires_grad_(true);
  (embedding(w, tensor({2, 2, 5}), EmbeddingFuncOptions().sparse(true)) * 3).sum().backward();
  (v * 4).sum().backward();
  Tensor dense_w = w.grad().to_dense();
  const double expected = std::sqrt((dense_w * dense_w).sum().item<float>() + 3 * 16.0);
  const double total = nn::utils::clip_grad_norm_({w, v}, 1.0);
  EXPECT_NEAR(total, expected, 1e-4);
  ASSERT_TRUE(w.grad().is_sparse());
  EXPECT_TRUE(allclose(w.grad().to_dense(), dense_w * static_cast<float>(1.0 / (expected + 1e-6)), 1e-5, 1e-7));
}

// ---- errors --------------------------------------------------------------------------------------

TEST(SparseOptimizers, DenseOptimizersRefuseSparseGradientsNamingSparseAdam) {
  Tensor w = ones({5, 2}).requires_grad_(true);
  embedding(w, tensor({1}), EmbeddingFuncOptions().sparse(true)).sum().backward();
  optim::Adam adam({w});
  expect_throw_with<std::invalid_argument>([&] { adam.step(); }, {"Adam.step", "[5, 2]", "sparse gradient", "SparseAdam"});
  optim::AdamW adamw({w});
  expect_throw_with<std::invalid_argument>([&] { adamw.step(); }, {"AdamW.step", "SparseAdam"});
  EXPECT_TRUE(equal(w, ones({5, 2}))) << "a refused step changes nothing";
  optim::SGD sgd({w}, optim::SGDOptions(0.1).weight_decay(0.01));
  expect_throw_with<std::invalid_argument>([&] { sgd.step(); }, {"SGD.step", "weight_decay", "sparse"});
  optim::Adagrad adagrad({w}, optim::AdagradOptions().weight_decay(0.01));
  expect_throw_with<std::invalid_argument>([&] { adagrad.step(); }, {"Adagrad.step", "weight_decay", "sparse"});
  Tensor d = ones({3}).requires_grad_(true);
  d.sum().backward();
  optim::SparseAdam sparse_adam({d});
  expect_throw_with<std::invalid_argument>([&] { sparse_adam.step(); }, {"SparseAdam.step", "dense gradient", "Adam"});
  expect_throw_with<std::invalid_argument>([&] { optim::SparseAdam({d}, optim::SparseAdamOptions(0)); },
                                           {"SparseAdam", "learning rate 0"});
}
