// The autograd engine: graph nodes, hooks, and the reverse walk.
//
// backward(root):
//   1. walk the graph from the root once (iteratively) and count, for each node, how many
//      edges point at it: its dependencies;
//   2. seed the root's gradient and run the nodes whose dependencies are all done, latest
//      created first (as PyTorch does); a node's backward turns the gradient of its output into
//      gradients of its inputs, which accumulate into the next nodes or into leaf slots;
//   3. free each node's saved tensors right after it ran (unless retain_graph);
//   4. run leaf hooks and add each leaf's total into its .grad.

#include "ag/autograd/engine.h"

#include <algorithm>
#include <atomic>
#include <unordered_map>

#include "ag/autograd/node.h"
#include "ag/autograd/ops.h"
#include "ag/autograd/tensor_impl.h"

namespace ag {

// ---- grad mode ------------------------------------------------------------------------------

namespace {
thread_local bool t_grad_enabled = true;
thread_local std::uint64_t t_next_sequence_nr = 0;
thread_local std::uint32_t t_epoch = 0;
std::atomic<std::int64_t> g_live_nodes{0};
}  // namespace

bool GradMode::is_enabled() { return t_grad_enabled; }
void GradMode::set_enabled(bool enabled) { t_grad_enabled = enabled; }

// ---- hooks ----------------------------------------------------------------------------------

struct HookList {
  std::vector<std::pair<std::uint64_t, HookFn>> hooks;
  std::uint64_t next_id = 1;

  static HookHandle add(std::shared_ptr<HookList>& list, HookFn fn) {
    if (!list) list = std::make_shared<HookList>();
    std::uint64_t id = list->next_id++;
    list->hooks.emplace_back(id, std::move(fn));
    return HookHandle(list, id);
  }
  /// Runs every hook in registration order; a hook may replace the gradient.
  Tensor run(Tensor grad) const {
    auto snapshot = hooks;  // a hook may remove itself
    for (auto& entry : snapshot) {
      Tensor replaced = entry.second(grad);
      if (!replaced.defined()) continue;
      AG_CHECK(replaced.shape() == grad.shape(), "register_hook: the hook returned a gradient of shape ",
               replaced.shape(), " for a tensor of shape ", grad.shape());
      grad = replaced.dtype() == grad.dtype() ? replaced : replaced.to(grad.dtype());
    }
    return grad;
  }
};

void HookHandle::remove() {
  if (auto list = list_.lock()) {
    auto& h = list->hooks;
    h.erase(std::remove_if(h.begin(), h.end(), [&](const auto& p) { return p.first == id_; }), h.end());
  }
  list_.reset();
}

// ---- nodes ----------------------------------------------------------------------------------

/// The engine's access to Node's private state.
struct NodeAccess {
  static void wire(Node& n, TensorImpl& out, const Tensor* inputs, std::size_t n_inputs, const SavedTensor* saved,
                   std::size_t n_saved) {
    n.next_.reserve(n_inputs);
    for (std::size_t i = 0; i < n_inputs; ++i) {
      Edge e;
      if (TensorImpl* in = inputs[i].impl()) {
        if (const std::shared_ptr<Node>& fn = detail::grad_fn_of(*in)) e.fn = fn;
        else if (in->requires_grad) e.leaf = inputs[i].impl_ptr();
      }
      n.next_.push_back(std::move(e));
    }
    for (std::size_t i = 0; i < n_saved; ++i) n.saved_.push_back(saved[i]);
    n.had_saved_ = n_saved > 0;
    n.shape_ = out.shape;
    n.dtype_ = out.dtype;
  }

  // Moves out the subgraph this node alone owns, so that dropping a graph is a loop, not a
  // recursion: a 100,000-op chain must not overflow the stack when it is freed.
  static void take_children(Node& n, std::vector<std::shared_ptr<Node>>& out) {
    auto take_from = [&](Tensor& t) {
      TensorImpl* impl = t.impl();
      if (impl && t.impl_ptr().use_count() == 1 && impl->grad_fn.use_count() == 1)
        out.push_back(std::move(impl->grad_fn));
    };
    for (Edge& e : n.next_)
      if (e.fn.use_count() == 1) out.push_back(std::move(e.fn));
    for (SavedTensor& s : n.saved_) take_from(s.tensor);
    take_from(n.grad_);
  }

