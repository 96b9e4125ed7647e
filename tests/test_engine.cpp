// The engine as a GraphTask per call: backward and ag::grad called from inside a hook, a custom
// Function's backward or a create_graph pass give what they give outside; threads sharing
// parameters each add their contribution to the same .grad; post-accumulate-grad hooks; anomaly
// mode; BackwardTrace.

#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include "ag/ag.h"
#include "test_util.h"

using namespace ag;
namespace nn = ag::nn;
using testutil::expect_throw_with;

namespace {

Tensor cube_sum(const Tensor& x) { return (x * x * x).sum(); }

/// x -> 2x whose backward asks the engine for d(sum x^3)/dx on its own graph, as activation
/// checkpointing does.
struct ReentrantDouble : Function<ReentrantDouble> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x) {
    ctx->save_for_backward({x});
    return x * 2;
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list g) {
    Tensor x = ctx->get_saved_variables()[0].detach().requires_grad_(true);
    Tensor inner;
    {
      AutoGradMode on(true);
      inner = grad({cube_sum(x)}, {x})[0];  // a whole backward pass inside this one
    }
    return {g[0] * 2 + inner.detach() * 0};
  }
};

}  // namespace

TEST(Reentrant, GradInsideAHookOverTheSameGraphGivesWhatItGivesOutside) {
  Tensor x = testutil::input({4}, 1);
  Tensor outside = grad({cube_sum(x)}, {x})[0];
  Tensor y = x * x;
  Tensor inside;
  y.register_hook([&](const Tensor& g) {
    inside = grad({cube_sum(x)}, {x})[0];  // overlaps the outer graph at x
    return Tensor();
  });
  (y * 3).sum().backward();
  ASSERT_TRUE(inside.defined());
  EXPECT_TRUE(allclose(inside, outside, 0, 0));
  EXPECT_TRUE(allclose(x.grad(), x.detach() * 6, 1e-12, 0));
}

TEST(Reentrant, BackwardInsideACustomFunctionsBackward) {
  Tensor x = testutil::input({3}, 2);
  ReentrantDouble::apply(x).sum().backward();
  EXPECT_TRUE(allclose(x.grad(), full({3}, 2.0, kFloat64), 0, 0));
}

TEST(Reentrant, ACreateGraphPassInsideAHook) {
  Tensor x = testutil::input({3}, 3);
  Tensor outside = grad({grad({cube_sum(x)}, {x}, {}, true, true)[0].sum()}, {x})[0];  // 6x
  Tensor inside;
  Tensor y = x.tanh();
  y.register_hook([&](const Tensor&) {
    Tensor d = grad({cube_sum(x)}, {x}, {}, true, true)[0];
    inside = grad({d.sum()}, {x})[0];
    return Tensor();
  });
  y.sum().backward();
  EXPECT_TRUE(allclose(inside, outside, 0, 0));
  EXPECT_TRUE(allclose(outside, x.detach() * 6, 1e-12, 0));
}

// A thread keeps a pass's bookkeeping for its next pass: a pass that threw half-way, a graph too
// big to keep (10,000 nodes) and a node reached by two edges must each leave nothing behind.
TEST(Reentrant, PassesAfterAFailedAndAHugePassGiveTheirOwnGradients) {
  Tensor x = testutil::input({3}, 3);
  Tensor saved = x * 1.0;
  Tensor y = (saved * saved).sum();
  saved.mul_(2.0);  // y's backward now throws the version error
  EXPECT_THROW(y.backward(), std::logic_error);

  Tensor h = x;
  for (int i = 0; i < 5000; ++i) h = h * 1.0 + 0.0;  // 10,000 nodes in a chain
  h.sum().backward();
  EXPECT_TRUE(allclose(x.grad(), ones({3}, kFloat64), 0, 0));

  x.set_grad({});
  Tensor a = x * 3.0;  // reached by both edges of the product: one task, both gradients summed
  (a * a).sum().backward();
  EXPECT_TRUE(allclose(x.grad(), x.detach() * 18.0, 1e-12, 0));

  x.set_grad({});
  Tensor xs = x * x;
  std::vector<Tensor> grads = grad({xs.sum()}, {x});
  EXPECT_TRUE(allclose(grads[0], x.detach() * 2.0, 1e-12, 0));
  EXPECT_FALSE(x.grad().defined());  // ag::grad touched no .grad
}

