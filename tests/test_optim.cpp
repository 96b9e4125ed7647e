// Optimizers: PyTorch's trajectories (tests/data/optim.json), hyper-parameter checks, parameter
// groups, zero_grad, maximize, and state_dict round trips that resume bit for bit.

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>

#include "golden.h"
#include "ag/optim/optim.h"
#include "test_util.h"

using testutil::expect_throw;

namespace optim = ag::optim;
using ag::Tensor;

namespace {

/// The optimizer a golden case describes; `params` holds the options under PyTorch's names.
std::unique_ptr<optim::Optimizer> optimizer_for(const golden::Case& c, const std::vector<Tensor>& params) {
  const golden::json& p = c.params;
  const double lr = p.at("lr");
  if (c.kind == "SGD")
    return std::make_unique<optim::SGD>(params, optim::SGDOptions(lr)
                                                    .momentum(p.value("momentum", 0.0))
                                                    .dampening(p.value("dampening", 0.0))
                                                    .weight_decay(p.value("weight_decay", 0.0))
                                                    .nesterov(p.value("nesterov", false))
                                                    .maximize(p.value("maximize", false)));
  const std::vector<double> betas = p.value("betas", std::vector<double>{0.9, 0.999});
  if (c.kind == "Adam")
    return std::make_unique<optim::Adam>(params, optim::AdamOptions(lr)
                                                     .betas(betas[0], betas[1])
                                                     .eps(p.value("eps", 1e-8))
                                                     .weight_decay(p.value("weight_decay", 0.0))
                                                     .amsgrad(p.value("amsgrad", false))
                                                     .maximize(p.value("maximize", false)));
  if (c.kind == "AdamW")
    return std::make_unique<optim::AdamW>(params, optim::AdamWOptions(lr)
                                                      .betas(betas[0], betas[1])
                                                      .eps(p.value("eps", 1e-8))
                                                      .weight_decay(p.value("weight_decay", 1e-2))
                                                      .amsgrad(p.value("amsgrad", false))
                                                      .maximize(p.value("maximize", false)));
  ADD_FAILURE() << "unknown optimizer kind " << c.kind;
  return nullptr;
}

/// Replays a golden case in `dtype`: set the parameter, then for each step set its gradient and
/// step; compare with PyTorch's parameter after each step.
void replay(const golden::Case& c, ag::Dtype dtype, double tol) {
  Tensor param = c.inputs.at("param").to(dtype).requires_grad_();
  auto opt = optimizer_for(c, {param});
  ASSERT_TRUE(opt);
  for (int i = 0; i < 6; ++i) {
    const std::string n = std::to_string(i);
    param.set_grad(c.inputs.at("grad_" + n).to(dtype));
    opt->step();
    EXPECT_TRUE(golden::close(param, c.outputs.at("param_" + n), tol)) << c.name << " step " << i;
  }
}

// ---- a small model for the training tests --------------------------------------------------

/// y = sum(x * w, 1) + b, with a 37-wide weight so the update loops run both SIMD batches and
/// a scalar tail.
struct Regression {
  Tensor w, b;
  Tensor x, t;

  Regression() {
    ag::manual_seed(7);
    w = ag::randn({37}).requires_grad_();
    b = ag::zeros({1}).requires_grad_();
    x = ag::randn({16, 37});
    t = ag::randn({16});
  }
  /// The same data with copies of the current weights (as if restored from a saved model).
  Regression copy() const {
    Regression r = *this;
    r.w = w.detach().clone().requires_grad_();
    r.b = b.detach().clone().requires_grad_();
    return r;
  }
  std::vector<Tensor> parameters() const { return {w, b}; }
  Tensor loss() const {
    Tensor y = (x * w).sum(1) + b;
    return ((y - t) * (y - t)).mean();
  }
};

void train(const Regression& model, optim::Optimizer& opt, int steps) {
  for (int i = 0; i < steps; ++i) {
    opt.zero_grad();
    model.loss().backward();
    opt.step();
  }
}

}  // namespace

// ---- PyTorch's trajectories --------------------------------------------------------------------