  static std::shared_ptr<HookList>& pre_hooks(Node& n) { return n.pre_hooks_; }
  static std::weak_ptr<TensorImpl>& retained(Node& n) { return n.retained_; }
};

Node::Node(const char* name) : name_(name), seq_(t_next_sequence_nr++) { ++g_live_nodes; }

Node::~Node() {
  std::vector<std::shared_ptr<Node>> pending;
  NodeAccess::take_children(*this, pending);
  while (!pending.empty()) {
    std::shared_ptr<Node> n = std::move(pending.back());
    pending.pop_back();
    NodeAccess::take_children(*n, pending);
  }  // each n is destroyed here with nothing left to recurse into
  --g_live_nodes;
}

std::int64_t Node::live_count() { return g_live_nodes.load(); }

TensorImpl::~TensorImpl() = default;  // a grad_fn owned alone unwinds its graph iteratively (~Node)

std::string Edge::name() const {
  if (fn) return fn->name();
  if (leaf) return "AccumulateGrad";
  return "None";
}

bool BackwardContext::needs_grad(std::size_t i) const {
  return i < node_.next_functions().size() && node_.next_functions()[i].valid();
}

SavedTensor save(const Tensor& input) { return SavedTensor{input, input.version(), false}; }

SavedTensor save_output(const Tensor& output) {
  return SavedTensor{detail::make_alias(output), output.version(), true};
}

bool needs_grad_any(const std::vector<Tensor>& inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

void detail::connect(const std::shared_ptr<Node>& node, TensorImpl& out, const Tensor* inputs, std::size_t n_inputs,
                     const SavedTensor* saved, std::size_t n_saved) {
  NodeAccess::wire(*node, out, inputs, n_inputs, saved, n_saved);
  out.grad_fn = node;
  if (out.base) out.view_version = out.storage->version;  // a view's node is current as of now
}

// ---- gradient accumulation ----------------------------------------------------------------

namespace {

/// The one place gradients are summed: checks the shape, never writes into `incoming`
/// (it may be shared, e.g. `x + x` passes the same gradient to both inputs).
void accumulate_grad(Tensor& slot, const Tensor& incoming, const char* where) {
  if (!slot.defined()) {
    slot = incoming;
    return;
  }
  AG_CHECK_STATE(slot.shape() == incoming.shape(), "autograd: cannot accumulate a gradient of shape ",
                 incoming.shape(), " into one of shape ", slot.shape(), " (", where, ")");
  slot = slot + incoming;
}

/// Whether `g` can become a leaf's .grad as it is: nobody else sees its memory, and it is laid
/// out as the leaf (PyTorch's gradient layout contract: .grad has the strides of its tensor
/// when that tensor is dense, as a transposed weight), so that optimizers can walk both at once.
bool can_steal(const Tensor& g, const TensorImpl& leaf) {
  const TensorImpl& gi = *g.impl();
  if (g.impl_ptr().use_count() != 1 || gi.storage.use_count() != 1 || gi.grad_fn || gi.offset != 0) return false;
  if (leaf.contiguous) return gi.contiguous;
  return gi.strides == leaf.strides;
}

/// Adds one backward pass's total gradient into a leaf's .grad, as PyTorch's AccumulateGrad.
void accumulate_into_leaf(const std::shared_ptr<TensorImpl>& leaf_ptr, Tensor g, bool create_graph) {
  TensorImpl& leaf = *leaf_ptr;
  if (leaf.hooks) g = leaf.hooks->run(std::move(g));
  Tensor& grad = leaf.grad;
  if (!grad.defined()) {
    // Take the buffer when nobody else can see it and its layout fits; otherwise copy, so that
    // later in-place accumulation never writes into someone else's tensor.
    if (!create_graph && can_steal(g, leaf)) {
      grad = g;
    } else if (create_graph) {
      grad = g.clone();
    } else {
      Tensor fresh = detail::make_tensor_like(Tensor(leaf_ptr), g.dtype());
      detail::copy_values(fresh, g);
      grad = fresh;
    }
  } else if (!create_graph) {
    AG_CHECK_STATE(grad.shape() == g.shape(), "autograd: the .grad of a leaf has shape ", grad.shape(),
                   " but the new gradient has shape ", g.shape(), "; reset it with set_grad({}) or zero_grad()");
    NoGradGuard no_grad;
    grad.add_(g);
  } else {
    grad = grad + g;
  }
}

Tensor ones_for(const Tensor& t) { return ones(t.shape(), t.dtype()); }

}  // namespace

// ---- the walk ---------------------------------------------------------------------------------

class Engine {
 public:
  /// Runs backward from `roots`. With `inputs`, gradients for those tensors are captured and
  /// returned instead of being accumulated into any .grad (ag::grad).
  static std::vector<Tensor> execute(const std::vector<Tensor>& roots, const std::vector<Tensor>& root_grads,
                                     bool keep_graph, bool create_graph, const std::vector<Tensor>* inputs,
                                     bool allow_unused);
};

namespace {

struct LeafSlot {
  std::shared_ptr<TensorImpl> leaf;
  Tensor grad;
};

struct ByNewest {
  bool operator()(const Node* a, const Node* b) const { return a->sequence_nr() < b->sequence_nr(); }
};

}  // namespace

std::vector<Tensor> Engine::execute(const std::vector<Tensor>& roots, const std::vector<Tensor>& root_grads,
                                    bool keep_graph, bool create_graph, const std::vector<Tensor>* inputs,
                                    bool allow_unused) {
  const char* api = inputs ? "grad" : "backward";
  AG_CHECK(root_grads.empty() || root_grads.size() == roots.size(), api, ": got ", roots.size(),
           " tensors but ", root_grads.size(), " gradients");
  std::uint32_t epoch = ++t_epoch;
  if (epoch == 0) epoch = ++t_epoch;

  std::vector<Node*> graph;  // every node reachable from the roots
  std::vector<LeafSlot> leaves;
  auto leaf_slot = [&](const std::shared_ptr<TensorImpl>& leaf) -> LeafSlot& {
    std::int32_t s = leaf->backward_slot;
    if (s < 0 || s >= static_cast<std::int32_t>(leaves.size()) || leaves[s].leaf != leaf) {
      leaf->backward_slot = static_cast<std::int32_t>(leaves.size());
      leaves.push_back(LeafSlot{leaf, Tensor()});
      s = leaf->backward_slot;
    }
    return leaves[s];
  };
  struct Cleanup {  // on success or error, leave no scratch state behind
    std::vector<Node*>& graph;
    std::vector<LeafSlot>& leaves;
    ~Cleanup() {
      for (Node* n : graph) n->grad_ = Tensor();
      for (LeafSlot& l : leaves) l.leaf->backward_slot = -1;
    }
  } cleanup{graph, leaves};

  // 1. Seeds and dependency counts.
  std::vector<Node*> stack;
  auto discover = [&](Node* n) {
    if (n->epoch_ == epoch) return;
    n->epoch_ = epoch;
    n->deps_ = 0;
    n->grad_ = Tensor();
    n->needed_ = inputs == nullptr;
    graph.push_back(n);
    stack.push_back(n);
  };
  for (std::size_t i = 0; i < roots.size(); ++i) {
    const Tensor& r = roots[i];
    AG_CHECK(r.defined(), api, ": tensor ", i, " is undefined");
    AG_CHECK_STATE(r.requires_grad(), api, ": tensor ", i, " of shape ", r.shape(),
                   " does not require grad and has no grad_fn, so there is nothing to differentiate. "
                   "Create the inputs with requires_grad, or check for code under NoGradGuard.");
    if (r.grad_fn()) discover(r.grad_fn().get());
  }
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (Edge& e : n->next_)
      if (e.fn) {
        discover(e.fn.get());
        ++e.fn->deps_;
      }
  }

  // For ag::grad: which nodes and leaves are the requested inputs, and which nodes lie on a
  // path to one of them (the others need not run).
  std::unordered_map<const Node*, std::size_t> target_nodes;
  std::unordered_map<const TensorImpl*, std::size_t> target_leaves;
  std::vector<Tensor> captured;
  if (inputs) {
    captured.resize(inputs->size());
    for (std::size_t i = 0; i < inputs->size(); ++i) {
      const Tensor& in = (*inputs)[i];
      AG_CHECK(in.defined() && in.requires_grad(), "grad: input ", i,
               " does not require grad, so no gradient can be computed for it");
      if (in.grad_fn()) target_nodes.emplace(in.grad_fn().get(), i);
      else target_leaves.emplace(in.impl(), i);
    }
    // Children before parents: a reverse topological order from a Kahn pass over copies.
    std::unordered_map<Node*, std::int32_t> remaining;
    for (Node* n : graph) remaining[n] = n->deps_;
    std::vector<Node*> order, ready;
    for (Node* n : graph)
      if (n->deps_ == 0) ready.push_back(n);
    while (!ready.empty()) {
      Node* n = ready.back();
      ready.pop_back();
      order.push_back(n);
      for (Edge& e : n->next_)
        if (e.fn && --remaining[e.fn.get()] == 0) ready.push_back(e.fn.get());
    }
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      Node* n = *it;
      for (Edge& e : n->next_) {
        if (e.fn && (e.fn->needed_ || target_nodes.count(e.fn.get()))) n->needed_ = true;
        if (e.leaf && target_leaves.count(e.leaf.get())) n->needed_ = true;
      }
    }
  }

