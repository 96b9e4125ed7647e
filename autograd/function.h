#pragma once
// Custom differentiable functions, with LibTorch's names: a struct with a static forward and a
// static backward, applied through Function<T>::apply.
//
//     struct MulConstant : ag::Function<MulConstant> {
//       static ag::Tensor forward(ag::AutogradContext* ctx, const ag::Tensor& x, double c) {
//         ctx->saved_data["c"] = c;
//         return x * c;
//       }
//       static ag::tensor_list backward(ag::AutogradContext* ctx, ag::tensor_list grad_outputs) {
//         return {grad_outputs[0] * ctx->saved_data["c"].toDouble(), ag::Tensor()};  // one per forward arg
//       }
//     };
//     auto y = MulConstant::apply(x, 2.0);   // y.grad_fn()->name() == "MulConstantBackward"

#include <cstdint>
#include <memory>
#include <string>
#include <typeinfo>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "ag/autograd/grad_mode.h"
#include "ag/autograd/node.h"
#include "ag/autograd/tensor.h"

namespace ag {

using tensor_list = std::vector<Tensor>;

/// A value kept in AutogradContext::saved_data (LibTorch's IValue, the types ag needs).
///
///     ctx->saved_data["n"] = 3;  ctx->saved_data["n"].toInt();
class IValue {
 public:
  IValue() = default;
  IValue(bool v) : v_(v) {}
  template <class I, std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>, int> = 0>
  IValue(I v) : v_(static_cast<std::int64_t>(v)) {}
  IValue(double v) : v_(v) {}
  IValue(std::string v) : v_(std::move(v)) {}
  IValue(const char* v) : v_(std::string(v)) {}
  IValue(Tensor v) : v_(std::move(v)) {}
  IValue(std::vector<std::int64_t> v) : v_(std::move(v)) {}
  IValue(std::vector<double> v) : v_(std::move(v)) {}

  bool isNone() const { return v_.index() == 0; }
  bool toBool() const { return get<bool>("bool"); }
  std::int64_t toInt() const { return get<std::int64_t>("int"); }
  double toDouble() const { return v_.index() == 2 ? static_cast<double>(std::get<std::int64_t>(v_)) : get<double>("double"); }
  const std::string& toStringRef() const { return get<std::string>("string"); }
  const Tensor& toTensor() const { return get<Tensor>("Tensor"); }
  const std::vector<std::int64_t>& toIntVector() const { return get<std::vector<std::int64_t>>("int list"); }
  const std::vector<double>& toDoubleVector() const { return get<std::vector<double>>("double list"); }

 private:
  template <class T>
  const T& get(const char* want) const {
    const T* p = std::get_if<T>(&v_);
    AG_CHECK(p != nullptr, "IValue: expected a ", want, ", holds a ", kind());
    return *p;
  }
  const char* kind() const;

  std::variant<std::monostate, bool, std::int64_t, double, std::string, Tensor, std::vector<std::int64_t>,
               std::vector<double>>
      v_;
};

struct FunctionAccess;
namespace detail {
class CppNode;
}

/// What forward leaves for backward, with LibTorch's names.
class AutogradContext {
 public:
  /// Tensors backward needs, checked against in-place changes when it reads them.
  void save_for_backward(tensor_list to_save) { to_save_ = std::move(to_save); }
  /// The saved tensors (in backward; with their history under create_graph).
  tensor_list get_saved_variables() const;
  /// Declares inputs that forward modified in place; they must be among its outputs.
  void mark_dirty(const tensor_list& inputs) { dirty_ = inputs; }
  /// Declares outputs that have no gradient (indices, masks): they do not require grad.
  void mark_non_differentiable(const tensor_list& outputs) { non_differentiable_ = outputs; }
  /// Whether backward gets zeros (the default) or undefined tensors for outputs no gradient reached.
  void set_materialize_grads(bool value) { materialize_grads_ = value; }
  /// Whether forward argument i (counting every argument, tensor or not) needs a gradient.
  bool needs_input_grad(std::size_t i) const { return i < needs_input_grad_.size() && needs_input_grad_[i]; }

