#pragma once
// Hooks: functions registered with a tensor, a node or a module, run in registration order and
// removable through the HookHandle that registering returned.

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "ag/autograd/tensor.h"

namespace ag {

/// The hooks of one kind registered with one thing, in registration order.
///
///     auto hooks = std::make_shared<ag::Hooks<ag::HookFn>>();
///     ag::HookHandle h = hooks->add([](const ag::Tensor& g) { return g * 2; });
///     for (auto& fn : hooks->snapshot()) ...;
///     h.remove();
template <class Fn>
class Hooks : public HookRegistry {
 public:
  HookHandle add(Fn fn) {
    std::lock_guard<std::mutex> lock(mutex_);
    const std::uint64_t id = next_id_++;
    hooks_.emplace_back(id, std::move(fn));
    return HookHandle(weak_from_this(), id);
  }
  void remove(std::uint64_t id) override {
    std::lock_guard<std::mutex> lock(mutex_);
    hooks_.erase(std::remove_if(hooks_.begin(), hooks_.end(), [&](const auto& h) { return h.first == id; }), hooks_.end());
  }
  /// The hooks as they are now: a hook may remove itself (or add others) while they run.
  std::vector<Fn> snapshot() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<Fn> out;
    out.reserve(hooks_.size());
    for (const auto& h : hooks_) out.push_back(h.second);
    return out;
  }
  bool empty() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return hooks_.empty();
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::pair<std::uint64_t, Fn>> hooks_;
  std::uint64_t next_id_ = 1;
};

/// Adds `fn` to `*list`, making the list on first use.
template <class List, class Fn>
HookHandle add_hook(std::shared_ptr<List>& list, Fn fn) {
  if (!list) list = std::make_shared<List>();
  return list->add(std::move(fn));
}

/// A tensor's gradient hooks (register_hook).
struct HookList : Hooks<HookFn> {};
/// A leaf's post-accumulate-grad hooks.
struct PostAccumulateHookList : Hooks<PostAccumulateGradHookFn> {};

}  // namespace ag
