#include "ag/serialize/safetensors.h"

// json_reader.h brings rapidjson in, configured; it comes before any other rapidjson header.
#include "ag/serialize/json_reader.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <optional>
#include <set>

#include "ag/autograd/tensor_impl.h"
#include "ag/serialize/io.h"

namespace ag {
namespace serialize {

namespace {

using detail::JsonReader;
using detail::JsonValue;
using detail::quote;

const char* safetensors_dtype(Dtype d) {
  switch (d) {
    case Dtype::Float32: return "F32";
    case Dtype::Float64: return "F64";
    case Dtype::Int64: return "I64";
    case Dtype::Bool: return "BOOL";
  }
  return "?";
}

std::optional<Dtype> dtype_from_safetensors(std::string_view s) {
  if (s == "F32") return Dtype::Float32;
  if (s == "F64") return Dtype::Float64;
  if (s == "I64") return Dtype::Int64;
  if (s == "BOOL") return Dtype::Bool;
  return std::nullopt;
}

/// One tensor's entry in the header, checked, before any data is touched.
struct Entry {
  std::string name;
  Dtype dtype;
  Shape shape;
  std::uint64_t begin, end;
};

Entry read_entry(const JsonReader& r, const std::string& name, const JsonValue& v, std::uint64_t data_bytes,
                 const std::string& path) {
  std::string field = "tensor " + quote(name);
  auto [dtype_v, shape_v, offsets_v] = r.members<3>(v, field, {"dtype", "shape", "data_offsets"});
  std::string dtype_str = r.string(*dtype_v, field + " dtype");
  std::optional<Dtype> dtype = dtype_from_safetensors(dtype_str);
  if (!dtype)
    r.fail(field + " dtype", quote(dtype_str) + " is not supported: ag reads F32, F64 and I64 (convert with "
                                                "tensor.float(), .double() or .long() before saving)");

  const JsonValue& shape = r.array(*shape_v, field + " shape");
  if (shape.Size() > Shape::kMaxDims)
    r.fail(field + " shape", std::to_string(shape.Size()) + " dimensions, ag tensors have at most " +
                                 std::to_string(Shape::kMaxDims));
  std::int64_t dims[Shape::kMaxDims] = {};
  for (rapidjson::SizeType k = 0; k < shape.Size(); ++k)
    dims[k] = r.int64(shape[k], field + " shape[" + std::to_string(k) + "]");
  std::int64_t numel = detail::checked_numel(dims, shape.Size(), path, field + " shape");

  const JsonValue& offsets = r.array(*offsets_v, field + " data_offsets");
  if (offsets.Size() != 2)
    r.fail(field + " data_offsets", "expected [begin, end], got " + std::to_string(offsets.Size()) + " numbers");
  for (rapidjson::SizeType k = 0; k < 2; ++k)
    if (!offsets[k].IsUint64())
      r.fail(field + " data_offsets", "expected non-negative integers, got " + JsonReader::kind(offsets[k]));
  std::uint64_t begin = offsets[0].GetUint64(), end = offsets[1].GetUint64();
  if (begin > end || end > data_bytes)
    r.fail(field + " data_offsets", "[" + std::to_string(begin) + ", " + std::to_string(end) +
                                        "] is not a range within the " + std::to_string(data_bytes) +
                                        " bytes of data");
  std::uint64_t expected = static_cast<std::uint64_t>(numel) * element_size(*dtype);
  if (end - begin != expected)
    r.fail(field + " data_offsets", "[" + std::to_string(begin) + ", " + std::to_string(end) + "] holds " +
                                        std::to_string(end - begin) + " bytes, but shape " + to_string(Shape(dims, dims + shape.Size())) +
                                        " of " + dtype_str + " needs " + std::to_string(expected));
  return {name, *dtype, Shape(dims, dims + shape.Size()), begin, end};
}

/// The header length `n` against the size of the whole file, before anything is read or allocated.
void check_header_length(std::uint64_t n, std::uint64_t file_size, const std::string& path) {
  if (n > file_size - 8)
    throw SerializeError(path, "header length", "says " + std::to_string(n) + " bytes, but only " +
                                                    std::to_string(file_size - 8) + " follow (truncated or corrupt)");
  if (n > kMaxSafetensorsHeaderBytes)
    throw SerializeError(path, "header length", std::to_string(n) + " bytes is more than the limit of " +
                                                    std::to_string(kMaxSafetensorsHeaderBytes));
}

}  // namespace

std::string encode_safetensors(const NamedTensors& tensors, const std::map<std::string, std::string>& metadata,
                               const std::string& path) {
  rapidjson::StringBuffer header;
  rapidjson::Writer<rapidjson::StringBuffer> w(header);
  auto string = [&](const std::string& s, const std::string& field) {
    if (!detail::is_valid_utf8(s)) throw SerializeError(path, field, quote(s) + " is not valid UTF-8");
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  };
  w.StartObject();
  if (!metadata.empty()) {
    w.Key("__metadata__");
    w.StartObject();
    for (const auto& [k, v] : metadata) {
      string(k, "__metadata__ key");
      string(v, "__metadata__ " + quote(k));
    }
    w.EndObject();
  }
  std::set<std::string> seen;
  std::uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    std::string field = "tensor " + quote(name);
    if (!t.defined()) throw SerializeError(path, field, "is undefined");
    if (name == "__metadata__") throw SerializeError(path, field, "the name is reserved for the metadata");
    if (!seen.insert(name).second) throw SerializeError(path, field, "appears twice (expected unique names)");
    string(name, field);
    w.StartObject();
    w.Key("dtype");
    w.String(safetensors_dtype(t.dtype()));
    w.Key("shape");
    w.StartArray();
    for (std::int64_t d : t.shape()) w.Int64(d);
    w.EndArray();
    std::uint64_t bytes = static_cast<std::uint64_t>(t.numel()) * element_size(t.dtype());
    w.Key("data_offsets");
    w.StartArray();
    w.Uint64(offset);
    w.Uint64(offset + bytes);
    w.EndArray();
    w.EndObject();
    offset += bytes;
  }
  w.EndObject();

