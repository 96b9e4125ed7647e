#include "ag/nn/module.h"

#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>
#include <typeinfo>
#include <unordered_set>

#include "ag/autograd/error.h"
#include "ag/autograd/grad_mode.h"
#include "ag/autograd/node.h"

namespace ag::nn {

// ---- naming and forward -----------------------------------------------------------------------

std::string Module::name() const {
  if (!name_.empty()) return name_;
  // The dynamic class name without namespaces: "ag::nn::Linear" -> "Linear".
  const char* mangled = typeid(*this).name();
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> demangled(abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
  std::string full = status == 0 ? demangled.get() : mangled;
  std::size_t cut = full.rfind("::", full.find('<'));
  return cut == std::string::npos ? full : full.substr(cut + 2);
}

Tensor Module::forward(const Tensor&) {
  AG_CHECK_STATE(false, name(), " has no forward(Tensor): override forward in the module, or call the "
                 "forward it defines directly");
  return {};
}

// ---- hooks ------------------------------------------------------------------------------------

struct Module::ModuleHooks {
  std::shared_ptr<Hooks<ForwardPreHook>> forward_pre = std::make_shared<Hooks<ForwardPreHook>>();
  std::shared_ptr<Hooks<ForwardHook>> forward = std::make_shared<Hooks<ForwardHook>>();
  std::shared_ptr<Hooks<FullBackwardHook>> backward = std::make_shared<Hooks<FullBackwardHook>>();
  std::shared_ptr<Hooks<FullBackwardPreHook>> backward_pre = std::make_shared<Hooks<FullBackwardPreHook>>();
};

HookHandle Module::register_forward_pre_hook(ForwardPreHook hook) {
  if (!hooks_) hooks_ = std::make_shared<ModuleHooks>();
  return hooks_->forward_pre->add(std::move(hook));
}
HookHandle Module::register_forward_hook(ForwardHook hook) {
  if (!hooks_) hooks_ = std::make_shared<ModuleHooks>();
  return hooks_->forward->add(std::move(hook));
}
HookHandle Module::register_full_backward_hook(FullBackwardHook hook) {
  if (!hooks_) hooks_ = std::make_shared<ModuleHooks>();
  return hooks_->backward->add(std::move(hook));
}
HookHandle Module::register_full_backward_pre_hook(FullBackwardPreHook hook) {
  if (!hooks_) hooks_ = std::make_shared<ModuleHooks>();
  return hooks_->backward_pre->add(std::move(hook));
}

namespace {

/// What one call of a module with backward hooks shares between the two nodes that watch its
/// output's and its input's gradients (PyTorch's BackwardHook).
struct BackwardHookCall {
  Module* module;
  std::shared_ptr<Hooks<Module::FullBackwardHook>> hooks;
  std::shared_ptr<Hooks<Module::FullBackwardPreHook>> pre_hooks;
  std::vector<Tensor> grad_output;
  bool input_watched = false;

  /// The backward hooks with grad_input; returns grad_input as the hooks leave it.
  std::vector<Tensor> call_hooks(std::vector<Tensor> grad_input) {
    for (const auto& hook : hooks->snapshot()) {
      std::vector<Tensor> r = hook(*module, grad_input, grad_output);
      if (r.empty()) continue;
      AG_CHECK(r.size() == grad_input.size(), module->name(), ": a full backward hook returned ", r.size(),
               " gradients for ", grad_input.size(), " inputs");
      grad_input = std::move(r);
    }
    return grad_input;
  }
};

/// An identity over t whose backward is `fn(g)`: where the module's hooks see its gradients.
template <class F>
Tensor watch(const Tensor& t, F fn) {
  Tensor out = t.detach();
  record("BackwardHookFunctionBackward", out, {t}, {}, [fn](const Tensor& g, const BackwardContext&) -> Grads {
    return {fn(g)};
  });
  return out;
}

}  // namespace

Tensor Module::operator()(const Tensor& input) {
  if (!hooks_) return forward(input);
  Tensor x = input;
  for (const auto& hook : hooks_->forward_pre->snapshot())
    if (Tensor r = hook(*this, x); r.defined()) x = r;
  const bool watch_backward = GradMode::is_enabled() && (!hooks_->backward->empty() || !hooks_->backward_pre->empty());
  auto call = std::make_shared<BackwardHookCall>(BackwardHookCall{this, hooks_->backward, hooks_->backward_pre, {}, false});
  Tensor in = x;
  if (watch_backward && x.defined() && x.requires_grad()) {
    call->input_watched = true;
    in = watch(x, [call](const Tensor& g) {
      std::vector<Tensor> gin = call->call_hooks({g});
      return gin[0];
    });
  }
  Tensor out = forward(in);
  for (const auto& hook : hooks_->forward->snapshot())
    if (Tensor r = hook(*this, in, out); r.defined()) out = r;
  if (watch_backward && out.defined() && out.requires_grad())
    out = watch(out, [call](const Tensor& g) {
      std::vector<Tensor> gout{g};
      for (const auto& hook : call->pre_hooks->snapshot()) {
        std::vector<Tensor> r = hook(*call->module, gout);
        if (r.empty()) continue;
        AG_CHECK(r.size() == 1 && r[0].defined() && r[0].shape() == g.shape(), call->module->name(),
                 ": a full backward pre-hook must return one gradient of shape ", g.shape(), " (or none)");
        gout = std::move(r);
      }
      call->grad_output = gout;
      if (!call->input_watched) call->call_hooks({Tensor()});  // no input needs a gradient: call them now
      return gout[0];
    });
  return out;
}

// ---- registration -----------------------------------------------------------------------------

void Module::check_new_name(const std::string& name, const char* what) const {
  AG_CHECK(!name.empty(), this->name(), ".register_", what, ": the name must not be empty");
  AG_CHECK(name.find('.') == std::string::npos, this->name(), ".register_", what, ": the name \"", name,
           "\" must not contain '.' (dots join the names of nested modules)");
  for (const auto& p : parameters_)
    AG_CHECK(p->name != name, this->name(), ".register_", what, ": \"", name, "\" is already a parameter");
  for (const auto& b : buffers_)
    AG_CHECK(b->name != name, this->name(), ".register_", what, ": \"", name, "\" is already a buffer");
  AG_CHECK(!children_.contains(name), this->name(), ".register_", what, ": \"", name, "\" is already a submodule");
}

Parameter& Module::register_parameter(const std::string& name, const Tensor& tensor, bool requires_grad) {
  check_new_name(name, "parameter");
  auto entry = std::make_unique<ParameterEntry>();
  entry->name = name;
  static_cast<Tensor&>(entry->value) = Parameter(tensor, requires_grad);
  entry->value.owner_ = this;
  entry->value.name_ = &entry->name;
  parameters_.push_back(std::move(entry));
  return parameters_.back()->value;
}

Tensor& Module::register_buffer(const std::string& name, const Tensor& tensor, bool persistent) {
  check_new_name(name, "buffer");
  buffers_.push_back(std::make_unique<BufferEntry>(BufferEntry{name, tensor, persistent}));
  return buffers_.back()->value;
}

namespace {

/// The number of levels of the tree under `m` (1 for a module without submodules), counted without
/// recursion and only up to `limit` + 1; a tree holding `parent` (which would make a cycle) counts
/// as deeper than any limit.
int tree_depth(const Module& m, const Module* parent, int limit) {
  int deepest = 0;
  std::vector<std::pair<const Module*, int>> stack{{&m, 1}};
  while (!stack.empty() && deepest <= limit) {
    auto [module, depth] = stack.back();
    stack.pop_back();
    deepest = module == parent ? limit + 1 : std::max(deepest, depth);
    for (const auto& [name, child] : module->named_children()) stack.emplace_back(child.get(), depth + 1);
  }
  return deepest;
}

}  // namespace

void Module::check_depth(const std::string& name, const Module& module, const char* what) const {
  AG_CHECK(tree_depth(module, this, kMaxDepth - 1) <= kMaxDepth - 1, this->name(), ".", what, ": the module \"", name,
           "\" has submodules nested more than ", kMaxDepth - 1, " deep, or holds this module; modules nest at most ",
           kMaxDepth, " deep (Module::kMaxDepth)");
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name(name, "module");
  AG_CHECK(module != nullptr, this->name(), ".register_module: the module \"", name, "\" is null");
  AG_CHECK(module.get() != this, this->name(), ".register_module: a module cannot be its own submodule");
  check_depth(name, *module, "register_module");
  children_.insert(name, std::move(module));
}

void Module::set_child(const std::string& name, std::shared_ptr<Module> module) {
  AG_CHECK(children_.contains(name), this->name(), ".replace_module: there is no submodule \"", name,
           "\" to replace (submodules: ", children_.size(), ")");
  AG_CHECK(module != nullptr, this->name(), ".replace_module: the new module \"", name, "\" is null");
  AG_CHECK(module.get() != this, this->name(), ".replace_module: a module cannot be its own submodule");
  check_depth(name, *module, "replace_module");
  children_.at(name) = std::move(module);
}

// ---- traversal --------------------------------------------------------------------------------

// Calls fn(prefix, module) on this module and, when recursing, on every descendant once.
template <class F>
void Module::walk(bool recurse, F&& fn) const {
  std::unordered_set<const Module*> seen;
  std::function<void(const std::string&, const Module&)> visit = [&](const std::string& prefix, const Module& m) {
    if (!seen.insert(&m).second) return;
    fn(prefix, m);
    if (!recurse) return;
    for (const auto& [name, child] : m.children_) visit(prefix.empty() ? name : prefix + "." + name, *child);
  };
  visit("", *this);
}

namespace {
std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}
}  // namespace

OrderedDict<Tensor> Module::named_parameters(bool recurse) const {
  OrderedDict<Tensor> out;
  std::unordered_set<const void*> seen;  // tied weights appear once
  walk(recurse, [&](const std::string& prefix, const Module& m) {
    for (const auto& p : m.parameters_)
      if (p->value.defined() && seen.insert(p->value.impl()).second) out.insert(join(prefix, p->name), p->value);
  });
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const { return named_parameters(recurse).values(); }

OrderedDict<Tensor> Module::named_buffers(bool recurse) const {
  OrderedDict<Tensor> out;
  std::unordered_set<const void*> seen;
  walk(recurse, [&](const std::string& prefix, const Module& m) {
    for (const auto& b : m.buffers_)
      if (b->value.defined() && seen.insert(b->value.impl()).second) out.insert(join(prefix, b->name), b->value);
  });
  return out;
}

std::vector<Tensor> Module::buffers(bool recurse) const { return named_buffers(recurse).values(); }

std::vector<std::shared_ptr<Module>> Module::children() const { return children_.values(); }

OrderedDict<std::shared_ptr<Module>> Module::named_modules(const std::string& prefix, bool include_self) const {
  OrderedDict<std::shared_ptr<Module>> out;
  if (include_self) {
    auto self = const_cast<Module*>(this)->weak_from_this().lock();
    // A module not owned by a shared_ptr (on the stack) is handed out as a pointer that owns nothing.
    out.insert(prefix, self ? self : std::shared_ptr<Module>(std::shared_ptr<Module>(), const_cast<Module*>(this)));
  }
  std::unordered_set<const Module*> seen{this};
  std::function<void(const std::string&, const Module&)> visit = [&](const std::string& path, const Module& m) {
    for (const auto& [name, child] : m.children_) {
      if (!seen.insert(child.get()).second) continue;
      out.insert(join(path, name), child);
      visit(join(path, name), *child);
    }
  };
  visit(prefix, *this);
  return out;
}

std::vector<std::shared_ptr<Module>> Module::modules(bool include_self) const {
  return named_modules("", include_self).values();
}

void Module::apply(const std::function<void(Module&)>& fn) {
  for (const auto& [name, child] : children_) child->apply(fn);
  fn(*this);
}

// ---- state ------------------------------------------------------------------------------------

void Module::train(bool on) {
  training_ = on;
  for (const auto& [name, child] : children_) child->train(on);
}

void Module::zero_grad(bool set_to_none) {
  for (Tensor& p : parameters()) {
    if (!p.grad().defined()) continue;
    if (set_to_none) {
      p.set_grad(Tensor());
    } else {
      Tensor& g = p.mutable_grad();
      g.detach_();  // a gradient recorded with create_graph leaves its graph first
      g.zero_();
    }
  }
}

void Module::to(Dtype dtype) {
  AG_CHECK(is_floating(dtype), name(), ".to: parameters can only be converted to a floating dtype, not ", dtype);
  NoGradGuard no_grad;
  std::vector<Module*> all;
  walk(true, [&](const std::string&, const Module& m) { all.push_back(const_cast<Module*>(&m)); });
  for (Module* m : all) {
    for (auto& p : m->parameters_) {
      Tensor& t = p->value;
      if (!t.defined() || !t.is_floating_point() || t.dtype() == dtype) continue;
      Tensor converted = t.detach().to(dtype);
      converted.requires_grad_(t.requires_grad());
      if (t.grad().defined()) converted.set_grad(t.grad().detach().to(dtype));
      t = converted;  // the Tensor part of the slot: no shape check needed, the shape is unchanged
    }
    for (auto& b : m->buffers_)
      if (b->value.defined() && b->value.is_floating_point()) b->value = b->value.to(dtype);
  }
}

void Module::collect_state(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out) const {
  for (const auto& p : parameters_)
    if (p->value.defined()) out.emplace_back(prefix + p->name, p->value);
  for (const auto& b : buffers_)
    if (b->value.defined() && b->persistent) out.emplace_back(prefix + b->name, b->value);
  for (const auto& [name, child] : children_) child->collect_state(prefix + name + ".", out);
}

StateDict Module::state_dict() const {
  std::vector<std::pair<std::string, Tensor>> state;
  collect_state("", state);
  StateDict out;
  for (const auto& [key, t] : state) out.insert(key, t.detach());
  return out;
}

namespace {
std::string quoted_list(const std::vector<std::string>& keys) {
  std::string s;
  for (const std::string& k : keys) s += (s.empty() ? "\"" : ", \"") + k + "\"";
  return s;
}
}  // namespace

IncompatibleKeys Module::load_state_dict(const StateDict& dict, bool strict) {
  std::vector<std::pair<std::string, Tensor>> targets;
  collect_state("", targets);

  IncompatibleKeys result;
  std::vector<std::string> mismatches;
  std::unordered_set<std::string> own;
  for (const auto& [key, target] : targets) {
    own.insert(key);
    const Tensor* src = dict.find(key);
    if (!src) {
      result.missing_keys.push_back(key);
    } else if (!src->defined()) {
      mismatches.push_back(detail::cat("\"", key, "\": the state dict's tensor is undefined"));
    } else if (src->shape() != target.shape()) {
      mismatches.push_back(detail::cat("size mismatch for \"", key, "\": copying a tensor of shape ", src->shape(),
                                       " from the state dict, the shape in the module is ", target.shape()));
    } else if (src->is_floating_point() && !target.is_floating_point()) {
      mismatches.push_back(detail::cat("dtype mismatch for \"", key, "\": cannot copy ", src->dtype(),
                                       " values into the module's ", target.dtype(), " tensor"));
    }
  }
  for (const auto& [key, value] : dict)
    if (!own.count(key)) result.unexpected_keys.push_back(key);

  bool strict_fail = strict && (!result.missing_keys.empty() || !result.unexpected_keys.empty());
  if (strict_fail || !mismatches.empty()) {
    std::ostringstream msg;
    msg << "load_state_dict: error(s) in loading the state dict into " << name() << ":";
    if (strict && !result.missing_keys.empty()) msg << "\n  missing keys: " << quoted_list(result.missing_keys);
    if (strict && !result.unexpected_keys.empty())
      msg << "\n  unexpected keys: " << quoted_list(result.unexpected_keys);
    for (const std::string& m : mismatches) msg << "\n  " << m;
    if (strict_fail) msg << "\n(pass strict=false to load only the matching keys)";
    AG_CHECK(false, msg.str());
  }

  NoGradGuard no_grad;  // an in-place copy into trained leaves, invisible to autograd
  for (auto& [key, target] : targets)
    if (const Tensor* src = dict.find(key)) target.copy_(*src);
  return result;
}

// ---- printing ---------------------------------------------------------------------------------

namespace {

/// Appends `s`, indenting every line after the first by `indent` spaces.
void append_indented(std::string& out, const std::string& s, std::size_t indent) {
  for (char c : s) {
    out += c;
    if (c == '\n') out.append(indent, ' ');
  }
}

/// Appends the printout of `m` whose first line is already indented by `indent` spaces: one pass
/// over the tree, each line written once.
void print(std::string& out, const Module& m, std::size_t indent) {
  std::string extra = m.extra_repr();
  out += m.name() + "(";
  if (m.named_children().empty()) {
    append_indented(out, extra, indent);
    out += ")";
    return;
  }
  out += "\n";
  if (!extra.empty()) {
    out.append(indent + 2, ' ');
    append_indented(out, extra, indent + 2);
    out += "\n";
  }
  for (const auto& [name, child] : m.named_children()) {
    out.append(indent + 2, ' ');
    out += "(" + name + "): ";
    print(out, *child, indent + 2);
    out += "\n";
  }
  out.append(indent, ' ');
  out += ")";
}

}  // namespace

std::string Module::str() const {
  std::string out;
  print(out, *this, 0);
  return out;
}

std::ostream& operator<<(std::ostream& os, const Module& module) { return os << module.str(); }

}  // namespace ag::nn
