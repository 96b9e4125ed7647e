// Module hooks: forward pre-hooks and forward hooks that replace the input or output, and full
// backward hooks and pre-hooks whose grad_input and grad_output on a Linear and on a Sequential
// equal what PyTorch 1.13's show (tests/data/module_hooks.json, make_module_hooks.py).

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "ag/ag.h"
#include "test_util.h"

using namespace ag;
namespace nn = ag::nn;
using json = nlohmann::json;

namespace {

Tensor values(const json& v, const Shape& shape) { return tensor(v.get<std::vector<double>>(), shape, kFloat64); }

void expect_close(const Tensor& got, const json& want, const std::string& what) {
  SCOPED_TRACE(what);
  if (want.is_null()) {
    EXPECT_FALSE(got.defined());
    return;
  }
  ASSERT_TRUE(got.defined());
  std::vector<double> g = got.to_vector<double>(), w = want.get<std::vector<double>>();
  ASSERT_EQ(g.size(), w.size());
  for (std::size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], w[i], 1e-12 * std::max(1.0, std::abs(w[i]))) << i;
}

struct Seen {
  std::vector<Tensor> grad_input, grad_output;
  int calls = 0;
};

nn::Module::FullBackwardHook recorder(Seen& seen) {
  return [&seen](nn::Module&, const std::vector<Tensor>& gin, const std::vector<Tensor>& gout) {
    seen.grad_input = gin;
    seen.grad_output = gout;
    ++seen.calls;
    return std::vector<Tensor>{};
  };
}

}  // namespace

TEST(ModuleBackwardHooks, GradInputAndGradOutputOnLinearAndSequentialMatchPyTorch) {
  std::ifstream in(std::string(AG_TEST_DATA_DIR) + "/module_hooks.json");
  ASSERT_TRUE(in);
  const json doc = json::parse(in);
  for (const json& c : doc.at("cases")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    auto lin1 = std::make_shared<nn::Linear>(3, 4), lin2 = std::make_shared<nn::Linear>(4, 2);
    auto seq = std::make_shared<nn::Sequential>(lin1, std::make_shared<nn::Tanh>(), lin2);
    seq->to(kFloat64);
    {
      NoGradGuard no_grad;
      lin1->weight.copy_(values(c.at("lin1_weight"), {4, 3}));
      lin1->bias.copy_(values(c.at("lin1_bias"), {4}));
      lin2->weight.copy_(values(c.at("lin2_weight"), {2, 4}));
      lin2->bias.copy_(values(c.at("lin2_bias"), {2}));
    }
    Tensor x = values(c.at("x"), {5, 3});
    if (c.at("x_requires_grad").get<bool>()) x.requires_grad_(true);
    std::map<std::string, Seen> seen;
    seq->register_full_backward_hook(recorder(seen["seq"]));
    lin1->register_full_backward_hook(recorder(seen["lin1"]));
    lin2->register_full_backward_hook(recorder(seen["lin2"]));
    if (c.at("scale_grad_output").get<bool>())
      lin2->register_full_backward_pre_hook([](nn::Module&, const std::vector<Tensor>& gout) {
        return std::vector<Tensor>{gout[0] * 2};
      });
    if (c.at("replace_grad_input").get<bool>())
      lin2->register_full_backward_hook([](nn::Module&, const std::vector<Tensor>& gin, const std::vector<Tensor>&) {
        return std::vector<Tensor>{gin[0] * -1};
      });
    Tensor y = (*seq)(x);
    (y * values(c.at("upstream"), {5, 2})).sum().backward();
    for (const auto& [name, want] : c.at("seen").items()) {
      ASSERT_EQ(seen[name].calls, 1) << name;
      ASSERT_EQ(seen[name].grad_input.size(), 1u);
      expect_close(seen[name].grad_input[0], want.at("grad_input")[0], name + " grad_input");
      expect_close(seen[name].grad_output[0], want.at("grad_output")[0], name + " grad_output");
    }
    const json& g = c.at("grads");
    if (!g.at("x").is_null()) expect_close(x.grad(), g.at("x"), "x.grad");
    expect_close(lin1->weight.grad(), g.at("lin1_weight"), "lin1.weight.grad");
    expect_close(lin2->weight.grad(), g.at("lin2_weight"), "lin2.weight.grad");
    expect_close(lin2->bias.grad(), g.at("lin2_bias"), "lin2.bias.grad");
  }
}

TEST(ModuleForwardHooks, PreHooksReplaceTheInputAndHooksTheOutput) {
  nn::Linear lin(2, 2);
  Tensor x = ones({1, 2});
  Tensor plain = lin(x);
  HookHandle pre = lin.register_forward_pre_hook([](nn::Module&, const Tensor& in) { return in * 2; });
  int seen = 0;
  HookHandle post = lin.register_forward_hook([&](nn::Module& m, const Tensor& in, const Tensor& out) {
    ++seen;
    EXPECT_EQ(m.name(), "Linear");
    EXPECT_TRUE(allclose(in, x * 2));
    return out + 100;
  });
  EXPECT_TRUE(allclose(lin(x), lin.forward(x * 2) + 100));
  EXPECT_EQ(seen, 1);
  lin.forward(x);  // forward itself runs no hooks
  EXPECT_EQ(seen, 1);
  pre.remove();
  post.remove();
  EXPECT_TRUE(allclose(lin(x), plain));
}

TEST(ModuleBackwardHooks, RemovedHooksStopAndHooksSeeNothingUnderNoGrad) {
  nn::Linear lin(3, 2);
  Seen seen;
  HookHandle h = lin.register_full_backward_hook(recorder(seen));
  lin(randn({4, 3}, requires_grad())).sum().backward();
  EXPECT_EQ(seen.calls, 1);
  h.remove();
  lin(randn({4, 3}, requires_grad())).sum().backward();
  EXPECT_EQ(seen.calls, 1);
  lin.register_full_backward_hook(recorder(seen));
  {
    NoGradGuard no_grad;
    EXPECT_FALSE(lin(randn({4, 3})).requires_grad());
  }
  EXPECT_EQ(seen.calls, 1);
  testutil::expect_throw_with<std::invalid_argument>(
      [&] {
        lin.register_full_backward_pre_hook([](nn::Module&, const std::vector<Tensor>&) {
          return std::vector<Tensor>{ones({1})};
        });
        lin(randn({4, 3}, requires_grad())).sum().backward();
      },
      {"Linear", "pre-hook", "[4, 2]"});
}
