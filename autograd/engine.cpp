// The autograd engine: one backward or grad call is one GraphTask, which holds everything the
// call needs and nothing outlives it, so calls can nest (backward inside a hook or a custom
// Function) and run on several threads at once.
//
// A GraphTask runs in phases:
//   1. discover: walk the graph from the roots once (iteratively) and count, for each node, how
//      many edges point at it: its dependencies;
//   2. prune (ag::grad only): keep the nodes that lie on a path to one of the requested inputs;
//   3. seed the roots' gradients, then walk: run the nodes whose dependencies are all done,
//      latest created first (as PyTorch does). A node's backward turns the gradients of its
//      outputs into gradients of its inputs, which accumulate into the next nodes, or into the
//      sinks: one per leaf for backward, one per requested input for ag::grad. A node's saved
//      tensors are freed right after it ran (unless retain_graph);
//      For backward, a leaf's sink goes into its .grad as soon as the last node with an edge to
//      it has run (PyTorch's AccumulateGrad), so post-accumulate-grad hooks see gradients while
//      the rest of the pass still runs (DistributedDataParallel starts communication there);
//   4. finish: backward adds the sinks still held (the roots that are leaves) into their .grad;
//      ag::grad returns the sinks; then the callbacks queued during the pass run.

#include "ag/autograd/engine.h"

#include <algorithm>
#include <chrono>
#include <unordered_map>

#include "ag/autograd/hooks.h"
#include "ag/autograd/node.h"
#include "ag/autograd/ops.h"
#include "ag/autograd/pointer_index.h"
#include "ag/autograd/tensor_impl.h"

namespace ag {

namespace {

using detail::PointerIndex;

/// The one place gradients are summed: checks the shape, never writes into `incoming` (it may be
/// shared, e.g. `x + x` passes the same gradient to both inputs).
void accumulate_grad(Tensor& slot, Tensor incoming, const char* where) {
  if (!slot.defined()) {
    slot = std::move(incoming);
    return;
  }
  AG_CHECK_STATE(slot.shape() == incoming.shape(), "autograd: cannot accumulate a gradient of shape ",
                 incoming.shape(), " into one of shape ", slot.shape(), " (", where, ")");
  slot = slot + incoming;
}

/// The callbacks of the innermost pass running on this thread (queue_callback adds to them).
thread_local std::vector<std::function<void()>>* t_callbacks = nullptr;

constexpr std::uint32_t kNoTask = ~std::uint32_t(0);

/// The roots of a pass or their gradients, by reference: a list, or the one tensor of
/// `loss.backward()` (no vector made for it).
struct TensorSpan {
  TensorSpan(const std::vector<Tensor>& v) : first(v.data()), n(v.size()) {}
  TensorSpan(const Tensor* t, std::size_t count) : first(t), n(count) {}
  std::size_t size() const { return n; }
  bool empty() const { return n == 0; }
  const Tensor& operator[](std::size_t i) const { return first[i]; }
  const Tensor* begin() const { return first; }
  const Tensor* end() const { return first + n; }
  const Tensor* first;
  std::size_t n;
};

/// A node of the pass: the gradients arriving at its outputs and where its edges lead.
struct NodeTask {
  NodeTask() noexcept {}  // user-provided: emplace_back() would otherwise zero it first
  Node* node = nullptr;
  std::uint64_t seq = 0;               // the node's sequence number: the walk runs the newest first
  Grads grads;                         // one per output of the node, summed over the edges into it
  SmallVector<std::uint32_t, 3> next;  // per edge: the task of its node, kLeaf | the sink of its leaf, or kNoTask
  std::int32_t deps = 0;
  bool needed = true;
};

/// Where the gradient of a leaf (backward) or of a requested input (ag::grad) is summed.
struct Sink {
  std::shared_ptr<TensorImpl> leaf;  // backward: the leaf; grad: the input, when a leaf
  Tensor grad;
  std::int32_t deps = 0;  // backward: the edges into the leaf whose nodes have not run yet
};

/// A pass's working memory. A thread keeps one between passes (a nested pass makes its own),
/// so a training loop's backward allocates nothing for its bookkeeping after the first step.
struct Scratch {
  std::vector<NodeTask> tasks;
  PointerIndex index;  // node -> its task, for the nodes more than one edge (or a root) refers to
  std::vector<Sink> sinks;
  PointerIndex leaf_sinks;  // leaf -> its sink
  std::vector<std::uint32_t> stack, ready;

