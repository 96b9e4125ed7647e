// The autograd engine: accumulation, graph reuse and freeing, no_grad, detach, hooks, the version
// counter, higher-order gradients, long chains, and the absence of leaks.

#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include "ag/autograd/autograd.h"
#include "test_util.h"

using namespace ag;
using testutil::expect_throw_with;

namespace {

TensorOptions f64() { return TensorOptions(kFloat64).requires_grad(true); }

}  // namespace

TEST(Backward, ScalarOutputNeedsNoGradient) {
  auto x = tensor({1.0, 2.0, 3.0}, f64());
  (x * x).sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2, 4, 6}));
}

TEST(Backward, GradientsAccumulateOverTwoBackwardCalls) {
  auto x = tensor({1.0, -2.0}, f64());
  (x * 3).sum().backward();
  (x * x).sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{3 + 2, 3 - 4}));
}

TEST(Backward, ReusedTensorSumsAllPaths) {
  // d/dx (x*x + x) = 2x + 1: x is used three times
  auto x = tensor({0.5, 2.0, -1.0}, f64());
  (x * x + x).sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2.0, 5.0, -1.0}));
}

TEST(Backward, SameTensorTwiceInOneOp) {
  auto x = tensor({3.0}, f64());
  (x + x).sum().backward();
  EXPECT_EQ(x.grad().item<double>(), 2.0);
}

TEST(Backward, NonScalarOutputNeedsAGradient) {
  auto x = randn({2, 3}, f64());
  auto y = x * 2;
  expect_throw_with<std::logic_error>([&] { y.backward(); }, {"one-element", "[2, 3]"});
  y.backward(ones({2, 3}, kFloat64));
  EXPECT_TRUE(allclose(x.grad(), full({2, 3}, 2.0, kFloat64)));
}

TEST(Backward, GradientShapeMustMatch) {
  auto x = randn({2, 3}, f64());
  expect_throw_with<std::invalid_argument>([&] { (x * 2).backward(ones({3, 2}, kFloat64)); }, {"[3, 2]", "[2, 3]"});
}

TEST(Backward, TensorThatDoesNotRequireGradThrows) {
  auto x = randn({2});
  expect_throw_with<std::logic_error>([&] { x.sum().backward(); }, {"does not require grad"});
}

TEST(Backward, LeafRootGetsOnesAsGradient) {
  auto x = tensor({2.0}, f64());
  x.backward();
  EXPECT_EQ(x.grad().item<double>(), 1.0);
}

TEST(Backward, SecondBackwardThroughFreedGraphThrows) {
  auto x = randn({3}, f64());
  auto y = (x * x).sum();
  y.backward();
  expect_throw_with<std::logic_error>([&] { y.backward(); }, {"second time", "MulBackward0", "retain_graph"});
}

TEST(Backward, RetainGraphAllowsASecondBackward) {
  auto x = tensor({1.0, 2.0}, f64());
  auto y = (x * x).sum();
  y.backward({}, true);
  y.backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{4, 8}));
}

TEST(Backward, OpsThatSaveNothingCanBeRunTwice) {
  auto x = randn({3}, f64());
  auto y = (x + 1).sum();
  y.backward();
  y.backward();  // as in PyTorch: nothing was saved, nothing was freed
  EXPECT_TRUE(allclose(x.grad(), full({3}, 2.0, kFloat64)));
}

TEST(Backward, SavedTensorsAreFreedAfterBackward) {
  auto x = randn({3}, f64());
  auto y = x * x;
  ASSERT_EQ(y.grad_fn()->saved_tensors().size(), 2u);
  y.sum().backward();
  EXPECT_TRUE(y.grad_fn()->saved_tensors().empty());
  EXPECT_TRUE(y.grad_fn()->released());
}

TEST(Backward, MixedDtypesGetGradientsInTheirOwnDtype) {
  auto a = tensor({1.0f, 2.0f}, requires_grad());
  auto b = tensor({3.0, 4.0}, f64());
  auto y = a * b;
  EXPECT_EQ(y.dtype(), kFloat64);
  y.sum().backward();
  EXPECT_EQ(a.grad().dtype(), kFloat32);
  EXPECT_EQ(a.grad().to_vector<float>(), (std::vector<float>{3, 4}));
  EXPECT_EQ(b.grad().dtype(), kFloat64);
}

TEST(Backward, BroadcastGradientsAreSummedBack) {
  auto a = randn({2, 1, 4}, f64());
  auto b = randn({3, 1}, f64());
  (a * b).sum().backward();
  EXPECT_EQ(a.grad().shape(), (Shape{2, 1, 4}));
  EXPECT_EQ(b.grad().shape(), (Shape{3, 1}));
  // d/da sum(a*b) = sum of b over the broadcast dims
  EXPECT_NEAR(a.grad().at<double>({0, 0, 0}), b.sum().item<double>(), 1e-12);
}

