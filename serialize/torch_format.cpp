#include "ag/serialize/torch_format.h"

#include <cstring>
#include <map>
#include <set>

#include "ag/autograd/grad_mode.h"
#include "ag/serialize/error.h"
#include "ag/serialize/io.h"
#include "ag/serialize/torch_pickle.h"
#include "ag/serialize/zip.h"

namespace ag {
namespace serialize {

namespace {

using detail::quote;
using torch_pickle::Object;
using torch_pickle::Ref;
using torch_pickle::StorageType;
using Kind = Object::Kind;

// What data.pkl may build: 64 bytes of objects per byte of pickle (each opcode makes at most one
// object of ~130 bytes, and most take 2 or more bytes), plus 1 MiB.
constexpr std::size_t kBudgetPerPickleByte = 64;
constexpr std::size_t kBudgetBase = std::size_t{1} << 20;
constexpr const char* kArchiveName = "archive";

float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000) << 16;
  std::int32_t exp = (h >> 10) & 0x1f;
  std::uint32_t mant = h & 0x3ff, bits;
  if (exp == 0 && mant == 0) {
    bits = sign;
  } else if (exp == 0) {  // subnormal: normalise it, float32 has the range
    exp = 1;
    while (!(mant & 0x400)) {
      mant <<= 1;
      --exp;
    }
    bits = sign | (static_cast<std::uint32_t>(exp + 112) << 23) | ((mant & 0x3ff) << 13);
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf, nan (payload kept)
  } else {
    bits = sign | (static_cast<std::uint32_t>(exp + 112) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

Dtype ag_dtype(StorageType t) {
  switch (t) {
    case StorageType::Float: case StorageType::Half: case StorageType::BFloat16: return kFloat32;
    case StorageType::Double: return kFloat64;
    case StorageType::Bool: return kBool;
    default: return kInt64;
  }
}

template <class Src, class Dst, class F>
void convert(const char* src, Dst* dst, std::int64_t n, F f) {
  for (std::int64_t k = 0; k < n; ++k) dst[k] = f(detail::load_le<Src>(src + k * static_cast<std::int64_t>(sizeof(Src))));
}

/// The storage's bytes as a 1-d ag tensor of its ag dtype.
Tensor storage_tensor(std::string_view bytes, StorageType type, std::int64_t numel, const std::string& path,
                      const std::string& field) {
  Tensor t = empty({numel}, ag_dtype(type));
  void* out = t.mutable_raw_data();
  const char* in = bytes.data();
  switch (type) {
    case StorageType::Float: case StorageType::Double: case StorageType::Long:
      detail::copy_from_le(out, in, bytes.size(), torch_pickle::storage_element_size(type));
      break;
    case StorageType::Bool:
      detail::check_bool_bytes(in, bytes.size(), path, field);
      if (!bytes.empty()) std::memcpy(out, in, bytes.size());
      break;
    case StorageType::Half:
      convert<std::uint16_t>(in, static_cast<float*>(out), numel, half_to_float);
      break;
    case StorageType::BFloat16:
      convert<std::uint16_t>(in, static_cast<float*>(out), numel, [](std::uint16_t b) {
        const std::uint32_t bits = static_cast<std::uint32_t>(b) << 16;
        float f;
        std::memcpy(&f, &bits, sizeof f);
        return f;
      });
      break;
    case StorageType::Int:
      convert<std::int32_t>(in, static_cast<std::int64_t*>(out), numel, [](std::int32_t v) { return std::int64_t{v}; });
      break;
    case StorageType::Short:
      convert<std::int16_t>(in, static_cast<std::int64_t*>(out), numel, [](std::int16_t v) { return std::int64_t{v}; });
      break;
    case StorageType::Char:
      convert<std::int8_t>(in, static_cast<std::int64_t*>(out), numel, [](std::int8_t v) { return std::int64_t{v}; });
      break;
    case StorageType::Byte:
      convert<std::uint8_t>(in, static_cast<std::int64_t*>(out), numel, [](std::uint8_t v) { return std::int64_t{v}; });
      break;
  }
  return t;
}

/// The root object of a torch.save file held in memory.
Ref decode(std::string_view bytes, const std::string& path) {
  if (bytes.size() >= 1 && static_cast<unsigned char>(bytes[0]) == 0x80)
    throw SerializeError(path, "", "this is a torch.save file of the legacy format (PyTorch < 1.6, or "
                                   "_use_new_zipfile_serialization=False), which ag does not read: re-save it in "
                                   "Python with torch.save(torch.load(path), path)");
  if (bytes.size() < 4 || bytes.substr(0, 4) != std::string_view("PK\x03\x04", 4))
    throw SerializeError(path, "", "not a torch.save file: it does not start as a zip file ('PK\\x03\\x04'), got " +
                                       quote(bytes.substr(0, 4)));
  ZipReader zip(bytes, path);
  // One folder: <prefix>/data.pkl, <prefix>/data/<key> for each storage, <prefix>/version.
  std::string prefix;
  for (const ZipEntry& e : zip.entries()) {
    const std::size_t slash = e.name.find('/');
    if (slash != std::string::npos && e.name.compare(slash, std::string::npos, "/data.pkl") == 0) {
      if (!prefix.empty()) throw SerializeError(path, "zip entry " + quote(e.name), "a second data.pkl");
      prefix = e.name.substr(0, slash + 1);
    }
  }
  if (prefix.empty()) throw SerializeError(path, "data.pkl", "missing: the zip has no <name>/data.pkl entry, so it is not a torch.save file");
  for (const ZipEntry& e : zip.entries())
    if (e.name.compare(0, prefix.size(), prefix) != 0)
      throw SerializeError(path, "zip entry " + quote(e.name), "is outside the archive's folder " + quote(prefix));
  if (const ZipEntry* v = zip.find(prefix + "version")) {
    std::string_view s = zip.data(*v);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
    if (s.empty() || s.size() > 2 || s.find_first_not_of("0123456789") != std::string_view::npos || std::stoi(std::string(s)) > 10)
      throw SerializeError(path, prefix + "version", "expected a format version of 1 to 10, got " + quote(zip.data(*v)));
  }
  const ZipEntry* pkl = zip.find(prefix + "data.pkl");

  struct Loaded {
    StorageType type;
    Tensor tensor;
  };
  std::map<std::string, Loaded> storages;
  auto load_storage = [&](const std::string& key, StorageType type, std::int64_t numel) -> Tensor {
    const std::string field = prefix + "data/" + key;
    auto it = storages.find(key);
    if (it != storages.end()) {
      if (it->second.type != type || it->second.tensor.numel() != numel)
        throw SerializeError(path, "storage " + quote(key), std::string("used as ") + torch_pickle::storage_name(type) + " of " +
                                                                std::to_string(numel) + " elements and as " +
                                                                torch_pickle::storage_name(it->second.type) + " of " +
                                                                std::to_string(it->second.tensor.numel()));
      return it->second.tensor;
    }
    const ZipEntry* e = key.find('/') == std::string::npos ? zip.find(field) : nullptr;
    if (!e) throw SerializeError(path, "storage " + quote(key), "the pickle uses it but the zip has no entry " + quote(field));
    const std::size_t size = torch_pickle::storage_element_size(type);
    if (static_cast<std::uint64_t>(numel) > e->size / size || static_cast<std::uint64_t>(numel) * size != e->size)
      throw SerializeError(path, "storage " + quote(key),
                           std::string("declares ") + std::to_string(numel) + " elements of " + torch_pickle::storage_name(type) +
                               " (" + std::to_string(size) + " bytes each) but its entry holds " + std::to_string(e->size) + " bytes");
    Tensor t = storage_tensor(zip.data(*e), type, numel, path, field);
    storages.emplace(key, Loaded{type, t});
    return t;
  };
  torch_pickle::Limits limits;
  limits.budget_bytes = kBudgetBase + kBudgetPerPickleByte * pkl->size;
  return torch_pickle::unpickle(zip.data(*pkl), load_storage, path, prefix + "data.pkl", limits);
}

[[noreturn]] void not_a(const std::string& path, const std::string& field, const std::string& what, const Object& got) {
  throw SerializeError(path, field, "expected " + what + ", got " + torch_pickle::describe(got));
}

/// The value of a dict's string key, or null.
const Object* member(const Object& dict, std::string_view key) {
  for (std::size_t k = 0; k < dict.items.size(); k += 2)
    if (dict.items[k]->kind == Kind::Str && dict.items[k]->s == key) return dict.items[k + 1].get();
  return nullptr;
}

double number(const Object& o, const std::string& path, const std::string& field) {
  if (o.kind == Kind::Int || o.kind == Kind::Bool) return static_cast<double>(o.i);
  if (o.kind == Kind::Float) return o.f;
  if (o.kind == Kind::Tensor && o.tensor.numel() == 1) return o.tensor.item<double>();
  not_a(path, field, "a number", o);
}

// ---- writing ------------------------------------------------------------------------------

StorageType storage_type(Dtype d) {
  switch (d) {
    case Dtype::Float32: return StorageType::Float;
    case Dtype::Float64: return StorageType::Double;
    case Dtype::Int64: return StorageType::Long;
    case Dtype::Bool: return StorageType::Bool;
  }
  return StorageType::Float;
}

/// Collects storages while a pickle is written, then puts everything in a zip.
class TorchWriter {
 public:
  /// Writes `t` into the pickle; a tensor written before (a tied weight) shares its storage.
  void tensor(const Tensor& t) {
    for (const auto& [seen, key] : seen_)
      if (seen.is_same(t)) return p.tensor(storage_type(t.dtype()), key, t.numel(), 0, t.shape(), contiguous_strides(t.shape()));
    Tensor c = t.detach().contiguous();
    const std::string key = std::to_string(storages_.size());
    std::string bytes;
    detail::append_le(bytes, c.raw_data(), c.nbytes(), element_size(c.dtype()));
    storages_.emplace_back(key, std::move(bytes));
    seen_.emplace_back(t, key);
    p.tensor(storage_type(t.dtype()), key, t.numel(), 0, t.shape(), contiguous_strides(t.shape()));
  }

  std::string finish() {
    ZipWriter zip;
    const std::string prefix = std::string(kArchiveName) + "/";
    zip.add(prefix + "data.pkl", p.finish());
    for (const auto& [key, bytes] : storages_) zip.add(prefix + "data/" + key, bytes);
    zip.add(prefix + "version", "3\n");
    return zip.finish();
  }

  torch_pickle::Pickler p;

 private:
  static Shape contiguous_strides(const Shape& shape) {
    Shape s = shape;
    std::int64_t step = 1;
    for (std::size_t k = shape.size(); k-- > 0;) {
      s[k] = step;
      step *= std::max<std::int64_t>(shape[k], 1);
    }
    return s;
  }

  std::vector<std::pair<Tensor, std::string>> seen_;
  std::vector<std::pair<std::string, std::string>> storages_;
};

bool is_flag(const std::string& option) { return option == "nesterov" || option == "amsgrad" || option == "maximize"; }

/// What PyTorch 1.13 puts in each param group beyond ag's options (none of which changes a CPU step).
void write_torch_only_options(torch_pickle::Pickler& p, const std::string& optimizer) {
  p.string("foreach");
  p.none();
  if (optimizer == "Adam" || optimizer == "AdamW") {
    p.string("capturable");
    p.boolean(false);
  }
  if (optimizer == "SGD" || optimizer == "Adam") {
    p.string("differentiable");
    p.boolean(false);
  }
  if (optimizer == "Adam") {
    p.string("fused");
    p.boolean(false);
  }
}

}  // namespace

NamedTensors decode_torch_state_dict(std::string_view bytes, const std::string& path) {
  Ref root = decode(bytes, path);
  if (root->kind != Kind::Dict) not_a(path, "data.pkl", "a state dict (an OrderedDict of tensors)", *root);
  NamedTensors out;
  std::set<std::string> names;
  for (std::size_t k = 0; k < root->items.size(); k += 2) {
    const Object& key = *root->items[k];
    const Object& value = *root->items[k + 1];
    if (key.kind != Kind::Str) not_a(path, "state dict key", "a str", key);
    if (value.kind != Kind::Tensor)
      throw SerializeError(path, "state dict key " + quote(key.s),
                           "holds " + torch_pickle::describe(value) + ", not a tensor: this file is not a state dict of "
                           "tensors (if it is a checkpoint dict, save its model entry alone with torch.save(sd, path))");
    if (!names.insert(key.s).second) throw SerializeError(path, "state dict key " + quote(key.s), "appears twice");
    out.emplace_back(key.s, value.tensor);
  }
  return out;
}

std::string encode_torch_state_dict(const NamedTensors& tensors) {
  TorchWriter w;
  w.p.proto();
  w.p.empty_ordered_dict();
  constexpr std::size_t kBatch = 1000;  // as pickle does, so that a reader's stack stays small
  for (std::size_t k = 0; k < tensors.size(); k += kBatch) {
    w.p.mark();
    for (std::size_t j = k; j < tensors.size() && j < k + kBatch; ++j) {
      w.p.string(tensors[j].first);
      w.tensor(tensors[j].second);
    }
    w.p.setitems();
  }
  return w.finish();
}

optim::StateDict decode_torch_optimizer(std::string_view bytes, const std::string& path) {
  Ref root = decode(bytes, path);
  if (root->kind != Kind::Dict) not_a(path, "data.pkl", "an optimizer state dict ({'state': ..., 'param_groups': ...})", *root);
  const Object* state = member(*root, "state");
  const Object* groups = member(*root, "param_groups");
  if (!state || !groups || root->items.size() != 4)
    throw SerializeError(path, "data.pkl", "expected an optimizer state dict, a dict of exactly 'state' and 'param_groups'");
  if (state->kind != Kind::Dict) not_a(path, "state", "a dict", *state);
  if (groups->kind != Kind::List) not_a(path, "param_groups", "a list", *groups);

  optim::StateDict out;
  // A pickle may repeat a key, and a "betas" may meet a "beta1": refused, not overwritten.
  auto put = [&](const std::string& field, double v) {
    if (out.scalars.contains(field)) throw SerializeError(path, field, "appears twice");
    out.scalars.insert(field, v);
  };
  std::map<std::int64_t, std::size_t> position;  // PyTorch's parameter ids -> their order over all groups
  put("param_groups.size", static_cast<double>(groups->items.size()));
  for (std::size_t g = 0; g < groups->items.size(); ++g) {
    const Object& group = *groups->items[g];
    const std::string prefix = "param_groups." + std::to_string(g) + ".";
    if (group.kind != Kind::Dict) not_a(path, prefix, "a dict", group);
    const Object* params = member(group, "params");
    if (!params || params->kind != Kind::List) throw SerializeError(path, prefix + "params", "missing, or not a list");
    put(prefix + "size", static_cast<double>(params->items.size()));
    for (const Ref& id : params->items) {
      if (id->kind != Kind::Int) not_a(path, prefix + "params", "int parameter ids", *id);
      if (!position.emplace(id->i, position.size()).second)
        throw SerializeError(path, prefix + "params", "parameter id " + std::to_string(id->i) + " appears twice");
    }
    for (std::size_t k = 0; k < group.items.size(); k += 2) {
      const Object& key = *group.items[k];
      const Object& value = *group.items[k + 1];
      if (key.kind != Kind::Str) not_a(path, prefix + "key", "a str", key);
      const std::string field = prefix + key.s;
      if (key.s == "params") continue;
      // PyTorch's implementation switches (foreach, capturable, differentiable, fused) have no
      // effect on a CPU step and nothing to match in ag.
      if (key.s == "foreach" || key.s == "capturable" || key.s == "differentiable" || key.s == "fused") continue;
      if (key.s == "betas") {
        if (value.kind != Kind::Tuple || value.items.size() != 2) not_a(path, field, "a tuple of 2 numbers", value);
        put(prefix + "beta1", number(*value.items[0], path, field));
        put(prefix + "beta2", number(*value.items[1], path, field));
        continue;
      }
      put(field, number(value, path, field));
    }
  }
  for (std::size_t k = 0; k < state->items.size(); k += 2) {
    const Object& id = *state->items[k];
    const Object& entries = *state->items[k + 1];
    if (id.kind != Kind::Int) not_a(path, "state key", "an int parameter id", id);
    auto at = position.find(id.i);
    if (at == position.end())
      throw SerializeError(path, "state " + std::to_string(id.i), "no param group lists this parameter id");
    if (entries.kind != Kind::Dict) not_a(path, "state " + std::to_string(id.i), "a dict", entries);
    const std::string prefix = "state." + std::to_string(at->second) + ".";
    for (std::size_t j = 0; j < entries.items.size(); j += 2) {
      const Object& name = *entries.items[j];
      const Object& value = *entries.items[j + 1];
      if (name.kind != Kind::Str) not_a(path, prefix, "str names", name);
      const std::string field = prefix + name.s;
      if (name.s == "step" || value.kind != Kind::Tensor) {
        put(field, number(value, path, field));
      } else {
        if (out.tensors.contains(field)) throw SerializeError(path, field, "appears twice");
        out.tensors.insert(field, value.tensor);
      }
    }
  }
  return out;
}

std::string encode_torch_optimizer(const optim::StateDict& dict, const std::string& optimizer) {
  AG_CHECK(optimizer == "SGD" || optimizer == "Adam" || optimizer == "AdamW", "save_torch: PyTorch's layout is known for SGD, Adam and AdamW, not ", optimizer);
  auto scalar = [&](const std::string& key) {
    const double* v = dict.scalars.find(key);
    AG_CHECK(v != nullptr, "save_torch: the ", optimizer, " state dict has no ", key);
    return *v;
  };
  const auto groups = static_cast<std::size_t>(scalar("param_groups.size"));
  std::vector<std::size_t> sizes;
  std::size_t params = 0;
  for (std::size_t g = 0; g < groups; ++g) {
    sizes.push_back(static_cast<std::size_t>(scalar("param_groups." + std::to_string(g) + ".size")));
    params += sizes.back();
  }
  TorchWriter w;
  torch_pickle::Pickler& p = w.p;
  p.proto();
  p.empty_dict();
  p.mark();
  p.string("state");
  p.empty_dict();
  for (std::size_t i = 0; i < params; ++i) {
    const std::string prefix = "state." + std::to_string(i) + ".";
    bool any = false;
    for (const auto& [name, v] : dict.scalars.items()) any = any || name.compare(0, prefix.size(), prefix) == 0;
    for (const auto& [name, t] : dict.tensors.items()) any = any || name.compare(0, prefix.size(), prefix) == 0;
    if (!any) continue;
    p.mark();
    p.integer(static_cast<std::int64_t>(i));
    p.empty_dict();
    p.mark();
    for (const auto& [name, v] : dict.scalars.items()) {
      if (name.compare(0, prefix.size(), prefix) != 0) continue;
      const std::string key = name.substr(prefix.size());
      p.string(key);
      // PyTorch 1.13 keeps Adam's step as a float32 0-d tensor.
      if (key == "step" && optimizer != "SGD") w.tensor(scalar_tensor(v, kFloat32));
      else p.floating(v);
    }
    for (const auto& [name, t] : dict.tensors.items()) {
      if (name.compare(0, prefix.size(), prefix) != 0) continue;
      p.string(name.substr(prefix.size()));
      w.tensor(t);
    }
    p.setitems();
    p.setitems();
  }
  p.string("param_groups");
  p.empty_list();
  p.mark();
  std::size_t first = 0;
  for (std::size_t g = 0; g < groups; ++g) {
    const std::string prefix = "param_groups." + std::to_string(g) + ".";
    p.empty_dict();
    p.mark();
    for (const auto& [name, v] : dict.scalars.items()) {
      if (name.compare(0, prefix.size(), prefix) != 0) continue;
      const std::string key = name.substr(prefix.size());
      if (key == "size" || key == "beta2") continue;
      if (key == "beta1") {
        p.string("betas");
        p.mark();
        p.floating(v);
        p.floating(scalar(prefix + "beta2"));
        p.tuple();
      } else if (is_flag(key)) {
        p.string(key);
        p.boolean(v != 0);
      } else {
        p.string(key);
        p.floating(v);
      }
    }
    write_torch_only_options(p, optimizer);
    p.string("params");
    p.empty_list();
    p.mark();
    for (std::size_t k = 0; k < sizes[g]; ++k) p.integer(static_cast<std::int64_t>(first + k));
    p.appends();
    first += sizes[g];
    p.setitems();
  }
  p.appends();
  p.setitems();
  return w.finish();
}

}  // namespace serialize

namespace {

template <class F>
auto naming(const std::string& path, const char* what, F&& load) {
  try {
    return load();
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(path + ": the " + what + " in this file does not fit: " + e.what());
  }
}

}  // namespace

NamedTensors load_torch_state_dict(const std::string& path) {
  serialize::InputFile file(path);
  return serialize::decode_torch_state_dict(file.read_all(), path);
}

void save_torch_state_dict(const NamedTensors& tensors, const std::string& path) {
  serialize::write_file_atomic(path, {serialize::encode_torch_state_dict(tensors)});
}

nn::IncompatibleKeys load_torch(nn::Module& module, const std::string& path, bool strict) {
  nn::StateDict dict;
  for (auto& [name, t] : load_torch_state_dict(path)) dict.insert(name, t);
  return naming(path, "state_dict", [&] { return module.load_state_dict(dict, strict); });
}

void save_torch(const nn::Module& module, const std::string& path) { save_torch_state_dict(module.state_dict().items(), path); }

void load_torch(optim::Optimizer& optimizer, const std::string& path) {
  serialize::InputFile file(path);
  optim::StateDict dict = serialize::decode_torch_optimizer(file.read_all(), path);
  naming(path, "optimizer state", [&] {
    optimizer.load_state_dict(dict);
    return 0;
  });
}

void save_torch(const optim::Optimizer& optimizer, const std::string& path) {
  serialize::write_file_atomic(path, {serialize::encode_torch_optimizer(optimizer.state_dict(), optimizer.name())});
}

bool is_torch_file(const std::string& path) {
  serialize::InputFile file(path);
  if (file.size() < 4) return false;
  const std::string head = file.read(0, 4);
  return head == std::string("PK\x03\x04", 4) || static_cast<unsigned char>(head[0]) == 0x80;
}

}  // namespace ag
