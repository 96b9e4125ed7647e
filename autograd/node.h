#pragma once
// Node: one recorded op in the graph. Edges point from a node to the nodes (or leaves) of its
// inputs, never back to its outputs, so a graph is a tree of shared_ptrs with no cycles.
//
// An op records itself with `record`, writing its backward right below its forward:
//
//     Tensor mul(const Tensor& a, const Tensor& b) {
//       Tensor out = ...forward...;
//       if (needs_grad(a, b))
//         record("MulBackward0", out, {a, b}, {save(a), save(b)},
//                [](const Tensor& g, const BackwardContext& ctx) -> Grads {
//                  return {g * ctx.saved(1), g * ctx.saved(0)};
//                });
//       return out;
//     }
//
// Most nodes have one output. A node with several (a custom Function returning two tensors, a
// module's backward hook) gets them all at once; an edge says which output of its node it feeds.

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ag/autograd/grad_mode.h"
#include "ag/autograd/pool.h"
#include "ag/autograd/small_vector.h"
#include "ag/autograd/tensor.h"

namespace ag {

class Node;

/// Where a gradient goes next: output `input_nr` of the node that computed an input, or a leaf
/// that accumulates it.
struct Edge {
  std::shared_ptr<Node> fn;
  std::shared_ptr<TensorImpl> leaf;
  std::uint32_t input_nr = 0;

  bool valid() const { return fn != nullptr || leaf != nullptr; }
  /// The node's name, "AccumulateGrad" for a leaf, "None" for an input that needs no gradient.
  std::string name() const;
};

/// A tensor kept for backward, with the data version it had when saved.
struct SavedTensor {
  Tensor tensor;
  std::uint32_t version = 0;
  bool is_output = false;
  std::uint32_t output_nr = 0;  // which output of the node, for a saved output
};

/// Saves an input of the op for its backward.
SavedTensor save(const Tensor& input);
/// Saves the op's own output by its data only (no reference to the node: no cycle).
SavedTensor save_output(const Tensor& output);

using Grads = SmallVector<Tensor, 3>;  // room for linear's x, weight and bias

/// What a backward function sees besides the incoming gradient.
class BackwardContext {
 public:
  /// `with_history`, when given, replaces the saved tensors (create_graph gives saved outputs
  /// their node back for the pass).
  BackwardContext(const SavedTensor* saved, std::size_t n_saved, const Node& node, const Tensor* with_history = nullptr)
      : saved_(saved), n_saved_(n_saved), with_history_(with_history), node_(node) {}
  /// The i-th saved tensor, checked against in-place changes.
  const Tensor& saved(std::size_t i) const { return with_history_ ? with_history_[i] : saved_[i].tensor; }
  std::size_t num_saved() const { return n_saved_; }
  /// Whether input i wants a gradient (skip computing the others: return an undefined Tensor).
  bool needs_grad(std::size_t i) const;

 private:
  const SavedTensor* saved_;
  std::size_t n_saved_;
  const Tensor* with_history_;
  const Node& node_;
};

struct HookList;

/// Where and when anomaly mode saw a node made: its place in the forward program (the n-th op
/// since anomaly mode was turned on) and the label of the AnomalyLabel scope it was made in.
struct NodeOrigin {
  std::uint64_t position = 0;
  std::string label;
};

/// One recorded op: its name, the edges to its inputs, what it saved, and its backward.
///
///     auto y = x * x;
///     y.grad_fn()->name();                      // "MulBackward0"
///     y.grad_fn()->next_functions()[0].name();  // "AccumulateGrad"
class Node : public std::enable_shared_from_this<Node> {
 public:
  explicit Node(const char* name);
  virtual ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  const char* name() const { return name_; }
  const SmallVector<Edge, 3>& next_functions() const { return next_; }
  /// How many tensors the op produced (their gradients arrive together).
  std::size_t num_outputs() const { return outputs_.size(); }
  /// Shape and dtype of output `i`.
  const Shape& shape(std::size_t i = 0) const { return outputs_[i].shape; }
  Dtype dtype(std::size_t i = 0) const { return outputs_[i].dtype; }
  /// The tensors kept for backward (empty once released).
  const SmallVector<SavedTensor, 3>& saved_tensors() const { return saved_; }
  bool released() const { return released_; }
  std::uint64_t sequence_nr() const { return seq_; }
  /// Where the node was made, when anomaly mode was on then (else null).
  const NodeOrigin* origin() const { return origin_.get(); }

  /// Number of nodes alive in this process: 0 once every graph is gone (no leaks, no cycles).
  static std::int64_t live_count();

  /// Computes the gradients of the inputs (one per edge) from those of the outputs (one per
  /// output; undefined for an output no gradient reached).
  virtual Grads apply(Grads&& grad_outputs, const BackwardContext& ctx) = 0;

 protected:
  /// Adds an output (shape and dtype) beyond the first; nodes with several outputs call it.
  void add_output(const Shape& shape, Dtype dtype) { outputs_.push_back({shape, dtype}); }

 private:
  friend class GraphTask;
  friend struct NodeAccess;

  struct Output {
    Shape shape;
    Dtype dtype = kFloat32;
  };

