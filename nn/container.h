#pragma once
// Containers: Sequential chains modules; ModuleList holds them for a forward written by hand.

#include <cstdint>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ag/nn/module.h"

namespace ag::nn {

/// Modules with names, for a Sequential whose children are not just numbered.
using NamedModules = std::vector<std::pair<std::string, std::shared_ptr<Module>>>;

/// Walks a container's modules (the values of its named_children()), so `for (auto& m : seq)`
/// yields each std::shared_ptr<Module>.
class ModuleIterator {
 public:
  using Base = std::vector<std::pair<std::string, std::shared_ptr<Module>>>::const_iterator;
  using iterator_category = std::forward_iterator_tag;
  using value_type = std::shared_ptr<Module>;
  using difference_type = std::ptrdiff_t;
  using pointer = const value_type*;
  using reference = const value_type&;

  explicit ModuleIterator(Base it) : it_(it) {}
  reference operator*() const { return it_->second; }
  pointer operator->() const { return &it_->second; }
  ModuleIterator& operator++() {
    ++it_;
    return *this;
  }
  ModuleIterator operator++(int) {
    ModuleIterator old = *this;
    ++it_;
    return old;
  }
  bool operator==(const ModuleIterator& other) const { return it_ == other.it_; }
  bool operator!=(const ModuleIterator& other) const { return it_ != other.it_; }

 private:
  Base it_;
};

/// What Sequential and ModuleList share: an ordered list of registered modules, named by
/// position unless given names, indexed and iterated.
class ModuleSequence : public Module {
 public:
  /// Appends a module named by its position.
  void push_back(std::shared_ptr<Module> module);

  /// The i-th module (negative counts from the end).
  const std::shared_ptr<Module>& operator[](std::int64_t index) const;
  /// The i-th module as its own type; throws when it is another type.
  ///
  ///     seq.at<nn::Linear>(0)->weight
  template <class M>
  std::shared_ptr<M> at(std::int64_t index) const {
    auto m = std::dynamic_pointer_cast<M>((*this)[index]);
    check_cast(m != nullptr, index);
    return m;
  }
  std::size_t size() const { return named_children().size(); }
  bool empty() const { return named_children().empty(); }
  ModuleIterator begin() const { return ModuleIterator(named_children().begin()); }
  ModuleIterator end() const { return ModuleIterator(named_children().end()); }

 protected:
  ModuleSequence() = default;
  template <class... Ms>
  void push_all(std::shared_ptr<Ms>... modules) {
    (push_back(std::move(modules)), ...);
  }

 private:
  void check_cast(bool ok, std::int64_t index) const;
};

/// Applies its modules in order, each to the previous one's output, as torch.nn.Sequential.
/// Children are named "0", "1", ... unless given names.
///
///     auto net = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(3, 5),
///                                                 std::make_shared<nn::ReLU>());
///     nn::Sequential named({{"fc1", std::make_shared<nn::Linear>(3, 5)}, {"act", std::make_shared<nn::ReLU>()}});
///     named.named_parameters().keys();   // {"fc1.weight", "fc1.bias"}
class Sequential : public ModuleSequence {
 public:
  Sequential() = default;
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules);
  explicit Sequential(const NamedModules& modules);
  template <class M, class... Ms>
  explicit Sequential(std::shared_ptr<M> first, std::shared_ptr<Ms>... rest) {
    push_all(std::move(first), std::move(rest)...);
  }

  using ModuleSequence::push_back;
  /// Appends a named module.
  void push_back(const std::string& name, std::shared_ptr<Module> module);

  /// input -> module_n(...module_1(module_0(input))); an empty Sequential returns its input.
  Tensor forward(const Tensor& input) override;
};

/// A list of modules whose parameters are registered ("0.weight", ...), for models that loop
/// over layers in their own forward, as torch.nn.ModuleList. It has no forward itself.
///
///     auto layers = register_module("layers", std::make_shared<nn::ModuleList>());
///     for (int i = 0; i < 3; ++i) layers->push_back(std::make_shared<nn::Linear>(8, 8));
///     for (const auto& layer : *layers) x = (*layer)(x).relu();
class ModuleList : public ModuleSequence {
 public:
  ModuleList() = default;
  ModuleList(std::initializer_list<std::shared_ptr<Module>> modules);
  template <class M, class... Ms>
  explicit ModuleList(std::shared_ptr<M> first, std::shared_ptr<Ms>... rest) {
    push_all(std::move(first), std::move(rest)...);
  }

  /// Appends every module of `other`.
  void extend(const ModuleList& other);
};

}  // namespace ag::nn