  std::vector<Node*> ready;  // a max-heap by sequence number
  auto push_ready = [&](Node* n) {
    ready.push_back(n);
    std::push_heap(ready.begin(), ready.end(), ByNewest{});
  };
  for (std::size_t i = 0; i < roots.size(); ++i) {
    const Tensor& r = roots[i];
    Tensor g = root_grads.empty() ? Tensor() : root_grads[i];
    if (!g.defined()) {
      AG_CHECK_STATE(r.numel() == 1, api, ": grad can be created implicitly only for one-element outputs, got shape ",
                     r.shape(), "; pass a gradient of that shape (e.g. ones_like(y)) or reduce it first (y.sum())");
      g = ones_for(r);
    }
    AG_CHECK(g.shape() == r.shape(), api, ": gradient of shape ", g.shape(), " does not match tensor ", i,
             " of shape ", r.shape());
    if (g.dtype() != r.dtype()) g = g.to(r.dtype());
    if (Node* n = r.grad_fn().get()) {
      accumulate_grad(n->grad_, g, "root");
    } else if (inputs) {
      auto it = target_leaves.find(r.impl());
      if (it != target_leaves.end()) accumulate_grad(captured[it->second], g, "root");
    } else {
      accumulate_grad(leaf_slot(r.impl_ptr()).grad, g, "root");
    }
  }
  for (Node* n : graph)
    if (n->deps_ == 0) push_ready(n);

