#include "ag/serialize/archive_format.h"

// rapidjson_config.h comes before any other cereal or rapidjson header.
#include "ag/serialize/rapidjson_config.h"

#include <cereal/archives/portable_binary.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <sstream>
#include <streambuf>

#include "ag/autograd/tensor_impl.h"
#include "ag/serialize/io.h"
#include "ag/serialize/json_reader.h"

namespace ag {
namespace serialize {

namespace {

using detail::quote;

// ---- codes shared by both formats -----------------------------------------------------------

// Explicit codes, independent of the order of ag::Dtype, so the file format never moves.
std::uint8_t dtype_code(Dtype d) {
  switch (d) {
    case Dtype::Float32: return 0;
    case Dtype::Float64: return 1;
    case Dtype::Int64: return 2;
    case Dtype::Bool: return 3;
  }
  return 0xff;
}

std::optional<Dtype> dtype_from_code(std::uint8_t code) {
  switch (code) {
    case 0: return Dtype::Float32;
    case 1: return Dtype::Float64;
    case 2: return Dtype::Int64;
    case 3: return Dtype::Bool;
    default: return std::nullopt;
  }
}

std::optional<Dtype> dtype_from_name(std::string_view name) {
  if (name == "float32") return Dtype::Float32;
  if (name == "float64") return Dtype::Float64;
  if (name == "int64") return Dtype::Int64;
  if (name == "bool") return Dtype::Bool;
  return std::nullopt;
}

enum ValueType : std::uint8_t { kInt64 = 0, kFloat64 = 1, kString = 2 };

std::string shape_str(const std::int64_t* dims, std::size_t rank) {
  std::string s = "[";
  for (std::size_t i = 0; i < rank; ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

// ---- binary payload: writing ----------------------------------------------------------------

/// A stream buffer that computes the CRC-32 and length of what is written, and keeps the bytes
/// in `out` when given one.
class PayloadSink : public std::streambuf {
 public:
  explicit PayloadSink(std::string* out) : out_(out) {}
  std::uint32_t crc() const { return crc_; }
  std::uint64_t size() const { return size_; }

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    if (n <= 0) return 0;
    crc_ = crc32(s, static_cast<std::size_t>(n), crc_);
    size_ += static_cast<std::uint64_t>(n);
    if (out_) out_->append(s, static_cast<std::size_t>(n));
    return n;
  }
  int_type overflow(int_type c) override {
    if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
    char ch = traits_type::to_char_type(c);
    xsputn(&ch, 1);
    return c;
  }

 private:
  std::string* out_;
  std::uint32_t crc_ = 0;
  std::uint64_t size_ = 0;
};

using BinaryOut = cereal::PortableBinaryOutputArchive;

void save_string(BinaryOut& ar, const std::string& s) {
  ar(static_cast<std::uint64_t>(s.size()));
  ar.saveBinary<1>(s.data(), static_cast<std::streamsize>(s.size()));
}

template <class T>
void save_elements(BinaryOut& ar, const T* data, std::size_t n, bool canonical_nan) {
  if (!canonical_nan || !std::is_floating_point_v<T>) {
    ar.template saveBinary<sizeof(T)>(data, static_cast<std::streamsize>(n * sizeof(T)));
    return;
  }
  // Every NaN as the canonical quiet NaN: what a NaN read back from JSON is.
  constexpr std::size_t kChunk = 1024;
  T chunk[kChunk];
  for (std::size_t i = 0; i < n; i += kChunk) {
    std::size_t m = std::min(kChunk, n - i);
    for (std::size_t k = 0; k < m; ++k)
      chunk[k] = std::isnan(data[i + k]) ? std::numeric_limits<T>::quiet_NaN() : data[i + k];
    ar.template saveBinary<sizeof(T)>(chunk, static_cast<std::streamsize>(m * sizeof(T)));
  }
}

void write_payload(PayloadSink& sink, const Archive& archive, bool canonical_nan) {
  std::ostream os(&sink);
  BinaryOut ar(os, BinaryOut::Options::LittleEndian());
  ar(static_cast<std::uint64_t>(archive.tensors().size()));
  for (const auto& entry : archive.tensors()) {
    const std::string& name = entry.first;
    const Tensor& t = entry.second;  // not a structured binding: the lambda below captures it
    save_string(ar, name);
    ar(dtype_code(t.dtype()), static_cast<std::uint8_t>(t.dim()));
    for (std::int64_t d : t.shape()) ar(d);
    ar(static_cast<std::uint64_t>(t.numel()) * element_size(t.dtype()));
    dispatch(t.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      save_elements(ar, ag::detail::data<T>(t), static_cast<std::size_t>(t.numel()), canonical_nan);
    });
  }
  ar(static_cast<std::uint64_t>(archive.values().size()));
  for (const auto& [name, v] : archive.values()) {
    save_string(ar, name);
    ar(static_cast<std::uint8_t>(v.index()));
    if (const auto* i = std::get_if<std::int64_t>(&v)) ar(*i);
    if (const auto* d = std::get_if<double>(&v)) {
      double x = canonical_nan && std::isnan(*d) ? std::numeric_limits<double>::quiet_NaN() : *d;
      ar(x);
    }
    if (const auto* s = std::get_if<std::string>(&v)) save_string(ar, *s);
  }
}

std::string encode_binary(const Archive& archive) {
  // The payload goes straight after room for the header, which is filled in once the payload's
  // length and CRC are known.
  std::string out(kArchiveHeaderBytes, '\0');
  PayloadSink sink(&out);
  write_payload(sink, archive, /*canonical_nan=*/false);
  std::string header(kArchiveMagic);
  detail::store_le<std::uint32_t>(header, kArchiveVersion);
  detail::store_le<std::uint64_t>(header, sink.size());
  detail::store_le<std::uint32_t>(header, sink.crc());
  out.replace(0, kArchiveHeaderBytes, header);
  return out;
}

// ---- binary payload: reading ----------------------------------------------------------------

/// A read-only stream buffer over bytes already in memory.
class MemoryBuf : public std::streambuf {
 public:
  explicit MemoryBuf(std::string_view bytes) {
    char* p = const_cast<char*>(bytes.data());
    setg(p, p, p + bytes.size());
  }
};

/// A read-only stream buffer over part of a file, read through a small buffer, with large reads
/// (a tensor's elements) going straight from the file to their destination.
class FileBuf : public std::streambuf {
 public:
  FileBuf(const InputFile& file, std::uint64_t offset) : file_(file), pos_(offset) {}

