#include "ag/nn/container.h"

#include "ag/autograd/error.h"

namespace ag::nn {

// ---- ModuleSequence ---------------------------------------------------------------------------

void ModuleSequence::push_back(std::shared_ptr<Module> module) {
  register_module(std::to_string(size()), std::move(module));
}

const std::shared_ptr<Module>& ModuleSequence::operator[](std::int64_t index) const {
  const auto& items = named_children().items();
  auto n = static_cast<std::int64_t>(items.size());
  AG_CHECK_INDEX(index >= -n && index < n, name(), ": index ", index, " is out of range for ", n, " modules");
  return items[static_cast<std::size_t>(index < 0 ? index + n : index)].second;
}

void ModuleSequence::check_cast(bool ok, std::int64_t index) const {
  AG_CHECK(ok, name(), "::at: module ", index, " is a ", (*this)[index]->name(), ", not the type asked for");
}

// ---- Sequential -------------------------------------------------------------------------------

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> modules) {
  for (const auto& m : modules) push_back(m);
}

Sequential::Sequential(const NamedModules& modules) {
  for (const auto& [name, m] : modules) push_back(name, m);
}

void Sequential::push_back(const std::string& name, std::shared_ptr<Module> module) {
  register_module(name, std::move(module));
}

Tensor Sequential::forward(const Tensor& input) {
  Tensor x = input;
  for (const auto& [name, module] : named_children()) x = (*module)(x);  // with each module's hooks
  return x;
}

// ---- ModuleList -------------------------------------------------------------------------------

ModuleList::ModuleList(std::initializer_list<std::shared_ptr<Module>> modules) {
  for (const auto& m : modules) push_back(m);
}

void ModuleList::extend(const ModuleList& other) {
  std::vector<std::shared_ptr<Module>> modules(other.begin(), other.end());  // other may be *this
  for (auto& m : modules) push_back(std::move(m));
}

}  // namespace ag::nn
