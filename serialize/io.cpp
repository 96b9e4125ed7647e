#include "ag/serialize/io.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <new>
#include <utility>
#include <vector>

#include "ag/serialize/error.h"

namespace ag::serialize {

namespace {

// Byte-at-a-time table for the reflected polynomial 0xEDB88320.
constexpr std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  return table;
}
constexpr std::array<std::uint32_t, 256> kCrcTable = make_crc_table();

std::string system_error(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

/// Writes all of `data`, retrying after signals and short writes.
bool write_all(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

/// The start of the temporary names of saves to `base`: ".BASE.tmp-", with a long BASE cut and
/// completed by a hash so that the whole temporary name (with "PID-N" after it) stays well within
/// NAME_MAX (255 bytes) for any valid file name.
std::string temp_prefix(const std::string& base) {
  constexpr std::size_t kMaxStem = 200;
  if (base.size() <= kMaxStem) return "." + base + ".tmp-";
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : base) h = (h ^ c) * 1099511628211ull;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return "." + base.substr(0, kMaxStem - 17) + "~" + hex + ".tmp-";
}

/// Removes the temporary files that earlier saves to the same target left behind when they were
/// killed: those named `prefix` PID-N whose process is gone and that no process holds locked (a
/// save holds its temporary file locked until it is renamed). Best effort: errors are ignored.
void remove_stale_temp_files(const std::string& dir, const std::string& prefix) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    std::string rest = name.substr(prefix.size());
    std::size_t dash = rest.find('-');
    if (dash == 0 || dash == std::string::npos || dash > 9 ||
        rest.find_first_not_of("0123456789-") != std::string::npos)
      continue;
    const long pid = std::stol(rest.substr(0, dash));
    if (pid == ::getpid() || pid <= 0 || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    std::string full = dir + "/" + name;
    int fd = ::open(full.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) continue;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && ::flock(fd, LOCK_EX | LOCK_NB) == 0)
      ::unlink(full.c_str());
    ::close(fd);
  }
  ::closedir(d);
}

constexpr bool kLittleEndianHost = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;

}  // namespace

std::uint32_t crc32(const void* data, std::size_t size, std::uint32_t crc) {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint32_t c = ~crc;
  for (std::size_t i = 0; i < size; ++i) c = kCrcTable[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return ~c;
}

void write_file_atomic(const std::string& path, std::initializer_list<std::string_view> parts) {
  if (path.empty()) throw SerializeError(path, "", "cannot save to an empty path");
  std::size_t slash = path.find_last_of('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (base.empty()) throw SerializeError(path, "", "the path names a folder, not a file");

  // A unique name in the same folder, so that rename() is atomic (same file system), locked while
  // it is written so that no other save mistakes it for one left by a killed save.
  const std::string prefix = temp_prefix(base);
  remove_stale_temp_files(dir, prefix);
  static std::atomic<unsigned> counter{0};
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    tmp = (slash == std::string::npos ? std::string() : path.substr(0, slash + 1)) + prefix +
          std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) throw SerializeError(path, "", system_error("cannot create a temporary file in the same folder"));
  ::flock(fd, LOCK_EX | LOCK_NB);  // released when the file is closed, or when this process dies

  auto fail = [&](const char* what) {
    std::string reason = system_error(what);
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw SerializeError(path, "", reason + " (the previous file, if any, is untouched)");
  };
  for (std::string_view part : parts)
    if (!write_all(fd, part.data(), part.size())) fail("write failed");
  if (::fsync(fd) != 0) fail("fsync failed");
  int rc = ::close(fd);
  fd = -1;
  if (rc != 0) fail("close failed");
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("rename over the target failed");

  // Make the rename itself durable. File systems that cannot sync a folder say EINVAL: nothing to do.
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    int r = ::fsync(dfd);
    int err = errno;
    ::close(dfd);
    if (r != 0 && err != EINVAL && err != EROFS) {
      errno = err;
      throw SerializeError(path, "", system_error("saved, but fsync of the folder failed"));
    }
  }
}

InputFile::InputFile(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw SerializeError(path, "", system_error("cannot open"));
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    std::string reason = system_error("cannot stat");
    ::close(fd_);
    throw SerializeError(path, "", reason);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    throw SerializeError(path, "", "not a regular file");
  }
  size_ = static_cast<std::uint64_t>(st.st_size);
}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::string InputFile::read(std::uint64_t offset, std::uint64_t n) const {
  check_range(offset, n);
  std::string out;
  try {
    out.resize(static_cast<std::size_t>(n));
  } catch (const std::bad_alloc&) {
    throw SerializeError(path_, "", "out of memory reading " + std::to_string(n) + " bytes");
  }
  read_into(offset, out.data(), n);
  return out;
}

