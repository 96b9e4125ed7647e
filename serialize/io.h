#pragma once
// Bytes in and out of files for serialize/: CRC-32, atomic writes, bounded reads and the
// little-endian helpers the safetensors and npy formats need.

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>

#include "ag/serialize/error.h"


namespace ag::serialize {

/// CRC-32 of `size` bytes (IEEE 802.3 polynomial, as zlib's crc32, PNG and gzip). Pass the previous
/// result as `crc` to continue over more bytes.
///
///     ag::serialize::crc32("123456789", 9) == 0xCBF43926u;
std::uint32_t crc32(const void* data, std::size_t size, std::uint32_t crc = 0);

/// Writes `parts` one after the other to `path`, atomically: a temporary file in the same folder is
/// written, flushed and fsync'ed, then renamed over `path`, and the folder is fsync'ed. A crash at
/// any moment leaves either the old file or the new one, never a torn one (a crash may leave a stray
/// `.NAME.tmp-PID-N` file next to it, which the next save to `path` removes once process PID is
/// gone). A long NAME is cut and completed by a hash in the temporary name, so any name of up to
/// NAME_MAX bytes can be saved. On error the temporary file is removed, `path` is untouched, and
/// SerializeError names the file and the system's reason.
///
///     ag::serialize::write_file_atomic("ckpt.ag", {header, payload});
void write_file_atomic(const std::string& path, std::initializer_list<std::string_view> parts);

/// A regular file opened for reading; every read is checked against its size.
///
///     ag::serialize::InputFile f("model.safetensors");
///     std::string first8 = f.read(0, 8);
class InputFile {
 public:
  /// Opens `path`; SerializeError if it is missing, unreadable or not a regular file.
  explicit InputFile(const std::string& path);
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  std::uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  /// `n` bytes from `offset`; SerializeError if the file holds fewer.
  std::string read(std::uint64_t offset, std::uint64_t n) const;
  /// The whole file.
  std::string read_all() const { return read(0, size_); }
  /// `n` bytes from `offset` straight into `dst` (a tensor's storage, say); SerializeError if the
  /// file holds fewer.
  void read_into(std::uint64_t offset, void* dst, std::uint64_t n) const;
  /// The CRC-32 of `n` bytes from `offset`, read in bounded chunks.
  std::uint32_t crc32(std::uint64_t offset, std::uint64_t n) const;

 private:
  void check_range(std::uint64_t offset, std::uint64_t n) const;

  std::string path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

/// Runs `load` (a loader reading `path`), turning an allocation failure into a SerializeError that
/// names the file, so that a file too big for the memory at hand is an error like any other.
///
///     return out_of_memory_is_an_error(path, [&] { return decode(file); });
template <class F>
auto out_of_memory_is_an_error(const std::string& path, F&& load) {
  try {
    return load();
  } catch (const std::bad_alloc&) {
    throw SerializeError(path, "", "out of memory while loading the file (it needs more memory than is available)");
  }
}

namespace detail {

/// The file name's extension, lower-cased, with its dot (".json"), or "" if it has none.
std::string extension(const std::string& path);

/// True when `s` is well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool is_valid_utf8(std::string_view s);

/// `s` quoted for an error message, with control and non-ASCII bytes escaped and long names cut.
std::string quote(std::string_view s);

/// Little-endian fixed-width integers, whatever the host's byte order.
template <class T>
T load_le(const char* p) {
  using U = std::make_unsigned_t<T>;
  U v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) v |= static_cast<U>(static_cast<unsigned char>(p[i])) << (8 * i);
  return static_cast<T>(v);
}
template <class T>
void store_le(std::string& out, T value) {
  using U = std::make_unsigned_t<T>;
  U v = static_cast<U>(value);
  for (std::size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

/// Appends the elements of a tensor's buffer as little-endian bytes.
void append_le(std::string& out, const void* data, std::size_t bytes, std::size_t element_size);
/// Turns little-endian elements, read into a tensor's buffer, into the host's byte order in place.
void le_to_host(void* data, std::size_t bytes, std::size_t element_size);
/// Copies little-endian bytes into a tensor's buffer (swapping on a big-endian host).
void copy_from_le(void* dst, const char* src, std::size_t bytes, std::size_t element_size);

/// Throws SerializeError(path, field) unless every one of the `bytes` bytes (the elements of a bool
/// tensor, read as raw bytes) is 0 or 1: any other byte is not a valid bool.
void check_bool_bytes(const void* data, std::size_t bytes, const std::string& path, const std::string& field);

/// The element count of a shape read from a file, or SerializeError(path, field) if a size is
/// negative or the product of the non-zero sizes exceeds `kMaxElements` (checked before each
/// multiplication, so nothing overflows).
inline constexpr std::int64_t kMaxElements = std::int64_t{1} << 48;
std::int64_t checked_numel(const std::int64_t* dims, std::size_t rank, const std::string& path,
                           const std::string& field);

}  // namespace detail
}  // namespace ag::serialize