 protected:
  int_type underflow() override {
    if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
    const std::uint64_t n = std::min<std::uint64_t>(buf_.size(), file_.size() - pos_);
    if (n == 0) return traits_type::eof();
    file_.read_into(pos_, buf_.data(), n);
    pos_ += n;
    setg(buf_.data(), buf_.data(), buf_.data() + n);
    return traits_type::to_int_type(*gptr());
  }
  std::streamsize xsgetn(char* s, std::streamsize n) override {
    std::streamsize done = std::min<std::streamsize>(n, egptr() - gptr());
    std::memcpy(s, gptr(), static_cast<std::size_t>(done));
    gbump(static_cast<int>(done));
    if (n - done >= static_cast<std::streamsize>(buf_.size())) {
      const std::uint64_t m = std::min<std::uint64_t>(static_cast<std::uint64_t>(n - done), file_.size() - pos_);
      file_.read_into(pos_, s + done, m);
      pos_ += m;
      return done + static_cast<std::streamsize>(m);
    }
    while (done < n && underflow() != traits_type::eof()) {
      std::streamsize k = std::min<std::streamsize>(n - done, egptr() - gptr());
      std::memcpy(s + done, gptr(), static_cast<std::size_t>(k));
      gbump(static_cast<int>(k));
      done += k;
    }
    return done;
  }

 private:
  const InputFile& file_;
  std::uint64_t pos_;
  std::array<char, 1 << 16> buf_{};
};

/// Reads the payload through cereal, checking every read against the bytes that remain first, so
/// no size in the file is trusted before it is known to fit.
class PayloadReader {
 public:
  PayloadReader(std::streambuf& buf, std::uint64_t size, const std::string& path)
      : path_(path), in_(&buf), remaining_(size) {
    if (size == 0) fail("payload byte 0", "the payload is empty, expected at least its byte-order byte");
    const int first = buf.sgetc();
    if (first != 1)
      fail("payload byte 0", "expected 1 (little-endian, as ag writes), got " + std::to_string(first));
    ar_.emplace(in_);  // reads the byte-order byte
    remaining_ -= 1;
  }

