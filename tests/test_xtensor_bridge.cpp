// ag/xtensor.h: as_xtensor views a tensor's data as an xtensor expression without a copy (layout,
// writes and version counter shared), from_xtensor evaluates an expression into a new tensor.
#include <gtest/gtest.h>

#include <xtensor/xarray.hpp>
#include <xtensor/xbuilder.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xtensor.hpp>
#include <xtensor/xview.hpp>

#include "ag/ag.h"
#include "ag/xtensor.h"
#include "test_util.h"

using ag::Tensor;

TEST(XtensorBridge, AsXtensorIsAViewWithTheTensorsShapeAndStrides) {
  Tensor t = ag::tensor({{1.0f, 2.0f, 3.0f}, {4.0f, 5.0f, 6.0f}});
  auto v = ag::as_xtensor<float>(t);
  ASSERT_EQ(v.dimension(), 2u);
  EXPECT_EQ(v.shape()[0], 2u);
  EXPECT_EQ(v.shape()[1], 3u);
  EXPECT_EQ(&v(0, 0), t.data_ptr<float>());  // no copy
  EXPECT_EQ(v(1, 2), 6.0f);
  v(1, 2) = 60.0f;  // a write through the view is a write into t
  EXPECT_EQ(t.at<float>({1, 2}), 60.0f);
  EXPECT_EQ(xt::sum(v)(), 1 + 2 + 3 + 4 + 5 + 60);

  // A transposed view keeps its strides: element (i, j) of the adaptor is t.t()[i][j].
  Tensor tt = t.t();
  auto w = ag::as_xtensor<float>(tt);
  EXPECT_EQ(w.shape()[0], 3u);
  EXPECT_EQ(w(2, 0), 3.0f);
  EXPECT_EQ(w(2, 1), 60.0f);
  w(0, 1) = -4.0f;
  EXPECT_EQ(t.at<float>({1, 0}), -4.0f);
  // And a column slice, which starts past the storage's first element.
  Tensor col = t.select(1, 1);
  auto c = ag::as_xtensor<float>(col);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c(0), 2.0f);
  EXPECT_EQ(c(1), 5.0f);
  c = xt::xarray<float>{20.0f, 50.0f};  // assigning an expression writes through, too
  EXPECT_EQ(t.tolist<float>(), (std::vector<float>{1, 20, 3, -4, 50, 60}));
  // Assigning to the transposed view writes in its own layout, not row-major.
  w = xt::xarray<float>{{1, 2}, {3, 4}, {5, 6}};
  EXPECT_EQ(t.tolist<float>(), (std::vector<float>{1, 3, 5, 2, 4, 6}));
  xt::xarray<float> seven = {1, 2, 3, 4, 5, 6, 7};
  EXPECT_THROW(w = seven, std::exception);  // another shape: refused, not resized
  EXPECT_EQ(t.tolist<float>(), (std::vector<float>{1, 3, 5, 2, 4, 6}));
}

TEST(XtensorBridge, AsXtensorBumpsTheVersionSoASavedTensorIsNotReadStale) {
  Tensor x = ag::tensor({1.0, 2.0, 3.0}, ag::requires_grad());
  Tensor h = x * 2;       // not a leaf
  Tensor y = (h * h).sum();  // saves h
  Tensor d = h.detach();  // the same data and version counter
  const auto before = h.version();
  auto v = ag::as_xtensor<float>(d);
  v(0) = 100.0f;
  EXPECT_GT(h.version(), before);
  testutil::expect_throw_with<std::logic_error>([&] { y.backward(); }, {"modified"});
}

TEST(XtensorBridge, AsXtensorRefusesAnotherElementTypeAndTensorsThatRequireGrad) {
  Tensor f = ag::zeros({2});
  testutil::expect_throw_with<std::invalid_argument>([&] { ag::as_xtensor<double>(f); },
                                                     {"as_xtensor", "float32", "float64"});
  Tensor p = ag::zeros({2}, ag::requires_grad());
  testutil::expect_throw_with<std::invalid_argument>([&] { ag::as_xtensor<float>(p); },
                                                     {"as_xtensor", "requires grad", "detach()"});
  testutil::expect_throw_with<std::invalid_argument>([] { ag::as_xtensor<float>(Tensor()); }, {"undefined"});
  auto bools = ag::as_xtensor<bool>(ag::tensor({true, false}));
  EXPECT_TRUE(bools(0));
  EXPECT_EQ(ag::as_xtensor<float>(ag::zeros({0, 3})).size(), 0u);
}

TEST(XtensorBridge, FromXtensorEvaluatesAnExpressionIntoANewTensor) {
  xt::xarray<double> a = {{1.0, 2.0}, {3.0, 4.0}};
  Tensor t = ag::from_xtensor(a);
  EXPECT_EQ(t.dtype(), ag::kFloat64);
  EXPECT_EQ(t.shape(), ag::Shape({2, 2}));
  EXPECT_EQ(t.tolist<double>(), (std::vector<double>{1, 2, 3, 4}));
  a(0, 0) = 9.0;  // a copy: the tensor keeps its values
  EXPECT_EQ(t.at<double>({0, 0}), 1.0);

  // A lazy expression, evaluated once; float gives float32, other integers int64.
  xt::xtensor<float, 1> f = {1.0f, 2.0f, 3.0f};
  Tensor g = ag::from_xtensor(2.0f * f + 1.0f);
  EXPECT_EQ(g.dtype(), ag::kFloat32);
  EXPECT_EQ(g.tolist<float>(), (std::vector<float>{3, 5, 7}));
  Tensor i = ag::from_xtensor(xt::arange<int>(4));
  EXPECT_EQ(i.dtype(), ag::kInt64);
  EXPECT_EQ(i.tolist<std::int64_t>(), (std::vector<std::int64_t>{0, 1, 2, 3}));
  Tensor s = ag::from_xtensor(xt::xarray<double>(5.0));  // 0-d
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.item<double>(), 5.0);

  // Round trip through a view of a transposed tensor: the values in the view's order.
  Tensor m = ag::tensor({{1.0f, 2.0f}, {3.0f, 4.0f}});
  Tensor back = ag::from_xtensor(ag::as_xtensor<float>(m.t()));
  EXPECT_EQ(back.tolist<float>(), (std::vector<float>{1, 3, 2, 4}));
  EXPECT_TRUE(back.is_contiguous());
}