TEST(OptimGolden, EveryTrajectoryMatchesPyTorch) {
  std::vector<golden::Case> cases = golden::load("optim.json");
  ASSERT_GE(cases.size(), 7u);
  for (const golden::Case& c : cases) replay(c, ag::kFloat32, 1e-6);
}

TEST(OptimGolden, Float64ParametersFollowTheSameTrajectories) {
  for (const golden::Case& c : golden::load("optim.json")) replay(c, ag::kFloat64, 1e-5);
}

TEST(Adam, LongParameterMatchesTheUpdateWrittenOut) {
  // 1003 elements: SIMD batches and a scalar tail, against PyTorch's equations written out here.
  for (ag::Dtype dtype : {ag::kFloat32, ag::kFloat64}) {
    ag::manual_seed(3);
    Tensor p = ag::randn({1003}, dtype).requires_grad_();
    std::vector<double> ref = p.to_vector<double>(), m(1003, 0.0), v(1003, 0.0), vmax(1003, 0.0);
    const double lr = 0.01, b1 = 0.8, b2 = 0.95, eps = 1e-6, wd = 0.1;
    optim::Adam opt({p}, optim::AdamOptions(lr).betas(b1, b2).eps(eps).weight_decay(wd).amsgrad(true).maximize(true));
    for (int step = 1; step <= 4; ++step) {
      Tensor g = ag::randn({1003}, dtype);
      std::vector<double> gv = g.to_vector<double>();
      p.set_grad(g);
      opt.step();
      for (std::size_t i = 0; i < ref.size(); ++i) {
        double gi = -gv[i] + wd * ref[i];
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        vmax[i] = std::max(vmax[i], v[i]);
        double denom = std::sqrt(vmax[i]) / std::sqrt(1 - std::pow(b2, step)) + eps;
        ref[i] -= lr / (1 - std::pow(b1, step)) * m[i] / denom;
      }
    }
    std::vector<double> got = p.to_vector<double>();
    for (std::size_t i = 0; i < ref.size(); ++i)
      ASSERT_NEAR(got[i], ref[i], 1e-5 * std::max(1.0, std::abs(ref[i]))) << dtype << " element " << i;
  }
}

TEST(SGD, PlainStepIsParamMinusLrTimesGrad) {
  Tensor p = ag::tensor({1.0, -2.0, 3.0}).requires_grad_();
  optim::SGD opt({p}, optim::SGDOptions(0.5));
  p.set_grad(ag::tensor({0.5, 1.0, -2.0}));
  opt.step();
  EXPECT_EQ(p.to_vector<double>(), (std::vector<double>{0.75, -2.5, 4.0}));
}

TEST(SGD, MomentumBufferStartsAsTheGradientThenAccumulates) {
  Tensor p = ag::tensor({0.0}).requires_grad_();
  optim::SGD opt({p}, optim::SGDOptions(1.0).momentum(0.5).dampening(0.5));
  p.set_grad(ag::tensor({2.0}));
  opt.step();  // buf = 2 (no dampening on the first step), p = -2
  EXPECT_EQ(p.item<double>(), -2.0);
  opt.step();  // buf = 0.5 * 2 + 0.5 * 2 = 2, p = -4
  EXPECT_EQ(p.item<double>(), -4.0);
  auto* state = static_cast<optim::SGDParamState*>(opt.state(p));
  ASSERT_NE(state, nullptr);
  EXPECT_EQ(state->momentum_buffer.item<double>(), 2.0);
}

TEST(AdamW, ZeroGradientOnlyDecaysTheWeights) {
  EXPECT_EQ(optim::AdamWOptions().weight_decay(), 1e-2);
  EXPECT_EQ(optim::AdamOptions().weight_decay(), 0.0);
  Tensor p = ag::tensor({2.0, -4.0}, ag::kFloat64).requires_grad_();
  optim::AdamW opt({p}, optim::AdamWOptions(0.1).weight_decay(0.5));
  p.set_grad(ag::zeros({2}, ag::kFloat64));
  opt.step();
  EXPECT_EQ(p.to_vector<double>(), (std::vector<double>{2.0 * 0.95, -4.0 * 0.95}));
}

// ---- behaviour ---------------------------------------------------------------------------------

