#include "ag/autograd/graph.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <map>
#include <sstream>

#include "ag/autograd/engine.h"
#include "ag/autograd/node.h"
#include "ag/autograd/ops.h"
#include "ag/autograd/tensor_impl.h"

namespace ag {

namespace {

std::string leaf_name(const TensorImpl* leaf, const NamedTensors& names) {
  for (const auto& [name, t] : names)
    if (t.impl() == leaf) return name;
  return "";
}

std::string describe(const Node& n) {
  std::ostringstream os;
  os << n.name() << "  -> " << n.shape() << "  " << n.dtype();
  if (!n.saved_tensors().empty()) os << "  saved " << n.saved_tensors().size();
  if (n.released()) os << "  (freed)";
  return os.str();
}

}  // namespace

/// "[2, 3] mean 0.1234 |max| 1.5000": a line about a tensor's values.
std::string summary(const Tensor& t) {
  if (!t.defined()) return "none";
  std::ostringstream os;
  os << to_string(t.shape());
  if (t.numel() == 0 || !t.is_floating_point()) return os.str();
  NoGradGuard no_grad;
  Tensor d = t.detach().to(kFloat64);
  char buf[96];
  if (t.numel() == 1) std::snprintf(buf, sizeof buf, " %.4g", d.item<double>());
  else std::snprintf(buf, sizeof buf, " mean %.4g |max| %.4g", d.mean().item<double>(), d.abs().max().item<double>());
  return os.str() + buf;
}

std::string to_dot(const Tensor& root, const NamedTensors& names) { return to_dot(root, DotOptions{names, false}); }

std::string to_dot(const Tensor& root, const DotOptions& options) {
  const NamedTensors& names = options.names;
  std::ostringstream dot;
  dot << "digraph ag {\n  rankdir=BT;\n  node [fontname=\"monospace\", fontsize=10];\n";
  std::map<const void*, std::string> ids;
  auto id_of = [&](const void* p) {
    auto it = ids.find(p);
    if (it != ids.end()) return it->second;
    std::string id = "n" + std::to_string(ids.size());
    ids.emplace(p, id);
    return id;
  };
  std::string out_id = "out";
  dot << "  out [label=\"output " << to_string(root.shape()) << "\", shape=oval, style=filled, fillcolor=\"#c8e6c9\"];\n";
  if (!root.grad_fn()) {
    dot << "}\n";
    return dot.str();
  }
  std::vector<const Node*> stack{root.grad_fn().get()};
  dot << "  " << id_of(root.grad_fn().get()) << " -> out;\n";
  std::map<const void*, bool> done;
  while (!stack.empty()) {
    const Node* n = stack.back();
    stack.pop_back();
    if (done[n]) continue;
    done[n] = true;
    std::string nid = id_of(n);
    dot << "  " << nid << " [shape=box, label=\"" << n->name() << "\\n" << to_string(n->shape()) << " "
        << dtype_name(n->dtype());
    for (const auto& [tname, t] : names)  // a named output of this node: its value, and its gradient
      if (t.grad_fn().get() == n) {
        dot << "\\n" << tname << ": " << summary(t);
        if (options.grads && t.retains_grad()) dot << "\\ngrad: " << summary(t.grad());
      }
    if (!n->saved_tensors().empty()) dot << "\\nsaved: " << n->saved_tensors().size();
    if (n->released()) dot << "\\n(freed)";
    dot << "\"" << (n->released() ? ", style=dashed" : "") << "];\n";
    for (const Edge& e : n->next_functions()) {
      if (e.fn) {
        dot << "  " << id_of(e.fn.get()) << " -> " << nid << ";\n";
        stack.push_back(e.fn.get());
      } else if (e.leaf) {
        std::string lid = id_of(e.leaf.get());
        if (!done[e.leaf.get()]) {
          done[e.leaf.get()] = true;
          std::string name = leaf_name(e.leaf.get(), names);
          Tensor leaf(e.leaf);
          dot << "  " << lid << " [shape=ellipse, style=filled, fillcolor=\"#bbdefb\", label=\""
              << (name.empty() ? "leaf" : name) << "\\n" << (options.grads ? summary(leaf) : to_string(e.leaf->shape))
              << (options.grads ? "\\ngrad: " + summary(leaf.grad()) : std::string("\\nrequires_grad")) << "\"];\n";
        }
        dot << "  " << lid << " -> " << nid << ";\n";
      }
    }
  }
  dot << "}\n";
  return dot.str();
}

std::string graph_str(const Tensor& root, const NamedTensors& names) {
  std::ostringstream os;
  if (!root.grad_fn()) {
    os << (root.requires_grad() ? "leaf " : "constant ") << root.shape() << "\n";
    return os.str();
  }
  // Linear in the size of the graph: each node is printed (or elided) once, indentation stops
  // growing at kMaxIndent levels (deeper lines say their depth), and a chain of more than
  // 2 * kChainKeep + 1 one-input nodes shows its first and last kChainKeep nodes only.
  static constexpr int kMaxIndent = 32;
  constexpr std::size_t kChainKeep = 5;
  struct Seen {
    int number;
    bool elided;
  };
  std::map<const Node*, Seen> seen;
  auto only_input = [](const Node* n) -> const Node* {
    const auto& next = n->next_functions();
    return next.size() == 1 && next[0].fn ? next[0].fn.get() : nullptr;
  };
  auto pad = [](int depth) {
    std::string p(static_cast<std::size_t>(std::min(depth, kMaxIndent)) * 2, ' ');
    return depth > kMaxIndent ? p + "[depth " + std::to_string(depth) + "] " : p;
  };
  struct Item {
    const Edge* edge;
    const Node* node;
    int depth;
  };
  std::vector<Item> stack{{nullptr, root.grad_fn().get(), 0}};
  while (!stack.empty()) {
    Item it = stack.back();
    stack.pop_back();
    if (!it.node) {
      std::string name = leaf_name(it.edge->leaf.get(), names);
      os << pad(it.depth) << "AccumulateGrad  " << (name.empty() ? "" : name + " ") << it.edge->leaf->shape << "\n";
      continue;
    }
    auto found = seen.find(it.node);
    if (found != seen.end()) {
      os << pad(it.depth) << it.node->name() << "  (#" << found->second.number
         << (found->second.elided ? ", elided above)\n" : ", shown above)\n");
      continue;
    }
    std::vector<const Node*> chain{it.node};
    for (const Node* p = only_input(it.node); p && !seen.count(p); p = only_input(p)) chain.push_back(p);
    if (chain.size() > 2 * kChainKeep + 1) {
      for (std::size_t k = 0; k < kChainKeep; ++k) {
        int number = static_cast<int>(seen.size()) + 1;
        seen.emplace(chain[k], Seen{number, false});
        os << pad(it.depth + static_cast<int>(k)) << describe(*chain[k]) << "  #" << number << "\n";
      }
      std::map<std::string, std::size_t> kinds;
      const std::size_t elided = chain.size() - 2 * kChainKeep;
      for (std::size_t k = kChainKeep; k < chain.size() - kChainKeep; ++k) {
        seen.emplace(chain[k], Seen{static_cast<int>(seen.size()) + 1, true});
        ++kinds[chain[k]->name()];
      }
      os << pad(it.depth + static_cast<int>(kChainKeep)) << "... " << elided << " more nodes in a chain (";
      std::size_t shown = 0;
      for (const auto& [kind, count] : kinds) {
        if (shown++ == 4) {
          os << ", ...";
          break;
        }
        os << (shown > 1 ? ", " : "") << kind << " x" << count;
      }
      os << ") ...\n";
      stack.push_back({nullptr, chain[chain.size() - kChainKeep], it.depth + static_cast<int>(kChainKeep) + 1});
      continue;
    }
    int number = static_cast<int>(seen.size()) + 1;
    seen.emplace(it.node, Seen{number, false});
    os << pad(it.depth) << describe(*it.node) << "  #" << number << "\n";
    const auto& next = it.node->next_functions();
    for (std::size_t i = next.size(); i-- > 0;) {
      const Edge& e = next[i];
      if (e.fn) stack.push_back({nullptr, e.fn.get(), it.depth + 1});
      else if (e.leaf) stack.push_back({&e, nullptr, it.depth + 1});
    }
  }
  return os.str();
}

// ---- watching backward: anomaly mode's check and BackwardTrace's steps ----------------------

namespace {

double norm_or_nan(const Tensor& t) {
  if (!t.defined()) return NAN;
  NoGradGuard no_grad;
  return t.to(kFloat64).norm().item<double>();
}

std::string shapes_str(const Grads& grads) {
  std::string s;
  for (std::size_t i = 0; i < grads.size(); ++i)
    s += (i ? ", " : "") + (grads[i].defined() ? to_string(grads[i].shape()) : std::string("none"));
  return "(" + s + ")";
}

thread_local BackwardTrace* t_trace = nullptr;

}  // namespace

void detail::check_finite(const Node& n, const Grads& result) {
  for (std::size_t i = 0; i < result.size(); ++i) {
    if (!result[i].defined() || !is_floating(result[i].dtype())) continue;
    NoGradGuard no_grad;
    if (all(isfinite(result[i].is_sparse() ? result[i].values() : result[i])).item<bool>()) continue;
    std::ostringstream msg;
    msg << "anomaly: " << n.name() << " returned a gradient with NaN or Inf for its input " << i << " (shape "
        << result[i].shape() << ", gradients out " << shapes_str(result) << ")";
    if (const NodeOrigin* o = n.origin())
      msg << "; it was made by op #" << o->position << " of the forward pass"
          << (o->label.empty() ? "" : " in '" + o->label + "'");
    else
      msg << "; it was made before anomaly mode was turned on";
    throw AnomalyError(msg.str());
  }
}

void detail::trace_step(BackwardTrace& trace, const Node& n, const Grads& received, const Grads& returned,
                        double microseconds) {
  BackwardTrace::Step s;
  s.node = n.name();
  s.sequence_nr = n.sequence_nr();
  s.microseconds = microseconds;
  for (const Tensor& g : received) {
    s.grad_output_shapes.push_back(g.defined() ? g.shape() : Shape());
    s.grad_output_norms.push_back(norm_or_nan(g));
  }
  for (const Tensor& g : returned) {
    s.grad_input_shapes.push_back(g.defined() ? g.shape() : Shape());
    s.grad_input_norms.push_back(norm_or_nan(g));
  }
  trace.add(std::move(s));
}

BackwardTrace::BackwardTrace() : outer_(t_trace) { t_trace = this; }
BackwardTrace::~BackwardTrace() { t_trace = outer_; }
BackwardTrace* BackwardTrace::current() { return t_trace; }

// ---- BackwardTrace's table ----------------------------------------------------------------------

std::string BackwardTrace::str() const {
  std::ostringstream os;
  os << std::left << std::setw(4) << "#" << std::setw(26) << "node" << std::setw(22) << "grad in (shape)"
     << std::setw(12) << "|grad in|" << std::setw(26) << "grads out (shapes)" << std::right << std::setw(10) << "us" << "\n";
  for (std::size_t i = 0; i < steps_.size(); ++i) {
    const Step& s = steps_[i];
    auto shapes = [](const std::vector<Shape>& v, const std::vector<double>& norms) {  // NaN norm: no gradient
      std::string r;
      for (std::size_t k = 0; k < v.size(); ++k) r += (k ? " " : "") + (std::isnan(norms[k]) ? "none" : to_string(v[k]));
      return r;
    };
    std::ostringstream norm;
    norm << std::setprecision(4) << (s.grad_output_norms.empty() ? NAN : s.grad_output_norms[0]);
    os << std::left << std::setw(4) << i + 1 << std::setw(26) << s.node << std::setw(22) << shapes(s.grad_output_shapes, s.grad_output_norms)
       << std::setw(12) << norm.str() << std::setw(26) << shapes(s.grad_input_shapes, s.grad_input_norms) << std::right << std::setw(10)
       << std::fixed << std::setprecision(1) << s.microseconds << std::defaultfloat << "\n";
  }
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const BackwardTrace& trace) { return os << trace.str(); }

}  // namespace ag
