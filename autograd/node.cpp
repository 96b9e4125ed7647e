// Nodes and their wiring: how an op records itself (connect), what it saves, in-place rebasing,
// tensor hooks and retain_grad, grad mode, and anomaly mode's record of where a node was made.
// The backward walk over these nodes is engine.cpp.

#include "ag/autograd/node.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "ag/autograd/engine.h"
#include "ag/autograd/hooks.h"
#include "ag/autograd/ops.h"
#include "ag/autograd/tensor_impl.h"

namespace ag {

// ---- grad mode and anomaly mode -------------------------------------------------------------

namespace {
thread_local std::uint64_t t_next_sequence_nr = 0;
thread_local std::vector<std::string> t_anomaly_labels;
std::atomic<bool> g_anomaly_enabled{false};
std::atomic<std::uint64_t> g_anomaly_ops{0};  // ops made since anomaly mode was turned on

/// Nodes alive, counted per thread, so that making and freeing a node costs no locked
/// instruction (a node made on one thread and freed on another moves a count between the two):
/// live_count() adds up the counts of the running threads and what the ended ones left.
struct LiveNodes {
  std::mutex m;
  std::vector<const std::atomic<std::int64_t>*> running;
  std::atomic<std::int64_t> ended{0};
};
LiveNodes& live_nodes() {
  static LiveNodes* const l = new LiveNodes;  // never destroyed: threads may end after main returns
  return *l;
}
thread_local std::atomic<std::int64_t> t_live_nodes{0};  // written by its own thread only
thread_local bool t_live_registered = false, t_live_gone = false;

struct LiveRegistration {
  LiveRegistration() {
    std::lock_guard<std::mutex> lock(live_nodes().m);
    live_nodes().running.push_back(&t_live_nodes);
  }
  ~LiveRegistration() {
    LiveNodes& l = live_nodes();
    std::lock_guard<std::mutex> lock(l.m);
    l.ended.fetch_add(t_live_nodes.load(std::memory_order_relaxed), std::memory_order_relaxed);
    l.running.erase(std::find(l.running.begin(), l.running.end(), &t_live_nodes));
    t_live_registered = false;
    t_live_gone = true;  // nodes freed later on this thread (by other thread-exit cleanup) count in `ended`
  }
};

[[gnu::noinline]] void count_nodes_slow(std::int64_t delta) {
  if (t_live_gone) {
    live_nodes().ended.fetch_add(delta, std::memory_order_relaxed);
    return;
  }
  static thread_local LiveRegistration registration;  // this thread's first node
  t_live_registered = true;
  t_live_nodes.store(t_live_nodes.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
}

inline void count_nodes(std::int64_t delta) {
  if (__builtin_expect(t_live_registered, true))
    t_live_nodes.store(t_live_nodes.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
  else
    count_nodes_slow(delta);
}
}  // namespace


bool AnomalyMode::is_enabled() { return g_anomaly_enabled.load(std::memory_order_relaxed); }
void AnomalyMode::set_enabled(bool enabled) {
  if (enabled && !g_anomaly_enabled.load(std::memory_order_relaxed)) g_anomaly_ops.store(0, std::memory_order_relaxed);
  g_anomaly_enabled.store(enabled, std::memory_order_relaxed);
}
void set_detect_anomaly(bool enabled) { AnomalyMode::set_enabled(enabled); }

AnomalyLabel::AnomalyLabel(std::string label) { t_anomaly_labels.push_back(std::move(label)); }
AnomalyLabel::~AnomalyLabel() { t_anomaly_labels.pop_back(); }

// ---- hooks ------------------------------------------------------------------------------------

void HookHandle::remove() {
  if (auto registry = registry_.lock()) registry->remove(id_);
  registry_.reset();
}

// ---- nodes ------------------------------------------------------------------------------------

/// Node's private state, for the functions below and the engine.
struct NodeAccess {
  /// `input(i)` is the i-th input tensor.
  template <class Input>
  static void wire(Node& n, TensorImpl& out, Input input, std::size_t n_inputs, const SavedTensor* saved,
                   std::size_t n_saved) {
    n.next_.reserve(n_inputs);
    for (std::size_t i = 0; i < n_inputs; ++i) {
      Edge& e = n.next_.emplace_back();
      const Tensor& t = input(i);
      if (TensorImpl* in = t.impl()) {
        if (const std::shared_ptr<Node>& fn = detail::grad_fn_of(*in)) {
          e.fn = fn;
          e.input_nr = in->output_nr;
        } else if (in->requires_grad) {
          e.leaf = t.impl_ptr();
        }
      }
    }
    for (std::size_t i = 0; i < n_saved; ++i) n.saved_.push_back(saved[i]);
    n.had_saved_ = n_saved > 0;
    if (n.outputs_.empty()) n.outputs_.push_back({out.shape, out.dtype});
    if (AnomalyMode::is_enabled())
      n.origin_ = std::make_unique<NodeOrigin>(NodeOrigin{g_anomaly_ops.fetch_add(1, std::memory_order_relaxed) + 1,
                                                          t_anomaly_labels.empty() ? std::string() : t_anomaly_labels.back()});
  }

  // Moves out the subgraph this node alone owns, so that dropping a graph is a loop, not a
  // recursion: a 100,000-op chain must not overflow the stack when it is freed.
  static void take_children(Node& n, SmallVector<std::shared_ptr<Node>, 8>& out) {
    for (Edge& e : n.next_)
      if (e.fn.use_count() == 1) out.push_back(std::move(e.fn));
    for (SavedTensor& s : n.saved_) {
      TensorImpl* impl = s.tensor.impl();
      if (impl && s.tensor.impl_ptr().use_count() == 1 && impl->grad_fn.use_count() == 1)
        out.push_back(std::move(impl->grad_fn));
    }
  }

  static std::shared_ptr<HookList>& pre_hooks(Node& n, std::size_t output) {
    if (!n.watch_) n.watch_ = std::make_unique<Node::Watch>();
    auto& hooks = n.watch_->pre_hooks;
    if (hooks.size() <= output) hooks.resize(n.outputs_.size());
    return hooks[output];
  }
  static std::weak_ptr<TensorImpl>& retained(Node& n, std::size_t output) {
    if (!n.watch_) n.watch_ = std::make_unique<Node::Watch>();
    auto& retained = n.watch_->retained;
    if (retained.size() <= output) retained.resize(n.outputs_.size());
    return retained[output];
  }
};

Node::Node(const char* name) : name_(name), seq_(t_next_sequence_nr++) { count_nodes(1); }

Node::~Node() {
  SmallVector<std::shared_ptr<Node>, 8> pending;  // a chain needs one slot, a tree its width
  NodeAccess::take_children(*this, pending);
  while (!pending.empty()) {
    std::shared_ptr<Node> n = std::move(pending.back());
    pending.pop_back();
    NodeAccess::take_children(*n, pending);
  }  // each n is destroyed here with nothing left to recurse into
  count_nodes(-1);
}

std::int64_t Node::live_count() {
  LiveNodes& l = live_nodes();
  std::lock_guard<std::mutex> lock(l.m);
  std::int64_t n = l.ended.load(std::memory_order_relaxed);
  for (const std::atomic<std::int64_t>* c : l.running) n += c->load(std::memory_order_relaxed);
  return n;
}

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

void detail::connect(const std::shared_ptr<Node>& node, TensorImpl& out, const TensorRef* inputs, std::size_t n_inputs,
                     const SavedTensor* saved, std::size_t n_saved, std::uint32_t output_nr) {
  NodeAccess::wire(*node, out, [inputs](std::size_t i) -> const Tensor& { return inputs[i].get(); }, n_inputs, saved,
                   n_saved);
  attach_output(node, out, output_nr);
}

void detail::connect(const std::shared_ptr<Node>& node, TensorImpl& out, const std::vector<Tensor>& inputs,
                     const SavedTensor* saved, std::size_t n_saved, std::uint32_t output_nr) {
  NodeAccess::wire(*node, out, [&inputs](std::size_t i) -> const Tensor& { return inputs[i]; }, inputs.size(), saved,
                   n_saved);
  attach_output(node, out, output_nr);
}

void detail::attach_output(const std::shared_ptr<Node>& node, TensorImpl& out, std::uint32_t output_nr) {
  out.grad_fn = node;
  out.output_nr = output_nr;
  if (out.base) out.view_version = out.storage->version;  // a view's node is current as of now
}

void detail::rebase_history(const Tensor& self, const Tensor& result) {
  TensorImpl& s = *self.impl();
  const TensorImpl& r = *result.impl();
  std::shared_ptr<Node> old = std::move(s.grad_fn);
  const std::uint32_t old_nr = s.output_nr;
  s.grad_fn = r.grad_fn;
  s.output_nr = r.output_nr;
  if (s.retains_grad && s.grad_fn) {
    if (old) NodeAccess::retained(*old, old_nr).reset();
    NodeAccess::retained(*s.grad_fn, s.output_nr) = self.impl_ptr();
  }
}

// ---- AccumulateGrad: what a leaf does with a pass's gradient ----------------------------------

/// Runs a tensor's gradient hooks in order; each may replace the gradient.
Tensor detail::run_hooks(const HookList* hooks, Tensor grad) {
  if (!hooks) return grad;
  for (const HookFn& hook : hooks->snapshot()) {
    Tensor replaced = hook(grad);
    if (!replaced.defined()) continue;
    AG_CHECK(replaced.shape() == grad.shape(), "register_hook: the hook returned a gradient of shape ",
             replaced.shape(), " for a tensor of shape ", grad.shape());
    grad = replaced.dtype() == grad.dtype() ? replaced : replaced.to(grad.dtype());
  }
  return grad;
}

namespace {

/// Whether `g` can become a leaf's .grad as it is: nobody else sees its memory, and it is laid
/// out as the leaf (PyTorch's gradient layout contract: .grad has the strides of its tensor when
/// that tensor is dense, as a transposed weight), so that optimizers can walk both at once.
bool can_steal(const Tensor& g, const TensorImpl& leaf) {
  const TensorImpl& gi = *g.impl();
  if (g.impl_ptr().use_count() != 1 || gi.storage.use_count() != 1 || gi.grad_fn || gi.offset != 0) return false;
  return leaf.contiguous ? gi.contiguous : gi.strides == leaf.strides;
}

/// Accumulation into a leaf that several threads may share is serialised, by one of a few
/// locks chosen by the leaf's address.
std::mutex& leaf_lock(const TensorImpl* leaf) {
  static std::mutex locks[64];
  return locks[(reinterpret_cast<std::uintptr_t>(leaf) >> 6) % 64];
}

}  // namespace

/// Adds one pass's total gradient into a leaf's .grad, as PyTorch's AccumulateGrad, then runs
/// the leaf's post-accumulate-grad hooks.
void detail::accumulate_into_leaf(const std::shared_ptr<TensorImpl>& leaf_ptr, Tensor g, bool create_graph) {
  TensorImpl& leaf = *leaf_ptr;
  AutoGradMode mode(create_graph);
  g = run_hooks(leaf.hooks.get(), std::move(g));
  {
    std::lock_guard<std::mutex> lock(leaf_lock(&leaf));
    Tensor& grad = leaf.grad;
    if (grad.defined()) {
      AG_CHECK_STATE(grad.shape() == g.shape(), "autograd: the .grad of a leaf has shape ", grad.shape(),
                     " but the new gradient has shape ", g.shape(), "; reset it with set_grad({}) or zero_grad()");
    }
    const bool sole_sparse = g.is_sparse() && g.impl_ptr().use_count() == 1 && g.impl()->sparse.use_count() == 1;
    if (grad.defined() && !create_graph && sole_sparse && grad.is_sparse() && grad._nnz() == 0 &&
        grad.dtype() == g.dtype()) {
      *grad.impl()->sparse = *g.impl()->sparse;  // into a zeroed sparse .grad: the rows themselves, no copy
      grad.mark_modified();
    } else if (grad.defined() && !create_graph && !(grad.is_sparse() && !g.is_sparse())) {
      NoGradGuard no_grad;
      grad.add_(g);  // dense += dense or sparse, sparse += sparse (rows appended)
    } else if (grad.defined()) {
      grad = grad + g;  // with create_graph, or a sparse .grad meeting a dense gradient: dense
    } else if (create_graph) {
      grad = g.clone();
    } else if (g.is_sparse()) {  // steal the rows when no one else holds them
      grad = sole_sparse ? g : g.clone();
    } else if (can_steal(g, leaf)) {  // else copy: later in-place accumulation must not write into others' data
      grad = g;
    } else {
      grad = detail::make_tensor_like(Tensor(leaf_ptr), g.dtype());
      detail::copy_values(grad, g);
    }
  }
  if (leaf.post_accumulate_hooks)
    for (const PostAccumulateGradHookFn& hook : leaf.post_accumulate_hooks->snapshot()) hook(Tensor(leaf_ptr));
}

// ---- tensor methods about the graph -------------------------------------------------------------

HookHandle Tensor::register_hook(HookFn hook) const {
  AG_CHECK_STATE(requires_grad(), "register_hook: cannot register a hook on a tensor that does not require grad");
  if (const std::shared_ptr<Node>& fn = detail::grad_fn_of(*impl_))
    return add_hook(NodeAccess::pre_hooks(*fn, impl_->output_nr), std::move(hook));
  return add_hook(impl_->hooks, std::move(hook));
}

HookHandle Tensor::register_post_accumulate_grad_hook(PostAccumulateGradHookFn hook) const {
  AG_CHECK_STATE(requires_grad() && is_leaf(), "register_post_accumulate_grad_hook: only a leaf that requires grad "
                 "accumulates a gradient; this tensor of shape ", shape(), " is ",
                 requires_grad() ? "computed by an op" : "not one that requires grad");
  return add_hook(impl_->post_accumulate_hooks, std::move(hook));
}

void Tensor::retain_grad() {
  AG_CHECK_STATE(requires_grad(), "retain_grad: cannot retain the gradient of a tensor that does not require grad");
  const std::shared_ptr<Node>& fn = detail::grad_fn_of(*impl_);
  if (!fn) return;  // leaves keep their gradient anyway
  impl_->retains_grad = true;
  NodeAccess::retained(*fn, impl_->output_nr) = impl_;
}

void* Tensor::mutable_raw_data() const {
  AG_CHECK_STATE(impl_ != nullptr, "raw_data(): the tensor is undefined (default-constructed or moved from)");
  return impl_->data;
}

void Tensor::mark_modified() const {
  AG_CHECK_STATE(impl_ != nullptr, "mark_modified(): the tensor is undefined (default-constructed or moved from)");
  impl_->storage->version.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace ag
