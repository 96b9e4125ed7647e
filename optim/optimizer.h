#pragma once
// Optimizer: the base of SGD, Adam and AdamW. It holds parameter groups (each with its own
// hyper-parameters) and per-parameter state, zeroes gradients, and saves and restores both as a
// flat StateDict. Parameters are plain tensors: the optimizer does not know about nn::Module, so
// pass `model->parameters()`.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "ag/autograd/error.h"
#include "ag/autograd/tensor.h"
#include "ag/optim/state_dict.h"

namespace ag::optim {

/// The hyper-parameters of one parameter group. Each optimizer has its own subclass
/// (SGDOptions, AdamOptions, AdamWOptions) with chaining setters.
///
///     auto& options = optimizer.param_groups()[0].options();
///     options.set_lr(options.get_lr() * 0.5);
class OptimizerOptions {
 public:
  virtual ~OptimizerOptions() = default;
  virtual std::unique_ptr<OptimizerOptions> clone() const = 0;
  /// The learning rate, which every optimizer has and schedulers change.
  virtual double get_lr() const = 0;
  virtual void set_lr(double lr) = 0;
  /// Throws std::invalid_argument naming `optimizer`, the option and its value when one is out
  /// of range.
  virtual void validate(const std::string& optimizer) const = 0;
  /// Writes every hyper-parameter as `prefix + name` (flags as 0 or 1).
  virtual void save(StateDict& dict, const std::string& prefix) const = 0;
  /// Reads back what `save` wrote.
  virtual void load(StateDictReader& reader, const std::string& prefix) = 0;
};

/// The state an optimizer keeps for one parameter (momentum buffer, moment estimates, ...).
///
///     auto* s = static_cast<ag::optim::AdamParamState*>(adam.state(weight));   // null before a step
///     if (s) std::cout << s->step << " " << s->exp_avg;
struct OptimizerParamState {
  virtual ~OptimizerParamState() = default;
  /// Writes the state as `prefix + name`, copying its tensors.
  virtual void save(StateDict& dict, const std::string& prefix) const = 0;
};

/// Parameters that share hyper-parameters. A group made without options takes the optimizer's
/// defaults.
///
///     ag::optim::SGD opt({ag::optim::ParamGroup({w}),                                  // lr 0.1
///                         ag::optim::ParamGroup({b}, ag::optim::SGDOptions(0.01))},    // lr 0.01
///                        ag::optim::SGDOptions(0.1));
class ParamGroup {
 public:
  ParamGroup(std::vector<Tensor> params) : params_(std::move(params)) {}
  ParamGroup(std::vector<Tensor> params, std::unique_ptr<OptimizerOptions> options)
      : params_(std::move(params)), options_(std::move(options)) {}
  template <class Options, class = std::enable_if_t<std::is_base_of_v<OptimizerOptions, Options>>>
  ParamGroup(std::vector<Tensor> params, const Options& options) : ParamGroup(std::move(params), options.clone()) {}

  ParamGroup(const ParamGroup& other)
      : params_(other.params_), options_(other.options_ ? other.options_->clone() : nullptr) {}
  ParamGroup& operator=(const ParamGroup& other) {
    if (this != &other) *this = ParamGroup(other);
    return *this;
  }
  ParamGroup(ParamGroup&&) = default;
  ParamGroup& operator=(ParamGroup&&) = default;

  const std::vector<Tensor>& params() const { return params_; }
  std::vector<Tensor>& params() { return params_; }
  bool has_options() const { return options_ != nullptr; }
  /// The group's hyper-parameters (always set once the group belongs to an optimizer).
  OptimizerOptions& options();
  const OptimizerOptions& options() const;
  void set_options(std::unique_ptr<OptimizerOptions> options) { options_ = std::move(options); }