TEST(Optimizer, InvalidHyperParametersThrowNamingTheOption) {
  Tensor p = ag::zeros({2}).requires_grad_();
  using E = std::invalid_argument;
  expect_throw<E>([&] { optim::SGD({p}, optim::SGDOptions(-0.1)); }, "SGD: invalid learning rate -0.1");
  expect_throw<E>([&] { optim::SGD({p}, optim::SGDOptions(0.1).momentum(-1)); }, "invalid momentum -1");
  expect_throw<E>([&] { optim::SGD({p}, optim::SGDOptions(0.1).weight_decay(-1)); }, "invalid weight_decay -1");
  expect_throw<E>([&] { optim::SGD({p}, optim::SGDOptions(0.1).nesterov(true)); }, "nesterov momentum requires");
  expect_throw<E>([&] { optim::SGD({p}, optim::SGDOptions(0.1).momentum(0.9).dampening(0.1).nesterov(true)); },
                  "dampening 0.1");
  expect_throw<E>([&] { optim::Adam({p}, optim::AdamOptions(-1)); }, "Adam: invalid learning rate -1");
  expect_throw<E>([&] { optim::Adam({p}, optim::AdamOptions().eps(-1e-8)); }, "Adam: invalid eps -1e-08");
  expect_throw<E>([&] { optim::Adam({p}, optim::AdamOptions().betas(1.0, 0.999)); },
                  "Adam: invalid beta1 1 (expected 0 <= beta1 < 1)");
  expect_throw<E>([&] { optim::Adam({p}, optim::AdamOptions().betas({0.9, 1.5})); },
                  "Adam: invalid beta2 1.5 (expected 0 <= beta2 < 1)");
  expect_throw<E>([&] { optim::AdamW({p}, optim::AdamWOptions().weight_decay(-0.01)); },
                  "AdamW: invalid weight_decay -0.01");
  expect_throw<E>([&] { optim::Adam({optim::ParamGroup({p}, optim::AdamOptions().betas(-0.1, 0.9))}); },
                  "invalid beta1 -0.1");
}

TEST(Optimizer, RejectsParametersItCannotOptimize) {
  Tensor p = ag::zeros({2}).requires_grad_();
  using E = std::invalid_argument;
  expect_throw<E>([&] { optim::SGD({p, p}, optim::SGDOptions(0.1)); }, "appears more than once");
  expect_throw<E>([&] { optim::SGD({ag::zeros({2}, ag::kInt64)}, optim::SGDOptions(0.1)); }, "int64");
  expect_throw<E>([&] { optim::SGD({p * 2}, optim::SGDOptions(0.1)); }, "is not a leaf");
  expect_throw<E>([&] { optim::SGD({Tensor()}, optim::SGDOptions(0.1)); }, "undefined");
  expect_throw<E>([&] { optim::SGD({optim::ParamGroup({p}, optim::AdamOptions())}, optim::SGDOptions(0.1)); },
                  "options of another optimizer");
}

TEST(Optimizer, OptionsSwappedForAnotherOptimizersThrowOnStep) {
  Tensor p = ag::zeros({2}).requires_grad_();
  optim::Adam opt({p});
  opt.param_groups()[0].set_options(std::make_unique<optim::SGDOptions>(0.1));
  p.set_grad(ag::ones({2}));
  expect_throw<std::invalid_argument>([&] { opt.step(); }, "Adam.step: a parameter group has options of another");
}

TEST(Optimizer, GradientOfTheWrongDtypeThrows) {
  Tensor p = ag::zeros({2}).requires_grad_();
  optim::Adam opt({p});
  p.set_grad(ag::zeros({2}, ag::kFloat64));
  expect_throw<std::invalid_argument>([&] { opt.step(); }, "float64 gradient");
}

TEST(Optimizer, ParametersWithoutGradientAreSkipped) {
  Tensor a = ag::tensor({1.0, 2.0}).requires_grad_(), b = ag::tensor({3.0, 4.0}).requires_grad_();
  optim::Adam opt({a, b}, optim::AdamOptions(0.1));
  a.set_grad(ag::tensor({1.0, 1.0}));
  opt.step();
  EXPECT_EQ(b.to_vector<double>(), (std::vector<double>{3.0, 4.0}));
  EXPECT_EQ(opt.state(b), nullptr);
  EXPECT_NE(opt.state(a), nullptr);
  EXPECT_NE(a.to_vector<double>(), (std::vector<double>{1.0, 2.0}));
}