  /// Empties it for the next pass; false when it grew too big to keep.
  bool recycle() {
    tasks.clear(), sinks.clear(), stack.clear(), ready.clear();
    index.reset(), leaf_sinks.reset();
    constexpr std::size_t kKeep = 4096;
    return tasks.capacity() <= kKeep && index.capacity() <= 4 * kKeep && sinks.capacity() <= kKeep;
  }
};
thread_local std::unique_ptr<Scratch> t_spare_scratch;

std::unique_ptr<Scratch> take_scratch() { return t_spare_scratch ? std::move(t_spare_scratch) : std::make_unique<Scratch>(); }
void give_back(std::unique_ptr<Scratch> s) { if (s->recycle() && !t_spare_scratch) t_spare_scratch = std::move(s); }

}  // namespace

// ---- the graph task -----------------------------------------------------------------------------

/// Everything one backward or grad call needs.
class GraphTask {
 public:
  GraphTask(TensorSpan roots, TensorSpan root_grads, bool keep_graph, bool create_graph,
            const std::vector<Tensor>* inputs)
      : roots_(roots), root_grads_(root_grads), keep_graph_(keep_graph), create_graph_(create_graph),
        inputs_(inputs), api_(inputs ? "grad" : "backward") {}
  ~GraphTask() { give_back(std::move(scratch_)); }
  GraphTask(const GraphTask&) = delete;
  GraphTask& operator=(const GraphTask&) = delete;

  /// Runs the pass; for ag::grad returns one gradient per input (undefined when unreached).
  std::vector<Tensor> run() {
    check_roots();
    std::vector<std::function<void()>>* outer = t_callbacks;
    t_callbacks = &callbacks_;
    struct Restore {
      std::vector<std::function<void()>>* outer;
      ~Restore() { t_callbacks = outer; }
    } restore{outer};
    discover();
    if (inputs_) prune();
    seed();
    walk();
    std::vector<Tensor> out = finish();
    // A callback may queue another: it runs too, after those already queued.
    for (std::size_t i = 0; i < callbacks_.size(); ++i) {
      std::function<void()> fn = std::move(callbacks_[i]);
      fn();
    }
    return out;
  }

 private:
  static constexpr std::uint32_t kLeaf = std::uint32_t(1) << 31;  // next[i] = kLeaf | sink: a leaf's edge (backward)
  static bool is_task(std::uint32_t next) { return next < kLeaf; }

  void check_roots() {
    AG_CHECK(root_grads_.empty() || root_grads_.size() == roots_.size(), api_, ": got ", roots_.size(),
             " tensors but ", root_grads_.size(), " gradients");
    for (std::size_t i = 0; i < roots_.size(); ++i) {
      const Tensor& r = roots_[i];
      AG_CHECK(r.defined(), api_, ": tensor ", i, " is undefined");
      AG_CHECK_STATE(r.requires_grad(), api_, ": tensor ", i, " of shape ", r.shape(),
                     " does not require grad and has no grad_fn, so there is nothing to differentiate. "
                     "Create the inputs with requires_grad, or check for code under NoGradGuard.");
    }
  }

  // 1. Every node reachable from the roots, and its dependency count.
  // A node that only this edge refers to (the common case: an op's output feeds one op) cannot
  // be reached another way, so it gets a task without a lookup.
  void discover() {
    std::vector<std::uint32_t>& stack = scratch_->stack;  // tasks whose edges are still to be followed
    for (const Tensor& r : roots_)
      if (Node* n = r.grad_fn().get()) {
        const std::uint32_t k = task_index(n, true);
        if (fresh_) stack.push_back(k);
      }
    while (!stack.empty()) {
      const std::uint32_t from = stack.back();
      stack.pop_back();
      for (const Edge& e : tasks_[from].node->next_functions()) {
        std::uint32_t k = kNoTask;
        if (e.fn) {
          if (e.fn.use_count() == 1) {
            k = add_task(e.fn.get());
            stack.push_back(k);
          } else {
            k = task_index(e.fn.get(), true);
            if (fresh_) stack.push_back(k);
          }
          ++tasks_[k].deps;
        } else if (e.leaf && !inputs_) {
          const std::uint32_t sink = leaf_sink(e.leaf);
          ++sinks_[sink].deps;
          k = kLeaf | sink;
        }
        tasks_[from].next.push_back(k);  // the walk finds each edge's task here, without a lookup
      }
    }
  }

