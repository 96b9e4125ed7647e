#include "ag/optim/lr_scheduler.h"

#include <algorithm>
#include <cmath>

#include "ag/autograd/error.h"

namespace ag::optim {

namespace {

// Options a scheduler would otherwise accept silently and turn into rates that flip sign, become
// nan or inf, or never change (PyTorch does not check them; ag does, on construction and on load).
void check_gamma(const std::string& owner, double gamma) {
  AG_CHECK(std::isfinite(gamma) && gamma > 0, owner, ": invalid gamma ", gamma, " (expected a finite gamma > 0)");
}

void check_milestones(const std::string& owner, const std::vector<std::int64_t>& milestones) {
  for (std::int64_t m : milestones)
    AG_CHECK(m >= 0, owner, ": invalid milestone ", m, " (expected epochs >= 0)");
}

void check_eta_min(const std::string& owner, double eta_min) {
  AG_CHECK(std::isfinite(eta_min) && eta_min >= 0, owner, ": invalid eta_min ", eta_min,
           " (expected a finite eta_min >= 0)");
}

}  // namespace

LRScheduler::LRScheduler(Optimizer& optimizer, std::string name) : optimizer_(optimizer), name_(std::move(name)) {
  for (const ParamGroup& group : optimizer_.param_groups()) base_lrs_.push_back(group.options().get_lr());
}

void LRScheduler::initial_step() { step(); }

void LRScheduler::step() {
  AG_CHECK_STATE(optimizer_.param_groups().size() == base_lrs_.size(), name_, ".step: the optimizer has ",
                 optimizer_.param_groups().size(), " parameter groups but the scheduler was made for ",
                 base_lrs_.size(), "; make the scheduler after adding every group");
  apply(last_epoch_ + 1);
}

void LRScheduler::apply(std::int64_t epoch) {
  last_epoch_ = epoch;
  last_lrs_.clear();
  std::vector<ParamGroup>& groups = optimizer_.param_groups();
  for (std::size_t g = 0; g < groups.size(); ++g) {
    last_lrs_.push_back(lr_at(base_lrs_[g], epoch));
    groups[g].options().set_lr(last_lrs_.back());
  }
}

StateDict LRScheduler::state_dict() const {
  StateDict dict;
  dict.scalars.insert("last_epoch", static_cast<double>(last_epoch_));
  dict.scalars.insert("base_lrs.size", static_cast<double>(base_lrs_.size()));
  for (std::size_t g = 0; g < base_lrs_.size(); ++g) dict.scalars.insert("base_lrs." + std::to_string(g), base_lrs_[g]);
  for (std::size_t g = 0; g < last_lrs_.size(); ++g) dict.scalars.insert("last_lrs." + std::to_string(g), last_lrs_[g]);
  save_options(dict);
  return dict;
}

void LRScheduler::load_state_dict(const StateDict& dict) {
  StateDictReader reader(dict, name_ + ".load_state_dict");
  const std::int64_t epoch = reader.integer("last_epoch");
  const std::int64_t groups = reader.integer("base_lrs.size");
  AG_CHECK(groups == static_cast<std::int64_t>(base_lrs_.size()), reader.owner(), ": the state dict has ", groups,
           " parameter group", groups == 1 ? "" : "s", " but this scheduler's optimizer has ", base_lrs_.size());
  std::vector<double> base, last;
  for (std::int64_t g = 0; g < groups; ++g) {
    base.push_back(reader.scalar("base_lrs." + std::to_string(g)));
    last.push_back(reader.scalar("last_lrs." + std::to_string(g)));
    // What an optimizer would refuse as a learning rate is refused here too: a NaN or negative rate
    // would only show up a step later, as NaN weights.
    for (const char* key : {"base_lrs.", "last_lrs."}) {
      double lr = key[0] == 'b' ? base.back() : last.back();
      AG_CHECK(std::isfinite(lr) && lr >= 0, reader.owner(), ": invalid learning rate ", lr, " in '", key, g,
               "' (expected a finite lr >= 0)");
    }
  }
  StateDict before;  // to put the options back if the dict turns out bad
  save_options(before);
  try {
    load_options(reader);
    reader.finish();
  } catch (...) {
    StateDictReader restore(before, name_);
    load_options(restore);
    throw;
  }
  last_epoch_ = epoch;
  base_lrs_ = std::move(base);
  last_lrs_ = std::move(last);
}

// ---- StepLR ------------------------------------------------------------------------------------

StepLR::StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma)
    : LRScheduler(optimizer, "StepLR"), step_size_(step_size), gamma_(gamma) {
  AG_CHECK(step_size >= 1, "StepLR: invalid step_size ", step_size, " (expected step_size >= 1)");
  check_gamma(name(), gamma);
  initial_step();
}

double StepLR::lr_at(double base_lr, std::int64_t epoch) const {
  return base_lr * std::pow(gamma_, static_cast<double>(epoch / step_size_));
}

void StepLR::save_options(StateDict& dict) const {
  dict.scalars.insert("step_size", static_cast<double>(step_size_));
  dict.scalars.insert("gamma", gamma_);
}

void StepLR::load_options(StateDictReader& reader) {
  step_size_ = reader.integer("step_size", 1);
  gamma_ = reader.scalar("gamma");
  check_gamma(reader.owner(), gamma_);
}

// ---- MultiStepLR -------------------------------------------------------------------------------

