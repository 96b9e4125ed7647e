// Tensors: creation, dtypes, handles vs copies, data access, random generators and printing.

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "ag/autograd/autograd.h"

using namespace ag;

TEST(Creation, NestedListsInferShapeAndDtype) {
  auto f = tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
  EXPECT_EQ(f.shape(), (Shape{2, 3}));
  EXPECT_EQ(f.dtype(), kFloat32);
  auto i = tensor({0, 2, 1});
  EXPECT_EQ(i.dtype(), kInt64);
  EXPECT_EQ(i.to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 2, 1}));
  EXPECT_EQ(tensor({1, 2}, kFloat64).dtype(), kFloat64);
  auto s = tensor(3.5);
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.numel(), 1);
  EXPECT_DOUBLE_EQ(s.item<double>(), 3.5);
}

TEST(Creation, RaggedNestedListThrows) {
  EXPECT_THROW(tensor({{1.0, 2.0}, {3.0}}), std::invalid_argument);
}

TEST(Creation, FromVectorAndShape) {
  auto t = tensor(std::vector<float>{1, 2, 3, 4, 5, 6}, {3, 2});
  EXPECT_EQ(t.shape(), (Shape{3, 2}));
  EXPECT_FLOAT_EQ(t.at<float>({2, 1}), 6.0f);
  EXPECT_FLOAT_EQ(t.at<float>({-1, 0}), 5.0f);
  EXPECT_THROW(tensor(std::vector<float>{1, 2, 3}, {2, 2}), std::invalid_argument);
}

TEST(Creation, Factories) {
  EXPECT_EQ(zeros({2, 3}).to_vector<float>(), std::vector<float>(6, 0.0f));
  EXPECT_EQ(ones({2}, kInt64).to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 1}));
  EXPECT_EQ(full({2}, 7.5).to_vector<float>(), (std::vector<float>{7.5f, 7.5f}));
  EXPECT_EQ(arange(4).to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(arange(4).dtype(), kInt64);
  EXPECT_EQ(arange(0.0, 1.0, 0.25).to_vector<float>(), (std::vector<float>{0, 0.25f, 0.5f, 0.75f}));
  EXPECT_EQ(arange(5, 0, -2).to_vector<std::int64_t>(), (std::vector<std::int64_t>{5, 3, 1}));
  auto l = linspace(0, 1, 5, kFloat64).to_vector<double>();
  EXPECT_EQ(l, (std::vector<double>{0, 0.25, 0.5, 0.75, 1.0}));
  EXPECT_EQ(eye(2, 3).to_vector<float>(), (std::vector<float>{1, 0, 0, 0, 1, 0}));
  auto z = zeros_like(ones({2, 2}, kFloat64));
  EXPECT_EQ(z.dtype(), kFloat64);
  EXPECT_EQ(z.shape(), (Shape{2, 2}));
  EXPECT_TRUE(zeros({2}, requires_grad()).requires_grad());
}

TEST(Creation, BadArgumentsThrowWithTheValue) {
  try {
    zeros({2, -1});
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("-1"), std::string::npos);
  }
  EXPECT_THROW(arange(0, 10, 0), std::invalid_argument);
  EXPECT_THROW(arange(0, 10, -1), std::invalid_argument);
  EXPECT_THROW(randint(5, 5, {2}), std::invalid_argument);
  EXPECT_THROW(randn({2}, kInt64), std::invalid_argument);
  EXPECT_THROW(zeros({1, 1, 1, 1, 1, 1, 1, 1, 1}), std::invalid_argument);  // more than 8 dims
}

TEST(Handles, CopiesShareDataCloneDoesNot) {
  auto a = zeros({3});
  Tensor b = a;
  b.add_(1.0);
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{1, 1, 1}));
  Tensor c = a.clone();
  c.add_(1.0);
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{1, 1, 1}));
  EXPECT_TRUE(b.is_same(a));
  EXPECT_FALSE(c.is_same(a));
}

TEST(Handles, ReshapeSharesStorage) {
  auto a = arange(6).to(kFloat32);
  auto v = a.view({2, 3});
  v.mul_(2.0);
  EXPECT_FLOAT_EQ(a.at<float>({5}), 10.0f);
  EXPECT_EQ(v.data_ptr<float>(), a.data_ptr<float>());
}