TEST(Optimizer, ZeroGradSetToNoneDropsTheGradient) {
  Tensor p = ag::ones({3}).requires_grad_();
  (p * p).sum().backward();
  optim::SGD opt({p}, optim::SGDOptions(0.1));
  opt.zero_grad(/*set_to_none=*/true);
  EXPECT_FALSE(p.grad().defined());
  (p * p).sum().backward();
  opt.zero_grad();  // PyTorch 1.13's default zeroes in place
  ASSERT_TRUE(p.grad().defined());
  EXPECT_EQ(p.grad().to_vector<float>(), (std::vector<float>{0, 0, 0}));
}

TEST(Optimizer, ZeroGradWithoutSetToNoneZeroesInPlace) {
  Tensor p = ag::ones({3}).requires_grad_();
  (p * p).sum().backward();
  Tensor g = p.grad();
  optim::SGD opt({p}, optim::SGDOptions(0.1));
  opt.zero_grad(false);
  ASSERT_TRUE(p.grad().defined());
  EXPECT_TRUE(p.grad().is_same(g));
  EXPECT_EQ(p.grad().to_vector<double>(), (std::vector<double>{0, 0, 0}));
  // A later backward accumulates onto the zeros.
  (p * 3).sum().backward();
  EXPECT_EQ(p.grad().to_vector<double>(), (std::vector<double>{3, 3, 3}));
}

TEST(Optimizer, MaximizeClimbsTheGradient) {
  Tensor p = ag::tensor({1.0, 1.0}).requires_grad_();
  optim::SGD sgd({p}, optim::SGDOptions(0.5).maximize(true));
  p.set_grad(ag::tensor({1.0, -2.0}));
  sgd.step();
  EXPECT_EQ(p.to_vector<double>(), (std::vector<double>{1.5, 0.0}));

  // Adam maximizing g takes exactly the step Adam minimizing -g takes.
  Tensor up = ag::tensor({0.5, -0.25, 2.0}).requires_grad_(), down = up.detach().clone().requires_grad_();
  optim::Adam max_opt({up}, optim::AdamOptions(0.1).amsgrad(true).maximize(true));
  optim::Adam min_opt({down}, optim::AdamOptions(0.1).amsgrad(true));
  for (int i = 0; i < 3; ++i) {
    Tensor g = ag::tensor({0.3 * (i + 1), -1.0, 0.01});
    up.set_grad(g);
    down.set_grad(-g);
    max_opt.step();
    min_opt.step();
  }
  EXPECT_TRUE(ag::equal(up, down));
  EXPECT_GT(up.at({0}), 0.5);  // moved up the gradient
}

TEST(Optimizer, EachGroupUsesItsOwnOptions) {
  Tensor a = ag::tensor({1.0}).requires_grad_(), b = ag::tensor({1.0}).requires_grad_();
  optim::SGD opt({optim::ParamGroup({a}), optim::ParamGroup({b}, optim::SGDOptions(0.25))}, optim::SGDOptions(0.5));
  ASSERT_EQ(opt.param_groups().size(), 2u);
  EXPECT_EQ(opt.param_groups()[0].options().get_lr(), 0.5);
  EXPECT_EQ(opt.param_groups()[1].options().get_lr(), 0.25);
  a.set_grad(ag::tensor({1.0}));
  b.set_grad(ag::tensor({1.0}));
  opt.step();
  EXPECT_EQ(a.item<double>(), 0.5);
  EXPECT_EQ(b.item<double>(), 0.75);

  Tensor c = ag::tensor({1.0}).requires_grad_();
  opt.add_param_group(optim::ParamGroup({c}));
  EXPECT_EQ(opt.param_groups()[2].options().get_lr(), 0.5);
  EXPECT_EQ(opt.size(), 3u);
  expect_throw<std::invalid_argument>([&] { opt.add_param_group(optim::ParamGroup({a})); }, "more than once");
}

