#pragma once
// Module: the base of every layer. It owns named parameters, buffers and submodules, in
// registration order, and derives from them everything a model needs: dotted names, train/eval,
// zero_grad, dtype conversion, state dicts and a printout.

#include <cstddef>
#include <functional>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "ag/autograd/hooks.h"
#include "ag/autograd/tensor.h"
#include "ag/nn/ordered_dict.h"
#include "ag/nn/parameter.h"

namespace ag::nn {

template <class M>
class ModuleHolder;

/// What a non-strict load_state_dict did not match: keys the module has that the dict lacks
/// (left untouched), and keys of the dict that the module does not have (ignored).
struct IncompatibleKeys {
  std::vector<std::string> missing_keys;
  std::vector<std::string> unexpected_keys;
};

/// The base class of layers and models, as torch.nn.Module.
///
/// A module registers its parameters, buffers and submodules by name; names join with dots
/// ("encoder.0.weight") and become the keys of state_dict(). Modules are non-copyable and are
/// usually held by std::shared_ptr (submodules must be), though a leaf layer can live on the stack.
///
///     struct Net : ag::nn::Module {
///       nn::ModuleHolder<nn::Linear> fc = register_module("fc", std::make_shared<nn::Linear>(4, 2));
///       nn::Parameter& scale = register_parameter("scale", ag::ones({2}));
///       ag::Tensor forward(const ag::Tensor& x) override { return fc(x) * scale; }
///     };
///     auto net = std::make_shared<Net>();
///     (*net)(ag::randn({8, 4}));               // == net->forward(...)
///     net->named_parameters().keys();          // {"scale", "fc.weight", "fc.bias"}
class Module : public std::enable_shared_from_this<Module> {
 public:
  Module() = default;
  /// A module whose name() is `name` rather than its C++ class name.
  explicit Module(std::string name) : name_(std::move(name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  /// How deep modules nest at most (a module without submodules is 1 deep): register_module and
  /// replace_module refuse a submodule whose own tree is kMaxDepth deep, so that printing, forward,
  /// named_parameters, save and destruction, which walk the tree recursively, stay well within
  /// the stack. A submodule grown deeper after it was registered is not checked again.
  static constexpr int kMaxDepth = 1000;

  /// The name used by the printer and in error messages: the class name ("Linear") by default.
  virtual std::string name() const;

  /// The computation. Modules taking one tensor override this; the default throws.
  virtual Tensor forward(const Tensor& input);
  /// `(*module)(x)`: forward(x) with the module's hooks around it (call this, not forward, for
  /// the hooks to run).
  Tensor operator()(const Tensor& input);

  // ---- hooks (as PyTorch's; LibTorch has none) ---------------------------------------------

  /// Runs before forward with its input; may return a replacement input (an undefined Tensor keeps it).
  using ForwardPreHook = std::function<Tensor(Module& module, const Tensor& input)>;
  /// Runs after forward; may return a replacement output (an undefined Tensor keeps it).
  using ForwardHook = std::function<Tensor(Module& module, const Tensor& input, const Tensor& output)>;
  /// Runs in backward once the gradients with respect to the module's input are known, with
  /// those (grad_input: undefined when the input needs none) and the gradients of its output;
  /// may return replacement grad_input (an empty list keeps them).
  using FullBackwardHook =
      std::function<std::vector<Tensor>(Module& module, const std::vector<Tensor>& grad_input,
                                        const std::vector<Tensor>& grad_output)>;
  /// Runs in backward when the gradients of the module's output arrive, before the module's own
  /// backward; may return replacement grad_output (an empty list keeps them).
  using FullBackwardPreHook =
      std::function<std::vector<Tensor>(Module& module, const std::vector<Tensor>& grad_output)>;

  ///     auto h = lin.register_forward_hook([](nn::Module&, const Tensor&, const Tensor& y) { return y * 2; });
  ///     h.remove();
  HookHandle register_forward_pre_hook(ForwardPreHook hook);
  HookHandle register_forward_hook(ForwardHook hook);
  ///     lin.register_full_backward_hook([](nn::Module&, const auto& gin, const auto& gout) {
  ///       std::cout << gout[0].norm() << "\n";
  ///       return std::vector<Tensor>{};
  ///     });
  HookHandle register_full_backward_hook(FullBackwardHook hook);
  HookHandle register_full_backward_pre_hook(FullBackwardPreHook hook);

  // ---- registration -----------------------------------------------------------------------

  /// Registers `tensor` as a parameter (a leaf sharing its data; see Parameter) and returns the
  /// registered Parameter, which stays valid as long as the module. An undefined tensor registers
  /// an empty slot (a layer without bias), which parameters() and state_dict() skip.
  ///
  ///     nn::Parameter& w = register_parameter("w", ag::randn({3, 3}));
  Parameter& register_parameter(const std::string& name, const Tensor& tensor, bool requires_grad = true);
  /// Registers state that is not trained (running statistics, masks). Persistent buffers are
  /// part of state_dict(). Returns the registered tensor, valid as long as the module.
  Tensor& register_buffer(const std::string& name, const Tensor& tensor, bool persistent = true);
  /// Registers a submodule; its parameters appear under "name.". Returns it in a ModuleHolder,
  /// which calls like the module itself (`fc(x)`) and converts to std::shared_ptr<M>.
  template <class M>
  ModuleHolder<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    static_assert(std::is_base_of_v<Module, M>, "register_module: M must derive from ag::nn::Module");
    add_child(name, module);
    return ModuleHolder<M>(std::move(module));
  }
  /// Swaps the submodule registered as `name` for another (the old one is dropped).
  template <class M>
  std::shared_ptr<M> replace_module(const std::string& name, std::shared_ptr<M> module) {
    static_assert(std::is_base_of_v<Module, M>, "replace_module: M must derive from ag::nn::Module");
    set_child(name, module);
    return module;
  }

  // ---- traversal --------------------------------------------------------------------------

  /// Parameters with dotted names, in registration order, submodules after the module's own
  /// (recursively unless `recurse` is false). A tensor shared by two modules appears once.
  OrderedDict<Tensor> named_parameters(bool recurse = true) const;
  /// The tensors of named_parameters(): what an optimizer updates.
  std::vector<Tensor> parameters(bool recurse = true) const;
  OrderedDict<Tensor> named_buffers(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  /// The direct submodules, in registration order.
  const OrderedDict<std::shared_ptr<Module>>& named_children() const { return children_; }
  std::vector<std::shared_ptr<Module>> children() const;
  /// This module (named `prefix`, "" by default) and all its descendants, depth first, each once.
  /// A module not owned by a shared_ptr is returned as a non-owning pointer.
  OrderedDict<std::shared_ptr<Module>> named_modules(const std::string& prefix = "", bool include_self = true) const;
  std::vector<std::shared_ptr<Module>> modules(bool include_self = true) const;
  /// Calls fn on every submodule (depth first), then on this module: custom initialisation.
  void apply(const std::function<void(Module&)>& fn);

  // ---- state ------------------------------------------------------------------------------

  /// Training mode (the default) or evaluation mode, for this module and all submodules.
  /// Dropout is the layer that cares.
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  /// Clears every parameter's gradient: fills it with zeros in place (the default, as PyTorch
  /// 1.13; a sparse gradient keeps no rows), or drops it with `set_to_none`.
  void zero_grad(bool set_to_none = false);

  /// Converts floating parameters and buffers to `dtype`, keeping requires_grad and gradients.
  /// The parameters become new tensors: create optimizers after converting.
  void to(Dtype dtype);

  /// Every parameter and persistent buffer under its dotted name, detached (sharing data with the
  /// module: clone() a value to keep a snapshot).
  StateDict state_dict() const;
  /// Copies `dict`'s values into the module's tensors in place (under no-grad, so optimizers
  /// holding the parameters keep working). Throws one std::invalid_argument listing every
  /// problem — missing and unexpected keys when strict, and always every shape mismatch — before
  /// changing anything. Otherwise returns the keys that did not match.
  ///
  ///     auto [missing, unexpected] = net->load_state_dict(sd, /*strict=*/false);
  IncompatibleKeys load_state_dict(const StateDict& dict, bool strict = true);

  // ---- printing ---------------------------------------------------------------------------

  /// The layer's settings for the printer, e.g. "in_features=3, out_features=5, bias=true".
  virtual std::string extra_repr() const { return ""; }
  /// The module and its submodules, indented as PyTorch prints them:
  ///
  ///     Sequential(
  ///       (0): Linear(in_features=3, out_features=5, bias=true)
  ///       (1): ReLU()
  ///     )
  std::string str() const;

 private:
  struct ParameterEntry {
    std::string name;
    Parameter value;
  };
  struct BufferEntry {
    std::string name;
    Tensor value;
    bool persistent = true;
  };

  void check_new_name(const std::string& name, const char* what) const;
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void check_depth(const std::string& name, const Module& module, const char* what) const;
  void set_child(const std::string& name, std::shared_ptr<Module> module);
  void collect_state(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out) const;
  template <class F>
  void walk(bool recurse, F&& fn) const;

  std::string name_;
  bool training_ = true;
  struct ModuleHooks;
  std::shared_ptr<ModuleHooks> hooks_;
  // unique_ptr entries: the Parameter& / Tensor& handed out stay valid as the registry grows.
  std::vector<std::unique_ptr<ParameterEntry>> parameters_;
  std::vector<std::unique_ptr<BufferEntry>> buffers_;
  OrderedDict<std::shared_ptr<Module>> children_;
};

/// Prints module.str().
std::ostream& operator<<(std::ostream& os, const Module& module);

/// A shared module that is called like the module itself, as LibTorch's module holders are: what
/// register_module returns. It dereferences like the std::shared_ptr<M> it holds, converts to it
/// (and to a shared_ptr of any base), and prints the module.
///
///     struct Net : nn::Module {
///       nn::ModuleHolder<nn::Linear> fc = register_module("fc", std::make_shared<nn::Linear>(4, 2));
///       Tensor forward(const Tensor& x) override { return fc(x).relu(); }   // fc->weight, too
///     };
template <class M>
class ModuleHolder {
 public:
  ModuleHolder() = default;
  ModuleHolder(std::nullptr_t) {}
  ModuleHolder(std::shared_ptr<M> module) : impl_(std::move(module)) {}

  /// `(*module)(args...)`: forward with the module's hooks (a loss takes input and target).
  template <class... Args>
  decltype(auto) operator()(Args&&... args) const {
    return (*get())(std::forward<Args>(args)...);
  }
  M* operator->() const { return get(); }
  M& operator*() const { return *get(); }
  /// The module; throws std::logic_error when the holder is empty.
  M* get() const {
    if (!impl_) throw std::logic_error("ModuleHolder: the holder is empty (assign it a module, e.g. from register_module)");
    return impl_.get();
  }
  const std::shared_ptr<M>& ptr() const { return impl_; }
  template <class U, class = std::enable_if_t<std::is_convertible_v<M*, U*>>>
  operator std::shared_ptr<U>() const {
    return impl_;
  }
  explicit operator bool() const { return impl_ != nullptr; }

 private:
  std::shared_ptr<M> impl_;
};

/// `std::cout << model` for a std::shared_ptr to a module prints the module, as PyTorch's print(model).
template <class M, class = std::enable_if_t<std::is_base_of_v<Module, M>>>
std::ostream& operator<<(std::ostream& os, const std::shared_ptr<M>& module) {
  return module ? os << *module : os << "None";
}
template <class M>
std::ostream& operator<<(std::ostream& os, const ModuleHolder<M>& module) {
  return os << module.ptr();
}

}  // namespace ag::nn
