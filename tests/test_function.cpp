// Custom Functions with LibTorch's API: equal to the built-in ops they restate, first and second
// derivatives through saved inputs and outputs, several outputs, non-tensor arguments,
// mark_dirty / mark_non_differentiable / needs_input_grad, and their errors.

#include <gtest/gtest.h>

#include "ag/autograd/autograd.h"
#include "test_util.h"

using namespace ag;
using testutil::expect_throw_with;

namespace {

/// exp as a custom Function: saves its output, as the built-in op does.
struct MyExp : Function<MyExp> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x) {
    Tensor y = x.exp();
    ctx->save_for_backward({y});
    return y;
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list g) { return {g[0] * ctx->get_saved_variables()[0]}; }
};

/// a * x + b with a plain number a: one gradient per forward argument.
struct Affine : Function<Affine> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x, double a, const Tensor& b) {
    ctx->saved_data["a"] = a;
    ctx->saved_data["bshape"] = b.shape().vec();
    return x * a + b;
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list g) {
    Tensor gb;
    if (ctx->needs_input_grad(2)) gb = sum_to(g[0], Shape(ctx->saved_data["bshape"].toIntVector()));
    return {ctx->needs_input_grad(0) ? g[0] * ctx->saved_data["a"].toDouble() : Tensor(), Tensor(), gb};
  }
};

/// Two outputs: the sum and the product of x and y.
struct SumAndProduct : Function<SumAndProduct> {
  static tensor_list forward(AutogradContext* ctx, const Tensor& x, const Tensor& y) {
    ctx->save_for_backward({x, y});
    return {x + y, x * y};
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list g) {
    auto s = ctx->get_saved_variables();
    return {g[0] + g[1] * s[1], g[0] + g[1] * s[0]};
  }
};

/// The max of each row and where it is: the index is not differentiable.
struct RowMax : Function<RowMax> {
  static tensor_list forward(AutogradContext* ctx, const Tensor& x) {
    auto [v, i] = max(x, 1);
    ctx->save_for_backward({i});
    ctx->saved_data["cols"] = x.shape()[1];
    ctx->mark_non_differentiable({i});
    return {v, i};
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list g) {
    Tensor idx = ctx->get_saved_variables()[0];
    Tensor hit = arange(ctx->saved_data["cols"].toInt()).unsqueeze(0) == idx.unsqueeze(1);
    return {g[0].unsqueeze(1) * hit};
  }
};

/// Doubles its input in place.
struct DoubleInPlace : Function<DoubleInPlace> {
  static Tensor forward(AutogradContext* ctx, Tensor x) {
    x.mul_(2);
    ctx->mark_dirty({x});
    return x;
  }
  static tensor_list backward(AutogradContext*, tensor_list g) { return {g[0] * 2}; }
};

struct WrongCount : Function<WrongCount> {
  static Tensor forward(AutogradContext*, const Tensor& x, double) { return x * 2; }
  static tensor_list backward(AutogradContext*, tensor_list g) { return {g[0]}; }
};

}  // namespace

TEST(CustomFunction, EqualsTheBuiltInOpValuesAndGradients) {
  Tensor x = testutil::input({3, 4}, 1);
  Tensor y = MyExp::apply(x);
  EXPECT_STREQ(y.grad_fn()->name(), "MyExpBackward");
  EXPECT_TRUE(equal(y, exp(x)));
  auto g1 = grad({(y * y).sum()}, {x})[0];
  auto g2 = grad({(exp(x) * exp(x)).sum()}, {x})[0];
  EXPECT_TRUE(allclose(g1, g2, 1e-12, 0));
  testutil::check_both([](auto& v) { return MyExp::apply(v[0]); }, {x});  // second order through the saved output
}

TEST(CustomFunction, NonTensorArgumentsSavedDataAndNeedsInputGrad) {
  Tensor x = testutil::input({2, 3}, 2), b = testutil::input({3}, 3);
  testutil::check_both([](auto& v) { return Affine::apply(v[0], 1.5, v[1]); }, {x, b});
  Tensor fixed_b = b.detach();
  Tensor y = Affine::apply(x, -2.0, fixed_b);  // b needs no gradient: backward skips it
  y.sum().backward();
  EXPECT_TRUE(allclose(x.grad(), full({2, 3}, -2.0, kFloat64)));
}

TEST(CustomFunction, SeveralOutputsGetTheirGradientsTogether) {
  Tensor x = testutil::input({4}, 4), y = testutil::input({4}, 5);
  auto out = SumAndProduct::apply(x, y);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(out[0].grad_fn().get() == out[1].grad_fn().get());
  EXPECT_EQ(out[0].grad_fn()->num_outputs(), 2u);
  testutil::check_both([](auto& v) { auto o = SumAndProduct::apply(v[0], v[1]); return o[0] * 3 + o[1] * o[1]; }, {x, y});
  // Only the second output used: the first's gradient is materialised as zeros.
  testutil::check_first([](auto& v) { return SumAndProduct::apply(v[0], v[1])[1]; }, {x, y});
}

TEST(CustomFunction, NonDifferentiableOutputsDoNotRequireGrad) {
  Tensor x = testutil::input({3, 5}, 6);
  auto out = RowMax::apply(x);
  EXPECT_TRUE(out[0].requires_grad());
  EXPECT_FALSE(out[1].requires_grad());
  EXPECT_TRUE(equal(out[1], argmax(x, 1)));
  testutil::check_first([](auto& v) { return RowMax::apply(v[0])[0]; }, {x});
}

TEST(CustomFunction, MarkDirtyRebasesTheModifiedInput) {
  Tensor a = testutil::input({3}, 7);
  Tensor b = a * 1.0;
  Tensor c = DoubleInPlace::apply(b);
  EXPECT_TRUE(c.is_same(b));
  EXPECT_STREQ(b.grad_fn()->name(), "DoubleInPlaceBackward");
  (b * b).sum().backward();
  EXPECT_TRUE(allclose(a.grad(), a.detach() * 8));  // d/da (2a)^2
  Tensor leaf = testutil::input({3}, 8);
  expect_throw_with<std::logic_error>([&] { DoubleInPlace::apply(leaf); }, {"DoubleInPlaceBackward", "leaf", "[3]"});
}

TEST(CustomFunction, SavedInputsAreVersionChecked) {
  Tensor a = testutil::input({3}, 9);
  Tensor b = a * 1.0;
  auto out = SumAndProduct::apply(b, b);
  b.add_(1);  // changes what backward saved
  expect_throw_with<std::logic_error>([&] { out[1].sum().backward(); }, {"SumAndProductBackward", "modified by an in-place"});
}

TEST(CustomFunction, AWrongNumberOfGradientsIsRefused) {
  Tensor x = testutil::input({2}, 10);
  Tensor y = WrongCount::apply(x, 3.0);
  expect_throw_with<std::logic_error>([&] { y.sum().backward(); }, {"WrongCountBackward", "1 gradients", "2 arguments"});
}

TEST(CustomFunction, WithoutGradItRecordsNothing) {
  Tensor x = testutil::input({2}, 11);
  NoGradGuard no_grad;
  Tensor y = MyExp::apply(x);
  EXPECT_FALSE(y.requires_grad());
  EXPECT_FALSE(y.grad_fn());
}
