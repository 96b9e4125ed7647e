#include "ag/serialize/json_reader.h"

#include <cstring>

#include <charconv>

namespace ag::serialize::detail {

namespace {

/// rapidjson's SAX events, forwarded to a Document, except that numbers arrive as text and are
/// converted here with std::from_chars (exact and locale-independent). rapidjson 1.1.0's own
/// conversion is wrong for some inputs: 0e300 becomes -2.2e-75 (clz(0) in DiyFp::Normalize) and
/// 1844674407370955161595 becomes -1.6e265.
class ExactNumbers {
 public:
  explicit ExactNumbers(rapidjson::Document& doc) : doc_(doc) {}

  bool RawNumber(const char* str, rapidjson::SizeType length, bool) {
    std::string_view text(str, length);
    const char* end = str + length;
    // Integers that fit in 64 bits stay integers, as rapidjson keeps them; larger ones become doubles.
    if (text.find_first_of(".eEIN") == std::string_view::npos) {
      if (text[0] == '-') {
        std::int64_t v = 0;
        auto r = std::from_chars(str, end, v);
        if (r.ec == std::errc() && r.ptr == end) return doc_.Int64(v);
      } else {
        std::uint64_t v = 0;
        auto r = std::from_chars(str, end, v);
        if (r.ec == std::errc() && r.ptr == end) return doc_.Uint64(v);
      }
    }
    if (text == "NaN" || text == "-NaN") return doc_.Double(std::numeric_limits<double>::quiet_NaN());
    if (text == "Infinity") return doc_.Double(std::numeric_limits<double>::infinity());
    if (text == "-Infinity") return doc_.Double(-std::numeric_limits<double>::infinity());
    double v = 0;
    auto r = std::from_chars(str, end, v);
    if (r.ec != std::errc() || r.ptr != end) {
      error_ = "the number " + quote(text) + " is outside the float64 range";
      return false;
    }
    return doc_.Double(v);
  }

  bool Null() { return doc_.Null(); }
  bool Bool(bool b) { return doc_.Bool(b); }
  bool Int(int i) { return doc_.Int(i); }
  bool Uint(unsigned u) { return doc_.Uint(u); }
  bool Int64(std::int64_t i) { return doc_.Int64(i); }
  bool Uint64(std::uint64_t u) { return doc_.Uint64(u); }
  bool Double(double d) { return doc_.Double(d); }
  bool String(const char* s, rapidjson::SizeType n, bool copy) { return doc_.String(s, n, copy); }
  bool StartObject() { return doc_.StartObject(); }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) { return doc_.Key(s, n, copy); }
  bool EndObject(rapidjson::SizeType n) { return doc_.EndObject(n); }
  bool StartArray() { return doc_.StartArray(); }
  bool EndArray(rapidjson::SizeType n) { return doc_.EndArray(n); }

  const std::string& error() const { return error_; }

 private:
  rapidjson::Document& doc_;
  std::string error_;
};

/// The offset of the first number (outside strings) longer than `max_chars`, or npos.
std::size_t find_long_number(std::string_view s, std::size_t max_chars) {
  auto in_number = [](char c) { return (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'; };
  bool in_string = false;
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    run = in_number(c) ? run + 1 : 0;
    if (run > max_chars) return i + 1 - run;
  }
  return std::string_view::npos;
}

constexpr std::size_t kMaxNumberChars = 1000;

}  // namespace

void parse_json(rapidjson::Document& doc, std::string_view bytes, const std::string& path, const std::string& field) {
  std::size_t long_number = find_long_number(bytes, kMaxNumberChars);
  if (long_number != std::string_view::npos)
    throw SerializeError(path, field, "invalid JSON: a number at byte " + std::to_string(long_number) +
                                          " is longer than " + std::to_string(kMaxNumberChars) + " characters");
  // rapidjson reads a NUL byte as the end of the text, so "{...}\0garbage" would parse; valid JSON
  // never holds a raw NUL (in a string it must be escaped), so one anywhere is an error.
  if (const void* nul = std::memchr(bytes.data(), '\0', bytes.size()))
    throw SerializeError(path, field, "invalid JSON: a NUL byte at byte " +
                                          std::to_string(static_cast<const char*>(nul) - bytes.data()) +
                                          " (JSON text never holds one)");
  rapidjson::Reader reader;
  std::string number_error;
  auto generate = [&](rapidjson::Document& d) {
    ExactNumbers handler(d);
    rapidjson::MemoryStream ms(bytes.data(), bytes.size());
    rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> in(ms);
    bool ok = !reader.Parse<kJsonParseFlags>(in, handler).IsError();
    number_error = handler.error();
    return ok;
  };
  doc.Populate(generate);
  if (reader.HasParseError()) {
    std::string reason = !number_error.empty() ? number_error : rapidjson::GetParseError_En(reader.GetParseErrorCode());
    throw SerializeError(path, field, "invalid JSON: " + reason + " (at byte " + std::to_string(reader.GetErrorOffset()) + ")");
  }
}

}  // namespace ag::serialize::detail