void InputFile::read_into(std::uint64_t offset, void* dst, std::uint64_t n) const {
  check_range(offset, n);
  char* out = static_cast<char*>(dst);
  std::uint64_t done = 0;
  while (done < n) {
    const std::uint64_t chunk = std::min<std::uint64_t>(n - done, std::uint64_t{1} << 30);
    ssize_t r = ::pread(fd_, out + done, static_cast<std::size_t>(chunk), static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw SerializeError(path_, "", system_error("read failed"));
    if (r == 0) throw SerializeError(path_, "", "the file shrank while it was being read");
    done += static_cast<std::uint64_t>(r);
  }
}

void InputFile::check_range(std::uint64_t offset, std::uint64_t n) const {
  if (offset > size_ || n > size_ - offset)
    throw SerializeError(path_, "", "cannot read " + std::to_string(n) + " bytes at offset " + std::to_string(offset) +
                                        ": the file has " + std::to_string(size_) + " bytes");
}

std::uint32_t InputFile::crc32(std::uint64_t offset, std::uint64_t n) const {
  check_range(offset, n);
  std::vector<char> buf(std::min<std::uint64_t>(n, std::uint64_t{1} << 20));
  std::uint32_t crc = 0;
  for (std::uint64_t done = 0; done < n;) {
    const std::uint64_t chunk = std::min<std::uint64_t>(n - done, buf.size());
    read_into(offset + done, buf.data(), chunk);
    crc = serialize::crc32(buf.data(), static_cast<std::size_t>(chunk), crc);
    done += chunk;
  }
  return crc;
}

namespace detail {

std::string extension(const std::string& path) {
  std::size_t slash = path.find_last_of('/');
  std::size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string ext = path.substr(dot);
  for (char& c : ext)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return ext;
}

bool is_valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t len;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      len = 2, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, cp = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i < len) return false;
    for (std::size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr std::uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

std::string quote(std::string_view s) {
  constexpr std::size_t kMaxShown = 80;
  std::string out = "'";
  for (std::size_t i = 0; i < s.size() && i < kMaxShown; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (s.size() > kMaxShown) out += "...";
  return out + "'";
}

void append_le(std::string& out, const void* data, std::size_t bytes, std::size_t element_size) {
  const char* p = static_cast<const char*>(data);
  if (kLittleEndianHost || element_size == 1) {
    out.append(p, bytes);
    return;
  }
  for (std::size_t i = 0; i < bytes; i += element_size)
    for (std::size_t j = element_size; j-- > 0;) out.push_back(p[i + j]);
}

void le_to_host(void* data, std::size_t bytes, std::size_t element_size) {
  if (kLittleEndianHost || element_size == 1) return;
  char* d = static_cast<char*>(data);
  for (std::size_t i = 0; i < bytes; i += element_size)
    for (std::size_t j = 0; j < element_size / 2; ++j) std::swap(d[i + j], d[i + element_size - 1 - j]);
}

void copy_from_le(void* dst, const char* src, std::size_t bytes, std::size_t element_size) {
  if (bytes == 0) return;
  char* d = static_cast<char*>(dst);
  if (kLittleEndianHost || element_size == 1) {
    std::memcpy(d, src, bytes);
    return;
  }
  for (std::size_t i = 0; i < bytes; i += element_size)
    for (std::size_t j = 0; j < element_size; ++j) d[i + j] = src[i + element_size - 1 - j];
}

void check_bool_bytes(const void* data, std::size_t bytes, const std::string& path, const std::string& field) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < bytes; ++i)
    if (p[i] > 1)
      throw SerializeError(path, field, "element " + std::to_string(i) + " of a bool tensor is the byte " +
                                            std::to_string(p[i]) + " (a bool is stored as 0 or 1)");
}

std::int64_t checked_numel(const std::int64_t* dims, std::size_t rank, const std::string& path,
                           const std::string& field) {
  // The product of the non-zero sizes is bounded too, so that no partial product of the shape
  // (as Shape::numel computes it) can overflow, whatever the order of the sizes.
  std::int64_t n = 1;
  bool zero = false;
  for (std::size_t i = 0; i < rank; ++i) {
    std::int64_t d = dims[i];
    if (d < 0)
      throw SerializeError(path, field, "dimension " + std::to_string(i) + " is " + std::to_string(d) +
                                            ", expected a size >= 0");
    if (d == 0) {
      zero = true;
      continue;
    }
    if (n > kMaxElements / d)
      throw SerializeError(path, field, "the shape has more than 2^48 elements (dimension " + std::to_string(i) +
                                            " is " + std::to_string(d) + ")");
    n *= d;
  }
  return zero ? 0 : n;
}

}  // namespace detail
}  // namespace ag::serialize