TEST(Access, ItemAtAndConversions) {
  auto t = tensor({{1.5, 2.5}}, kFloat64);
  EXPECT_DOUBLE_EQ(t.at<double>({0, 1}), 2.5);
  EXPECT_EQ(t.to(kInt64).to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(t.to(kFloat32).dtype(), kFloat32);
  EXPECT_THROW(t.item<double>(), std::invalid_argument);
  EXPECT_THROW(t.at<double>({0, 2}), IndexError);
  EXPECT_THROW(t.at<double>({0}), IndexError);
  EXPECT_THROW(t.data_ptr<float>(), std::invalid_argument);
  auto d = t.data<double>();
  d[0] = 9;
  EXPECT_DOUBLE_EQ(t.at<double>({0, 0}), 9);
  EXPECT_EQ(t.size(-1), 2);
  EXPECT_THROW(t.size(2), IndexError);
}

TEST(Access, BoolMasksConvertToZerosAndOnesInEveryDtypeAndLayout) {
  // 37 values: the vectorised byte widening, its tail, and a transposed (strided) mask
  std::vector<float> v;
  for (int i = 0; i < 37; ++i) v.push_back(static_cast<float>((i * 7) % 5) - 2.0f);
  Tensor mask = tensor(v) > 0.0f;
  std::vector<double> want;
  for (float x : v) want.push_back(x > 0 ? 1.0 : 0.0);
  EXPECT_EQ(mask.to(kFloat32).to_vector<double>(), want);
  EXPECT_EQ(mask.to(kFloat64).to_vector<double>(), want);
  EXPECT_EQ(mask.to(kInt64).to_vector<double>(), want);
  Tensor m2 = (tensor(v).reshape({1, 37}).expand({2, 37}).t() > 0.0f).t();  // [2, 37], strides (1, 2)
  ASSERT_FALSE(m2.is_contiguous());
  std::vector<double> want2 = want;
  want2.insert(want2.end(), want.begin(), want.end());
  EXPECT_EQ(m2.to(kFloat32).to_vector<double>(), want2);
  EXPECT_EQ(m2.t().to(kInt64).t().to_vector<double>(), want2);
}

TEST(Access, UndefinedTensorThrowsInsteadOfCrashing) {
  Tensor t;
  EXPECT_FALSE(t.defined());
  EXPECT_THROW(t.shape(), std::logic_error);
  EXPECT_THROW(t + t, std::invalid_argument);
  EXPECT_THROW(ag::sum(t), std::invalid_argument);
}

TEST(Random, ManualSeedRepeats) {
  manual_seed(7);
  auto a = randn({5});
  manual_seed(7);
  auto b = randn({5});
  EXPECT_TRUE(equal(a, b));
  auto c = randn({5});
  EXPECT_FALSE(equal(a, c));
}

TEST(Random, GeneratorStateRestoresTheSequence) {
  Generator g(3);
  randn({3}, {}, &g);
  GeneratorState s = g.get_state();
  auto a = rand({4}, kFloat64, &g);
  g.set_state(s);
  auto b = rand({4}, kFloat64, &g);
  EXPECT_TRUE(equal(a, b));
}

TEST(Random, DistributionsHaveTheRightMoments) {
  Generator g(11);
  const std::int64_t n = 200000;
  auto u = rand({n}, kFloat64, &g).to_vector<double>();
  auto z = randn({n}, kFloat64, &g).to_vector<double>();
  double um = 0, zm = 0, zv = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    ASSERT_GE(u[i], 0.0);
    ASSERT_LT(u[i], 1.0);
    um += u[i];
    zm += z[i];
  }
  um /= n;
  zm /= n;
  for (double v : z) zv += (v - zm) * (v - zm);
  zv /= n;
  // standard errors: uniform mean 0.00065, normal mean 0.0022, normal variance 0.0032
  EXPECT_NEAR(um, 0.5, 0.004);
  EXPECT_NEAR(zm, 0.0, 0.012);
  EXPECT_NEAR(zv, 1.0, 0.016);
  auto r = randint(-2, 3, {1000}, kInt64, &g).to_vector<std::int64_t>();
  for (auto v : r) {
    EXPECT_GE(v, -2);
    EXPECT_LT(v, 3);
  }
}