  std::uint64_t remaining() const { return remaining_; }

  [[noreturn]] void fail(const std::string& field, const std::string& message) const {
    throw SerializeError(path_, field, message);
  }
  const std::string& path() const { return path_; }

  void need(std::uint64_t n, const std::string& field) const {
    if (n > remaining_)
      fail(field, "needs " + std::to_string(n) + " bytes but only " + std::to_string(remaining_) +
                      " remain in the payload (truncated or corrupt)");
  }

  template <class T>
  T read(const std::string& field) {
    need(sizeof(T), field);
    T v{};
    (*ar_)(v);
    remaining_ -= sizeof(T);
    return v;
  }

  std::string read_string(const std::string& field, std::uint64_t max_bytes) {
    auto n = read<std::uint64_t>(field + " length");
    if (n > max_bytes)
      fail(field + " length", std::to_string(n) + " bytes is more than the limit of " + std::to_string(max_bytes));
    need(n, field);
    std::string s(static_cast<std::size_t>(n), '\0');
    ar_->loadBinary<1>(s.data(), static_cast<std::streamsize>(n));
    remaining_ -= n;
    return s;
  }

  template <class T>
  void read_elements(T* out, std::uint64_t bytes, const std::string& field) {
    need(bytes, field);
    if (bytes > 0) ar_->template loadBinary<sizeof(T)>(out, static_cast<std::streamsize>(bytes));
    remaining_ -= bytes;
  }

