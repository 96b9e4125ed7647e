#include "ag/serialize/zip.h"

#include <algorithm>
#include <set>

#include "ag/serialize/error.h"
#include "ag/serialize/io.h"

namespace ag::serialize {

namespace {

using detail::load_le;
using detail::quote;
using detail::store_le;

// Record signatures and fixed sizes (PKWARE APPNOTE 6.3, sections 4.3.7 to 4.3.16).
constexpr std::uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50;
constexpr std::uint32_t kEnd64Sig = 0x06064b50, kLocator64Sig = 0x07064b50;
constexpr std::uint64_t kLocalSize = 30, kCentralSize = 46, kEndSize = 22, kEnd64Size = 56, kLocator64Size = 20;
constexpr std::uint32_t k32 = 0xffffffffu;
constexpr std::uint16_t kZip64Extra = 0x0001, kPadExtra = 0x4246;  // "FB", PyTorch's padding field
constexpr std::uint64_t kAlignment = 64;

std::string hex(std::uint64_t v) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  do {
    s.insert(s.begin(), digits[v & 15]);
    v >>= 4;
  } while (v);
  return "0x" + s;
}

}  // namespace

ZipReader::ZipReader(std::string_view bytes, std::string path) : bytes_(bytes), path_(std::move(path)) {
  const std::uint64_t n = bytes_.size();
  if (n < kEndSize) fail("zip", "the file has " + std::to_string(n) + " bytes, too few for a zip file");
  // The end record sits at the end, after a comment of at most 65535 bytes.
  std::uint64_t end = n - kEndSize;
  const std::uint64_t lowest = n >= kEndSize + 65535 ? n - kEndSize - 65535 : 0;
  while (load_le<std::uint32_t>(bytes_.data() + end) != kEndSig || end + kEndSize + load_le<std::uint16_t>(bytes_.data() + end + 20) != n) {
    if (end == lowest) fail("zip end record", "not found: this is not a zip file, or it was cut short");
    --end;
  }
  const char* e = bytes_.data() + end;
  std::uint64_t disk = load_le<std::uint16_t>(e + 4), cd_disk = load_le<std::uint16_t>(e + 6);
  std::uint64_t count_here = load_le<std::uint16_t>(e + 8), count = load_le<std::uint16_t>(e + 10);
  std::uint64_t cd_size = load_le<std::uint32_t>(e + 12), cd_offset = load_le<std::uint32_t>(e + 16);
  std::uint64_t cd_end = end;
  // A zip64 end record, when there is one, has the true values (PyTorch always writes one).
  const bool has_locator = end >= kLocator64Size && load_le<std::uint32_t>(e - kLocator64Size) == kLocator64Sig;
  if (!has_locator && (count == 0xffff || cd_size == k32 || cd_offset == k32))
    fail("zip64 locator", "missing before the end record, which says the file needs one");
  if (has_locator) {
    std::uint64_t at = load_le<std::uint64_t>(e - kLocator64Size + 8);
    if (at > end - kLocator64Size || end - kLocator64Size - at < kEnd64Size || load_le<std::uint32_t>(bytes_.data() + at) != kEnd64Sig)
      fail("zip64 end record", "the locator points at byte " + std::to_string(at) + ", where there is none");
    const char* z = bytes_.data() + at;
    disk = load_le<std::uint32_t>(z + 16);
    cd_disk = load_le<std::uint32_t>(z + 20);
    count_here = load_le<std::uint64_t>(z + 24);
    count = load_le<std::uint64_t>(z + 32);
    cd_size = load_le<std::uint64_t>(z + 40);
    cd_offset = load_le<std::uint64_t>(z + 48);
    cd_end = at;
  }
  if (disk != 0 || cd_disk != 0 || count_here != count) fail("zip end record", "a zip split over several disks is not supported");
  if (cd_offset > cd_end || cd_end - cd_offset != cd_size)
    fail("zip central directory", "it says it spans " + std::to_string(cd_size) + " bytes from byte " +
                                      std::to_string(cd_offset) + ", but the end record is at byte " + std::to_string(cd_end));
  if (count > cd_size / kCentralSize)
    fail("zip central directory", std::to_string(count) + " entries cannot fit in its " + std::to_string(cd_size) + " bytes");
  read_central_directory(cd_offset, cd_size, count);
}