  // 2. ag::grad: sinks for the inputs; only nodes on a path to one of them run.
  void prune() {
    for (std::size_t i = 0; i < inputs_->size(); ++i) {
      const Tensor& in = (*inputs_)[i];
      AG_CHECK(in.defined() && in.requires_grad(), "grad: input ", i,
               " does not require grad, so no gradient can be computed for it");
      sinks_.push_back({in.grad_fn() ? nullptr : in.impl_ptr(), Tensor()});
      bool added = false;
      if (in.grad_fn()) node_sinks_[{in.grad_fn().get(), in.impl()->output_nr}] = i;
      else leaf_sinks_.find_or_add(in.impl(), static_cast<std::uint32_t>(i), added);
    }
    // Children before parents (a reverse topological order), then a node is needed when an edge
    // of it reaches an input or a needed node.
    std::vector<std::int32_t> remaining(tasks_.size());
    std::vector<std::size_t> order, ready;
    for (std::size_t k = 0; k < tasks_.size(); ++k)
      if ((remaining[k] = tasks_[k].deps) == 0) ready.push_back(k);
    while (!ready.empty()) {
      std::size_t k = ready.back();
      ready.pop_back();
      order.push_back(k);
      for (std::uint32_t next : tasks_[k].next)
        if (is_task(next) && --remaining[next] == 0) ready.push_back(next);
    }
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      NodeTask& t = tasks_[*it];
      t.needed = false;
      const auto& edges = t.node->next_functions();
      for (std::size_t i = 0; i < edges.size(); ++i) {
        const Edge& e = edges[i];
        if ((e.fn && (tasks_[t.next[i]].needed || node_sinks_.count({e.fn.get(), e.input_nr}))) ||
            (e.leaf && leaf_sinks_.find(e.leaf.get()) != PointerIndex::npos))
          t.needed = true;
      }
    }
  }

  // 3a. The roots' gradients.
  void seed() {
    for (std::size_t i = 0; i < roots_.size(); ++i) {
      const Tensor& r = roots_[i];
      Tensor g = root_grads_.empty() ? Tensor() : root_grads_[i];
      if (!g.defined()) {
        AG_CHECK_STATE(r.numel() == 1, api_, ": grad can be created implicitly only for one-element outputs, got "
                       "shape ", r.shape(), "; pass a gradient of that shape (e.g. ones_like(y)) or reduce it first (y.sum())");
        g = ones(r.shape(), r.dtype());
      }
      AG_CHECK(g.shape() == r.shape(), api_, ": gradient of shape ", g.shape(), " does not match tensor ", i,
               " of shape ", r.shape());
      if (g.dtype() != r.dtype()) g = g.to(r.dtype());
      Edge e;
      if (r.grad_fn()) e.fn = r.grad_fn(), e.input_nr = r.impl()->output_nr;
      else e.leaf = r.impl_ptr();
      send(e, std::move(g), "root");
    }
  }

  // 3b. The reverse walk: ready nodes, newest first.
  void walk() {
    auto newest = [this](std::uint32_t a, std::uint32_t b) { return tasks_[a].seq < tasks_[b].seq; };
    std::vector<std::uint32_t>& ready = scratch_->ready;
    for (std::uint32_t k = 0; k < tasks_.size(); ++k)
      if (tasks_[k].deps == 0) ready.push_back(k);
    std::make_heap(ready.begin(), ready.end(), newest);
    while (!ready.empty()) {
      std::pop_heap(ready.begin(), ready.end(), newest);
      const std::uint32_t k = ready.back();
      ready.pop_back();
      run_node(k);
      for (std::uint32_t next : tasks_[k].next)
        if (is_task(next) && --tasks_[next].deps == 0) {
          ready.push_back(next);
          std::push_heap(ready.begin(), ready.end(), newest);
        }
    }
  }

  void run_node(std::size_t k) {
    run_node_body(k);
    if (!inputs_) release_leaves(k);
  }

  /// backward: the node has run; a leaf it was the last to feed gets its .grad now.
  void release_leaves(std::size_t k) {
    for (std::uint32_t next : tasks_[k].next) {
      if (next == kNoTask || is_task(next)) continue;
      Sink& s = sinks_[next & ~kLeaf];
      if (--s.deps == 0 && s.grad.defined()) detail::accumulate_into_leaf(s.leaf, std::move(s.grad), create_graph_);
    }
  }

  void run_node_body(std::size_t k) {
    NodeTask& t = tasks_[k];  // tasks_ does not grow during the walk
    Node& n = *t.node;
    Grads grads = std::move(t.grads);
    const bool watched = n.watch_ || inputs_;
    bool any = false;
    for (std::size_t o = 0; o < grads.size(); ++o) {
      if (!grads[o].defined()) continue;
      any = true;
      if (watched) grads[o] = output_hooks(n, o, std::move(grads[o]));
    }
    if (!any || !t.needed) return;
    Grads grad_inputs = call(n, grads);
    for (std::size_t i = 0; i < grad_inputs.size(); ++i)
      if (grad_inputs[i].defined() && n.next_[i].valid()) send(n.next_[i], std::move(grad_inputs[i]), n.name_, t.next[i]);
    if (!keep_graph_ && n.had_saved_) {
      n.saved_.clear();
      n.released_ = true;
    }
  }