 private:
  const std::string& path_;
  std::istream in_;
  std::optional<cereal::PortableBinaryInputArchive> ar_;
  std::uint64_t remaining_;
};

// The fewest payload bytes one tensor or one value can take: a name length, then for a tensor
// dtype, rank and byte count; for a value its type and an 8-byte number or string length.
constexpr std::uint64_t kMinTensorBytes = 8 + 1 + 1 + 8;
constexpr std::uint64_t kMinValueBytes = 8 + 1 + 8;

/// `s` if it is valid UTF-8 (as every name and string of an archive is), else SerializeError.
std::string checked_utf8(std::string s, const std::string& path, const std::string& field) {
  if (!detail::is_valid_utf8(s)) throw SerializeError(path, field, quote(s) + " is not valid UTF-8");
  return s;
}

Archive decode_payload(std::streambuf& payload, std::uint64_t size, const std::string& path) {
  PayloadReader r(payload, size, path);
  Archive archive;

  auto n_tensors = r.read<std::uint64_t>("tensor count");
  if (n_tensors > r.remaining() / kMinTensorBytes)
    r.fail("tensor count", std::to_string(n_tensors) + " tensors cannot fit in the " +
                               std::to_string(r.remaining()) + " bytes that remain");
  for (std::uint64_t i = 0; i < n_tensors; ++i) {
    std::string at = "tensor #" + std::to_string(i);
    std::string name = checked_utf8(r.read_string(at + " name", Archive::kMaxNameBytes), path, at + " name");
    std::string field = "tensor " + quote(name);
    if (archive.has_tensor(name)) r.fail(field, "appears twice (expected unique names)");

    auto code = r.read<std::uint8_t>(field + " dtype");
    std::optional<Dtype> dtype = dtype_from_code(code);
    if (!dtype)
      r.fail(field + " dtype", "unknown dtype code " + std::to_string(code) +
                                   " (expected 0 float32, 1 float64 or 2 int64)");
    auto rank = r.read<std::uint8_t>(field + " rank");
    if (rank > Shape::kMaxDims)
      r.fail(field + " rank", std::to_string(rank) + " dimensions, expected at most " + std::to_string(Shape::kMaxDims));
    std::int64_t dims[Shape::kMaxDims] = {};
    for (std::size_t k = 0; k < rank; ++k) dims[k] = r.read<std::int64_t>(field + " size " + std::to_string(k));
    std::int64_t numel = detail::checked_numel(dims, rank, path, field + " shape");

    auto bytes = r.read<std::uint64_t>(field + " byte count");
    std::uint64_t expected = static_cast<std::uint64_t>(numel) * element_size(*dtype);
    if (bytes != expected)
      r.fail(field + " byte count", "shape " + shape_str(dims, rank) + " of " + dtype_name(*dtype) + " needs " +
                                        std::to_string(expected) + " bytes, the file says " + std::to_string(bytes));
    r.need(bytes, field + " data");  // before allocating
    Tensor t = empty(Shape(dims, dims + rank), *dtype);
    // Raw bytes first: a bool byte other than 0 or 1 must be refused before anyone reads it as bool.
    r.read_elements(static_cast<unsigned char*>(t.impl()->data), bytes, field + " data");
    if (*dtype == kBool) detail::check_bool_bytes(t.impl()->data, bytes, r.path(), field + " data");
    archive.set(name, t);
  }

  auto n_values = r.read<std::uint64_t>("value count");
  if (n_values > r.remaining() / kMinValueBytes)
    r.fail("value count", std::to_string(n_values) + " values cannot fit in the " + std::to_string(r.remaining()) +
                              " bytes that remain");
  for (std::uint64_t i = 0; i < n_values; ++i) {
    std::string at = "value #" + std::to_string(i);
    std::string name = checked_utf8(r.read_string(at + " name", Archive::kMaxNameBytes), path, at + " name");
    std::string field = "value " + quote(name);
    if (archive.has_value(name)) r.fail(field, "appears twice (expected unique names)");
    auto type = r.read<std::uint8_t>(field + " type");
    switch (type) {
      case kInt64: archive.set(name, r.read<std::int64_t>(field)); break;
      case kFloat64: archive.set(name, r.read<double>(field)); break;
      case kString: archive.set(name, checked_utf8(r.read_string(field, r.remaining()), path, field)); break;
      default:
        r.fail(field + " type", "unknown value type " + std::to_string(type) +
                                    " (expected 0 int64, 1 float64 or 2 string)");
    }
  }
  if (r.remaining() != 0)
    r.fail("payload", std::to_string(r.remaining()) + " unexpected bytes after the last value (expected none)");
  return archive;
}

/// Checks the 24-byte header against the real size of the file; returns the payload CRC it names.
std::uint32_t check_header(std::string_view header, std::uint64_t file_size, const std::string& path) {
  if (file_size < kArchiveHeaderBytes)
    throw SerializeError(path, "header", "the file has " + std::to_string(file_size) + " bytes, fewer than the " +
                                             std::to_string(kArchiveHeaderBytes) + "-byte header (truncated)");
  if (header.substr(0, kArchiveMagic.size()) != kArchiveMagic)
    throw SerializeError(path, "header magic", "expected " + quote(kArchiveMagic) + " (an ag binary archive), got " +
                                                   quote(header.substr(0, kArchiveMagic.size())));
  auto version = detail::load_le<std::uint32_t>(header.data() + 8);
  if (version != kArchiveVersion)
    throw SerializeError(path, "header version",
                         "expected " + std::to_string(kArchiveVersion) + ", got " + std::to_string(version) +
                             (version > kArchiveVersion ? " (written by a newer ag?)" : " (not a known version)"));
  auto length = detail::load_le<std::uint64_t>(header.data() + 12);
  std::uint64_t actual = file_size - kArchiveHeaderBytes;
  if (length != actual)
    throw SerializeError(path, "header payload length",
                         "says " + std::to_string(length) + " bytes, but " + std::to_string(actual) +
                             " bytes follow the header (" +
                             (length > actual ? "truncated file)" : "unexpected bytes at the end)"));
  return detail::load_le<std::uint32_t>(header.data() + 20);
}

Archive decode_binary(std::string_view bytes, const std::string& path) {
  std::uint32_t crc = check_header(bytes.substr(0, kArchiveHeaderBytes), bytes.size(), path);
  std::string_view payload = bytes.substr(kArchiveHeaderBytes);
  std::uint32_t actual = crc32(payload.data(), payload.size());
  if (actual != crc)
    throw SerializeError(path, "header crc32",
                         "the payload's CRC-32 is " + hex32(actual) + ", the header says " + hex32(crc) +
                             " (the file is corrupt)");
  try {
    MemoryBuf buf(payload);
    return decode_payload(buf, payload.size(), path);
  } catch (const cereal::Exception& e) {
    // Unreachable when the checks above hold; kept so that no cereal error escapes untyped.
    throw SerializeError(path, "payload", e.what());
  }
}

// ---- JSON -----------------------------------------------------------------------------------

std::string encode_json(const Archive& archive) {
  std::ostringstream os;
  {
    // The default precision (rapidjson's 324 decimal places) never cuts digits: floats round-trip.
    cereal::JSONOutputArchive ar(os);
    ar(cereal::make_nvp("format", std::string(kJsonArchiveFormat)));
    ar(cereal::make_nvp("version", kArchiveVersion));
    ar(cereal::make_nvp("crc32", archive_json_crc32(archive)));
    ar.setNextName("tensors");
    ar.startNode();
    ar.makeArray();
    for (const auto& entry : archive.tensors()) {
      const std::string& name = entry.first;
      const Tensor& t = entry.second;  // not a structured binding: the lambda below captures it
      ar.startNode();
      ar(cereal::make_nvp("name", name), cereal::make_nvp("dtype", std::string(dtype_name(t.dtype()))));
      ar.setNextName("shape");
      ar.startNode();
      ar.makeArray();
      for (std::int64_t d : t.shape()) ar(d);
      ar.finishNode();
      ar.setNextName("data");
      ar.startNode();
      ar.makeArray();
      dispatch(t.dtype(), [&](auto tag) {
        using T = typename decltype(tag)::type;
        const T* p = ag::detail::data<T>(t);
        for (std::int64_t i = 0; i < t.numel(); ++i) ar(p[i]);
      });
      ar.finishNode();
      ar.finishNode();
    }
    ar.finishNode();
    ar.setNextName("values");
    ar.startNode();
    ar.makeArray();
    for (const auto& [name, v] : archive.values()) {
      ar.startNode();
      ar(cereal::make_nvp("name", name), cereal::make_nvp("type", std::string(value_type_name(v))));
      std::visit([&](const auto& x) { ar(cereal::make_nvp("value", x)); }, v);
      ar.finishNode();
    }
    ar.finishNode();
  }  // the archive writes its closing brace when destroyed
  // No newline after the brace: then every truncation of the file is also invalid JSON.
  return os.str();
}

using detail::JsonReader;
using detail::JsonValue;

void read_json_tensor(const JsonReader& r, const JsonValue& v, std::size_t index, Archive& archive,
                      const std::string& path) {
  std::string at = "tensors[" + std::to_string(index) + "]";
  auto [name_v, dtype_v, shape_v, data_v] = r.members<4>(v, at, {"name", "dtype", "shape", "data"});
  std::string name = checked_utf8(r.string(*name_v, at + ".name"), path, at + ".name");
  if (name.size() > Archive::kMaxNameBytes)
    r.fail(at + ".name", std::to_string(name.size()) + " bytes is longer than the limit of " +
                             std::to_string(Archive::kMaxNameBytes));
  std::string field = at + " (" + quote(name) + ")";
  if (archive.has_tensor(name)) r.fail(field, "the name appears twice (expected unique names)");

  std::string dtype_str = r.string(*dtype_v, field + ".dtype");
  std::optional<Dtype> dtype = dtype_from_name(dtype_str);
  if (!dtype) r.fail(field + ".dtype", "unknown dtype " + quote(dtype_str) + " (expected float32, float64 or int64)");

  const JsonValue& shape = r.array(*shape_v, field + ".shape");
  if (shape.Size() > Shape::kMaxDims)
    r.fail(field + ".shape", std::to_string(shape.Size()) + " dimensions, expected at most " +
                                 std::to_string(Shape::kMaxDims));
  std::int64_t dims[Shape::kMaxDims] = {};
  for (rapidjson::SizeType k = 0; k < shape.Size(); ++k)
    dims[k] = r.int64(shape[k], field + ".shape[" + std::to_string(k) + "]");
  std::int64_t numel = detail::checked_numel(dims, shape.Size(), path, field + ".shape");

  const JsonValue& data = r.array(*data_v, field + ".data");
  if (static_cast<std::int64_t>(data.Size()) != numel)
    r.fail(field + ".data", "has " + std::to_string(data.Size()) + " numbers, but shape " +
                                shape_str(dims, shape.Size()) + " needs " + std::to_string(numel));
  Tensor t = empty(Shape(dims, dims + shape.Size()), *dtype);
  dispatch(*dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* out = ag::detail::data<T>(t);
    for (rapidjson::SizeType i = 0; i < data.Size(); ++i) {
      auto element = [&] { return field + ".data[" + std::to_string(i) + "]"; };
      if constexpr (std::is_same_v<T, float>) {
        // The message is built only on failure: this loop runs once per element.
        if (!data[i].IsNumber() || !std::isfinite(static_cast<float>(data[i].GetDouble())))
          out[i] = r.float32(data[i], element());
        else
          out[i] = static_cast<float>(data[i].GetDouble());
      } else if constexpr (std::is_same_v<T, double>) {
        out[i] = data[i].IsNumber() ? data[i].GetDouble() : r.float64(data[i], element());
      } else if constexpr (std::is_same_v<T, bool>) {
        if (!data[i].IsBool()) r.fail(element(), "is not true or false (the tensor is bool)");
        out[i] = data[i].GetBool();
      } else {
        out[i] = data[i].IsInt64() ? data[i].GetInt64() : r.int64(data[i], element());
      }
    }
  });
  archive.set(name, t);
}

void read_json_value(const JsonReader& r, const JsonValue& v, std::size_t index, Archive& archive,
                     const std::string& path) {
  std::string at = "values[" + std::to_string(index) + "]";
  auto [name_v, type_v, value_v] = r.members<3>(v, at, {"name", "type", "value"});
  std::string name = checked_utf8(r.string(*name_v, at + ".name"), path, at + ".name");
  if (name.size() > Archive::kMaxNameBytes)
    r.fail(at + ".name", std::to_string(name.size()) + " bytes is longer than the limit of " +
                             std::to_string(Archive::kMaxNameBytes));
  std::string field = at + " (" + quote(name) + ")";
  if (archive.has_value(name)) r.fail(field, "the name appears twice (expected unique names)");
  std::string type = r.string(*type_v, field + ".type");
  if (type == "int64") archive.set(name, r.int64(*value_v, field + ".value"));
  else if (type == "float64") archive.set(name, r.float64(*value_v, field + ".value"));
  else if (type == "string") archive.set(name, checked_utf8(r.string(*value_v, field + ".value"), path, field + ".value"));
  else r.fail(field + ".type", "unknown type " + quote(type) + " (expected int64, float64 or string)");
}

Archive decode_json(std::string_view bytes, const std::string& path) {
  if (bytes.size() > kMaxJsonArchiveBytes)
    throw SerializeError(path, "", "a JSON archive of " + std::to_string(bytes.size()) +
                                       " bytes is larger than the limit of 256 MiB (save big archives as binary)");
  rapidjson::Document doc;
  detail::parse_json(doc, bytes, path, "JSON");
  JsonReader r(path);
  auto [format_v, version_v, crc_v, tensors_v, values_v] =
      r.members<5>(doc, "top level", {"format", "version", "crc32", "tensors", "values"});
  // Format and version first: a newer version may have another layout, and should say so.
  std::string format = r.string(*format_v, "format");
  if (format != kJsonArchiveFormat)
    r.fail("format", "expected " + quote(kJsonArchiveFormat) + " (an ag JSON archive), got " + quote(format));
  if (!version_v->IsUint() || version_v->GetUint() != kArchiveVersion)
    r.fail("version", "expected " + std::to_string(kArchiveVersion) + ", got " + JsonReader::kind(*version_v) +
                          (version_v->IsUint() && version_v->GetUint() > kArchiveVersion ? " (written by a newer ag?)"
                                                                                          : ""));
  if (!crc_v->IsUint()) r.fail("crc32", "expected an unsigned 32-bit integer, got " + JsonReader::kind(*crc_v));
  std::uint32_t crc = crc_v->GetUint();

  Archive archive;
  const JsonValue& tensors = r.array(*tensors_v, "tensors");
  for (rapidjson::SizeType i = 0; i < tensors.Size(); ++i) read_json_tensor(r, tensors[i], i, archive, path);
  const JsonValue& values = r.array(*values_v, "values");
  for (rapidjson::SizeType i = 0; i < values.Size(); ++i) read_json_value(r, values[i], i, archive, path);

  std::uint32_t actual = archive_json_crc32(archive);
  if (actual != crc)
    r.fail("crc32", "the contents' CRC-32 is " + hex32(actual) + ", the file says " + hex32(crc) +
                        " (the file is corrupt or was edited)");
  return archive;
}

ArchiveFormat resolve(ArchiveFormat format, const std::string& path) {
  if (format != ArchiveFormat::Auto) return format;
  std::string ext = detail::extension(path);
  if (ext == ".json") return ArchiveFormat::Json;
  if (ext == ".safetensors" || ext == ".npy")
    throw SerializeError(path, "", "save_archive writes ag archives; use ag::save_" + ext.substr(1) +
                                       " for a " + ext + " file, or pass an explicit ArchiveFormat");
  return ArchiveFormat::Binary;
}

}  // namespace

std::uint32_t archive_json_crc32(const Archive& archive) {
  PayloadSink sink(nullptr);
  write_payload(sink, archive, /*canonical_nan=*/true);
  return sink.crc();
}

std::string encode_archive(const Archive& archive, ArchiveFormat format) {
  return format == ArchiveFormat::Json ? encode_json(archive) : encode_binary(archive);
}

Archive decode_archive(std::string_view bytes, const std::string& path) {
  // Binary archives start with 0x89; JSON ones with '{' after optional whitespace.
  if (!bytes.empty() && static_cast<unsigned char>(bytes[0]) == 0x89) return decode_binary(bytes, path);
  std::size_t i = bytes.find_first_not_of(" \t\r\n");
  if (i != std::string_view::npos && bytes[i] == '{') {
    try {
      return decode_json(bytes, path);
    } catch (const cereal::Exception& e) {
      // A rapidjson assertion: unreachable when the checks above hold, kept so nothing escapes untyped.
      throw SerializeError(path, "JSON", e.what());
    }
  }
  if (bytes.empty()) throw SerializeError(path, "", "the file is empty (expected an ag archive)");
  throw SerializeError(path, "", "not an ag archive: expected the binary magic " + quote(kArchiveMagic) +
                                     " or a JSON object, the file starts with " + quote(bytes.substr(0, 8)));
}

}  // namespace serialize