TEST(Optimizer, StepReturnsTheClosureLoss) {
  Regression model;
  optim::SGD opt(model.parameters(), optim::SGDOptions(0.01));
  double before = model.loss().item<double>();
  Tensor loss = opt.step([&] {
    opt.zero_grad();
    Tensor l = model.loss();
    l.backward();
    return l;
  });
  EXPECT_EQ(loss.item<double>(), before);
  EXPECT_LT(model.loss().item<double>(), before);
}

TEST(Optimizer, StepIsAnInPlaceWriteThatStaleGraphsNotice) {
  Tensor p = ag::tensor({1.0, 2.0}).requires_grad_();
  Tensor y = (p * p).sum();  // saves p
  optim::SGD opt({p}, optim::SGDOptions(0.1));
  p.set_grad(ag::ones({2}));
  opt.step();
  EXPECT_THROW(y.backward(), std::logic_error);
}

TEST(Optimizer, TrainingReducesTheLoss) {
  for (int kind = 0; kind < 3; ++kind) {
    Regression model;
    std::unique_ptr<optim::Optimizer> opt;
    if (kind == 0) opt = std::make_unique<optim::SGD>(model.parameters(), optim::SGDOptions(0.01).momentum(0.9));
    if (kind == 1) opt = std::make_unique<optim::Adam>(model.parameters(), optim::AdamOptions(0.05));
    if (kind == 2) opt = std::make_unique<optim::AdamW>(model.parameters(), optim::AdamWOptions(0.05));
    double before = model.loss().item<double>();
    train(model, *opt, 50);
    EXPECT_LT(model.loss().item<double>(), 0.2 * before) << opt->name();
  }
}

// ---- state_dict --------------------------------------------------------------------------------

/// Trains 20 steps straight, and 10 + save + restore into a fresh optimizer over copies of the
/// weights + 10: the weights must be equal bit for bit.
template <class Make>
void expect_resume_is_exact(Make make) {
  Regression straight;
  auto opt = make(straight.parameters(), 1.0);
  train(straight, *opt, 20);

  Regression first_half;
  auto opt1 = make(first_half.parameters(), 1.0);
  train(first_half, *opt1, 10);
  optim::StateDict saved = opt1->state_dict();
  Regression resumed = first_half.copy();
  train(first_half, *opt1, 3);  // later steps must not change what was saved

  auto opt2 = make(resumed.parameters(), 123.0);  // a different lr: load_state_dict restores it
  opt2->load_state_dict(saved);
  EXPECT_EQ(opt2->param_groups()[0].options().get_lr(), opt->param_groups()[0].options().get_lr());
  train(resumed, *opt2, 10);

  EXPECT_TRUE(ag::equal(resumed.w, straight.w)) << opt->name();
  EXPECT_TRUE(ag::equal(resumed.b, straight.b)) << opt->name();
  EXPECT_FALSE(ag::equal(first_half.w, straight.w));  // the comparison can fail
}

TEST(OptimizerStateDict, SGDWithMomentumResumesBitForBit) {
  expect_resume_is_exact([](const std::vector<Tensor>& params, double lr_scale) {
    return std::make_unique<optim::SGD>(
        params, optim::SGDOptions(0.01 * lr_scale).momentum(0.9).dampening(0.1).weight_decay(1e-3));
  });
}

TEST(OptimizerStateDict, AdamWithAmsgradResumesBitForBit) {
  expect_resume_is_exact([](const std::vector<Tensor>& params, double lr_scale) {
    return std::make_unique<optim::Adam>(
        params, optim::AdamOptions(0.02 * lr_scale).amsgrad(true).weight_decay(1e-2).betas(0.8, 0.99));
  });
}

TEST(OptimizerStateDict, AdamWResumesBitForBit) {
  expect_resume_is_exact([](const std::vector<Tensor>& params, double lr_scale) {
    return std::make_unique<optim::AdamW>(params, optim::AdamWOptions(0.02 * lr_scale));
  });
}

