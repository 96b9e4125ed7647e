#pragma once
// Grad mode: whether ops record the graph. Thread-local, as in PyTorch.

namespace ag {

namespace detail {
inline thread_local bool t_grad_enabled = true;  // read by every op: inline, no call
}  // namespace detail

/// Whether ops on tensors that require grad record a graph on this thread.
struct GradMode {
  static bool is_enabled() { return detail::t_grad_enabled; }
  static void set_enabled(bool enabled) { detail::t_grad_enabled = enabled; }
};

/// Sets grad mode for a scope and restores it after.
///
///     { ag::AutoGradMode on(true); ... }
class AutoGradMode {
 public:
  explicit AutoGradMode(bool enabled) : prev_(GradMode::is_enabled()) { GradMode::set_enabled(enabled); }
  ~AutoGradMode() { GradMode::set_enabled(prev_); }
  AutoGradMode(const AutoGradMode&) = delete;
  AutoGradMode& operator=(const AutoGradMode&) = delete;

 private:
  bool prev_;
};

/// Disables graph recording in a scope (PyTorch's `with torch.no_grad()`).
///
///     { ag::NoGradGuard no_grad; w.sub_(w.grad() * lr); }
class NoGradGuard : public AutoGradMode {
 public:
  NoGradGuard() : AutoGradMode(false) {}
};

}  // namespace ag