void save_archive(const Archive& archive, const std::string& path, ArchiveFormat format) {
  std::string bytes = serialize::encode_archive(archive, serialize::resolve(format, path));
  serialize::write_file_atomic(path, {bytes});
}

namespace serialize {
namespace {

/// A binary archive read from its file in pieces: the header checked against the file's size, the
/// CRC-32 computed in bounded chunks, then the payload decoded with every tensor's elements read
/// straight into its storage, so that loading takes little more memory than the tensors.
Archive load_binary(const InputFile& file, const std::string& path) {
  const std::string head = file.read(0, kArchiveHeaderBytes);
  const std::uint32_t crc = check_header(head, file.size(), path);
  const std::uint64_t size = file.size() - kArchiveHeaderBytes;
  const std::uint32_t actual = file.crc32(kArchiveHeaderBytes, size);
  if (actual != crc)
    throw SerializeError(path, "header crc32",
                         "the payload's CRC-32 is " + hex32(actual) + ", the header says " + hex32(crc) +
                             " (the file is corrupt)");
  try {
    FileBuf buf(file, kArchiveHeaderBytes);
    return decode_payload(buf, size, path);
  } catch (const cereal::Exception& e) {
    throw SerializeError(path, "payload", e.what());
  }
}

}  // namespace
}  // namespace serialize

Archive load_archive(const std::string& path) {
  serialize::InputFile file(path);
  return serialize::out_of_memory_is_an_error(path, [&] {
    // A binary header is checked against the file's size before the payload is read, and a JSON
    // archive's size against the cap.
    std::string head = file.read(0, std::min<std::uint64_t>(file.size(), serialize::kArchiveHeaderBytes));
    if (!head.empty() && static_cast<unsigned char>(head[0]) == 0x89) return serialize::load_binary(file, path);
    if (file.size() > serialize::kMaxJsonArchiveBytes) {
      std::size_t i = head.find_first_not_of(" \t\r\n");
      if (i != std::string::npos && head[i] != '{') return serialize::decode_archive(head, path);  // not an archive
      throw SerializeError(path, "", "a JSON archive of " + std::to_string(file.size()) +
                                         " bytes is larger than the limit of 256 MiB (save big archives as binary)");
    }
    return serialize::decode_archive(file.read_all(), path);
  });
}

}  // namespace ag