TEST(OptimizerStateDict, HoldsFlatNamesAndPlainValues) {
  Tensor a = ag::ones({2, 3}).requires_grad_(), b = ag::ones({4}).requires_grad_();
  optim::Adam opt({optim::ParamGroup({a}), optim::ParamGroup({b}, optim::AdamOptions(0.5).amsgrad(true))},
                  optim::AdamOptions(0.1));
  b.set_grad(ag::ones({4}));
  opt.step();
  opt.step();
  optim::StateDict d = opt.state_dict();
  EXPECT_EQ(d.scalars.at("param_groups.size"), 2);
  EXPECT_EQ(d.scalars.at("param_groups.0.size"), 1);
  EXPECT_EQ(d.scalars.at("param_groups.0.lr"), 0.1);
  EXPECT_EQ(d.scalars.at("param_groups.1.lr"), 0.5);
  EXPECT_EQ(d.scalars.at("param_groups.1.amsgrad"), 1);
  EXPECT_EQ(d.scalars.at("param_groups.1.beta2"), 0.999);
  EXPECT_EQ(d.scalars.at("state.1.step"), 2);
  EXPECT_FALSE(d.scalars.contains("state.0.step"));  // a had no gradient: no state
  EXPECT_EQ(d.tensors.at("state.1.exp_avg").shape(), ag::Shape({4}));
  EXPECT_TRUE(d.tensors.contains("state.1.max_exp_avg_sq"));
  EXPECT_EQ(d.tensors.size(), 3u);
}

TEST(OptimizerStateDict, MismatchedGroupsThrowAndChangeNothing) {
  Tensor a = ag::ones({2}).requires_grad_(), b = ag::ones({3}).requires_grad_();
  optim::SGD two({optim::ParamGroup({a}), optim::ParamGroup({b})}, optim::SGDOptions(0.1).momentum(0.9));
  a.set_grad(ag::ones({2}));
  two.step();
  optim::StateDict saved = two.state_dict();

  Tensor c = ag::ones({2}).requires_grad_(), d = ag::ones({3}).requires_grad_();
  optim::SGD one({c, d}, optim::SGDOptions(0.5).momentum(0.9));
  expect_throw<std::invalid_argument>([&] { one.load_state_dict(saved); },
                                      "SGD.load_state_dict: the state dict has 2 parameter groups but this "
                                      "optimizer has 1");

  optim::SGD sizes({optim::ParamGroup({c, d}), optim::ParamGroup({ag::ones({1}).requires_grad_()})},
                   optim::SGDOptions(0.5).momentum(0.9));
  expect_throw<std::invalid_argument>([&] { sizes.load_state_dict(saved); },
                                      "parameter group 0 has 1 parameter in the state dict but 2 in this optimizer");
  EXPECT_EQ(sizes.param_groups()[0].options().get_lr(), 0.5);  // unchanged

  optim::SGD shapes({optim::ParamGroup({ag::ones({5}).requires_grad_()}), optim::ParamGroup({d})},
                    optim::SGDOptions(0.5).momentum(0.9));
  expect_throw<std::invalid_argument>([&] { shapes.load_state_dict(saved); }, "has shape [2]");
  EXPECT_EQ(shapes.param_groups()[0].options().get_lr(), 0.5);
}

TEST(OptimizerStateDict, AnotherOptimizersStateIsRejected) {
  Tensor p = ag::ones({2}).requires_grad_();
  optim::Adam adam({p});
  p.set_grad(ag::ones({2}));
  adam.step();
  optim::SGD sgd({p}, optim::SGDOptions(0.1));
  expect_throw<std::invalid_argument>([&] { sgd.load_state_dict(adam.state_dict()); }, "no number named");

  optim::StateDict extra = sgd.state_dict();
  extra.scalars.insert("state.5.step", 1);
  expect_throw<std::invalid_argument>([&] { sgd.load_state_dict(extra); }, "unexpected entry ('state.5.step')");

  optim::StateDict bad = adam.state_dict();
  bad.scalars.insert_or_assign("param_groups.0.beta2", 1.5);
  expect_throw<std::invalid_argument>([&] { adam.load_state_dict(bad); }, "invalid beta2 1.5");
}

// ---- the steps' loops on every instruction set -------------------------------------------------

