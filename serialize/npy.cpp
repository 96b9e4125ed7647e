#include "ag/serialize/npy.h"

#include <cstring>
#include <functional>
#include <optional>

#include "ag/autograd/tensor_impl.h"
#include "ag/serialize/error.h"
#include "ag/serialize/io.h"

namespace ag {
namespace serialize {

namespace {

using detail::quote;

constexpr std::string_view kNpyMagic{"\x93NUMPY", 6};

const char* npy_descr(Dtype d) {
  switch (d) {
    case Dtype::Float32: return "<f4";
    case Dtype::Float64: return "<f8";
    case Dtype::Int64: return "<i8";
    case Dtype::Bool: return "|b1";
  }
  return "?";
}

/// Reads the header, a Python dict literal such as
/// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }, one bounded step at a time.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& path) : s_(text), path_(path) {}

  [[noreturn]] void fail(const std::string& field, const std::string& message) const {
    throw SerializeError(path_, field, message + " (header " + quote(s_) + ")");
  }

  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool consume(char c) {
    skip_ws();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void expect(char c, const std::string& field) {
    if (!consume(c))
      fail(field, std::string("expected '") + c + "' at byte " + std::to_string(i_) +
                      (i_ < s_.size() ? ", got " + quote(s_.substr(i_, 1)) : ", got the end of the header"));
  }
  char peek() {
    skip_ws();
    return i_ < s_.size() ? s_[i_] : '\0';
  }

  std::string_view string(const std::string& field) {
    skip_ws();
    if (i_ >= s_.size() || (s_[i_] != '\'' && s_[i_] != '"')) fail(field, "expected a quoted string");
    char q = s_[i_++];
    std::size_t start = i_;
    while (i_ < s_.size() && s_[i_] != q) {
      if (s_[i_] == '\\') fail(field, "escapes in strings are not supported");
      ++i_;
    }
    if (i_ >= s_.size()) fail(field, "unterminated string");
    return s_.substr(start, i_++ - start);
  }

  bool boolean(const std::string& field) {
    skip_ws();
    for (auto [word, value] : {std::pair{std::string_view("True"), true}, std::pair{std::string_view("False"), false}})
      if (s_.substr(i_, word.size()) == word) {
        i_ += word.size();
        return value;
      }
    fail(field, "expected True or False");
  }

  /// (), (3,), (2, 3): at most Shape::kMaxDims sizes, each at most detail::kMaxElements.
  Shape tuple(const std::string& field) {
    expect('(', field);
    Shape shape;
    while (!consume(')')) {
      skip_ws();
      if (i_ >= s_.size() || s_[i_] < '0' || s_[i_] > '9') fail(field, "expected a size or ')'");
      std::int64_t v = 0;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
        v = v * 10 + (s_[i_++] - '0');
        if (v > detail::kMaxElements) fail(field, "a size is larger than the limit of 2^48 elements");
      }
      if (shape.size() == Shape::kMaxDims)
        fail(field, "more than " + std::to_string(Shape::kMaxDims) + " dimensions (ag's limit)");
      shape.push_back(v);
      if (!consume(',')) {
        expect(')', field);
        break;
      }
    }
    return shape;
  }

  bool at_end() {
    skip_ws();
    return i_ == s_.size();
  }

