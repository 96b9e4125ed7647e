#pragma once
// SerializeError: what every loader and saver in serialize/ throws for a bad file or a failed write.

#include <stdexcept>
#include <string>

namespace ag {

/// A file that cannot be read or written: missing, truncated, corrupt, hostile or of the wrong kind.
/// The message names the file, the field and what was expected; `path()` and `field()` give them
/// separately.
///
///     try { auto a = ag::load_archive("ckpt.ag"); }
///     catch (const ag::SerializeError& e) { std::cerr << e.what(); }
///     // 'ckpt.ag': header crc32: expected 0x1c291ca3 (the payload's CRC-32), the file says 0x1c291ca2
class SerializeError : public std::runtime_error {
 public:
  /// `path` may be empty (an in-memory archive); `field` may be empty (the whole file).
  SerializeError(std::string path, std::string field, const std::string& message)
      : std::runtime_error(format(path, field, message)), path_(std::move(path)), field_(std::move(field)) {}

  const std::string& path() const { return path_; }
  const std::string& field() const { return field_; }

 private:
  static std::string format(const std::string& path, const std::string& field, const std::string& message) {
    std::string s = path.empty() ? std::string("archive") : "'" + path + "'";
    if (!field.empty()) s += ": " + field;
    return s + ": " + message;
  }

  std::string path_;
  std::string field_;
};

}  // namespace ag