  // 2. The reverse walk.
  while (!ready.empty()) {
    std::pop_heap(ready.begin(), ready.end(), ByNewest{});
    Node* n = ready.back();
    ready.pop_back();
    Tensor g = std::move(n->grad_);
    n->grad_ = Tensor();
    bool run = g.defined();
    if (run) {
      if (n->pre_hooks_) g = n->pre_hooks_->run(std::move(g));
      if (auto out = n->retained_.lock()) {
        NoGradGuard no_grad;
        out->grad = out->grad.defined() ? out->grad + g : g.clone();
      }
      if (inputs) {
        auto it = target_nodes.find(n);
        if (it != target_nodes.end()) accumulate_grad(captured[it->second], g, n->name_);
        run = n->needed_;
      }
    }
    Grads grads;
    if (run) {
      AG_CHECK_STATE(!n->released_, api, ": trying to backward through the graph a second time: ",
                     n->name_, " already freed its saved tensors. Pass retain_graph=true to the first backward() "
                     "if you need to backward through the same graph again.");
      SmallVector<Tensor, 2> saved;
      for (const SavedTensor& s : n->saved_) {
        AG_CHECK_STATE(s.tensor.version() == s.version, api, ": a ", dtype_name(s.tensor.dtype()), " tensor of shape ",
                       s.tensor.shape(), " saved by ", n->name_, " (its ", s.is_output ? "output" : "input",
                       ") was modified by an in-place operation: it is at version ", s.tensor.version(),
                       ", expected version ", s.version, ". Compute it out of place or clone() it first.");
        if (s.is_output && create_graph) {
          Tensor with_history = detail::make_alias(s.tensor);
          with_history.impl()->grad_fn = n->shared_from_this();
          saved.push_back(std::move(with_history));
        } else {
          saved.push_back(s.tensor);
        }
      }
      AutoGradMode mode(create_graph);
      grads = n->apply(g, BackwardContext(saved, *n));
      AG_CHECK_STATE(grads.size() == n->next_.size(), "autograd: ", n->name_, " returned ", grads.size(),
                     " gradients for ", n->next_.size(), " inputs");
    }
    for (std::size_t i = 0; i < n->next_.size(); ++i) {
      Edge& e = n->next_[i];
      if (run && grads[i].defined() && e.valid()) {
        Tensor gi = std::move(grads[i]);
        const Shape& want = e.fn ? e.fn->shape_ : e.leaf->shape;
        Dtype want_dtype = e.fn ? e.fn->dtype_ : e.leaf->dtype;
        AG_CHECK_STATE(gi.shape() == want, "autograd: ", n->name_, " returned a gradient of shape ", gi.shape(),
                       " for its input ", i, " of shape ", want);
        if (gi.dtype() != want_dtype) gi = gi.to(want_dtype);
        if (e.fn) {
          if (e.fn->needed_ || target_nodes.count(e.fn.get())) accumulate_grad(e.fn->grad_, gi, n->name_);
        } else if (!inputs) {
          accumulate_grad(leaf_slot(e.leaf).grad, gi, n->name_);
        } else {
          auto it = target_leaves.find(e.leaf.get());
          if (it != target_leaves.end()) accumulate_grad(captured[it->second], gi, n->name_);
        }
      }
      if (e.fn && --e.fn->deps_ == 0) push_ready(e.fn.get());
    }
    if (run && !keep_graph && n->had_saved_) {
      n->saved_.clear();
      n->released_ = true;
    }
  }