  /// Output o's gradient after the hooks on that output, kept for retain_grad and ag::grad.
  Tensor output_hooks(Node& n, std::size_t o, Tensor g) {
    const Node::Watch* w = n.watch_.get();
    if (w && o < w->pre_hooks.size()) g = detail::run_hooks(w->pre_hooks[o].get(), std::move(g));
    if (w && o < w->retained.size())
      if (auto out = w->retained[o].lock()) {
        NoGradGuard no_grad;
        out->grad = out->grad.defined() ? out->grad + g : g.clone();
      }
    if (inputs_) {
      auto it = node_sinks_.find({&n, static_cast<std::uint32_t>(o)});
      if (it != node_sinks_.end()) accumulate_grad(sinks_[it->second].grad, g, n.name());
    }
    return g;
  }

  /// The node's backward on its saved tensors (version-checked), its result checked.
  Grads call(Node& n, Grads& grads) {
    AG_CHECK_STATE(!n.released_, api_, ": trying to backward through the graph a second time: ", n.name_,
                   " already freed its saved tensors. Pass retain_graph=true to the first backward() if you need to "
                   "backward through the same graph again.");
    bool outputs_saved = false;
    for (const SavedTensor& s : n.saved_) {
      AG_CHECK_STATE(s.tensor.version() == s.version, api_, ": a ", dtype_name(s.tensor.dtype()), " tensor of shape ",
                     s.tensor.shape(), " saved by ", n.name_, " (its ", s.is_output ? "output" : "input",
                     ") was modified by an in-place operation: it is at version ", s.tensor.version(),
                     ", expected version ", s.version, ". Compute it out of place or clone() it first.");
      outputs_saved = outputs_saved || s.is_output;
    }
    SmallVector<Tensor, 3> with_history;  // create_graph: saved outputs with their node, for this pass only
    if (outputs_saved && create_graph_)
      for (const SavedTensor& s : n.saved_) {
        with_history.push_back(s.is_output ? detail::make_alias(s.tensor) : s.tensor);
        if (s.is_output) detail::attach_output(n.shared_from_this(), *with_history.back().impl(), s.output_nr);
      }
    const BackwardContext ctx(n.saved_.data(), n.saved_.size(), n, with_history.empty() ? nullptr : with_history.data());
    auto apply = [&] {
      AutoGradMode mode(create_graph_);
      return n.apply(std::move(grads), ctx);
    };
    if (BackwardTrace* trace = BackwardTrace::current()) {
      const auto t0 = std::chrono::steady_clock::now();
      Grads outputs_grads = grads;
      Grads result = apply();
      check_result(n, result);
      detail::trace_step(*trace, n, outputs_grads, result,
                         std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
      return result;
    }
    Grads result = apply();
    check_result(n, result);
    return result;
  }

  void check_result(const Node& n, const Grads& result) const {
    AG_CHECK_STATE(result.size() == n.next_.size(), "autograd: ", n.name_, " returned ", result.size(),
                   " gradients for ", n.next_.size(), " inputs");
    if (AnomalyMode::is_enabled()) detail::check_finite(n, result);
  }

  /// Routes a gradient along an edge (`task`: what discover noted for it, the task of its node or
  /// the sink of its leaf, when known): into the next node's output slot, or a sink.
  void send(const Edge& e, Tensor g, const char* from, std::uint32_t task = kNoTask) {
    const Shape& want = e.fn ? e.fn->shape(e.input_nr) : e.leaf->shape;
    const Dtype want_dtype = e.fn ? e.fn->dtype(e.input_nr) : e.leaf->dtype;
    const TensorImpl& gi = *g.impl();  // defined: callers send only defined gradients
    AG_CHECK_STATE(gi.shape == want, "autograd: ", from, " returned a gradient of shape ", gi.shape,
                   " for an input of shape ", want);
    if (gi.dtype != want_dtype) g = g.to(want_dtype);
    if (e.fn) {
      NodeTask& t = tasks_[is_task(task) ? task : task_index(e.fn.get(), false)];
      if (!t.needed && !node_sinks_.count({e.fn.get(), e.input_nr})) return;
      if (t.grads.size() < e.fn->num_outputs()) t.grads.resize(e.fn->num_outputs());
      accumulate_grad(t.grads[e.input_nr], std::move(g), from);
      return;
    }
    std::uint32_t s = task != kNoTask ? task & ~kLeaf : leaf_sinks_.find(e.leaf.get());
    if (s == PointerIndex::npos) {
      if (inputs_) return;  // ag::grad: a leaf that was not asked for
      s = leaf_sink(e.leaf);
    }
    accumulate_grad(sinks_[s].grad, std::move(g), from);
  }

  /// backward: the sink of a leaf, made on first sight.
  std::uint32_t leaf_sink(const std::shared_ptr<TensorImpl>& leaf) {
    bool added = false;
    const std::uint32_t s = leaf_sinks_.find_or_add(leaf.get(), static_cast<std::uint32_t>(sinks_.size()), added);
    if (added) sinks_.push_back({leaf, Tensor()});
    return s;
  }

  // 4. Where the results go.
  std::vector<Tensor> finish() {
    std::vector<Tensor> out;
    if (!inputs_) {
      for (Sink& s : sinks_)
        if (s.grad.defined()) detail::accumulate_into_leaf(s.leaf, std::move(s.grad), create_graph_);
      return out;
    }
    for (Sink& s : sinks_) {
      if (s.leaf && s.grad.defined()) s.grad = detail::run_hooks(s.leaf->hooks.get(), std::move(s.grad));
      out.push_back(std::move(s.grad));
    }
    return out;
  }

  /// The task of node n (made on first sight when `add`; `fresh_` says it was new).
  std::uint32_t task_index(Node* n, bool add) {
    const std::uint32_t k = index_.find_or_add(n, static_cast<std::uint32_t>(tasks_.size()), fresh_);
    if (fresh_) {
      AG_CHECK_STATE(add, "autograd: internal error: a node outside the discovered graph");
      add_task(n);
    }
    return k;
  }
  std::uint32_t add_task(Node* n) {
    NodeTask& t = tasks_.emplace_back();
    t.node = n;
    t.seq = n->sequence_nr();
    return static_cast<std::uint32_t>(tasks_.size() - 1);
  }

  struct OutputKey {
    const Node* node;
    std::uint32_t output;
    bool operator==(const OutputKey& o) const { return node == o.node && output == o.output; }
  };
  struct OutputHash {
    std::size_t operator()(const OutputKey& k) const { return std::hash<const void*>()(k.node) ^ k.output; }
  };

  const TensorSpan roots_;
  const TensorSpan root_grads_;
  const bool keep_graph_, create_graph_;
  const std::vector<Tensor>* inputs_;
  const char* api_;
  std::unique_ptr<Scratch> scratch_ = take_scratch();
  std::vector<NodeTask>& tasks_ = scratch_->tasks;
  PointerIndex& index_ = scratch_->index;
  bool fresh_ = false;
  std::vector<Sink>& sinks_ = scratch_->sinks;
  PointerIndex& leaf_sinks_ = scratch_->leaf_sinks;
  std::unordered_map<OutputKey, std::size_t, OutputHash> node_sinks_;
  std::vector<std::function<void()>> callbacks_;
};

// ---- entry points -----------------------------------------------------------------------------

void backward(const std::vector<Tensor>& tensors, const std::vector<Tensor>& grad_tensors,
              std::optional<bool> retain_graph, bool create_graph) {
  GraphTask(tensors, grad_tensors, retain_graph.value_or(create_graph), create_graph, nullptr).run();
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, std::optional<bool> retain_graph, bool create_graph,
                         bool allow_unused) {
  std::vector<Tensor> result =
      GraphTask(outputs, grad_outputs, retain_graph.value_or(create_graph), create_graph, &inputs).run();
  for (std::size_t i = 0; i < result.size(); ++i)
    AG_CHECK_STATE(result[i].defined() || allow_unused, "grad: input ", i, " (shape ", inputs[i].shape(),
                   ") was not used to compute the outputs; pass allow_unused=true to get an undefined gradient");
  return result;
}

void queue_callback(std::function<void()> callback) {
  AG_CHECK_STATE(t_callbacks != nullptr, "queue_callback: no backward pass is running on this thread; call it "
                 "from a hook or a custom Function's backward");
  AG_CHECK(callback != nullptr, "queue_callback: the callback is empty");
  t_callbacks->push_back(std::move(callback));
}

void Tensor::backward(const Tensor& gradient, bool retain_graph, bool create_graph) const {
  GraphTask({this, 1}, {&gradient, 1}, retain_graph || create_graph, create_graph, nullptr).run();
}

}  // namespace ag