 private:
  std::vector<Tensor> params_;
  std::unique_ptr<OptimizerOptions> options_;
};

/// The base of all optimizers.
///
///     ag::optim::Adam opt(model->parameters(), ag::optim::AdamOptions(1e-3));
///     for (...) {
///       opt.zero_grad();
///       loss(model, batch).backward();
///       opt.step();
///     }
///     ag::optim::StateDict saved = opt.state_dict();   // later: opt.load_state_dict(saved)
class Optimizer {
 public:
  /// Recomputes the loss (for optimizers that need it); called with grad mode on.
  using LossClosure = std::function<Tensor()>;

  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// Updates every parameter that has a gradient, under no-grad; parameters whose gradient is
  /// undefined are skipped. Returns the closure's loss when one is given.
  virtual Tensor step(const LossClosure& closure = nullptr) = 0;

  /// Clears the gradients: fills them with zeros in place, cut from any graph (the default, as
  /// PyTorch 1.13; a sparse gradient keeps no rows), or makes them undefined with `set_to_none`.
  void zero_grad(bool set_to_none = false);

  /// Adds parameters with their own options (or the defaults). A parameter may belong to one
  /// group only.
  void add_param_group(const ParamGroup& group);

  std::vector<ParamGroup>& param_groups() { return param_groups_; }
  const std::vector<ParamGroup>& param_groups() const { return param_groups_; }
  /// Sets the learning rate of every group, as PyTorch's `for g in opt.param_groups: g["lr"] = lr`
  /// (one group's: `param_groups()[i].options().set_lr(lr)`).
  ///
  ///     opt.set_lr(opt.lr() * 0.1);
  void set_lr(double lr);
  /// The learning rate of the first group.
  double lr() const;
  /// The options of groups made without their own.
  const OptimizerOptions& defaults() const { return *defaults_; }
  /// Every parameter, group by group.
  std::vector<Tensor> parameters() const;
  /// The number of parameters over all groups.
  std::size_t size() const;
  /// The state kept for `param`, or null before its first step.
  OptimizerParamState* state(const Tensor& param) const;
  /// "SGD", "Adam", "AdamW": how error messages name this optimizer.
  const std::string& name() const { return name_; }

  /// Hyper-parameters and per-parameter state as plain data (copies: later steps do not change it).
  StateDict state_dict() const;
  /// Restores what state_dict wrote, hyper-parameters included. The number of groups, their
  /// sizes and the state's shapes must match this optimizer's, and every entry must be known;
  /// otherwise it throws std::invalid_argument and the optimizer is left unchanged.
  void load_state_dict(const StateDict& dict);

 protected:
  Optimizer(std::vector<ParamGroup> groups, std::unique_ptr<OptimizerOptions> defaults, std::string name);

  /// The state of `param` saved under `prefix` in a state dict, or null when there is none.
  virtual std::unique_ptr<OptimizerParamState> load_param_state(StateDictReader& reader, const std::string& prefix,
                                                                const Tensor& param) const = 0;

  /// The state of `param`, made by `make` on first use.
  template <class State, class Make>
  State& state_for(const Tensor& param, Make&& make) {
    std::unique_ptr<OptimizerParamState>& s = state_[param.impl()];
    if (!s) s = make();
    return static_cast<State&>(*s);
  }

  /// A group's options as this optimizer's own kind (they can be swapped through param_groups()).
  template <class Options>
  const Options& options_of(const ParamGroup& group) const {
    const auto* options = dynamic_cast<const Options*>(&group.options());
    AG_CHECK(options, name_, ".step: a parameter group has options of another optimizer");
    return *options;
  }

  /// Checks a gradient against its parameter before a step.
  void check_grad(const Tensor& param, const Tensor& grad) const;

 private:
  std::vector<ParamGroup> param_groups_;
  std::unique_ptr<OptimizerOptions> defaults_;
  std::unordered_map<const TensorImpl*, std::unique_ptr<OptimizerParamState>> state_;
  std::string name_;
};

namespace detail {

/// Calls f(std::true_type{}) or f(std::false_type{}): turns a flag into a template argument so that
/// update loops carry no branch.
template <class F>
decltype(auto) dispatch_bool(bool flag, F&& f) {
  if (flag) return f(std::true_type{});
  return f(std::false_type{});
}


}  // namespace detail
}  // namespace ag::optim