TEST(NoGrad, RecordsNothing) {
  auto x = randn({2}, requires_grad());
  Tensor y;
  {
    NoGradGuard guard;
    EXPECT_FALSE(GradMode::is_enabled());
    y = x * 2 + 1;
  }
  EXPECT_TRUE(GradMode::is_enabled());
  EXPECT_FALSE(y.requires_grad());
  EXPECT_EQ(y.grad_fn(), nullptr);
}

TEST(NoGrad, IsThreadLocal) {
  NoGradGuard guard;
  bool other_thread_enabled = false;
  std::thread t([&] { other_thread_enabled = GradMode::is_enabled(); });
  t.join();
  EXPECT_TRUE(other_thread_enabled);
  EXPECT_FALSE(GradMode::is_enabled());
}

TEST(Detach, SharesDataButNotHistory) {
  auto x = randn({3}, requires_grad());
  auto y = x * 2;
  auto d = y.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_TRUE(d.is_leaf());
  EXPECT_EQ(d.data_ptr<float>(), y.data_ptr<float>());
  d.add_(1.0);  // same storage: y sees it
  EXPECT_FLOAT_EQ(y.at<float>({0}), d.at<float>({0}));
}

TEST(Hooks, LeafHookSeesTheTotalGradientOnceAndCanReplaceIt) {
  auto x = tensor({1.0, 2.0}, f64());
  int calls = 0;
  Tensor seen;
  x.register_hook([&](const Tensor& g) {
    ++calls;
    seen = g.clone();
    return g * 10;
  });
  (x * x + x).sum().backward();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen.to_vector<double>(), (std::vector<double>{3, 5}));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{30, 50}));
}

TEST(Hooks, NonLeafHookRunsBeforeTheGradientFlowsOn) {
  auto x = tensor({1.0, 2.0}, f64());
  auto h = x * 3;
  h.register_hook([](const Tensor& g) { return g * 2; });
  (h * h).sum().backward();  // d/dh = 2h = [6, 12], doubled by the hook, times 3
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{36, 72}));
}

TEST(Hooks, RemovedHookNoLongerRuns) {
  auto x = tensor({1.0}, f64());
  int calls = 0;
  auto handle = x.register_hook([&](const Tensor&) {
    ++calls;
    return Tensor();
  });
  (x * 2).sum().backward();
  handle.remove();
  (x * 2).sum().backward();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(x.grad().item<double>(), 4.0);
}

TEST(Hooks, HookOnTensorWithoutGradThrows) {
  auto x = randn({2});
  expect_throw_with<std::logic_error>([&] { x.register_hook([](const Tensor& g) { return g; }); },
                                      {"does not require grad"});
}

TEST(RetainGrad, NonLeafKeepsItsGradientWhenAsked) {
  auto x = tensor({1.0, 2.0}, f64());
  auto h = x * 3;
  h.retain_grad();
  (h * h).sum().backward();
  EXPECT_EQ(h.grad().to_vector<double>(), (std::vector<double>{6, 12}));
}

TEST(RetainGrad, GradOfNonLeafWithoutRetainGradThrows) {
  auto x = tensor({1.0}, f64());
  auto h = x * 3;
  h.sum().backward();
  expect_throw_with<std::logic_error>([&] { (void)h.grad(); }, {"not a leaf", "MulBackward1", "retain_grad"});
}

TEST(VersionCounter, InPlaceChangeOfASavedTensorIsCaught) {
  auto x = randn({3}, f64());
  auto y = x * 2;
  auto z = y * y;  // saves y
  y.mul_(2.0);     // and y changes afterwards
  expect_throw_with<std::logic_error>([&] { z.sum().backward(); },
                                      {"MulBackward0", "modified by an in-place operation", "version 1", "version 0"});
}

TEST(VersionCounter, InPlaceOpsBumpTheVersion) {
  auto x = zeros({2});
  EXPECT_EQ(x.version(), 0u);
  x.add_(1.0);
  x.mul_(ones({2}));
  x.zero_();
  EXPECT_EQ(x.version(), 3u);
  EXPECT_EQ(x.detach().version(), 3u);  // views share the counter
}

TEST(InPlace, LeafThatRequiresGradCannotBeModified) {
  auto w = randn({2}, requires_grad());
  expect_throw_with<std::logic_error>([&] { w.add_(1.0); }, {"add_", "leaf", "NoGradGuard"});
  {
    NoGradGuard no_grad;  // what optimizers do
    w.add_(1.0);
  }
  EXPECT_TRUE(w.requires_grad());
}