void ZipReader::read_central_directory(std::uint64_t cd_offset, std::uint64_t cd_size, std::uint64_t count) {
  std::set<std::string_view> names;
  std::uint64_t at = cd_offset;
  const std::uint64_t cd_end = cd_offset + cd_size;
  entries_.reserve(count);
  for (std::uint64_t k = 0; k < count; ++k) {
    const std::string field = "zip central directory entry " + std::to_string(k) + " (byte " + std::to_string(at) + ")";
    if (cd_end - at < kCentralSize || load_le<std::uint32_t>(bytes_.data() + at) != kCentralSig)
      fail(field, "no central directory record here");
    const char* c = bytes_.data() + at;
    const std::uint16_t flags = load_le<std::uint16_t>(c + 8), method = load_le<std::uint16_t>(c + 10);
    const std::uint32_t crc = load_le<std::uint32_t>(c + 16);
    std::uint64_t csize = load_le<std::uint32_t>(c + 20), usize = load_le<std::uint32_t>(c + 24);
    const std::uint64_t name_len = load_le<std::uint16_t>(c + 28), extra_len = load_le<std::uint16_t>(c + 30),
                        comment_len = load_le<std::uint16_t>(c + 32);
    std::uint64_t local = load_le<std::uint32_t>(c + 42);
    if (cd_end - at - kCentralSize < name_len + extra_len + comment_len) fail(field, "its name and extra fields run past the central directory");
    std::string_view name = bytes_.substr(at + kCentralSize, name_len);
    const std::string entry_field = "zip entry " + quote(name);
    if (flags & 0x41) fail(entry_field, "is encrypted; torch.save never encrypts");
    if (method != 0)
      fail(entry_field, "is compressed (method " + std::to_string(method) +
                            "); torch.save stores entries uncompressed and ag reads only those");
    // Zip64 sizes and offset, for the fields that say 0xffffffff, in this order.
    std::string_view extra = bytes_.substr(at + kCentralSize + name_len, extra_len);
    while (extra.size() >= 4) {
      const std::uint16_t id = load_le<std::uint16_t>(extra.data()), len = load_le<std::uint16_t>(extra.data() + 2);
      if (len > extra.size() - 4) fail(entry_field, "an extra field runs past its record");
      if (id == kZip64Extra) {
        std::string_view z = extra.substr(4, len);
        auto take = [&](std::uint64_t& v) {
          if (v != k32) return;
          if (z.size() < 8) fail(entry_field, "its zip64 extra field is too short");
          v = load_le<std::uint64_t>(z.data());
          z.remove_prefix(8);
        };
        take(usize);
        take(csize);
        take(local);
      }
      extra.remove_prefix(4 + len);
    }
    if (csize != usize) fail(entry_field, "is stored but its compressed size " + std::to_string(csize) + " differs from its size " + std::to_string(usize));
    if (!names.insert(name).second) fail(entry_field, "appears twice in the central directory");

    // The local header: signature, same name, data inside the file before the central directory.
    if (local > cd_offset || cd_offset - local < kLocalSize || load_le<std::uint32_t>(bytes_.data() + local) != kLocalSig)
      fail(entry_field, "its local header offset " + std::to_string(local) + " does not point at a local header");
    const char* l = bytes_.data() + local;
    const std::uint64_t lname = load_le<std::uint16_t>(l + 26), lextra = load_le<std::uint16_t>(l + 28);
    if (load_le<std::uint16_t>(l + 8) != 0) fail(entry_field, "its local header says it is compressed");
    if (cd_offset - local - kLocalSize < lname + lextra || bytes_.substr(local + kLocalSize, lname) != name)
      fail(entry_field, "its local header at byte " + std::to_string(local) + " names another entry");
    const std::uint64_t data = local + kLocalSize + lname + lextra;
    if (usize > cd_offset - data)
      fail(entry_field, "declares " + std::to_string(usize) + " bytes from byte " + std::to_string(data) +
                            ", past the " + std::to_string(cd_offset) + " bytes before the central directory");
    entries_.push_back({std::string(name), data, usize, crc});
    at += kCentralSize + name_len + extra_len + comment_len;
  }
  // No two entries may share bytes: together they hold at most the file.
  std::vector<const ZipEntry*> order;
  for (const ZipEntry& e : entries_) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const ZipEntry* a, const ZipEntry* b) { return a->offset < b->offset; });
  for (std::size_t k = 1; k < order.size(); ++k)
    if (order[k - 1]->offset + order[k - 1]->size > order[k]->offset - kLocalSize)
      fail("zip entry " + quote(order[k]->name), "overlaps entry " + quote(order[k - 1]->name));
  for (const ZipEntry& e : entries_) {
    const std::string_view d = data(e);
    const std::uint32_t actual = crc32(d.data(), d.size());
    if (actual != e.crc32)
      fail("zip entry " + quote(e.name), "CRC-32 is " + hex(actual) + " but the directory says " + hex(e.crc32) + ": the file is damaged");
  }
}