  const char* name_;
  SmallVector<Edge, 3> next_;          // inline up to 3 inputs (linear: x, weight, bias)
  SmallVector<SavedTensor, 3> saved_;  // (cross_entropy: input, target, log-sum-exp)
  SmallVector<Output, 1> outputs_;
  std::uint64_t seq_ = 0;
  bool had_saved_ = false;
  bool released_ = false;
  std::unique_ptr<NodeOrigin> origin_;
  // Per output: hooks registered on it (register_hook of a non-leaf) and, when it
  // retain_grad()s, the output tensor itself. Made on first use: most nodes have neither.
  struct Watch {
    SmallVector<std::shared_ptr<HookList>, 1> pre_hooks;
    SmallVector<std::weak_ptr<TensorImpl>, 1> retained;
  };
  std::unique_ptr<Watch> watch_;
};

/// A node whose backward is a lambda of the gradient of its one output. The lambda captures
/// plain values only (shapes, scalars); tensors it needs go through `save` so in-place changes
/// and freed graphs are detected.
template <class F>
class LambdaNode final : public Node {
 public:
  LambdaNode(const char* name, F fn) : Node(name), fn_(std::move(fn)) {}
  Grads apply(Grads&& grads, const BackwardContext& ctx) override { return fn_(grads[0], ctx); }

 private:
  F fn_;
};

class BackwardTrace;

/// An input of a recorded op, by reference: `record(..., {a, b}, ...)` lists the op's inputs
/// without copying their handles (no reference counting per input and op). It lives as long as
/// the call it is passed to.
class TensorRef {
 public:
  TensorRef(const Tensor& t) : t_(&t) {}  // implicit: {a, b} lists tensors
  const Tensor& get() const { return *t_; }

 private:
  const Tensor* t_;
};

namespace detail {
/// Anomaly mode's check of what node n returned: throws AnomalyError naming the node, the input
/// whose gradient holds NaN or Inf, the gradients' shapes and the forward op that made n.
void check_finite(const Node& n, const Grads& result);
/// Adds a step to `trace`: node n, the gradients it received and returned, its time.
void trace_step(BackwardTrace& trace, const Node& n, const Grads& received, const Grads& returned, double microseconds);
/// After an in-place op recorded as `result = op(self, ...)`, makes `result`'s node self's grad_fn.
void rebase_history(const Tensor& self, const Tensor& result);
/// After an in-place op on the view `self` recorded as `result = op(self, ...)`: the view's base
/// gets a CopySlices node (its old value with the view's window replaced by result) and the view
/// an AsStridedBackward0 node from it.
void rebase_view(const Tensor& self, const Tensor& result);
/// Wires `node` to its inputs and saved tensors and makes it the grad_fn of `out` (its output
/// `output_nr`).
void connect(const std::shared_ptr<Node>& node, TensorImpl& out, const TensorRef* inputs, std::size_t n_inputs,
             const SavedTensor* saved, std::size_t n_saved, std::uint32_t output_nr = 0);
void connect(const std::shared_ptr<Node>& node, TensorImpl& out, const std::vector<Tensor>& inputs,
             const SavedTensor* saved, std::size_t n_saved, std::uint32_t output_nr = 0);
/// Makes `out` output `output_nr` of an already wired node (its other outputs).
void attach_output(const std::shared_ptr<Node>& node, TensorImpl& out, std::uint32_t output_nr);
}  // namespace detail

/// True when grad mode is on and some input requires grad: the op must record itself.
template <class... Ts>
bool needs_grad(const Ts&... inputs) {
  return GradMode::is_enabled() && (inputs.requires_grad() || ...);
}
bool needs_grad_any(const std::vector<Tensor>& inputs);

/// Records `out = op(inputs)` with backward `fn(grad, ctx) -> Grads` (one entry per input).
template <class F>
void record(TensorImpl& out, const char* name, const TensorRef* inputs, std::size_t n_inputs,
            std::initializer_list<SavedTensor> saved, F&& fn) {
  auto node = std::allocate_shared<LambdaNode<std::decay_t<F>>>(detail::PoolAllocator<void>(), name, std::forward<F>(fn));
  detail::connect(node, out, inputs, n_inputs, saved.begin(), saved.size());
}
template <class F>
void record(const char* name, const Tensor& out, const std::vector<Tensor>& inputs, const std::vector<SavedTensor>& saved,
            F&& fn) {
  auto node = std::allocate_shared<LambdaNode<std::decay_t<F>>>(detail::PoolAllocator<void>(), name, std::forward<F>(fn));
  detail::connect(node, *out.impl(), inputs, saved.data(), saved.size());
}
template <class F>
void record(TensorImpl& out, const char* name, std::initializer_list<TensorRef> inputs,
            std::initializer_list<SavedTensor> saved, F&& fn) {
  record(out, name, inputs.begin(), inputs.size(), saved, std::forward<F>(fn));
}
template <class F>
void record(const char* name, const Tensor& out, std::initializer_list<TensorRef> inputs,
            std::initializer_list<SavedTensor> saved, F&& fn) {
  record(*out.impl(), name, inputs.begin(), inputs.size(), saved, std::forward<F>(fn));
}
template <class F>
void record(const char* name, const Tensor& out, const std::vector<Tensor>& inputs,
            std::initializer_list<SavedTensor> saved, F&& fn) {
  auto node = std::allocate_shared<LambdaNode<std::decay_t<F>>>(detail::PoolAllocator<void>(), name, std::forward<F>(fn));
  detail::connect(node, *out.impl(), inputs, saved.begin(), saved.size());
}

}  // namespace ag
