#pragma once
// OrderedDict: the insertion-ordered name -> value map behind a module's parameters, buffers,
// children and state dicts. Order matters: it is the order of checkpoint keys and of
// parameters() (the order optimizers see).

#include <cstddef>
#include <ostream>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ag/autograd/error.h"
#include "ag/autograd/tensor.h"

namespace ag::nn {

/// A map that remembers insertion order, with O(1) lookup by key. Iterating yields
/// `std::pair<std::string, V>` in insertion order.
///
///     nn::OrderedDict<ag::Tensor> d;
///     d.insert("weight", w);
///     for (const auto& [name, t] : d) std::cout << name << " " << t.shape() << "\n";
///     d.at("weight");            // throws std::out_of_range naming the key if absent
template <class V>
class OrderedDict {
 public:
  using Item = std::pair<std::string, V>;
  using iterator = typename std::vector<Item>::iterator;
  using const_iterator = typename std::vector<Item>::const_iterator;

  OrderedDict() = default;
  OrderedDict(std::initializer_list<Item> items) {
    for (const Item& item : items) insert(item.first, item.second);
  }

  /// Appends `key`; a key that is already present throws (keys are unique, as in a checkpoint).
  V& insert(const std::string& key, V value) {
    AG_CHECK(index_.count(key) == 0, "OrderedDict::insert: key \"", key, "\" is already present");
    index_.emplace(key, items_.size());
    items_.emplace_back(key, std::move(value));
    return items_.back().second;
  }
  /// Sets `key`, appending it when absent and replacing its value (in place) when present.
  V& insert_or_assign(const std::string& key, V value) {
    if (V* v = find(key)) return *v = std::move(value);
    return insert(key, std::move(value));
  }

  bool contains(const std::string& key) const { return index_.count(key) != 0; }
  /// The value of `key`, or nullptr.
  V* find(const std::string& key) {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &items_[it->second].second;
  }
  const V* find(const std::string& key) const { return const_cast<OrderedDict*>(this)->find(key); }
  /// The value of `key`; throws std::out_of_range naming the key when absent.
  V& at(const std::string& key) {
    V* v = find(key);
    AG_CHECK_T(std::out_of_range, v != nullptr, "OrderedDict::at: no key \"", key, "\" (", size(), " keys)");
    return *v;
  }
  const V& at(const std::string& key) const { return const_cast<OrderedDict*>(this)->at(key); }
  V& operator[](const std::string& key) { return at(key); }
  const V& operator[](const std::string& key) const { return at(key); }

  /// Removes `key` (keeping the order of the others); returns whether it was present.
  bool erase(const std::string& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return false;
    items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(it->second));
    index_.clear();
    for (std::size_t i = 0; i < items_.size(); ++i) index_.emplace(items_[i].first, i);
    return true;
  }
  void clear() {
    items_.clear();
    index_.clear();
  }

  std::size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  std::vector<std::string> keys() const {
    std::vector<std::string> out;
    out.reserve(items_.size());
    for (const Item& item : items_) out.push_back(item.first);
    return out;
  }
  std::vector<V> values() const {
    std::vector<V> out;
    out.reserve(items_.size());
    for (const Item& item : items_) out.push_back(item.second);
    return out;
  }
  /// The (key, value) pairs in order. On a temporary (`model.state_dict().items()`) this is a
  /// copy, so that a range-for over it does not outlive the dictionary.
  const std::vector<Item>& items() const& { return items_; }
  std::vector<Item> items() && { return std::move(items_); }

  iterator begin() { return items_.begin(); }
  iterator end() { return items_.end(); }
  const_iterator begin() const { return items_.begin(); }
  const_iterator end() const { return items_.end(); }

 private:
  std::vector<Item> items_;
  std::unordered_map<std::string, std::size_t> index_;
};

/// A state dict (or any ordered dict of printable values) as PyTorch prints one:
/// `OrderedDict([('fc.weight', tensor([[...]])), ('fc.bias', tensor([...]))])`, or `OrderedDict()`.
template <class V>
std::ostream& operator<<(std::ostream& os, const OrderedDict<V>& dict) {
  if (dict.empty()) return os << "OrderedDict()";
  os << "OrderedDict([";
  bool first = true;
  for (const auto& [key, value] : dict) {
    os << (first ? "" : ", ") << "('" << key << "', " << value << ")";
    first = false;
  }
  return os << "])";
}

/// A module's state: dotted parameter and buffer names -> tensors, in registration order.
///
///     nn::StateDict sd = model->state_dict();   // {"0.weight": ..., "0.bias": ..., ...}
///     other->load_state_dict(sd);
using StateDict = OrderedDict<Tensor>;

}  // namespace ag::nn
