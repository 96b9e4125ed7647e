// Learning-rate schedulers: the rates after each step against closed forms written out here and
// against rates recorded from PyTorch 1.13; state_dict round trips; option checks.

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "ag/autograd/autograd.h"
#include "ag/optim/optim.h"
#include "test_util.h"

using testutil::expect_throw;

namespace optim = ag::optim;
using ag::Tensor;

namespace {

const double kPi = std::acos(-1.0);

/// An SGD over one parameter per base rate, one group each.
struct Fixture {
  std::vector<Tensor> params;
  std::unique_ptr<optim::SGD> opt;

  explicit Fixture(std::vector<double> lrs = {0.1}) {
    std::vector<optim::ParamGroup> groups;
    for (double lr : lrs) {
      params.push_back(ag::zeros({1}).requires_grad_());
      groups.emplace_back(std::vector<Tensor>{params.back()}, optim::SGDOptions(lr));
    }
    opt = std::make_unique<optim::SGD>(groups, optim::SGDOptions(1.0));
  }
  double lr(std::size_t g = 0) const { return opt->param_groups()[g].options().get_lr(); }
};

/// The rates of group 0 at epochs 0..n: after construction, then after each step.
std::vector<double> rates(optim::LRScheduler& s, int n) {
  std::vector<double> out{s.get_last_lr()[0]};
  for (int i = 0; i < n; ++i) {
    s.step();
    out.push_back(s.get_last_lr()[0]);
  }
  return out;
}

void expect_rates(const std::vector<double>& got, const std::vector<double>& expected) {
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t e = 0; e < got.size(); ++e)
    EXPECT_NEAR(got[e], expected[e], 1e-12 * std::abs(expected[e]) + 1e-15) << "epoch " << e;
}

}  // namespace

TEST(StepLR, MultipliesByGammaEveryStepSizeEpochs) {
  Fixture f;
  optim::StepLR s(*f.opt, 3, 0.5);
  std::vector<double> expected;
  for (int e = 0; e <= 10; ++e) expected.push_back(0.1 * std::pow(0.5, e / 3));
  expect_rates(rates(s, 10), expected);
  EXPECT_EQ(f.lr(), s.get_last_lr()[0]);  // the optimizer's rate is the scheduler's
  EXPECT_EQ(s.last_epoch(), 10);
}

TEST(MultiStepLR, MultipliesByGammaAtEachMilestone) {
  Fixture f;
  optim::MultiStepLR s(*f.opt, {5, 2, 9, 5}, 0.5);  // unsorted, 5 twice: decays twice there
  // Recorded from PyTorch 1.13.
  expect_rates(rates(s, 11), {0.1, 0.1, 0.05, 0.05, 0.05, 0.0125, 0.0125, 0.0125, 0.0125, 0.00625, 0.00625, 0.00625});
}

TEST(ExponentialLR, MultipliesByGammaEveryEpoch) {
  Fixture f;
  optim::ExponentialLR s(*f.opt, 0.9);
  std::vector<double> expected;
  for (int e = 0; e <= 30; ++e) expected.push_back(0.1 * std::pow(0.9, e));
  expect_rates(rates(s, 30), expected);
}

TEST(CosineAnnealingLR, FollowsTheCosineDownAndBackUp) {
  Fixture f;
  optim::CosineAnnealingLR s(*f.opt, 4, 0.001);
  std::vector<double> got = rates(s, 10);
  std::vector<double> closed;
  for (int e = 0; e <= 10; ++e) closed.push_back(0.001 + (0.1 - 0.001) * (1 + std::cos(kPi * e / 4)) / 2);
  expect_rates(got, closed);
  // PyTorch 1.13's recursive values agree.
  expect_rates(got, {0.1, 0.0855017856687341, 0.0505, 0.0154982143312659, 0.001, 0.015498214331265896,
                     0.05050000000000001, 0.08550178566873413, 0.10000000000000003, 0.08550178566873413,
                     0.05050000000000003});
}

TEST(LinearLR, RampsFromStartFactorToEndFactorThenStays) {
  Fixture f;
  optim::LinearLR s(*f.opt);  // 1/3 -> 1 over 5 epochs
  EXPECT_NEAR(f.lr(), 0.1 / 3, 1e-17);  // making it already sets epoch 0's rate
  std::vector<double> got = rates(s, 7);
  std::vector<double> closed;
  for (int e = 0; e <= 7; ++e) closed.push_back(0.1 * (1.0 / 3 + (1 - 1.0 / 3) * std::min(e, 5) / 5.0));
  expect_rates(got, closed);
  expect_rates(got, {0.03333333333333333, 0.04666666666666667, 0.060000000000000005, 0.07333333333333335,
                     0.08666666666666668, 0.1, 0.1, 0.1});

  Fixture g;
  optim::LinearLR down(*g.opt, 1.0, 0.0, 4);
  expect_rates(rates(down, 5), {0.1, 0.075, 0.05, 0.025, 0.0, 0.0});
}