  // Pad the header with spaces so the data starts 8-byte aligned, as other writers do.
  std::string json(header.GetString(), header.GetSize());
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string out;
  out.reserve(8 + json.size() + offset);
  detail::store_le<std::uint64_t>(out, json.size());
  out += json;
  for (const auto& [name, t] : tensors) {
    const Tensor c = t.contiguous();  // the file holds the elements in row-major order
    detail::append_le(out, c.impl()->data, static_cast<std::size_t>(c.numel()) * element_size(c.dtype()),
                      element_size(c.dtype()));
  }
  return out;
}

namespace {

/// Where a safetensors file's bytes come from: memory or a file. The header is read first and
/// checked against the size; each tensor's bytes then go straight into its storage.
struct SafetensorsSource {
  std::uint64_t size;
  std::function<std::string(std::uint64_t offset, std::uint64_t n)> read;
  std::function<void(std::uint64_t offset, void* dst, std::uint64_t n)> read_into;
};

SafetensorsFile decode_safetensors_from(const SafetensorsSource& in, const std::string& path) {
  if (in.size < 8)
    throw SerializeError(path, "header length", "the file has " + std::to_string(in.size) +
                                                    " bytes, fewer than the 8-byte header length (truncated)");
  auto n = detail::load_le<std::uint64_t>(in.read(0, 8).data());
  check_header_length(n, in.size, path);
  const std::string header = in.read(8, n);
  std::string_view json = header;
  if (json.empty() || json[0] != '{')
    throw SerializeError(path, "header", "expected a JSON object starting with '{', got " + quote(json.substr(0, 8)));
  std::uint64_t data_bytes = in.size - 8 - n;

  rapidjson::Document doc;
  try {
    detail::parse_json(doc, json, path, "header");
    JsonReader r(path);
    if (!doc.IsObject()) r.fail("header", "expected a JSON object, got " + JsonReader::kind(doc));

    SafetensorsFile file;
    std::vector<Entry> entries;
    std::set<std::string_view> seen;
    for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it) {
      std::string_view key(it->name.GetString(), it->name.GetStringLength());
      if (!seen.insert(key).second) r.fail("header", "key " + quote(key) + " appears twice");
      if (!detail::is_valid_utf8(key)) r.fail("header", "key " + quote(key) + " is not valid UTF-8");
      if (key == "__metadata__") {
        if (!it->value.IsObject()) r.fail("__metadata__", "expected an object of strings, got " + JsonReader::kind(it->value));
        for (auto m = it->value.MemberBegin(); m != it->value.MemberEnd(); ++m) {
          std::string k(m->name.GetString(), m->name.GetStringLength());
          std::string field = "__metadata__ " + quote(k);
          std::string v = r.string(m->value, field);
          if (!detail::is_valid_utf8(k) || !detail::is_valid_utf8(v)) r.fail(field, "is not valid UTF-8");
          if (!file.metadata.emplace(std::move(k), std::move(v)).second) r.fail(field, "appears twice");
        }
        continue;
      }
      entries.push_back(read_entry(r, std::string(key), it->value, data_bytes, path));
    }

    // The byte ranges must tile the data exactly: sorted, each starts where the previous ended.
    std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    std::uint64_t cursor = 0;
    for (const Entry& e : entries) {
      if (e.begin != cursor)
        r.fail("tensor " + quote(e.name) + " data_offsets",
               e.begin < cursor ? "[" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                                      "] overlaps the previous tensor, which ends at " + std::to_string(cursor)
                                : "starts at " + std::to_string(e.begin) + ", leaving " +
                                      std::to_string(e.begin - cursor) + " bytes unused after offset " +
                                      std::to_string(cursor));
      cursor = e.end;
    }
    if (cursor != data_bytes)
      r.fail("data", std::to_string(data_bytes - cursor) + " bytes after the last tensor belong to no tensor "
                                                           "(trailing data)");

    doc = rapidjson::Document();  // the header's tree is no longer needed
    for (const Entry& e : entries) {
      Tensor t = empty(e.shape, e.dtype);
      in.read_into(8 + n + e.begin, t.impl()->data, e.end - e.begin);
      detail::le_to_host(t.impl()->data, e.end - e.begin, element_size(e.dtype));
      if (e.dtype == kBool) detail::check_bool_bytes(t.impl()->data, e.end - e.begin, path, "tensor " + quote(e.name));
      file.tensors.emplace_back(e.name, std::move(t));
    }
    return file;
  } catch (const cereal::Exception& e) {
    // A rapidjson assertion: unreachable when the checks above hold, kept so nothing escapes untyped.
    throw SerializeError(path, "header", e.what());
  }
}

}  // namespace

