#pragma once
// Internal: checked access to a parsed JSON document, for the archive and safetensors loaders.
// Every accessor checks the type first and throws SerializeError naming the file and the field.

#include "ag/serialize/rapidjson_config.h"

#include <array>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>

#include "ag/serialize/error.h"
#include "ag/serialize/io.h"

namespace ag::serialize::detail {

using JsonValue = rapidjson::Value;

/// Reads a parsed JSON document against a schema, naming the file and field of every mismatch.
class JsonReader {
 public:
  explicit JsonReader(const std::string& path) : path_(path) {}

  [[noreturn]] void fail(const std::string& field, const std::string& message) const {
    throw SerializeError(path_, field, message);
  }

  /// The members of object `v` named in `keys`, in that order; every key must be there, once,
  /// and no other key may be.
  template <std::size_t N>
  std::array<const JsonValue*, N> members(const JsonValue& v, const std::string& field,
                                          const std::array<const char*, N>& keys) const {
    if (!v.IsObject()) fail(field, "expected a JSON object, got " + kind(v));
    std::array<const JsonValue*, N> out{};
    for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
      std::string_view key(it->name.GetString(), it->name.GetStringLength());
      std::size_t k = 0;
      while (k < N && key != keys[k]) ++k;
      if (k == N) fail(field, "unexpected key " + quote(key) + " (expected " + key_list(keys) + ")");
      if (out[k]) fail(field, "key " + quote(key) + " appears twice");
      out[k] = &it->value;
    }
    for (std::size_t k = 0; k < N; ++k)
      if (!out[k]) fail(field, std::string("missing key '") + keys[k] + "' (expected " + key_list(keys) + ")");
    return out;
  }

  std::string string(const JsonValue& v, const std::string& field) const {
    if (!v.IsString()) fail(field, "expected a string, got " + kind(v));
    return std::string(v.GetString(), v.GetStringLength());
  }

  std::int64_t int64(const JsonValue& v, const std::string& field) const {
    if (!v.IsInt64()) fail(field, "expected an integer in the int64 range, got " + kind(v));
    return v.GetInt64();
  }

  double float64(const JsonValue& v, const std::string& field) const {
    if (!v.IsNumber()) fail(field, "expected a number, got " + kind(v));
    return v.GetDouble();
  }

  float float32(const JsonValue& v, const std::string& field) const {
    double d = float64(v, field);
    auto f = static_cast<float>(d);
    // A finite number that float32 cannot hold would silently become inf: refuse it.
    if (std::isfinite(d) && !std::isfinite(f)) fail(field, describe(d) + " is outside the float32 range");
    return f;
  }

  const JsonValue& array(const JsonValue& v, const std::string& field) const {
    if (!v.IsArray()) fail(field, "expected a JSON array, got " + kind(v));
    return v;
  }

  static std::string kind(const JsonValue& v) {
    switch (v.GetType()) {
      case rapidjson::kNullType: return "null";
      case rapidjson::kFalseType:
      case rapidjson::kTrueType: return "a boolean";
      case rapidjson::kObjectType: return "an object";
      case rapidjson::kArrayType: return "an array";
      case rapidjson::kStringType: return "the string " + quote(std::string_view(v.GetString(), v.GetStringLength()));
      case rapidjson::kNumberType:
        if (v.IsInt64()) return "the integer " + std::to_string(v.GetInt64());
        if (v.IsUint64()) return "the integer " + std::to_string(v.GetUint64());
        return "the number " + describe(v.GetDouble());
    }
    return "?";
  }

 private:
  template <std::size_t N>
  static std::string key_list(const std::array<const char*, N>& keys) {
    std::string s;
    for (std::size_t k = 0; k < N; ++k) s += (k ? ", " : "") + std::string(keys[k]);
    return s;
  }
  static std::string describe(double d) {
    std::ostringstream os;
    os.precision(std::numeric_limits<double>::max_digits10);
    os << d;
    return os.str();
  }

  const std::string& path_;
};


/// Parses `bytes` as one JSON document (iteratively: no recursion, however deep the nesting), or
/// throws SerializeError(path, field) with rapidjson's reason and the byte offset.
void parse_json(rapidjson::Document& doc, std::string_view bytes, const std::string& path, const std::string& field);

}  // namespace ag::serialize::detail
