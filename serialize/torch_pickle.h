#pragma once
// The pickles inside torch.save files, read by a restricted machine that knows only what state
// dicts hold, and written in the same subset (pickle protocol 2).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ag/autograd/tensor.h"

namespace ag::serialize::torch_pickle {

/// PyTorch's typed storage classes (torch.FloatStorage, ...), with their element sizes.
enum class StorageType : std::uint8_t { Float, Double, Half, BFloat16, Long, Int, Short, Char, Byte, Bool };
/// "FloatStorage", ...
const char* storage_name(StorageType t);
std::size_t storage_element_size(StorageType t);

/// A value the machine built. Containers hold their items (a dict: keys and values alternating);
/// a Global is an allowed class or function, named "module.name"; a Storage is a persistent id
/// resolved to the storage's tensor (1-d, in ag's dtype); a Tensor is a view of one.
struct Object {
  enum class Kind : std::uint8_t { None, Bool, Int, Float, Str, Tuple, List, Dict, Global, Storage, Tensor };
  Kind kind = Kind::None;
  /// Set once the object is inside another one: from then on it cannot change (no cycles).
  bool sealed = false;
  bool ordered = false;      // a collections.OrderedDict
  std::uint16_t depth = 0;   // containers inside containers
  std::int64_t i = 0;        // Int, Bool
  double f = 0;              // Float
  std::string s;             // Str, Global (its name), Storage (its key)
  std::vector<std::shared_ptr<Object>> items;
  Tensor tensor;             // Storage, Tensor
  StorageType storage = StorageType::Float;
  std::uint64_t offset = 0;  // where in the pickle the object was made, for messages
};
using Ref = std::shared_ptr<Object>;

/// What a kind is called in messages: "int", "str", "dict", ...
std::string describe(const Object& o);

/// Returns the tensor of the storage `key`, of `numel` elements of type `type`, or throws
/// SerializeError; called once per BINPERSID.
using StorageLoader = std::function<Tensor(const std::string& key, StorageType type, std::int64_t numel)>;

/// Limits on what a pickle may build. `budget_bytes` bounds the memory of the objects, the stack and
/// the memo together (each object is charged its size).
struct Limits {
  std::size_t budget_bytes = 4u << 20;
  std::size_t max_stack = 1u << 14;
  std::size_t max_memo = 1u << 20;
  std::uint16_t max_depth = 64;
};

/// Runs `pickle` through the restricted machine and returns what it builds. The opcodes are those
/// pickle protocol 2 writes for state dicts; the only globals are collections.OrderedDict,
/// torch._utils._rebuild_tensor_v2 and _rebuild_parameter and the storage classes; the only
/// persistent ids are ('storage', <storage class>, key, location, numel). Anything else, and
/// every check that fails (stack, memo, sizes, types), throws SerializeError(path, field) where
/// field names the opcode and its byte offset.
///
///     Ref root = unpickle(zip.data(*pkl), load_storage, "model.pt", "archive/data.pkl", {});
Ref unpickle(std::string_view pickle, const StorageLoader& load_storage, const std::string& path,
             const std::string& field, const Limits& limits);

/// Writes pickle protocol 2 opcodes for the values of a state dict.
///
///     Pickler p;
///     p.proto();
///     p.global("collections", "OrderedDict"); p.empty_tuple(); p.reduce();
///     ...
///     std::string bytes = p.finish();
class Pickler {
 public:
  void proto() { out_ += "\x80\x02"; }
  void global(std::string_view module, std::string_view name);
  void mark() { out_ += '('; }
  void tuple() { out_ += 't'; }
  void empty_tuple() { out_ += ')'; }
  void empty_dict() { out_ += '}'; }
  void empty_list() { out_ += ']'; }
  void setitems() { out_ += 'u'; }
  void appends() { out_ += 'e'; }
  void reduce() { out_ += 'R'; }
  void binpersid() { out_ += 'Q'; }
  void none() { out_ += 'N'; }
  void boolean(bool b) { out_ += b ? '\x88' : '\x89'; }
  void integer(std::int64_t v);
  void floating(double v);
  void string(std::string_view s);
  /// An empty collections.OrderedDict (`OrderedDict()`).
  void empty_ordered_dict();
  /// `torch._utils._rebuild_tensor_v2(('storage', torch.<type>, key, 'cpu', numel), offset, size,
  /// stride, False, OrderedDict())`.
  void tensor(StorageType type, const std::string& key, std::int64_t numel, std::int64_t offset, const Shape& size,
              const Shape& stride);
  std::string finish() {
    out_ += '.';
    return std::move(out_);
  }

 private:
  void int_tuple(const Shape& values);
  std::string out_;
};

}  // namespace ag::serialize::torch_pickle
