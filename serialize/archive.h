#pragma once
// Archive: what a checkpoint holds, in memory. Named tensors plus named plain values (int64,
// double, string), both kept in insertion order. Data only: no graph, no C++ types, so renaming a
// class never breaks loading. save_archive/load_archive (serialize/archive_format.h) put it in a file.

#include <cstdint>
#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "ag/autograd/generator.h"
#include "ag/autograd/tensor.h"
#include "ag/serialize/error.h"

namespace ag {

/// Named tensors in order, as a state_dict gives them (the items() of an nn::OrderedDict<Tensor>).
///
///     ag::NamedTensors t{{"weight", w}, {"bias", b}};
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

/// A plain value kept next to the tensors.
///
///     ag::ArchiveValue v = a.value("step");   // std::get<std::int64_t>(v) == 100
using ArchiveValue = std::variant<std::int64_t, double, std::string>;

/// Named tensors and named plain values, in insertion order. Names are UTF-8 strings (at most
/// `kMaxNameBytes` bytes); tensors and values have separate name spaces. Setting an existing name
/// replaces it in place. Getters of the wrong type or of a missing name throw SerializeError.
///
///     ag::Archive a;
///     a.set("fc.weight", w);
///     a.set("step", 100);
///     a.set("optim.param_groups.0.lr", 0.01);
///     a.set("note", "warm restart");
///     ag::save_archive(a, "ckpt.ag");
///     auto b = ag::load_archive("ckpt.ag");
///     b.get_int("step");          // 100
///     b.get_double("step");       // SerializeError: value 'step': expected float64, it holds int64
class Archive {
 public:
  static constexpr std::size_t kMaxNameBytes = 65536;

  // ---- tensors ------------------------------------------------------------------------------
  /// Stores `tensor` detached from its graph (sharing its data: later in-place changes show).
  void set(const std::string& name, const Tensor& tensor);
  bool has_tensor(const std::string& name) const { return tensor_index_.count(name) != 0; }
  const Tensor& tensor(const std::string& name) const;
  const NamedTensors& tensors() const { return tensors_; }
  /// Stores each tensor as "prefix.name" (just "name" when prefix is empty).
  ///
  ///     a.set_tensors("model", model.state_dict());   // "model.fc.weight", ...
  void set_tensors(const std::string& prefix, const NamedTensors& tensors);
  /// The tensors named "prefix.*", in order, with "prefix." removed (all of them when prefix is empty).
  NamedTensors tensors_with_prefix(const std::string& prefix) const;

  // ---- plain values -------------------------------------------------------------------------
  void set(const std::string& name, std::int64_t value);
  void set(const std::string& name, double value);
  void set(const std::string& name, std::string value);
  void set(const std::string& name, const char* value) { set(name, std::string(value)); }
  /// Any other integer (bool included) is stored as int64.
  template <class T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, std::int64_t>, int> = 0>
  void set(const std::string& name, T value) {
    if constexpr (std::is_unsigned_v<T> && sizeof(T) >= sizeof(std::int64_t))
      AG_CHECK(value <= static_cast<T>(INT64_MAX), "Archive::set: value '", name, "' = ", value,
               " does not fit in int64");
    set(name, static_cast<std::int64_t>(value));
  }
  bool has_value(const std::string& name) const { return value_index_.count(name) != 0; }
  const ArchiveValue& value(const std::string& name) const;
  std::int64_t get_int(const std::string& name) const;
  double get_double(const std::string& name) const;
  const std::string& get_string(const std::string& name) const;
  const std::vector<std::pair<std::string, ArchiveValue>>& values() const { return values_; }
  /// The values named "prefix.*", in order, with "prefix." removed (all of them when prefix is empty).
  ///
  ///     for (auto& [k, v] : a.values_with_prefix("optim")) sd.scalars.insert(k, std::get<double>(v));
  std::vector<std::pair<std::string, ArchiveValue>> values_with_prefix(const std::string& prefix) const;

  // ---- generator state ----------------------------------------------------------------------
  /// Stores a Generator's state under "prefix.": "engine" ("mt19937"), the tensor "words" (the
  /// 624 state words as int64 [624]), "index", "seed" (its 64-bit pattern as int64),
  /// "has_next_normal" (0/1) and "next_normal" (float64). Reading it back checks each of them;
  /// a state saved by ag's former xoshiro256** generator is refused with a SerializeError that says so.
  ///
  ///     a.set_generator_state("rng", ag::default_generator().get_state());
  ///     ag::default_generator().set_state(b.generator_state("rng"));   // replays the same numbers
  void set_generator_state(const std::string& prefix, const GeneratorState& state);
  GeneratorState generator_state(const std::string& prefix) const;

  bool empty() const { return tensors_.empty() && values_.empty(); }

 private:
  void set_value(const std::string& name, ArchiveValue value);

  NamedTensors tensors_;
  std::map<std::string, std::size_t> tensor_index_;
  std::vector<std::pair<std::string, ArchiveValue>> values_;
  std::map<std::string, std::size_t> value_index_;
};

/// The type of a value as archives name it: "int64", "float64" or "string".
///
///     ag::value_type_name(a.value("lr"));   // "float64"
const char* value_type_name(const ArchiveValue& v);

}  // namespace ag
