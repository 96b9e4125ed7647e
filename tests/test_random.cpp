// The Generator and the random ops beyond PyTorch's values (those are in test_rng_golden.cpp):
// the engine against the C++ standard library's mt19937, seeding, states, and the errors and
// autograd behaviour of the random fills.
#include <gtest/gtest.h>

#include <random>

#include "ag/autograd/autograd.h"
#include "test_util.h"

using namespace ag;
using testutil::expect_throw;

TEST(Generator, TheEngineIsTheStandardMt19937OnTheLow32BitsOfTheSeed) {
  for (std::uint64_t seed : {0ull, 1ull, 5489ull, 0x1234567890abcdefull}) {
    Generator g(seed);
    std::mt19937 reference(static_cast<std::uint32_t>(seed));
    for (int i = 0; i < 2000; ++i) ASSERT_EQ(g.random(), reference()) << "seed " << seed << ", draw " << i;
    std::uint64_t hi = reference(), lo = reference();
    EXPECT_EQ(g.random64(), (hi << 32) | lo);
  }
}

TEST(Generator, SeedsAsPyTorchDoes) {
  Generator g;
  EXPECT_EQ(g.initial_seed(), 67280421310721ULL);  // torch.Generator().initial_seed()
  EXPECT_EQ(&g.manual_seed(2), &g);
  EXPECT_EQ(g.initial_seed(), 2u);
  EXPECT_EQ(&manual_seed(3), &default_generator());
  EXPECT_EQ(initial_seed(), 3u);
  std::uint64_t s = seed();  // from the OS: the default generator is seeded with what it returns
  EXPECT_EQ(initial_seed(), s);
  Generator h(s);
  EXPECT_EQ(default_generator().random(), h.random());
  EXPECT_NE(Generator().seed(), Generator().seed());  // 64 random bits twice: equal once in 2^64
}

TEST(Generator, StatesReplayTheStreamAndCopiesAreIndependent) {
  Generator g(3);
  randn({1}, {}, &g);  // a normal in the cache
  GeneratorState s = g.get_state();
  ASSERT_TRUE(s.next_normal.has_value());
  Tensor a = randn({5}, {}, &g);
  Generator copy = g;
  g.set_state(s);
  EXPECT_TRUE(equal(randn({5}, {}, &g), a));
  EXPECT_EQ(copy.random(), g.random());
  copy.random();
  EXPECT_NE(copy.get_state().index, g.get_state().index);
  g.manual_seed(3);
  EXPECT_FALSE(g.get_state().next_normal.has_value());  // seeding forgets the cache
}

TEST(Generator, ImpossibleStatesAreRefused) {
  Generator g;
  GeneratorState s = g.get_state();
  s.index = 625;
  expect_throw<std::invalid_argument>([&] { g.set_state(s); }, "the word index must be in 0..624, got 625");
  s = g.get_state();
  s.words.fill(0);
  expect_throw<std::invalid_argument>([&] { g.set_state(s); }, "all 624 state words are 0");
}

TEST(RandomOps, FillsOfATensorInAGraphGiveItAZeroGradient) {
  Tensor x = tensor({1.0, 2.0, 3.0}, TensorOptions(kFloat64).requires_grad(true));
  for (const char* name : {"UniformBackward0", "NormalBackward0", "BernoulliBackward0", "RandomBackward0"}) {
    Tensor y = x * 2;
    std::string op = name;
    if (op == "UniformBackward0") y.uniform_();
    if (op == "NormalBackward0") y.normal_();
    if (op == "BernoulliBackward0") y.bernoulli_(0.5);
    if (op == "RandomBackward0") y.random_(0, 10);
    ASSERT_TRUE(y.grad_fn() != nullptr);
    EXPECT_STREQ(y.grad_fn()->name(), name);
    (y * 3).sum().backward();
    EXPECT_TRUE(equal(x.grad(), zeros({3}, kFloat64))) << name;
    x.set_grad(Tensor());
  }
}

TEST(RandomOps, FillsBumpTheVersionSoASavedTensorNoticesTheChange) {
  Tensor w = tensor({1.0, 2.0}, TensorOptions(kFloat64).requires_grad(true));
  Tensor h = w * 1.0;
  Tensor y = (h * h).sum();  // saves h
  h.normal_();
  expect_throw<std::logic_error>([&] { y.backward(); }, "modified");
}