 private:
  std::string_view s_;
  std::size_t i_ = 0;
  const std::string& path_;
};

struct Header {
  Dtype dtype;
  Shape shape;
};

Header parse_header(std::string_view text, const std::string& path) {
  HeaderParser p(text, path);
  std::optional<std::string_view> descr;
  std::optional<bool> fortran;
  std::optional<Shape> shape;
  p.expect('{', "header");
  while (!p.consume('}')) {
    std::string_view key = p.string("header key");
    p.expect(':', "header");
    if (key == "descr") {
      if (descr) p.fail("descr", "appears twice");
      if (p.peek() == '[') p.fail("descr", "structured dtypes are not supported: ag reads '<f4', '<f8' and '<i8'");
      descr = p.string("descr");
    } else if (key == "fortran_order") {
      if (fortran) p.fail("fortran_order", "appears twice");
      fortran = p.boolean("fortran_order");
    } else if (key == "shape") {
      if (shape) p.fail("shape", "appears twice");
      shape = p.tuple("shape");
    } else {
      p.fail("header", "unexpected key " + quote(key) + " (expected descr, fortran_order and shape)");
    }
    if (!p.consume(',')) {
      p.expect('}', "header");
      break;
    }
  }
  if (!p.at_end()) p.fail("header", "unexpected text after the closing '}'");
  if (!descr) p.fail("descr", "missing");
  if (!fortran) p.fail("fortran_order", "missing");
  if (!shape) p.fail("shape", "missing");
  if (*fortran)
    p.fail("fortran_order", "Fortran-ordered arrays are not supported: save np.ascontiguousarray(a) instead");

  std::optional<Dtype> dtype;
  if (*descr == "<f4") dtype = Dtype::Float32;
  if (*descr == "<f8") dtype = Dtype::Float64;
  if (*descr == "<i8") dtype = Dtype::Int64;
  if (*descr == "|b1") dtype = Dtype::Bool;
  if (!dtype) {
    std::string d(*descr);
    if (!d.empty() && d[0] == '>')
      p.fail("descr", "big-endian data (" + quote(d) + ") is not supported: convert with a.astype('<" + d.substr(1) +
                          "')");
    p.fail("descr", quote(d) + " is not supported: ag reads '<f4', '<f8' and '<i8' (convert with "
                               "a.astype(np.float32), np.float64 or np.int64)");
  }
  detail::checked_numel(shape->data(), shape->size(), path, "shape");
  return {*dtype, *shape};
}

}  // namespace

std::string encode_npy(const Tensor& tensor) {
  AG_CHECK(tensor.defined(), "save_npy: the tensor is undefined");
  std::string dict = std::string("{'descr': '") + npy_descr(tensor.dtype()) + "', 'fortran_order': False, 'shape': (";
  for (std::size_t i = 0; i < tensor.shape().size(); ++i) dict += (i ? ", " : "") + std::to_string(tensor.shape()[i]);
  dict += tensor.dim() == 1 ? ",), }" : "), }";
  // Version 1.0: magic (6) + version (2) + u16 length (2) + header, padded with spaces and ended by
  // '\n' so that the data starts 64-byte aligned.
  std::size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  std::size_t bytes = static_cast<std::size_t>(tensor.numel()) * element_size(tensor.dtype());
  std::string out;
  out.reserve(10 + dict.size() + bytes);
  out += kNpyMagic;
  out += '\x01';
  out += '\x00';
  detail::store_le<std::uint16_t>(out, static_cast<std::uint16_t>(dict.size()));
  out += dict;
  const Tensor c = tensor.contiguous();  // the file holds the elements in row-major order
  detail::append_le(out, c.impl()->data, bytes, element_size(c.dtype()));
  return out;
}

namespace {

/// Where a .npy file's bytes come from: memory or a file, read a piece at a time so that the
/// header is checked against the size before the data is read, and the data goes straight into
/// the tensor's storage.
struct NpySource {
  std::uint64_t size;
  std::function<std::string(std::uint64_t offset, std::uint64_t n)> read;
  std::function<void(std::uint64_t offset, void* dst, std::uint64_t n)> read_into;
};

Tensor decode_npy_from(const NpySource& in, const std::string& path) {
  const std::string head = in.read(0, std::min<std::uint64_t>(in.size, 12));
  const std::string_view bytes = head;
  if (in.size < 10 || bytes.substr(0, 6) != kNpyMagic) {
    if (bytes.substr(0, 6) != kNpyMagic.substr(0, std::min<std::size_t>(6, bytes.size())))
      throw SerializeError(path, "magic", "expected " + quote(kNpyMagic) + " (a NumPy .npy file), got " +
                                              quote(bytes.substr(0, 6)));
    throw SerializeError(path, "header", "the file has " + std::to_string(in.size) +
                                             " bytes, too few for a .npy header (truncated)");
  }
  auto major = static_cast<unsigned char>(bytes[6]), minor = static_cast<unsigned char>(bytes[7]);
  std::uint64_t length, start;
  if (major == 1 && minor == 0) {
    length = detail::load_le<std::uint16_t>(bytes.data() + 8);
    start = 10;
  } else if ((major == 2 || major == 3) && minor == 0) {
    if (in.size < 12)
      throw SerializeError(path, "header", "the file has " + std::to_string(in.size) +
                                               " bytes, too few for a version 2 .npy header (truncated)");
    length = detail::load_le<std::uint32_t>(bytes.data() + 8);
    start = 12;
  } else {
    throw SerializeError(path, "version", std::to_string(major) + "." + std::to_string(minor) +
                                              " is not a known .npy version (expected 1.0, 2.0 or 3.0)");
  }
  if (length > in.size - start)
    throw SerializeError(path, "header length", "says " + std::to_string(length) + " bytes, but only " +
                                                    std::to_string(in.size - start) + " follow (truncated)");
  if (length > kMaxNpyHeaderBytes)
    throw SerializeError(path, "header length", std::to_string(length) + " bytes is more than the limit of " +
                                                    std::to_string(kMaxNpyHeaderBytes));
  Header h = parse_header(in.read(start, length), path);

  std::uint64_t have = in.size - start - length;
  std::uint64_t need = static_cast<std::uint64_t>(h.shape.numel()) * element_size(h.dtype);
  if (have != need)
    throw SerializeError(path, "data", "shape " + to_string(h.shape) + " of " + dtype_name(h.dtype) + " needs " +
                                           std::to_string(need) + " bytes, the file has " + std::to_string(have) +
                                           (have < need ? " (truncated)" : " (unexpected bytes at the end)"));
  Tensor t = empty(h.shape, h.dtype);
  in.read_into(start + length, t.impl()->data, need);
  detail::le_to_host(t.impl()->data, need, element_size(h.dtype));
  if (h.dtype == kBool) detail::check_bool_bytes(t.impl()->data, need, path, "data");
  return t;
}

}  // namespace

Tensor decode_npy(std::string_view bytes, const std::string& path) {
  auto check = [&](std::uint64_t offset, std::uint64_t n) {
    if (offset > bytes.size() || n > bytes.size() - offset)
      throw SerializeError(path, "", "cannot read " + std::to_string(n) + " bytes at offset " + std::to_string(offset));
  };
  NpySource in{bytes.size(),
               [&](std::uint64_t offset, std::uint64_t n) {
                 check(offset, n);
                 return std::string(bytes.substr(offset, n));
               },
               [&](std::uint64_t offset, void* dst, std::uint64_t n) {
                 check(offset, n);
                 if (n) std::memcpy(dst, bytes.data() + offset, n);
               }};
  return decode_npy_from(in, path);
}

}  // namespace serialize

void save_npy(const Tensor& tensor, const std::string& path) {
  std::string bytes = serialize::encode_npy(tensor);
  serialize::write_file_atomic(path, {bytes});
}

Tensor load_npy(const std::string& path) {
  serialize::InputFile file(path);
  serialize::NpySource in{file.size(), [&](std::uint64_t offset, std::uint64_t n) { return file.read(offset, n); },
                          [&](std::uint64_t offset, void* dst, std::uint64_t n) { file.read_into(offset, dst, n); }};
  return serialize::out_of_memory_is_an_error(path, [&] { return serialize::decode_npy_from(in, path); });
}

}  // namespace ag