TEST(Threads, TwoThreadsSharingALinearEachAddTheirGradient) {
  manual_seed(0);
  nn::Linear lin(6, 4);
  Tensor x1 = randn({8, 6}), x2 = randn({8, 6});
  auto step = [&](const Tensor& x) { lin(x).tanh().pow(2).sum().backward(); };
  const int reps = 200;
  // The same work one after the other gives the expected sums.
  for (int r = 0; r < reps; ++r) {
    step(x1);
    step(x2);
  }
  Tensor want_w = lin.weight.grad().clone(), want_b = lin.bias.grad().clone();
  lin.zero_grad();
  std::thread a([&] { for (int r = 0; r < reps; ++r) step(x1); });
  std::thread b([&] { for (int r = 0; r < reps; ++r) step(x2); });
  a.join();
  b.join();
  EXPECT_TRUE(allclose(lin.weight.grad(), want_w, 1e-4, 1e-5));
  EXPECT_TRUE(allclose(lin.bias.grad(), want_b, 1e-4, 1e-5));
}

TEST(Hooks, PostAccumulateGradHooksRunAfterTheGradIsUpdated) {
  Tensor w = ones({3}).requires_grad_(true);
  std::vector<float> seen;
  int calls = 0;
  HookHandle h = w.register_post_accumulate_grad_hook([&](const Tensor& leaf) {
    ++calls;
    seen = leaf.grad().to_vector<float>();
  });
  (w * 2).sum().backward();
  EXPECT_EQ(seen, (std::vector<float>{2, 2, 2}));
  (w * 3).sum().backward();
  EXPECT_EQ(seen, (std::vector<float>{5, 5, 5}));  // after accumulation
  h.remove();
  (w * 3).sum().backward();
  EXPECT_EQ(calls, 2);
  Tensor nonleaf = w * 2;
  expect_throw_with<std::logic_error>([&] { nonleaf.register_post_accumulate_grad_hook([](const Tensor&) {}); },
                                      {"register_post_accumulate_grad_hook", "leaf", "[3]"});
}

TEST(Hooks, ALeafsGradIsAccumulatedAsSoonAsTheLastNodeFeedingItHasRun) {
  // sum(w2 * (w1 * x)): MulBackward(w2, y) runs before MulBackward(w1, x), so w2's .grad is in
  // place (and its post-accumulate hook has run) while the pass still has y's node to run.
  Tensor x = tensor({1.0, 2.0}, kFloat64);
  Tensor w1 = tensor({3.0, 4.0}, kFloat64).requires_grad_(true);
  Tensor w2 = tensor({5.0, 6.0}, kFloat64).requires_grad_(true);
  std::vector<std::string> order;
  w1.register_post_accumulate_grad_hook([&](const Tensor&) { order.push_back("w1"); });
  w2.register_post_accumulate_grad_hook([&](const Tensor&) { order.push_back("w2"); });
  Tensor y = w1 * x;
  std::vector<double> w2_grad_when_y_runs;
  y.register_hook([&](const Tensor& g) {
    order.push_back("y");
    if (w2.grad().defined()) w2_grad_when_y_runs = w2.grad().to_vector<double>();
    return g;
  });
  (w2 * y).sum().backward();
  EXPECT_EQ(order, (std::vector<std::string>{"w2", "y", "w1"}));
  EXPECT_EQ(w2_grad_when_y_runs, (std::vector<double>{3.0, 8.0}));  // y = w1 * x
  EXPECT_EQ(w1.grad().to_vector<double>(), (std::vector<double>{5.0, 12.0}));
}

TEST(Hooks, ALeafReachedTwiceGetsOneAccumulationOfBothContributions) {
  Tensor w = tensor({1.0, 2.0}, kFloat64).requires_grad_(true);
  int calls = 0;
  w.register_post_accumulate_grad_hook([&](const Tensor&) { ++calls; });
  ((w * 2).sum() + (w.exp() * 0 + w * 3).sum()).backward();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(w.grad().to_vector<double>(), (std::vector<double>{5.0, 5.0}));
}

