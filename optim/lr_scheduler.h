#pragma once
// Learning-rate schedulers: each sets the learning rate of every parameter group of an optimizer
// from its rate when the scheduler was made (its base rate) and the number of steps taken.

#include <cstdint>
#include <string>
#include <vector>

#include "ag/optim/optimizer.h"
#include "ag/optim/state_dict.h"

namespace ag::optim {

/// The base of the schedulers. Making one sets epoch 0's rates; each step() moves to the next
/// epoch and sets its rates, computed in closed form from the base rates (PyTorch's
/// `_get_closed_form_lr`), so no rounding accumulates over long runs.
///
///     ag::optim::StepLR scheduler(optimizer, /*step_size=*/30, /*gamma=*/0.1);
///     for (int epoch = 0; epoch < 100; ++epoch) {
///       train_one_epoch();        // optimizer.step() inside
///       scheduler.step();
///     }
class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  /// Moves to the next epoch and sets every group's learning rate.
  void step();
  /// The learning rates the last step set, one per parameter group.
  const std::vector<double>& get_last_lr() const { return last_lrs_; }
  /// The rates of the groups when the scheduler was made.
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  /// Steps taken since the scheduler was made (0 right after).
  std::int64_t last_epoch() const { return last_epoch_; }

  /// The epoch, base and last rates and the options, as plain data.
  StateDict state_dict() const;
  /// Restores what state_dict wrote (the optimizer's rates are restored by the optimizer's own
  /// load_state_dict). The number of groups must match; unknown entries are rejected.
  void load_state_dict(const StateDict& dict);

 protected:
  LRScheduler(Optimizer& optimizer, std::string name);
  /// Sets epoch 0's rates. Each subclass calls it at the end of its constructor, once its options
  /// are in place (a base constructor cannot call the subclass's lr_at).
  void initial_step();
  /// The rate at `epoch` of a group whose base rate is `base_lr`.
  virtual double lr_at(double base_lr, std::int64_t epoch) const = 0;
  virtual void save_options(StateDict& dict) const = 0;
  virtual void load_options(StateDictReader& reader) = 0;

  const std::string& name() const { return name_; }

 private:
  void apply(std::int64_t epoch);

  Optimizer& optimizer_;
  std::string name_;
  std::vector<double> base_lrs_;
  std::vector<double> last_lrs_;
  std::int64_t last_epoch_ = -1;
};

/// Multiplies the rate by gamma every step_size epochs: `base_lr * gamma^(epoch / step_size)`.
/// step_size >= 1 and a finite gamma > 0, or std::invalid_argument.
///
///     ag::optim::StepLR scheduler(optimizer, 30, 0.1);   // 0.05 until epoch 30, 0.005 until 60, ...
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma = 0.1);

 protected:
  double lr_at(double base_lr, std::int64_t epoch) const override;
  void save_options(StateDict& dict) const override;
  void load_options(StateDictReader& reader) override;

 private:
  std::int64_t step_size_;
  double gamma_;
};

/// Multiplies the rate by gamma at each milestone: `base_lr * gamma^(number of milestones <= epoch)`
/// (a milestone listed twice counts twice). Milestones >= 0 and a finite gamma > 0.
///
///     ag::optim::MultiStepLR scheduler(optimizer, {30, 80}, 0.1);
class MultiStepLR : public LRScheduler {
 public:
  MultiStepLR(Optimizer& optimizer, std::vector<std::int64_t> milestones, double gamma = 0.1);

 protected:
  double lr_at(double base_lr, std::int64_t epoch) const override;
  void save_options(StateDict& dict) const override;
  void load_options(StateDictReader& reader) override;

 private:
  std::vector<std::int64_t> milestones_;  // sorted
  double gamma_;
};

/// Multiplies the rate by gamma every epoch: `base_lr * gamma^epoch` (a finite gamma > 0).
///
///     ag::optim::ExponentialLR scheduler(optimizer, 0.95);
class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(Optimizer& optimizer, double gamma);

 protected:
  double lr_at(double base_lr, std::int64_t epoch) const override;
  void save_options(StateDict& dict) const override;
  void load_options(StateDictReader& reader) override;

 private:
  double gamma_;
};

/// Cosine annealing (Loshchilov & Hutter, SGDR, without restarts):
/// `eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2`, which reaches eta_min at
/// epoch T_max and then rises again, as in PyTorch. T_max >= 1 and a finite eta_min >= 0.
///
///     ag::optim::CosineAnnealingLR scheduler(optimizer, /*T_max=*/100, /*eta_min=*/1e-5);
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, std::int64_t T_max, double eta_min = 0.0);

 protected:
  double lr_at(double base_lr, std::int64_t epoch) const override;
  void save_options(StateDict& dict) const override;
  void load_options(StateDictReader& reader) override;

 private:
  std::int64_t T_max_;
  double eta_min_;
};

/// Scales the rate by a factor going linearly from start_factor to end_factor over total_iters
/// epochs, then staying there:
/// `base_lr * (start_factor + (end_factor - start_factor) * min(epoch, total_iters) / total_iters)`.
///
///     ag::optim::LinearLR warmup(optimizer, 0.1, 1.0, 10);   // 10 epochs of warm-up
class LinearLR : public LRScheduler {
 public:
  LinearLR(Optimizer& optimizer, double start_factor = 1.0 / 3, double end_factor = 1.0, std::int64_t total_iters = 5);

 protected:
  double lr_at(double base_lr, std::int64_t epoch) const override;
  void save_options(StateDict& dict) const override;
  void load_options(StateDictReader& reader) override;

 private:
  double start_factor_;
  double end_factor_;
  std::int64_t total_iters_;
};

}  // namespace ag::optim