TEST(RandomOps, RequiresGradAndDtypesAsAsked) {
  Tensor r = rand({2}, TensorOptions(kFloat64).requires_grad(true));
  EXPECT_TRUE(r.requires_grad() && r.is_leaf());
  EXPECT_EQ(r.dtype(), kFloat64);
  EXPECT_EQ(randint(5, {3}).dtype(), kInt64);
  EXPECT_EQ(randint(0, 5, {3}, kFloat32).dtype(), kFloat32);
  EXPECT_EQ(randperm(4, kFloat64).dtype(), kFloat64);
  std::vector<std::int64_t> p = randperm(50).to_vector<std::int64_t>();
  std::sort(p.begin(), p.end());
  EXPECT_EQ(p, arange(50).to_vector<std::int64_t>());
  EXPECT_EQ(randperm(0).numel(), 0);
  for (double v : empty({1000}, kFloat64).random_(-3, 3).to_vector<double>()) {
    ASSERT_GE(v, -3);
    ASSERT_LT(v, 3);
  }
  std::int64_t big = empty({}, kInt64).random_().item<std::int64_t>();
  EXPECT_GE(big, 0);
}

TEST(RandomOps, AFillThroughAViewOfANonLeafCutsTheGradientOfWhatItFilled) {
  Tensor a = ones({2, 2}, requires_grad());
  Tensor in_graph = a * 2;
  in_graph[0].uniform_();  // the base gets CopySlices: no gradient reaches a through row 0
  EXPECT_STREQ(in_graph.grad_fn()->name(), "CopySlices");
  in_graph.sum().backward();
  EXPECT_EQ(a.grad().to_vector<float>(), (std::vector<float>{0, 0, 2, 2}));
}

TEST(RandomOps, BadArgumentsNameTheOpAndTheValue) {
  expect_throw<std::invalid_argument>([] { rand({2}, kInt64); }, "rand: expected a floating dtype");
  expect_throw<std::invalid_argument>([] { randn({2}, kInt64); }, "randn: expected a floating dtype");
  expect_throw<std::invalid_argument>([] { randint(5, 5, {3}); }, "randint: expected low < high, got low=5 high=5");
  expect_throw<std::invalid_argument>([] { randint(0, std::int64_t{1} << 30, {3}, kFloat32); },
                                      "float32 holds every integer only within [-16777216, 16777216]");
  expect_throw<std::invalid_argument>([] { randperm(-1); }, "randperm: n must be non-negative, got -1");
  expect_throw<std::invalid_argument>([] { randperm((1 << 24) + 1, kFloat32); },
                                      "float32 holds every integer only up to 16777216, got n=16777217");
  expect_throw<std::invalid_argument>([] { empty({2}).uniform_(1, 0); }, "uniform_: expected from <= to, got from=1 to=0");
  expect_throw<std::invalid_argument>([] { empty({2}).uniform_(-3e38, 3e38); }, "exceeds the largest float32");
  expect_throw<std::invalid_argument>([] { empty({2}).normal_(0, -1); }, "normal_: std must be non-negative, got -1");
  expect_throw<std::invalid_argument>([] { empty({2}).bernoulli_(1.5); }, "bernoulli_: the probability p must be in [0, 1], got 1.5");
  expect_throw<std::invalid_argument>([] { empty({2}, kInt64).uniform_(); }, "uniform_: expected a floating point tensor");
  expect_throw<std::invalid_argument>([] { empty({2}, kInt64).random_(3, 2); }, "random_: expected low < high, got low=3 high=2");
  Tensor leaf = zeros({2}, requires_grad());
  expect_throw<std::logic_error>([&] { leaf.normal_(); }, "normal_: a leaf tensor of shape [2] that requires grad");
  expect_throw<std::logic_error>([&] { leaf[0].uniform_(); }, "uniform_: the tensor of shape [] is a view of a leaf");
  NoGradGuard no_grad;
  EXPECT_NO_THROW(leaf.normal_());  // as nn::init does
}

// PyTorch fills a non-contiguous tensor in the order of its addresses (normal_ one value at a
// time). The values: /usr/bin/python3 -c "import torch; torch.manual_seed(3);
// x = torch.empty(3, 4).t(); x.uniform_(); print(x.flatten()[:4].tolist())", and likewise for
// normal_ on torch.empty(4, 6)[:, ::2] and torch.empty(40, 2)[:, 0].
TEST(RandomOps, NonContiguousFillsGivePyTorchsValues) {
  manual_seed(3);
  Tensor x = empty({3, 4}).t();
  x.uniform_();
  std::vector<float> v = x.flatten().to_vector<float>();
  const std::vector<float> want_u{0.004263520240783691f, 0.47161436080932617f, 0.5944212079048157f, 0.10556936264038086f};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(v[i], want_u[i]) << i;
  const std::vector<float> want_n{0.8032760620117188f, 0.17483338713645935f, 0.08897809684276581f, -0.6137180328369141f};
  for (Tensor t : {empty({4, 6}).slice(1, 0, std::nullopt, 2), empty({40, 2}).select(1, 0)}) {
    manual_seed(3);
    t.normal_();
    v = t.flatten().to_vector<float>();
    for (int i = 0; i < 4; ++i) EXPECT_EQ(v[i], want_n[i]) << i;
  }
}