TEST(InPlace, OnANonLeafTheGradientFollowsTheNewHistory) {
  auto x = tensor({1.0, 2.0}, f64());
  auto y = x * x;  // 2x
  y.mul_(3.0);     // 6x
  y.add_(x);       // 6x + 1
  y.sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{7, 13}));
  EXPECT_STREQ(y.grad_fn()->name(), "AddBackward0");
}

TEST(InPlace, TensorMultiplyInPlaceKeepsTheOldValueForBackward) {
  auto x = tensor({1.0, 2.0}, f64());
  auto w = tensor({3.0, 5.0}, f64());
  auto y = x * 1.0;
  y.mul_(w);  // y = x * w: dy/dw needs the old y
  y.sum().backward();
  EXPECT_EQ(w.grad().to_vector<double>(), (std::vector<double>{1, 2}));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{3, 5}));
}

TEST(Grad, ReturnsGradientsWithoutTouchingDotGrad) {
  auto x = tensor({1.0, 2.0}, f64());
  auto y = (x * x).sum();
  auto g = ag::grad({y}, {x});
  EXPECT_EQ(g[0].to_vector<double>(), (std::vector<double>{2, 4}));
  EXPECT_FALSE(x.grad().defined());
}

TEST(Grad, OfAnIntermediateTensor) {
  auto x = tensor({1.0, 2.0}, f64());
  auto h = x * 3;
  auto y = (h * h).sum();
  auto g = ag::grad({y}, {h});
  EXPECT_EQ(g[0].to_vector<double>(), (std::vector<double>{6, 12}));
}

TEST(Grad, UnusedInputThrowsUnlessAllowed) {
  auto x = tensor({1.0}, f64()), unused = tensor({1.0}, f64());
  auto y = (x * 2).sum();
  expect_throw_with<std::logic_error>([&] { ag::grad({y}, {x, unused}, {}, true); }, {"input 1", "allow_unused"});
  auto g = ag::grad({y}, {x, unused}, {}, false, false, true);
  EXPECT_TRUE(g[0].defined());
  EXPECT_FALSE(g[1].defined());
}

TEST(HigherOrder, SecondDerivativeOfCube) {
  auto x = tensor({2.0, -1.0}, f64());
  auto y = (x * x * x).sum();
  auto dy = ag::grad({y}, {x}, {}, true, true)[0];  // 3x^2
  EXPECT_EQ(dy.to_vector<double>(), (std::vector<double>{12, 3}));
  auto d2y = ag::grad({dy.sum()}, {x})[0];  // 6x
  EXPECT_EQ(d2y.to_vector<double>(), (std::vector<double>{12, -6}));
}

TEST(HigherOrder, SecondDerivativeOfTanhMatchesFiniteDifferences) {
  std::vector<double> points{-1.5, -0.3, 0.0, 0.7, 2.0};
  auto x = tensor(points, {5}, f64());
  auto dy = ag::grad({tanh(x).sum()}, {x}, {}, true, true)[0];
  auto d2y = ag::grad({dy.sum()}, {x})[0].to_vector<double>();
  const double h = 1e-4;
  for (std::size_t i = 0; i < points.size(); ++i) {
    auto d1 = [](double v) { return 1 - std::tanh(v) * std::tanh(v); };
    double fd = (d1(points[i] + h) - d1(points[i] - h)) / (2 * h);
    EXPECT_NEAR(d2y[i], fd, 1e-7) << "at " << points[i];
  }
}

TEST(HigherOrder, HessianVectorProductMatchesFiniteDifferences) {
  // f(x) = sum(sin-free smooth mix) = sum(x^2 * tanh(x)) + (x0 * x1 * x2)
  auto f = [](const Tensor& x) { return (x * x * tanh(x)).sum() + x[0] * x[1] * x[2]; };
  auto x = tensor({0.3, -0.8, 1.1}, f64());
  auto v = tensor({0.5, 1.0, -2.0}, kFloat64);
  auto g = ag::grad({f(x)}, {x}, {}, true, true)[0];
  auto hv = ag::grad({(g * v).sum()}, {x})[0].to_vector<double>();
  // H v ~ (grad f(x + h v) - grad f(x - h v)) / 2h
  const double h = 1e-5;
  auto grad_at = [&](const Tensor& p) {
    auto q = p.detach().requires_grad_(true);
    return ag::grad({f(q)}, {q})[0];
  };
  auto fd = ((grad_at(x.detach() + v * h) - grad_at(x.detach() - v * h)) / (2 * h)).to_vector<double>();
  for (std::size_t i = 0; i < 3; ++i) EXPECT_NEAR(hv[i], fd[i], 1e-6);
}

