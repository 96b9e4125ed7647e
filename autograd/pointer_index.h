#pragma once
// PointerIndex: the engine's map from a node or leaf to its place in one backward pass.
// Internal header (the engine's own).

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ag::detail {

/// Pointer -> index for one pass (nodes, leaves): open addressing, linear probing, no erase.
/// A slot belongs to the pass whose stamp it carries, so `reset` empties the table by taking a
/// new stamp and one table serves pass after pass without being cleared or reallocated.
class PointerIndex {
 public:
  static constexpr std::uint32_t npos = ~std::uint32_t(0);
  void reset() {
    used_ = 0;
    if (++stamp_ != 0) return;
    for (Slot& s : slots_) s.stamp = 0;  // the stamp wrapped: no slot may look current
    stamp_ = 1;
  }
  /// p's index, adding p with index `next` when absent (`added` says so).
  std::uint32_t find_or_add(const void* p, std::uint32_t next, bool& added) {
    if (2 * (used_ + 1) > slots_.size()) grow();
    Slot& s = slots_[slot(p)];
    added = s.stamp != stamp_;
    if (added) {
      s = {p, next, stamp_};
      ++used_;
    }
    return s.value;
  }
  std::uint32_t find(const void* p) const {
    if (used_ == 0) return npos;
    const Slot& s = slots_[slot(p)];
    return s.stamp == stamp_ ? s.value : npos;
  }
  std::size_t capacity() const { return slots_.size(); }

 private:
  struct Slot {
    const void* p;
    std::uint32_t value;
    std::uint32_t stamp;  // the pass that filled it
  };
  std::size_t slot(const void* p) const {
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = (reinterpret_cast<std::uintptr_t>(p) >> 4) * 0x9E3779B97F4A7C15ull >> 32 & mask;
    while (slots_[i].stamp == stamp_ && slots_[i].p != p) i = (i + 1) & mask;
    return i;
  }
  void grow() {
    std::vector<Slot> old(slots_.empty() ? 32 : slots_.size() * 4, Slot{nullptr, 0, 0});
    old.swap(slots_);  // slots_: the bigger, empty table; old: the current slots
    for (const Slot& s : old)
      if (s.stamp == stamp_) slots_[slot(s.p)] = s;
  }

  std::vector<Slot> slots_;
  std::size_t used_ = 0;
  std::uint32_t stamp_ = 1;
};

}  // namespace ag::detail