  /// Anything else backward needs: numbers, strings, shapes, tensors.
  std::unordered_map<std::string, IValue> saved_data;

 private:
  friend struct FunctionAccess;
  friend class detail::CppNode;
  tensor_list to_save_, dirty_, non_differentiable_;
  tensor_list unpacked_;  // in backward: the saved tensors as the engine checked them
  std::vector<bool> needs_input_grad_;
  bool materialize_grads_ = true;
  bool in_backward_ = false;
};

namespace detail {

/// The node of a custom function: its context, and backward as a plain function.
class CppNode final : public Node {
 public:
  using Backward = tensor_list (*)(AutogradContext*, tensor_list);
  CppNode(const char* name, Backward backward, std::vector<int> arg_to_edge)
      : Node(name), backward_(backward), arg_to_edge_(std::move(arg_to_edge)) {}
  Grads apply(Grads&& grad_outputs, const BackwardContext& ctx) override;
  using Node::add_output;
  AutogradContext context;

 private:
  friend struct ag::FunctionAccess;
  Backward backward_;
  std::vector<int> arg_to_edge_;  // per forward argument: its edge, or -1 for a non-tensor
};

std::string demangled_name(const char* mangled);

template <class A>
constexpr bool is_tensor_arg = std::is_same_v<std::decay_t<A>, Tensor>;

}  // namespace detail

/// What Function<T>::apply does around the user's forward, out of line.
struct FunctionAccess {
  static void set_needs_input_grad(AutogradContext& ctx, std::vector<bool> needs) {
    ctx.needs_input_grad_ = std::move(needs);
  }
  /// Wires the outputs of forward to a new CppNode that takes over ctx (or leaves them plain when
  /// nothing needs grad).
  static tensor_list finish(const char* name, detail::CppNode::Backward backward, AutogradContext& ctx,
                            std::vector<int> arg_to_edge, const tensor_list& inputs, tensor_list outputs, bool record);
};

/// The base of a custom function T with
///     static Tensor forward(AutogradContext*, args...)          (or returning tensor_list)
///     static tensor_list backward(AutogradContext*, tensor_list grad_outputs)
/// backward returns one entry per forward argument (undefined for non-tensors and for inputs
/// that get no gradient). forward runs without recording; its outputs get one node,
/// "<T>Backward".
template <class T>
struct Function {
  template <class... Args>
  static auto apply(Args&&... args) {
    std::vector<int> arg_to_edge;
    tensor_list inputs;
    std::vector<bool> needs;
    (collect(args, inputs, arg_to_edge, needs), ...);
    const bool record = GradMode::is_enabled() && [&] {
      for (const Tensor& t : inputs)
        if (t.defined() && t.requires_grad()) return true;
      return false;
    }();
    AutogradContext ctx;
    FunctionAccess::set_needs_input_grad(ctx, std::move(needs));
    using Out = decltype(T::forward(&ctx, std::forward<Args>(args)...));
    tensor_list outputs;
    {
      NoGradGuard no_grad;
      if constexpr (std::is_same_v<Out, Tensor>) outputs.push_back(T::forward(&ctx, std::forward<Args>(args)...));
      else outputs = T::forward(&ctx, std::forward<Args>(args)...);
    }
    static const std::string name = detail::demangled_name(typeid(T).name()) + "Backward";
    outputs = FunctionAccess::finish(name.c_str(), &T::backward, ctx, std::move(arg_to_edge), inputs, std::move(outputs),
                                     record);
    if constexpr (std::is_same_v<Out, Tensor>) return outputs[0];
    else return outputs;
  }

 private:
  template <class A>
  static void collect(const A& a, tensor_list& inputs, std::vector<int>& arg_to_edge, std::vector<bool>& needs) {
    if constexpr (detail::is_tensor_arg<A>) {
      arg_to_edge.push_back(static_cast<int>(inputs.size()));
      inputs.push_back(a);
      needs.push_back(a.defined() && a.requires_grad());
    } else {
      arg_to_edge.push_back(-1);
      needs.push_back(false);
    }
  }
};

}  // namespace ag
