#pragma once
// The backward pass: ag::backward accumulates into leaves' .grad, ag::grad returns gradients.
// Also the ways to watch it: anomaly mode and BackwardTrace.

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "ag/autograd/tensor.h"

namespace ag {

/// Accumulates d(sum of tensors[i] * grad_tensors[i]) / d(leaf) into every leaf's grad().
/// A one-element tensor needs no grad_tensor. The graph's saved tensors are freed as the pass
/// walks it unless retain_graph (default: create_graph); create_graph records the backward
/// pass itself, for higher-order derivatives. That recorded graph ends at the leaves, so a leaf's
/// grad() then holds the leaf itself: a reference cycle, as in PyTorch. Free it with
/// `leaf.set_grad({})` (or zero_grad()) when done, or use ag::grad, which touches no .grad.
///
/// Each call is self-contained: backward may be called from inside a hook, a custom Function's
/// backward or another backward, and from several threads at once (accumulation into a shared
/// leaf is serialised, so each leaf's .grad gets every thread's contribution).
///
///     auto loss = (w * x).sum();
///     ag::backward({loss});          // same as loss.backward()
void backward(const std::vector<Tensor>& tensors, const std::vector<Tensor>& grad_tensors = {},
              std::optional<bool> retain_graph = std::nullopt, bool create_graph = false);

/// The gradients of `outputs` with respect to `inputs`, without touching any .grad.
/// An input the outputs do not depend on throws unless allow_unused (then it is undefined).
///
///     auto [dy] = ag::grad({y}, {x}, {}, true, true);   // create_graph: dy is differentiable
///     auto d2y = ag::grad({dy.sum()}, {x})[0];
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, std::optional<bool> retain_graph = std::nullopt,
                         bool create_graph = false, bool allow_unused = false);

/// Runs `callback` once the backward (or grad) call running on this thread has finished its
/// pass, after every leaf's .grad has been accumulated, as PyTorch's
/// `Variable._execution_engine.queue_callback`. Call it from a hook or a custom Function's
/// backward; callbacks run in the order queued (one may queue another), on the calling thread,
/// and an exception from one leaves the backward call. A pass that throws runs none of them.
/// Throws std::logic_error when no pass is running on this thread.
///
///     w.register_post_accumulate_grad_hook([](const ag::Tensor&) {
///       ag::queue_callback([] { std::cout << "backward done\n"; });
///     });
void queue_callback(std::function<void()> callback);

// ---- anomaly mode ---------------------------------------------------------------------------

/// Anomaly mode, off by default: every node then remembers where it was made (its place in the
/// program and the AnomalyLabel around it), and a backward step that produces NaN or Inf throws
/// AnomalyError naming that node, its gradients' shapes and the forward op. Off, it costs one flag
/// test per op.
struct AnomalyMode {
  static bool is_enabled();
  static void set_enabled(bool enabled);
};
void set_detect_anomaly(bool enabled);

/// Turns anomaly mode on for a scope (PyTorch's `with torch.autograd.detect_anomaly():`).
///
///     { ag::DetectAnomalyGuard anomaly; loss.backward(); }   // throws at the first NaN
class DetectAnomalyGuard {
 public:
  DetectAnomalyGuard() : prev_(AnomalyMode::is_enabled()) { AnomalyMode::set_enabled(true); }
  ~DetectAnomalyGuard() { AnomalyMode::set_enabled(prev_); }
  DetectAnomalyGuard(const DetectAnomalyGuard&) = delete;
  DetectAnomalyGuard& operator=(const DetectAnomalyGuard&) = delete;

 private:
  bool prev_;
};

/// Names the ops made in a scope (on this thread), for anomaly mode's messages.
///
///     { ag::AnomalyLabel label("encoder"); h = encoder(x); }
class AnomalyLabel {
 public:
  explicit AnomalyLabel(std::string label);
  ~AnomalyLabel();
  AnomalyLabel(const AnomalyLabel&) = delete;
  AnomalyLabel& operator=(const AnomalyLabel&) = delete;
};

/// Thrown in anomaly mode by the backward step that made a NaN or an Inf.
class AnomalyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// ---- watching backward ------------------------------------------------------------------------

/// Records every node the engine runs on this thread while it lives: the node's name, the shapes
/// and norms of the gradients it received and returned, and its time.
///
///     ag::BackwardTrace trace;
///     loss.backward();
///     std::cout << trace;   // one row per node, in the order they ran
class BackwardTrace {
 public:
  struct Step {
    std::string node;
    std::uint64_t sequence_nr = 0;
    std::vector<Shape> grad_output_shapes, grad_input_shapes;  // received, returned
    std::vector<double> grad_output_norms, grad_input_norms;   // NaN for an undefined gradient
    double microseconds = 0;
  };

  BackwardTrace();
  ~BackwardTrace();
  BackwardTrace(const BackwardTrace&) = delete;
  BackwardTrace& operator=(const BackwardTrace&) = delete;

  const std::vector<Step>& steps() const { return steps_; }
  /// The steps as a table.
  std::string str() const;

  /// The trace recording on this thread, or null (the engine's one check per node).
  static BackwardTrace* current();
  void add(Step step) { steps_.push_back(std::move(step)); }

 private:
  std::vector<Step> steps_;
  BackwardTrace* outer_;
};

std::ostream& operator<<(std::ostream& os, const BackwardTrace& trace);

}  // namespace ag