TEST(HigherOrder, BackwardWithCreateGraphKeepsAGraphInDotGrad) {
  auto x = tensor({1.5}, f64());
  (x * x * x).sum().backward({}, false, true);
  Tensor g = x.grad();  // 3x^2 with a graph
  ASSERT_TRUE(g.requires_grad());
  auto d2 = ag::grad({g.sum()}, {x})[0];
  EXPECT_DOUBLE_EQ(d2.item<double>(), 6 * 1.5);
  // x -> x.grad -> its graph -> x is a reference cycle (as in PyTorch): drop the gradient to free it.
  x.set_grad(Tensor());
}

TEST(LongChain, HundredThousandOpsBackwardAndFree) {
  const std::int64_t baseline = Node::live_count();
  {
    auto x = tensor({1.0}, f64());
    Tensor y = x;
    for (int i = 0; i < 100000; ++i) y = y * 1.0 + 0.0;
    EXPECT_EQ(Node::live_count() - baseline, 200000);
    y.sum().backward();
    EXPECT_DOUBLE_EQ(x.grad().item<double>(), 1.0);
  }
  EXPECT_EQ(Node::live_count(), baseline);
  {
    auto x = tensor({1.0}, f64());
    Tensor y = x;
    for (int i = 0; i < 100000; ++i) y = y * 1.0;
  }  // dropped without backward: freed iteratively, no stack overflow
  EXPECT_EQ(Node::live_count(), baseline);
}

TEST(Leaks, EveryNodeIsFreedAfterBackwardAndAfterADroppedGraph) {
  const std::int64_t baseline = Node::live_count();
  {
    auto w = randn({3, 4}, f64());
    auto x = randn({4}, kFloat64);
    auto h = tanh(w * x);
    h.retain_grad();
    h.register_hook([](const Tensor& g) { return g; });
    auto loss = (h * h).sum() + exp(h).mean();
    EXPECT_GT(Node::live_count(), baseline);
    loss.backward();
  }
  EXPECT_EQ(Node::live_count(), baseline);
  {
    auto w = randn({3}, f64());
    auto loss = (sigmoid(w) * w).sum();  // never backwarded
  }
  EXPECT_EQ(Node::live_count(), baseline);
  {
    auto x = tensor({1.0}, f64());
    auto dy = ag::grad({(x * x * x).sum()}, {x}, {}, true, true)[0];
    auto d2 = ag::grad({dy.sum()}, {x})[0];
  }
  EXPECT_EQ(Node::live_count(), baseline);
}

TEST(GradFn, NamesAndEdgesDescribeTheGraph) {
  auto x = randn({2}, requires_grad());
  auto y = x * x;
  EXPECT_STREQ(y.grad_fn()->name(), "MulBackward0");
  ASSERT_EQ(y.grad_fn()->next_functions().size(), 2u);
  EXPECT_EQ(y.grad_fn()->next_functions()[0].name(), "AccumulateGrad");
  auto z = y.sum();
  EXPECT_EQ(z.grad_fn()->next_functions()[0].fn, y.grad_fn());
  EXPECT_EQ(z.grad_fn()->shape(), Shape{});
  EXPECT_TRUE(x.is_leaf());
  EXPECT_FALSE(y.is_leaf());
}

TEST(RequiresGrad, OnlyFloatingLeavesCanRequireGrad) {
  auto i = tensor({1, 2});
  expect_throw_with<std::invalid_argument>([&] { i.requires_grad_(); }, {"floating point", "int64"});
  auto x = randn({2}, requires_grad());
  auto y = x * 2;
  expect_throw_with<std::logic_error>([&] { y.requires_grad_(false); }, {"leaf", "MulBackward1"});
}

TEST(Graph, DotAndTextNameOpsShapesAndLeaves) {
  auto w = randn({2, 3}, requires_grad());
  auto x = randn({2, 3});
  auto loss = (w * x).sum();
  std::string dot = to_dot(loss, {{"w", w}});
  EXPECT_NE(dot.find("digraph"), std::string::npos);
  EXPECT_NE(dot.find("MulBackward0"), std::string::npos);
  EXPECT_NE(dot.find("SumBackward0"), std::string::npos);
  EXPECT_NE(dot.find("w\\n[2, 3]"), std::string::npos);
  std::string text = graph_str(loss, {{"w", w}});
  EXPECT_NE(text.find("MulBackward0  -> [2, 3]  float32  saved 2"), std::string::npos) << text;
  EXPECT_NE(text.find("AccumulateGrad  w [2, 3]"), std::string::npos) << text;
  loss.backward();
  EXPECT_NE(graph_str(loss).find("(freed)"), std::string::npos);
}