SafetensorsFile decode_safetensors(std::string_view bytes, const std::string& path) {
  auto check = [&](std::uint64_t offset, std::uint64_t n) {
    if (offset > bytes.size() || n > bytes.size() - offset)
      throw SerializeError(path, "", "cannot read " + std::to_string(n) + " bytes at offset " + std::to_string(offset));
  };
  SafetensorsSource in{bytes.size(),
                       [&](std::uint64_t offset, std::uint64_t n) {
                         check(offset, n);
                         return std::string(bytes.substr(offset, n));
                       },
                       [&](std::uint64_t offset, void* dst, std::uint64_t n) {
                         check(offset, n);
                         if (n) std::memcpy(dst, bytes.data() + offset, n);
                       }};
  return decode_safetensors_from(in, path);
}

}  // namespace serialize

void save_safetensors(const NamedTensors& tensors, const std::string& path,
                      const std::map<std::string, std::string>& metadata) {
  std::string bytes = serialize::encode_safetensors(tensors, metadata, path);
  serialize::write_file_atomic(path, {bytes});
}

SafetensorsFile load_safetensors(const std::string& path) {
  serialize::InputFile file(path);
  serialize::SafetensorsSource in{
      file.size(), [&](std::uint64_t offset, std::uint64_t n) { return file.read(offset, n); },
      [&](std::uint64_t offset, void* dst, std::uint64_t n) { file.read_into(offset, dst, n); }};
  return serialize::out_of_memory_is_an_error(path, [&] { return serialize::decode_safetensors_from(in, path); });
}

}  // namespace ag
