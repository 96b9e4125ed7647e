#include "ag/serialize/archive.h"

#include "ag/serialize/io.h"

namespace ag {

namespace {

void check_name(const std::string& name, const char* what) {
  AG_CHECK(name.size() <= Archive::kMaxNameBytes, "Archive::set: ", what, " name of ", name.size(),
           " bytes is longer than the limit of ", Archive::kMaxNameBytes);
  AG_CHECK(serialize::detail::is_valid_utf8(name), "Archive::set: ", what, " name ", serialize::detail::quote(name),
           " is not valid UTF-8");
}

std::string value_field(const std::string& name) { return "value " + serialize::detail::quote(name); }

template <class T>
const T& typed(const Archive& a, const std::string& name, const char* expected) {
  const ArchiveValue& v = a.value(name);
  if (const T* p = std::get_if<T>(&v)) return *p;
  throw SerializeError("", value_field(name),
                       std::string("expected ") + expected + ", it holds " + value_type_name(v));
}

}  // namespace

const char* value_type_name(const ArchiveValue& v) {
  switch (v.index()) {
    case 0: return "int64";
    case 1: return "float64";
    default: return "string";
  }
}

void Archive::set(const std::string& name, const Tensor& tensor) {
  check_name(name, "tensor");
  AG_CHECK(tensor.defined(), "Archive::set: tensor '", name, "' is undefined");
  auto it = tensor_index_.find(name);
  if (it != tensor_index_.end()) {
    tensors_[it->second].second = tensor.contiguous().detach();
    return;
  }
  tensor_index_.emplace(name, tensors_.size());
  tensors_.emplace_back(name, tensor.contiguous().detach());  // archives hold row-major elements
}

const Tensor& Archive::tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  if (it == tensor_index_.end())
    throw SerializeError("", "tensor " + serialize::detail::quote(name),
                         "not in the archive (it holds " + std::to_string(tensors_.size()) + " tensors)");
  return tensors_[it->second].second;
}

void Archive::set_tensors(const std::string& prefix, const NamedTensors& tensors) {
  for (const auto& [name, t] : tensors) set(prefix.empty() ? name : prefix + "." + name, t);
}

namespace {

template <class V>
std::vector<std::pair<std::string, V>> with_prefix(const std::vector<std::pair<std::string, V>>& items,
                                                   const std::string& prefix) {
  if (prefix.empty()) return items;
  std::string head = prefix + ".";
  std::vector<std::pair<std::string, V>> out;
  for (const auto& [name, v] : items)
    if (name.compare(0, head.size(), head) == 0) out.emplace_back(name.substr(head.size()), v);
  return out;
}

}  // namespace

NamedTensors Archive::tensors_with_prefix(const std::string& prefix) const { return with_prefix(tensors_, prefix); }

std::vector<std::pair<std::string, ArchiveValue>> Archive::values_with_prefix(const std::string& prefix) const {
  return with_prefix(values_, prefix);
}

void Archive::set_value(const std::string& name, ArchiveValue value) {
  check_name(name, "value");
  auto it = value_index_.find(name);
  if (it != value_index_.end()) {
    values_[it->second].second = std::move(value);
    return;
  }
  value_index_.emplace(name, values_.size());
  values_.emplace_back(name, std::move(value));
}

void Archive::set(const std::string& name, std::int64_t value) { set_value(name, value); }
void Archive::set(const std::string& name, double value) { set_value(name, value); }
void Archive::set(const std::string& name, std::string value) {
  // Strings must be valid UTF-8, so that every archive can also be written as JSON.
  AG_CHECK(serialize::detail::is_valid_utf8(value), "Archive::set: string value '", name, "' is not valid UTF-8");
  set_value(name, std::move(value));
}

const ArchiveValue& Archive::value(const std::string& name) const {
  auto it = value_index_.find(name);
  if (it == value_index_.end())
    throw SerializeError("", value_field(name),
                         "not in the archive (it holds " + std::to_string(values_.size()) + " values)");
  return values_[it->second].second;
}

std::int64_t Archive::get_int(const std::string& name) const { return typed<std::int64_t>(*this, name, "int64"); }
double Archive::get_double(const std::string& name) const { return typed<double>(*this, name, "float64"); }
const std::string& Archive::get_string(const std::string& name) const {
  return typed<std::string>(*this, name, "string");
}

void Archive::set_generator_state(const std::string& prefix, const GeneratorState& state) {
  std::vector<std::int64_t> words(state.words.begin(), state.words.end());
  set(prefix + ".engine", "mt19937");
  set(prefix + ".words", ag::tensor(words, {GeneratorState::kWords}));
  set(prefix + ".index", static_cast<std::int64_t>(state.index));
  // The 64-bit seed as its int64 bit pattern (two's complement), so that none is lost.
  set(prefix + ".seed", static_cast<std::int64_t>(state.seed));
  set(prefix + ".has_next_normal", static_cast<std::int64_t>(state.next_normal.has_value()));
  set(prefix + ".next_normal", state.next_normal.value_or(0.0));
}

GeneratorState Archive::generator_state(const std::string& prefix) const {
  if (!has_value(prefix + ".engine") && has_value(prefix + ".s0"))
    throw SerializeError("", value_field(prefix + ".s0"),
                         "this generator state is of ag's former engine (xoshiro256**), which cannot continue "
                         "PyTorch's mt19937 stream; the model and optimizer load, the random stream cannot");
  const std::string& engine = get_string(prefix + ".engine");
  if (engine != "mt19937")
    throw SerializeError("", value_field(prefix + ".engine"), "expected \"mt19937\", got " + serialize::detail::quote(engine));
  GeneratorState state;
  const std::string words_name = prefix + ".words";
  const Tensor& words = tensor(words_name);
  const std::string words_field = "tensor " + serialize::detail::quote(words_name);
  if (words.dtype() != kInt64 || words.dim() != 1 || words.numel() != GeneratorState::kWords)
    throw SerializeError("", words_field, "expected int64 of shape [624], got " + std::string(dtype_name(words.dtype())) +
                                              " of shape " + to_string(words.shape()));
  std::vector<std::int64_t> w = words.contiguous().to_vector<std::int64_t>();
  bool all_zero = true;
  for (std::size_t i = 0; i < w.size(); ++i) {
    if (w[i] < 0 || w[i] > 0xffffffffLL)
      throw SerializeError("", words_field, "word " + std::to_string(i) + " is " + std::to_string(w[i]) +
                                                ", outside the 32-bit range");
    state.words[i] = static_cast<std::uint32_t>(w[i]);
    all_zero = all_zero && w[i] == 0;
  }
  if (all_zero) throw SerializeError("", words_field, "all 624 words are 0, a state mt19937 never reaches");
  std::int64_t index = get_int(prefix + ".index");
  if (index < 0 || index > GeneratorState::kWords)
    throw SerializeError("", value_field(prefix + ".index"), "expected 0..624, got " + std::to_string(index));
  state.index = static_cast<std::int32_t>(index);
  state.seed = static_cast<std::uint64_t>(get_int(prefix + ".seed"));
  std::int64_t cached = get_int(prefix + ".has_next_normal");
  if (cached != 0 && cached != 1)
    throw SerializeError("", value_field(prefix + ".has_next_normal"), "expected 0 or 1, got " + std::to_string(cached));
  if (cached == 1) state.next_normal = get_double(prefix + ".next_normal");
  return state;
}

}  // namespace ag