TEST(QueueCallback, RunsAfterEveryLeafHasItsGradInQueueOrder) {
  Tensor a = ones({2}).requires_grad_(true), b = ones({3}).requires_grad_(true);
  std::vector<std::string> log;
  a.register_post_accumulate_grad_hook([&](const Tensor&) {
    log.push_back("a");
    queue_callback([&] {
      log.push_back(ag::detail::cat("first: b.grad ", b.grad().defined() ? "set" : "unset"));
      queue_callback([&] { log.push_back("queued by a callback"); });
    });
    queue_callback([&] { log.push_back("second"); });
  });
  b.register_post_accumulate_grad_hook([&](const Tensor&) { log.push_back("b"); });
  ((a * 2).sum() + b.sum() * 0).backward();
  ASSERT_EQ(log.size(), 5u);
  EXPECT_EQ(log[2], "first: b.grad set");
  EXPECT_EQ(log[3], "second");
  EXPECT_EQ(log[4], "queued by a callback");
  log.clear();
  (a * 3).sum().backward();  // the callbacks belong to one pass: queued again by this one's hook
  EXPECT_EQ(log.size(), 4u);
}

TEST(QueueCallback, OutsideABackwardPassIsRefused) {
  expect_throw_with<std::logic_error>([] { queue_callback([] {}); }, {"queue_callback", "no backward pass"});
}

TEST(QueueCallback, ANestedPassRunsItsOwnCallbacksTheOuterOnesWaitForTheOuterPass) {
  Tensor w = ones({2}).requires_grad_(true);
  std::vector<std::string> log;
  Tensor inner_leaf = ones({2}).requires_grad_(true);
  inner_leaf.register_post_accumulate_grad_hook([&](const Tensor&) {
    queue_callback([&] { log.push_back("inner done"); });
  });
  w.register_post_accumulate_grad_hook([&](const Tensor&) {
    queue_callback([&] { log.push_back("outer done"); });
    AutoGradMode on(true);  // hooks run without grad mode
    (inner_leaf * 2).sum().backward();
    log.push_back("inner returned");
  });
  (w * 2).sum().backward();
  EXPECT_EQ(log, (std::vector<std::string>{"inner done", "inner returned", "outer done"}));
}

TEST(QueueCallback, APassThatThrowsRunsNone) {
  // v's node is newer than y's, so v has its .grad (and has queued the callback) before y's hook throws.
  Tensor w = ones({2}).requires_grad_(true), v = ones({2}).requires_grad_(true);
  bool queued = false, ran = false;
  v.register_post_accumulate_grad_hook([&](const Tensor&) {
    queued = true;
    queue_callback([&] { ran = true; });
  });
  Tensor y = w * 2;
  y.register_hook([](const Tensor&) -> Tensor { throw std::runtime_error("hook failed"); });
  Tensor loss = (y.sum() + (v * 3).sum());
  EXPECT_THROW(loss.backward(), std::runtime_error);
  EXPECT_TRUE(queued);
  EXPECT_FALSE(ran);
}

TEST(Anomaly, ANanInBackwardNamesTheNodeTheShapesAndTheForwardOp) {
  Tensor x = tensor({1.0, 0.0, 4.0}, TensorOptions(kFloat64).requires_grad(true));
  DetectAnomalyGuard anomaly;
  Tensor y;
  {
    AnomalyLabel label("the square root");
    y = sqrt(x);  // d/dx at 0 is inf
  }
  expect_throw_with<AnomalyError>([&] { y.sum().backward(); },
                                  {"SqrtBackward0", "NaN or Inf", "[3]", "op #1 of the forward pass", "the square root"});
}

TEST(Anomaly, OffByDefaultAndTheGradientGoesThrough) {
  EXPECT_FALSE(AnomalyMode::is_enabled());
  Tensor x = tensor({0.0}, TensorOptions(kFloat64).requires_grad(true));
  sqrt(x).sum().backward();
  EXPECT_TRUE(std::isinf(x.grad().item<double>()));
  EXPECT_EQ((x * 2).grad_fn()->origin(), nullptr);
}

TEST(BackwardTraceTest, RecordsEveryNodeWithItsGradients) {
  Tensor w = tensor({1.0, 2.0}, TensorOptions(kFloat64).requires_grad(true));
  Tensor loss = (w * w).sum();
  BackwardTrace trace;
  loss.backward();
  ASSERT_EQ(trace.steps().size(), 2u);
  EXPECT_EQ(trace.steps()[0].node, "SumBackward0");
  EXPECT_EQ(trace.steps()[1].node, "MulBackward0");
  EXPECT_EQ(trace.steps()[1].grad_input_shapes.size(), 2u);
  EXPECT_NEAR(trace.steps()[1].grad_input_norms[0], std::sqrt(1.0 + 4.0), 1e-12);
  const std::string table = trace.str();
  EXPECT_NE(table.find("MulBackward0"), std::string::npos);
  EXPECT_NE(table.find("[2]"), std::string::npos);
}
