// Custom functions: the node that runs a user's backward, and the wiring of forward's outputs.

#include "ag/autograd/function.h"

#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>

#include "ag/autograd/ops.h"
#include "ag/autograd/tensor_impl.h"

namespace ag {

const char* IValue::kind() const {
  static const char* const names[] = {"None", "bool", "int", "double", "string", "Tensor", "int list", "double list"};
  return names[v_.index()];
}

tensor_list AutogradContext::get_saved_variables() const {
  AG_CHECK_STATE(in_backward_, "get_saved_variables: the saved tensors are read in backward (forward saves them "
                 "with save_for_backward)");
  return unpacked_;
}

std::string detail::demangled_name(const char* mangled) {
  int status = 0;
  char* d = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string name = status == 0 && d ? d : mangled;
  std::free(d);
  const std::size_t colon = name.rfind("::");  // the type's own name, as PyTorch names the node
  return colon == std::string::npos ? name : name.substr(colon + 2);
}

namespace {
std::size_t find_impl(const tensor_list& list, const Tensor& t) {
  for (std::size_t i = 0; i < list.size(); ++i)
    if (list[i].defined() && list[i].is_same(t)) return i;
  return list.size();
}
}  // namespace

tensor_list FunctionAccess::finish(const char* name, detail::CppNode::Backward backward, AutogradContext& ctx,
                                   std::vector<int> arg_to_edge, const tensor_list& inputs, tensor_list outputs,
                                   bool record) {
  AG_CHECK(!outputs.empty(), name, ": forward returned no tensors");
  for (std::size_t i = 0; i < outputs.size(); ++i)
    AG_CHECK(outputs[i].defined(), name, ": forward returned an undefined tensor as output ", i);
  for (const Tensor& d : ctx.dirty_) {
    AG_CHECK(find_impl(outputs, d) < outputs.size(), name, ": a tensor marked dirty (shape ", d.shape(),
             ") must be returned by forward, as it was modified in place");
    AG_CHECK_STATE(!(record && d.is_leaf() && d.requires_grad() && !d.is_view()), name,
                   ": forward modified in place a leaf of shape ", d.shape(), " that requires grad");
  }
  // An input returned as it is becomes a new tensor of the same data, with its own history.
  for (Tensor& out : outputs)
    if (find_impl(inputs, out) < inputs.size() && find_impl(ctx.dirty_, out) == ctx.dirty_.size())
      out = detail::make_alias(out);
  if (!record) return outputs;

  auto node = std::allocate_shared<detail::CppNode>(detail::PoolAllocator<void>(), name, backward, std::move(arg_to_edge));
  std::vector<SavedTensor> saved;
  for (const Tensor& t : ctx.to_save_) {
    if (!t.defined()) {
      saved.push_back(SavedTensor{});
      continue;
    }
    const std::size_t k = find_impl(outputs, t);
    SavedTensor s = k < outputs.size() ? save_output(t) : save(t);  // a saved output keeps no node: no cycle
    s.output_nr = static_cast<std::uint32_t>(k < outputs.size() ? k : 0);
    saved.push_back(std::move(s));
  }
  // The node's outputs are all of forward's; only the differentiable ones get it as grad_fn.
  Tensor first = detail::make_alias(outputs[0]);
  detail::connect(node, *first.impl(), inputs, saved.data(), saved.size());
  for (std::size_t i = 1; i < outputs.size(); ++i) node->add_output(outputs[i].shape(), outputs[i].dtype());
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    Tensor& out = outputs[i];
    if (!is_floating(out.dtype()) || find_impl(ctx.non_differentiable_, out) < ctx.non_differentiable_.size()) continue;
    const bool dirty = find_impl(ctx.dirty_, out) < ctx.dirty_.size();
    if (dirty && out.is_view()) {  // an in-place change of a view: its base gets the history
      Tensor marker = detail::make_alias(out);
      detail::attach_output(node, *marker.impl(), static_cast<std::uint32_t>(i));
      detail::rebase_view(out, marker);
    } else {
      detail::attach_output(node, *out.impl(), static_cast<std::uint32_t>(i));
    }
  }
  // The node keeps the context; the forward-time lists would hold its own outputs (a cycle).
  ctx.to_save_.clear();
  ctx.dirty_.clear();
  ctx.non_differentiable_.clear();
  node->context = std::move(ctx);
  return outputs;
}

Grads detail::CppNode::apply(Grads&& grad_outputs, const BackwardContext& bctx) {
  tensor_list grads(grad_outputs.begin(), grad_outputs.end());
  for (std::size_t i = 0; i < grads.size(); ++i)
    if (!grads[i].defined() && context.materialize_grads_) grads[i] = zeros(shape(i), dtype(i));
  context.unpacked_.clear();
  for (std::size_t i = 0; i < bctx.num_saved(); ++i) context.unpacked_.push_back(bctx.saved(i));
  context.in_backward_ = true;
  tensor_list result = backward_(&context, std::move(grads));
  context.in_backward_ = false;
  context.unpacked_.clear();
  AG_CHECK_STATE(result.size() == arg_to_edge_.size(), name(), ": backward returned ", result.size(),
                 " gradients, but forward took ", arg_to_edge_.size(), " arguments (return one per argument, an "
                 "undefined Tensor for those that are not tensors or get no gradient)");
  Grads out(next_functions().size());
  for (std::size_t a = 0; a < arg_to_edge_.size(); ++a) {
    if (arg_to_edge_[a] < 0) {
      AG_CHECK_STATE(!result[a].defined(), name(), ": backward returned a gradient for argument ", a,
                     ", which is not a tensor");
      continue;
    }
    out[static_cast<std::size_t>(arg_to_edge_[a])] = std::move(result[a]);
  }
  return out;
}

}  // namespace ag
