#include "ag/optim/optimizer.h"

#include <typeinfo>
#include <unordered_set>

#include "ag/autograd/error.h"
#include "ag/autograd/grad_mode.h"
#include "ag/autograd/node.h"

namespace ag::optim {

OptimizerOptions& ParamGroup::options() {
  AG_CHECK_STATE(options_, "ParamGroup::options(): this group has no options yet; it gets the optimizer's defaults "
                 "when added to an optimizer");
  return *options_;
}

const OptimizerOptions& ParamGroup::options() const { return const_cast<ParamGroup*>(this)->options(); }

Optimizer::Optimizer(std::vector<ParamGroup> groups, std::unique_ptr<OptimizerOptions> defaults, std::string name)
    : defaults_(std::move(defaults)), name_(std::move(name)) {
  defaults_->validate(name_);
  std::size_t count = 0;
  for (const ParamGroup& g : groups) count += g.params().size();
  AG_CHECK(count > 0, name_, ": got an empty parameter list (a model without parameters, or parameters() taken before "
           "the model's layers were registered?)");
  for (const ParamGroup& g : groups) add_param_group(g);
}

void Optimizer::set_lr(double lr) {
  for (const ParamGroup& g : param_groups_) {  // every group checked before any changes
    std::unique_ptr<OptimizerOptions> changed = g.options().clone();
    changed->set_lr(lr);
    changed->validate(name_);
  }
  for (ParamGroup& g : param_groups_) g.options().set_lr(lr);
}

double Optimizer::lr() const { return param_groups_.front().options().get_lr(); }

void Optimizer::add_param_group(const ParamGroup& group) {
  const std::size_t index = param_groups_.size();
  ParamGroup g = group;
  if (g.has_options()) {
    AG_CHECK(typeid(g.options()) == typeid(*defaults_), name_, ": parameter group ", index,
             " has options of another optimizer");
    g.options().validate(name_);
  } else {
    g.set_options(defaults_->clone());
  }
  std::unordered_set<const TensorImpl*> seen;
  for (const ParamGroup& other : param_groups_)
    for (const Tensor& p : other.params()) seen.insert(p.impl());
  for (std::size_t i = 0; i < g.params().size(); ++i) {
    const Tensor& p = g.params()[i];
    AG_CHECK(p.defined(), name_, ": parameter ", i, " of group ", index, " is an undefined tensor");
    AG_CHECK(p.is_floating_point(), name_, ": parameter ", i, " of group ", index, " is ", p.dtype(),
             "; only float32 and float64 tensors can be optimized");
    AG_CHECK(p.is_leaf(), name_, ": parameter ", i, " of group ", index, " is not a leaf (it was computed by ",
             p.grad_fn()->name(), "); optimize the leaf tensors it came from, or detach() it");
    AG_CHECK(seen.insert(p.impl()).second, name_, ": parameter ", i, " of group ", index, " (shape ", p.shape(),
             ") appears more than once in the parameter groups");
  }
  param_groups_.push_back(std::move(g));
}

void Optimizer::zero_grad(bool set_to_none) {
  NoGradGuard no_grad;
  for (ParamGroup& group : param_groups_)
    for (Tensor& p : group.params()) {
      Tensor& g = p.mutable_grad();
      if (!g.defined()) continue;
      if (set_to_none) {
        g = Tensor();
        continue;
      }
      if (g.requires_grad()) g = g.detach();  // a gradient made with create_graph: keep the zeros out of its graph
      g.zero_();
    }
}

std::vector<Tensor> Optimizer::parameters() const {
  std::vector<Tensor> all;
  for (const ParamGroup& group : param_groups_) all.insert(all.end(), group.params().begin(), group.params().end());
  return all;
}

std::size_t Optimizer::size() const {
  std::size_t n = 0;
  for (const ParamGroup& group : param_groups_) n += group.params().size();
  return n;
}

OptimizerParamState* Optimizer::state(const Tensor& param) const {
  auto it = state_.find(param.impl());
  return it == state_.end() ? nullptr : it->second.get();
}

void Optimizer::check_grad(const Tensor& param, const Tensor& grad) const {
  AG_CHECK(grad.shape() == param.shape(), name_, ".step: a parameter of shape ", param.shape(),
           " has a gradient of shape ", grad.shape());
  AG_CHECK(grad.dtype() == param.dtype(), name_, ".step: a ", param.dtype(), " parameter of shape ", param.shape(),
           " has a ", grad.dtype(), " gradient");
}

StateDict Optimizer::state_dict() const {
  StateDict dict;
  dict.scalars.insert("param_groups.size", static_cast<double>(param_groups_.size()));
  for (std::size_t g = 0; g < param_groups_.size(); ++g) {
    const std::string prefix = "param_groups." + std::to_string(g) + ".";
    dict.scalars.insert(prefix + "size", static_cast<double>(param_groups_[g].params().size()));
    param_groups_[g].options().save(dict, prefix);
  }
  std::size_t i = 0;
  for (const ParamGroup& group : param_groups_)
    for (const Tensor& p : group.params()) {
      if (const OptimizerParamState* s = state(p)) s->save(dict, "state." + std::to_string(i) + ".");
      ++i;
    }
  return dict;
}

void Optimizer::load_state_dict(const StateDict& dict) {
  StateDictReader reader(dict, name_ + ".load_state_dict");
  const std::int64_t groups = reader.integer("param_groups.size");
  AG_CHECK(groups == static_cast<std::int64_t>(param_groups_.size()), reader.owner(), ": the state dict has ", groups,
           " parameter group", groups == 1 ? "" : "s", " but this optimizer has ", param_groups_.size());
  // Read everything first and commit at the end, so that a bad dict leaves the optimizer as it was.
  std::vector<std::unique_ptr<OptimizerOptions>> options;
  for (std::size_t g = 0; g < param_groups_.size(); ++g) {
    const std::string prefix = "param_groups." + std::to_string(g) + ".";
    const std::int64_t size = reader.integer(prefix + "size");
    const std::size_t have = param_groups_[g].params().size();
    AG_CHECK(size == static_cast<std::int64_t>(have), reader.owner(), ": parameter group ", g, " has ", size,
             " parameter", size == 1 ? "" : "s", " in the state dict but ", have, " in this optimizer");
    options.push_back(param_groups_[g].options().clone());
    options.back()->load(reader, prefix);
    options.back()->validate(reader.owner());
  }
  std::unordered_map<const TensorImpl*, std::unique_ptr<OptimizerParamState>> state;
  std::size_t i = 0;
  for (const ParamGroup& group : param_groups_)
    for (const Tensor& p : group.params()) {
      if (auto s = load_param_state(reader, "state." + std::to_string(i) + ".", p)) state[p.impl()] = std::move(s);
      ++i;
    }
  reader.finish();
  for (std::size_t g = 0; g < param_groups_.size(); ++g) param_groups_[g].set_options(std::move(options[g]));
  state_ = std::move(state);
}
}  // namespace ag::optim