  // 3. Leaves.
  for (LeafSlot& l : leaves) {
    if (!l.grad.defined()) continue;
    AutoGradMode mode(create_graph);
    accumulate_into_leaf(l.leaf, std::move(l.grad), create_graph);
  }
  if (inputs) {
    for (std::size_t i = 0; i < captured.size(); ++i) {
      const Tensor& in = (*inputs)[i];
      if (captured[i].defined()) {
        if (!in.grad_fn() && in.impl()->hooks) captured[i] = in.impl()->hooks->run(captured[i]);
      } else {
        AG_CHECK_STATE(allow_unused, "grad: input ", i, " (shape ", in.shape(),
                       ") was not used to compute the outputs; pass allow_unused=true to get an undefined gradient");
      }
    }
  }
  return captured;
}

void backward(const std::vector<Tensor>& tensors, const std::vector<Tensor>& grad_tensors,
              std::optional<bool> retain_graph, bool create_graph) {
  Engine::execute(tensors, grad_tensors, retain_graph.value_or(create_graph), create_graph, nullptr, false);
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, std::optional<bool> retain_graph, bool create_graph,
                         bool allow_unused) {
  return Engine::execute(outputs, grad_outputs, retain_graph.value_or(create_graph), create_graph, &inputs,
                         allow_unused);
}

// ---- Tensor's autograd methods ----------------------------------------------------------------

void Tensor::backward(const Tensor& gradient, bool retain_graph, bool create_graph) const {
  ag::backward({*this}, {gradient}, retain_graph || create_graph, create_graph);
}

HookHandle Tensor::register_hook(HookFn hook) const {
  AG_CHECK_STATE(requires_grad(), "register_hook: cannot register a hook on a tensor that does not require grad");
  if (detail::grad_fn_of(*impl_)) return HookList::add(NodeAccess::pre_hooks(*impl_->grad_fn), std::move(hook));
  return HookList::add(impl_->hooks, std::move(hook));
}

void Tensor::retain_grad() {
  AG_CHECK_STATE(requires_grad(), "retain_grad: cannot retain the gradient of a tensor that does not require grad");
  if (!detail::grad_fn_of(*impl_)) return;  // leaves keep their gradient anyway
  impl_->retains_grad = true;
  NodeAccess::retained(*impl_->grad_fn) = impl_;
}

namespace detail {

void rebase_history(const Tensor& self, const Tensor& result) {
  TensorImpl& s = *self.impl();
  std::shared_ptr<Node> old = std::move(s.grad_fn);
  s.grad_fn = result.grad_fn();
  if (s.retains_grad && s.grad_fn) {
    if (old) NodeAccess::retained(*old).reset();
    NodeAccess::retained(*s.grad_fn) = self.impl_ptr();
  }
}

}  // namespace detail
}  // namespace ag
