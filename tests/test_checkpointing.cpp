// Activation checkpointing: the same values and gradients as the plain run, bit for bit, with
// dropout masks repeated by restoring the random generator, and fewer activations kept.

#include <gtest/gtest.h>

#include "ag/ag.h"
#include "test_util.h"

using namespace ag;
namespace nn = ag::nn;

namespace {

std::shared_ptr<nn::Sequential> mlp(int layers, std::int64_t width, bool dropout) {
  auto seq = std::make_shared<nn::Sequential>();
  for (int i = 0; i < layers; ++i) {
    seq->push_back(std::make_shared<nn::Linear>(width, width));
    seq->push_back(std::make_shared<nn::Tanh>());
    if (dropout) seq->push_back(std::make_shared<nn::Dropout>(0.3));
  }
  return seq;
}

std::vector<Tensor> grads_of(const nn::Module& m) {
  std::vector<Tensor> out;
  for (const Tensor& p : m.parameters()) out.push_back(p.grad().clone());
  return out;
}

}  // namespace

TEST(Checkpoint, CheckpointSequentialGradientsAreBitIdenticalToPlainBackward) {
  for (bool dropout : {false, true}) {
    for (std::int64_t segments : {1, 2, 3, 8}) {
      SCOPED_TRACE(::testing::Message() << "segments " << segments << (dropout ? " with dropout" : ""));
      manual_seed(7);
      auto net = mlp(8, 16, dropout);
      Tensor x = randn({4, 16}, requires_grad());
      manual_seed(11);  // the dropout masks
      Tensor plain = (*net)(x);
      plain.pow(2).sum().backward();
      std::vector<Tensor> want = grads_of(*net);
      Tensor want_x = x.grad().clone();
      net->zero_grad();
      x.set_grad({});
      manual_seed(11);
      Tensor ck = nn::checkpoint_sequential(*net, segments, x);
      EXPECT_TRUE(equal(ck, plain));
      ck.pow(2).sum().backward();
      std::vector<Tensor> got = grads_of(*net);
      ASSERT_EQ(got.size(), want.size());
      for (std::size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(equal(got[i], want[i])) << "parameter " << i;
      EXPECT_TRUE(equal(x.grad(), want_x));
    }
  }
}

TEST(Checkpoint, AFunctionOfSeveralInputsGivesThePlainGradients) {
  Tensor a = testutil::input({3, 4}, 1), b = testutil::input({4}, 2);
  auto f = [](const Tensor& u, const Tensor& v) { return (u * v).tanh() * u; };
  testutil::check_first([&](auto& in) { return checkpoint(f, in[0], in[1]); }, {a, b});
  Tensor y = checkpoint(f, a, b);
  EXPECT_STREQ(y.grad_fn()->name(), "CheckpointFunctionBackward");
  EXPECT_TRUE(equal(y, f(a, b)));
}

TEST(Checkpoint, ParametersGetTheirGradientEvenWhenTheInputNeedsNone) {
  manual_seed(3);
  nn::Linear lin(4, 2);
  Tensor x = randn({5, 4});
  lin(x).sum().backward();
  Tensor want = lin.weight.grad().clone();
  lin.zero_grad();
  checkpoint([&](const Tensor& t) { return lin(t); }, x).sum().backward();
  EXPECT_TRUE(equal(lin.weight.grad(), want));
}

TEST(Checkpoint, KeepsFewerNodesAliveThanThePlainRun) {
  manual_seed(5);
  auto net = mlp(12, 8, false);
  Tensor x = randn({2, 8}, requires_grad());
  const std::int64_t before = Node::live_count();
  Tensor plain = (*net)(x);
  const std::int64_t plain_nodes = Node::live_count() - before;
  Tensor ck = nn::checkpoint_sequential(*net, 4, x);
  const std::int64_t ck_nodes = Node::live_count() - before - plain_nodes;
  EXPECT_EQ(plain_nodes, 24);  // a node per Linear and per Tanh
  EXPECT_EQ(ck_nodes, 3 + 6);  // one per checkpointed segment, then the last segment's own
}

TEST(Checkpoint, ErrorsNameTheProblem) {
  auto net = mlp(2, 4, false);
  testutil::expect_throw_with<std::invalid_argument>([&] { nn::checkpoint_sequential(*net, 0, randn({1, 4})); },
                                                     {"checkpoint_sequential", "segments", "0"});
  testutil::expect_throw_with<std::invalid_argument>(
      [&] { checkpoint(std::function<Tensor(const std::vector<Tensor>&)>(), {randn({1})}); }, {"checkpoint", "empty"});
}