MultiStepLR::MultiStepLR(Optimizer& optimizer, std::vector<std::int64_t> milestones, double gamma)
    : LRScheduler(optimizer, "MultiStepLR"), milestones_(std::move(milestones)), gamma_(gamma) {
  check_milestones(name(), milestones_);
  check_gamma(name(), gamma);
  std::sort(milestones_.begin(), milestones_.end());
  initial_step();
}

double MultiStepLR::lr_at(double base_lr, std::int64_t epoch) const {
  auto passed = std::upper_bound(milestones_.begin(), milestones_.end(), epoch) - milestones_.begin();
  return base_lr * std::pow(gamma_, static_cast<double>(passed));
}

void MultiStepLR::save_options(StateDict& dict) const {
  dict.scalars.insert("milestones.size", static_cast<double>(milestones_.size()));
  for (std::size_t k = 0; k < milestones_.size(); ++k)
    dict.scalars.insert("milestones." + std::to_string(k), static_cast<double>(milestones_[k]));
  dict.scalars.insert("gamma", gamma_);
}

void MultiStepLR::load_options(StateDictReader& reader) {
  const std::int64_t n = reader.integer("milestones.size");
  std::vector<std::int64_t> milestones;
  for (std::int64_t k = 0; k < n; ++k) milestones.push_back(reader.integer("milestones." + std::to_string(k)));
  std::sort(milestones.begin(), milestones.end());
  milestones_ = std::move(milestones);
  gamma_ = reader.scalar("gamma");
  check_gamma(reader.owner(), gamma_);
}

// ---- ExponentialLR -----------------------------------------------------------------------------

ExponentialLR::ExponentialLR(Optimizer& optimizer, double gamma)
    : LRScheduler(optimizer, "ExponentialLR"), gamma_(gamma) {
  check_gamma(name(), gamma);
  initial_step();
}

double ExponentialLR::lr_at(double base_lr, std::int64_t epoch) const {
  return base_lr * std::pow(gamma_, static_cast<double>(epoch));
}

void ExponentialLR::save_options(StateDict& dict) const { dict.scalars.insert("gamma", gamma_); }

void ExponentialLR::load_options(StateDictReader& reader) {
  gamma_ = reader.scalar("gamma");
  check_gamma(reader.owner(), gamma_);
}

// ---- CosineAnnealingLR -------------------------------------------------------------------------

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, std::int64_t T_max, double eta_min)
    : LRScheduler(optimizer, "CosineAnnealingLR"), T_max_(T_max), eta_min_(eta_min) {
  AG_CHECK(T_max >= 1, "CosineAnnealingLR: invalid T_max ", T_max, " (expected T_max >= 1)");
  check_eta_min(name(), eta_min);
  initial_step();
}

double CosineAnnealingLR::lr_at(double base_lr, std::int64_t epoch) const {
  const double pi = std::acos(-1.0);
  const double phase = pi * static_cast<double>(epoch) / static_cast<double>(T_max_);
  return eta_min_ + (base_lr - eta_min_) * (1 + std::cos(phase)) / 2;
}

void CosineAnnealingLR::save_options(StateDict& dict) const {
  dict.scalars.insert("T_max", static_cast<double>(T_max_));
  dict.scalars.insert("eta_min", eta_min_);
}

void CosineAnnealingLR::load_options(StateDictReader& reader) {
  T_max_ = reader.integer("T_max", 1);
  eta_min_ = reader.scalar("eta_min");
  check_eta_min(reader.owner(), eta_min_);
}

// ---- LinearLR ----------------------------------------------------------------------------------

LinearLR::LinearLR(Optimizer& optimizer, double start_factor, double end_factor, std::int64_t total_iters)
    : LRScheduler(optimizer, "LinearLR"),
      start_factor_(start_factor),
      end_factor_(end_factor),
      total_iters_(total_iters) {
  AG_CHECK(start_factor > 0 && start_factor <= 1, "LinearLR: invalid start_factor ", start_factor,
           " (expected 0 < start_factor <= 1)");
  AG_CHECK(end_factor >= 0 && end_factor <= 1, "LinearLR: invalid end_factor ", end_factor,
           " (expected 0 <= end_factor <= 1)");
  AG_CHECK(total_iters >= 1, "LinearLR: invalid total_iters ", total_iters, " (expected total_iters >= 1)");
  initial_step();
}

double LinearLR::lr_at(double base_lr, std::int64_t epoch) const {
  const double progress = static_cast<double>(std::min(epoch, total_iters_)) / static_cast<double>(total_iters_);
  return base_lr * (start_factor_ + (end_factor_ - start_factor_) * progress);
}

void LinearLR::save_options(StateDict& dict) const {
  dict.scalars.insert("start_factor", start_factor_);
  dict.scalars.insert("end_factor", end_factor_);
  dict.scalars.insert("total_iters", static_cast<double>(total_iters_));
}

void LinearLR::load_options(StateDictReader& reader) {
  start_factor_ = reader.scalar("start_factor");
  end_factor_ = reader.scalar("end_factor");
  AG_CHECK(start_factor_ > 0 && start_factor_ <= 1 && end_factor_ >= 0 && end_factor_ <= 1, reader.owner(),
           ": invalid start_factor ", start_factor_, " or end_factor ", end_factor_,
           " (expected 0 < start_factor <= 1 and 0 <= end_factor <= 1)");
  total_iters_ = reader.integer("total_iters", 1);
}

}  // namespace ag::optim