const ZipEntry* ZipReader::find(std::string_view name) const {
  for (const ZipEntry& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

void ZipReader::fail(const std::string& field, const std::string& message) const {
  throw SerializeError(path_, field, message);
}

void ZipWriter::add(const std::string& name, std::string_view data) {
  const std::uint64_t at = out_.size();
  const bool zip64 = data.size() >= k32;
  store_le<std::uint32_t>(out_, kLocalSig);
  store_le<std::uint16_t>(out_, zip64 ? 45 : 20);  // version needed: 4.5 for zip64, else 2.0
  store_le<std::uint16_t>(out_, 0x0800);           // flags: names are UTF-8
  store_le<std::uint16_t>(out_, 0);                // stored
  store_le<std::uint32_t>(out_, 0);                // time and date: none
  const std::uint32_t crc = crc32(data.data(), data.size());
  store_le<std::uint32_t>(out_, crc);
  store_le<std::uint32_t>(out_, zip64 ? k32 : static_cast<std::uint32_t>(data.size()));
  store_le<std::uint32_t>(out_, zip64 ? k32 : static_cast<std::uint32_t>(data.size()));
  store_le<std::uint16_t>(out_, static_cast<std::uint16_t>(name.size()));
  const std::uint64_t before_pad = at + kLocalSize + name.size() + (zip64 ? 20 : 0) + 4;
  const std::uint64_t pad = (kAlignment - before_pad % kAlignment) % kAlignment;
  store_le<std::uint16_t>(out_, static_cast<std::uint16_t>((zip64 ? 20 : 0) + 4 + pad));
  out_ += name;
  if (zip64) {
    store_le<std::uint16_t>(out_, kZip64Extra);
    store_le<std::uint16_t>(out_, 16);
    store_le<std::uint64_t>(out_, data.size());
    store_le<std::uint64_t>(out_, data.size());
  }
  store_le<std::uint16_t>(out_, kPadExtra);
  store_le<std::uint16_t>(out_, static_cast<std::uint16_t>(pad));
  out_.append(pad, 'Z');
  entries_.push_back({name, out_.size(), data.size(), crc});
  header_offsets_.push_back(at);
  out_.append(data.data(), data.size());
}

std::string ZipWriter::finish() {
  const std::uint64_t cd_offset = out_.size();
  for (std::size_t k = 0; k < entries_.size(); ++k) {
    const ZipEntry& e = entries_[k];
    const bool zip64 = e.size >= k32 || header_offsets_[k] >= k32;
    store_le<std::uint32_t>(out_, kCentralSig);
    store_le<std::uint16_t>(out_, zip64 ? 45 : 20);  // made by
    store_le<std::uint16_t>(out_, zip64 ? 45 : 20);  // needed
    store_le<std::uint16_t>(out_, 0x0800);
    store_le<std::uint16_t>(out_, 0);
    store_le<std::uint32_t>(out_, 0);
    store_le<std::uint32_t>(out_, e.crc32);
    store_le<std::uint32_t>(out_, zip64 ? k32 : static_cast<std::uint32_t>(e.size));
    store_le<std::uint32_t>(out_, zip64 ? k32 : static_cast<std::uint32_t>(e.size));
    store_le<std::uint16_t>(out_, static_cast<std::uint16_t>(e.name.size()));
    store_le<std::uint16_t>(out_, zip64 ? 28 : 0);
    store_le<std::uint16_t>(out_, 0);  // comment
    store_le<std::uint16_t>(out_, 0);  // disk
    store_le<std::uint16_t>(out_, 0);  // internal attributes
    store_le<std::uint32_t>(out_, 0);  // external attributes
    store_le<std::uint32_t>(out_, zip64 ? k32 : static_cast<std::uint32_t>(header_offsets_[k]));
    out_ += e.name;
    if (zip64) {
      store_le<std::uint16_t>(out_, kZip64Extra);
      store_le<std::uint16_t>(out_, 24);
      store_le<std::uint64_t>(out_, e.size);
      store_le<std::uint64_t>(out_, e.size);
      store_le<std::uint64_t>(out_, header_offsets_[k]);
    }
  }
  const std::uint64_t cd_size = out_.size() - cd_offset, count = entries_.size();
  const bool zip64 = cd_offset >= k32 || cd_size >= k32 || count >= 0xffff;
  if (zip64) {
    const std::uint64_t end64 = out_.size();
    store_le<std::uint32_t>(out_, kEnd64Sig);
    store_le<std::uint64_t>(out_, kEnd64Size - 12);
    store_le<std::uint16_t>(out_, 45);
    store_le<std::uint16_t>(out_, 45);
    store_le<std::uint32_t>(out_, 0);
    store_le<std::uint32_t>(out_, 0);
    store_le<std::uint64_t>(out_, count);
    store_le<std::uint64_t>(out_, count);
    store_le<std::uint64_t>(out_, cd_size);
    store_le<std::uint64_t>(out_, cd_offset);
    store_le<std::uint32_t>(out_, kLocator64Sig);
    store_le<std::uint32_t>(out_, 0);
    store_le<std::uint64_t>(out_, end64);
    store_le<std::uint32_t>(out_, 1);
  }
  store_le<std::uint32_t>(out_, kEndSig);
  store_le<std::uint32_t>(out_, 0);  // disk numbers
  store_le<std::uint16_t>(out_, zip64 ? 0xffff : static_cast<std::uint16_t>(count));
  store_le<std::uint16_t>(out_, zip64 ? 0xffff : static_cast<std::uint16_t>(count));
  store_le<std::uint32_t>(out_, zip64 ? k32 : static_cast<std::uint32_t>(cd_size));
  store_le<std::uint32_t>(out_, zip64 ? k32 : static_cast<std::uint32_t>(cd_offset));
  store_le<std::uint16_t>(out_, 0);  // comment
  entries_.clear();
  header_offsets_.clear();
  std::string file = std::move(out_);
  out_.clear();
  return file;
}

}  // namespace ag::serialize