#include <cstring>
#include <random>
#include <vector>

#include "ag/autograd/cpu.h"
#include "ag/optim/simd/simd.h"

namespace {

/// The instruction sets this CPU runs (the baseline first).
std::vector<ag::Isa> runnable_isas() {
  std::vector<ag::Isa> isas{ag::Isa::Default};
  if (ag::kernel_isa() >= ag::Isa::Avx2) isas.push_back(ag::Isa::Avx2);
  if (ag::kernel_isa() >= ag::Isa::Avx512) isas.push_back(ag::Isa::Avx512);
  return isas;
}

template <class T>
std::vector<T> random_values(std::size_t n, unsigned seed, T lo, T hi) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<T> v(n);
  for (T& x : v) x = static_cast<T>(d(gen));
  return v;
}

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

template <class T>
void adam_matches_on_every_isa() {
  namespace d = ag::optim::detail;
  const std::size_t n = 1003;  // batches of 4, 8 or 16 and a tail
  const d::AdamCoefficients<T> c{T(0.999), T(1), T(0.01), T(0.9), T(0.1), T(0.999), T(0.001), T(0.0316), T(1e-8), T(-0.0123)};
  for (bool l2 : {false, true})
    for (bool amsgrad : {false, true}) {
      std::vector<std::vector<T>> out;
      for (ag::Isa isa : runnable_isas()) {
        std::vector<T> p = random_values<T>(n, 1, -1, 1), m = random_values<T>(n, 2, -0.1, 0.1);
        std::vector<T> v = random_values<T>(n, 3, 0, 0.01), vmax = random_values<T>(n, 4, 0, 0.02);
        const std::vector<T> g = random_values<T>(n, 5, -3, 3);
        for (int step = 0; step < 3; ++step)
          d::adam_pass(isa, c, d::AdamTerms{l2, amsgrad}, p.data(), g.data(), m.data(), v.data(),
                       amsgrad ? vmax.data() : nullptr, static_cast<std::int64_t>(n));
        std::vector<T> all = p;
        all.insert(all.end(), m.begin(), m.end());
        all.insert(all.end(), v.begin(), v.end());
        if (amsgrad) all.insert(all.end(), vmax.begin(), vmax.end());
        out.push_back(all);
      }
      for (std::size_t k = 1; k < out.size(); ++k)
        EXPECT_TRUE(same_bits(out[k], out[0])) << "l2 " << l2 << " amsgrad " << amsgrad << " isa " << k;
    }
}

template <class T>
void sgd_matches_on_every_isa() {
  namespace d = ag::optim::detail;
  const std::size_t n = 1003;
  const d::SGDCoefficients<T> c{T(-1), T(0.01), T(0.9), T(0.75), T(-0.05)};
  for (int bits = 0; bits < 16; ++bits) {
    const d::SGDTerms terms{(bits & 1) != 0, (bits & 2) != 0, (bits & 4) != 0, (bits & 8) != 0};
    if (!terms.momentum && (terms.first || terms.nesterov)) continue;
    std::vector<std::vector<T>> out;
    for (ag::Isa isa : runnable_isas()) {
      std::vector<T> p = random_values<T>(n, 6, -1, 1), buf = random_values<T>(n, 7, -0.5, 0.5);
      const std::vector<T> g = random_values<T>(n, 8, -3, 3);
      d::sgd_pass(isa, c, terms, p.data(), g.data(), terms.momentum ? buf.data() : nullptr, static_cast<std::int64_t>(n));
      p.insert(p.end(), buf.begin(), buf.end());
      out.push_back(p);
    }
    for (std::size_t k = 1; k < out.size(); ++k) EXPECT_TRUE(same_bits(out[k], out[0])) << "terms " << bits << " isa " << k;
  }
}

}  // namespace

TEST(OptimKernels, AdamGivesTheSameBitsOnEveryInstructionSet) {
  adam_matches_on_every_isa<float>();
  adam_matches_on_every_isa<double>();
}

TEST(OptimKernels, SGDGivesTheSameBitsOnEveryInstructionSet) {
  sgd_matches_on_every_isa<float>();
  sgd_matches_on_every_isa<double>();
}
