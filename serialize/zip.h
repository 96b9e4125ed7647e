#pragma once
// The zip container of PyTorch's torch.save files (PyTorch >= 1.6): stored (uncompressed) entries
// only, read from memory with every offset and size checked, and written with each entry's data
// aligned to 64 bytes as PyTorch writes it.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ag::serialize {

/// One entry of a zip file: its name and where its bytes lie in the file.
struct ZipEntry {
  std::string name;
  std::uint64_t offset = 0;  // of the first data byte
  std::uint64_t size = 0;
  std::uint32_t crc32 = 0;
};

/// The entries of a zip file held in memory. Only what torch.save writes is accepted: stored
/// entries (compression method 0, so no zip bomb can exist), unencrypted, one disk, zip64 or not.
/// Every entry's local header must agree with the central directory, its data must lie inside the
/// file, no two entries may overlap or share a name, and each entry's CRC-32 must match. Anything
/// else throws SerializeError(path, field) naming the entry and the byte offset.
///
///     ag::serialize::ZipReader zip(bytes, "model.pt");
///     std::string_view pkl = zip.data(*zip.find("archive/data.pkl"));
class ZipReader {
 public:
  ZipReader(std::string_view bytes, std::string path);

  const std::vector<ZipEntry>& entries() const { return entries_; }
  /// The entry called `name`, or null.
  const ZipEntry* find(std::string_view name) const;
  /// An entry's bytes (a view into the file).
  std::string_view data(const ZipEntry& e) const { return bytes_.substr(e.offset, e.size); }

 private:
  [[noreturn]] void fail(const std::string& field, const std::string& message) const;
  void read_central_directory(std::uint64_t cd_offset, std::uint64_t cd_size, std::uint64_t count);

  std::string_view bytes_;
  std::string path_;
  std::vector<ZipEntry> entries_;
};

/// Builds a zip file of stored entries in memory, each entry's data starting at a multiple of 64
/// bytes (what PyTorch's reader expects, so that storages can be mapped). Zip64 records are written
/// when the file or an entry passes 4 GiB.
///
///     ag::serialize::ZipWriter zip;
///     zip.add("archive/version", "3\n");
///     std::string bytes = zip.finish();
class ZipWriter {
 public:
  void add(const std::string& name, std::string_view data);
  /// The whole file; the writer is empty afterwards.
  std::string finish();

 private:
  std::string out_;
  std::vector<ZipEntry> entries_;
  std::vector<std::uint64_t> header_offsets_;
};

}  // namespace ag::serialize