TEST(LRScheduler, SetsEveryGroupFromItsOwnBaseRate) {
  Fixture f({0.1, 0.02});
  optim::StepLR s(*f.opt, 1, 0.5);
  s.step();
  s.step();
  ASSERT_EQ(s.get_last_lr().size(), 2u);
  EXPECT_DOUBLE_EQ(f.lr(0), 0.025);
  EXPECT_DOUBLE_EQ(f.lr(1), 0.005);
  EXPECT_EQ(s.base_lrs(), (std::vector<double>{0.1, 0.02}));
}

TEST(LRScheduler, TheOptimizerStepsWithTheScheduledRate) {
  Fixture f;
  optim::StepLR s(*f.opt, 1, 0.5);
  s.step();  // lr 0.05
  f.params[0].set_grad(ag::ones({1}));
  f.opt->step();
  EXPECT_FLOAT_EQ(f.params[0].item<float>(), -0.05f);
}

TEST(LRScheduler, StateDictRoundTripContinuesTheSchedule) {
  Fixture a({0.1, 0.3});
  optim::CosineAnnealingLR sa(*a.opt, 10, 0.01);
  for (int i = 0; i < 7; ++i) sa.step();
  optim::StateDict saved = sa.state_dict();
  EXPECT_EQ(saved.scalars.at("last_epoch"), 7);
  EXPECT_EQ(saved.scalars.at("T_max"), 10);
  EXPECT_EQ(saved.scalars.at("base_lrs.1"), 0.3);

  Fixture b({0.5, 0.5});  // other base rates and options: all replaced by the loaded state
  optim::CosineAnnealingLR sb(*b.opt, 3);
  sb.load_state_dict(saved);
  EXPECT_EQ(sb.last_epoch(), 7);
  EXPECT_EQ(sb.get_last_lr(), sa.get_last_lr());
  for (int i = 0; i < 5; ++i) {
    sa.step();
    sb.step();
    EXPECT_EQ(sb.get_last_lr(), sa.get_last_lr());
  }
  EXPECT_EQ(b.lr(1), a.lr(1));
}

TEST(LRScheduler, MultiStepStateKeepsItsMilestones) {
  Fixture a;
  optim::MultiStepLR sa(*a.opt, {3, 6}, 0.1);
  sa.step();
  Fixture b;
  optim::MultiStepLR sb(*b.opt, {1}, 0.5);
  sb.load_state_dict(sa.state_dict());
  for (int i = 0; i < 7; ++i) {
    sa.step();
    sb.step();
    EXPECT_EQ(sb.get_last_lr(), sa.get_last_lr()) << "epoch " << sa.last_epoch();
  }
}

TEST(LRScheduler, LoadRejectsAnotherSchedulersStateOrGroupCount) {
  Fixture a;
  optim::StepLR step(*a.opt, 2);
  optim::StateDict saved = step.state_dict();

  Fixture b;
  optim::ExponentialLR exp(*b.opt, 0.9);
  expect_throw<std::invalid_argument>([&] { exp.load_state_dict(saved); }, "unexpected entry ('step_size')");
  EXPECT_EQ(exp.last_epoch(), 0);  // unchanged
  exp.step();
  EXPECT_DOUBLE_EQ(exp.get_last_lr()[0], 0.09);  // options unchanged too

  Fixture two({0.1, 0.2});
  optim::StepLR step2(*two.opt, 2);
  expect_throw<std::invalid_argument>([&] { step2.load_state_dict(saved); },
                                      "the state dict has 1 parameter group but this scheduler's optimizer has 2");
}

TEST(LRScheduler, InvalidOptionsThrowNamingThem) {
  Fixture f;
  using E = std::invalid_argument;
  expect_throw<E>([&] { optim::StepLR(*f.opt, 0); }, "StepLR: invalid step_size 0");
  expect_throw<E>([&] { optim::CosineAnnealingLR(*f.opt, 0); }, "CosineAnnealingLR: invalid T_max 0");
  expect_throw<E>([&] { optim::LinearLR(*f.opt, 0.0); }, "LinearLR: invalid start_factor 0");
  expect_throw<E>([&] { optim::LinearLR(*f.opt, 1.5); }, "invalid start_factor 1.5");
  expect_throw<E>([&] { optim::LinearLR(*f.opt, 0.5, -0.1); }, "invalid end_factor -0.1");
  expect_throw<E>([&] { optim::LinearLR(*f.opt, 0.5, 1.0, 0); }, "invalid total_iters 0");
}

TEST(LRScheduler, GroupsAddedAfterTheSchedulerAreAnError) {
  Fixture f;
  optim::ExponentialLR s(*f.opt, 0.5);
  f.opt->add_param_group(optim::ParamGroup({ag::zeros({1}).requires_grad_()}));
  expect_throw<std::logic_error>([&] { s.step(); }, "make the scheduler after adding every group");
}