// Expected strings are PyTorch 1.13's printouts of the same tensors (dtype spelled ag's way).
TEST(Printing, MatchesPyTorchsFormat) {
  auto str = [](const Tensor& t) { return t.str(); };
  EXPECT_EQ(str(tensor({1.0, 2.0, 3.0}, requires_grad())), "tensor([1., 2., 3.], requires_grad=True)");
  auto x = tensor({1.0, 2.0, 3.0}, requires_grad());
  EXPECT_EQ(str((x * x + x).sum()), "tensor(20., grad_fn=<SumBackward0>)");
  EXPECT_EQ(str(tensor({{1, 2}, {3, 4}})), "tensor([[1, 2],\n        [3, 4]])");
  EXPECT_EQ(str(tensor(3.5)), "tensor(3.5000)");
  EXPECT_EQ(str(zeros({0, 3})), "tensor([], size=(0, 3))");
  EXPECT_EQ(str(zeros({0})), "tensor([])");
  EXPECT_EQ(str(tensor({{0.6589, 0.4041, 1.1573, -2.3446, -0.1704}})),
            "tensor([[ 0.6589,  0.4041,  1.1573, -2.3446, -0.1704]])");
  EXPECT_EQ(str(tensor({1e-5, 1.0, 100.0})), "tensor([1.0000e-05, 1.0000e+00, 1.0000e+02])");
  EXPECT_EQ(str(tensor({1.5, 2.25}, kFloat64)), "tensor([1.5000, 2.2500], dtype=float64)");
  EXPECT_EQ(str(arange(2000).to(kFloat32)),
            "tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, 1.9980e+03,\n        1.9990e+03])");
  EXPECT_EQ(str(tensor({{{1., 2.}, {3., 4.}}, {{5., 6.}, {7., 8.}}})),
            "tensor([[[1., 2.],\n         [3., 4.]],\n\n        [[5., 6.],\n         [7., 8.]]])");
  EXPECT_EQ(str(tensor({NAN, INFINITY, 1.0, 0.0})), "tensor([nan, inf, 1., 0.])");
  EXPECT_EQ(str(tensor({123456789.0, 1.0})), "tensor([1.2346e+08, 1.0000e+00])");
  EXPECT_EQ(str(arange(30).to(kFloat32).reshape({2, 15}) / 7),
            "tensor([[0.0000, 0.1429, 0.2857, 0.4286, 0.5714, 0.7143, 0.8571, 1.0000, 1.1429,\n"
            "         1.2857, 1.4286, 1.5714, 1.7143, 1.8571, 2.0000],\n"
            "        [2.1429, 2.2857, 2.4286, 2.5714, 2.7143, 2.8571, 3.0000, 3.1429, 3.2857,\n"
            "         3.4286, 3.5714, 3.7143, 3.8571, 4.0000, 4.1429]])");
  EXPECT_EQ(str(zeros({2, 2})), "tensor([[0., 0.],\n        [0., 0.]])");
  std::ostringstream os;
  os << tensor({1, 2});
  EXPECT_EQ(os.str(), "tensor([1, 2])");
}

TEST(Handles, RowsColumnsAndSlicesAreViews) {
  auto w = zeros({3, 4});
  {
    NoGradGuard no_grad;
    w[1].fill_(1.0);           // like emb.weight[padding_idx].fill_(0) in PyTorch
    w.narrow(0, 2, 1).add_(2.0);
  }
  EXPECT_EQ(w.sum(1).to_vector<float>(), (std::vector<float>{0, 4, 8}));
  auto col = w.select(1, 0);   // a column is a strided view: writes reach w
  col.fill_(5.0);
  EXPECT_EQ(w.at<float>({0, 0}), 5.0f);
  EXPECT_EQ(w.at<float>({2, 0}), 5.0f);
  EXPECT_EQ(w.at<float>({2, 1}), 2.0f);
  EXPECT_EQ(w[1].version(), w.version());
}
