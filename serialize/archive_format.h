#pragma once
// Archive files: ag's own checkpoint format, in portable binary (the default) or JSON.
//
// Binary (any extension but .json), all integers little-endian:
//
//     header  (24 bytes)  magic "\x89AGARCH\n" | u32 version | u64 payload length | u32 CRC-32 of payload
//     payload (cereal portable binary)
//       u8 1 (little-endian)
//       u64 tensor count, then per tensor:
//         u64 name length, name (UTF-8) | u8 dtype (0 float32, 1 float64, 2 int64) | u8 rank (<= 8)
//         | rank x i64 sizes | u64 byte count (= numel * element size) | the elements
//       u64 value count, then per value:
//         u64 name length, name | u8 type (0 int64, 1 float64, 2 string) | i64 | f64 | u64 length, bytes
//
// JSON (.json): {"format": "ag.archive", "version": 1, "crc32": ..., "tensors": [{"name", "dtype",
// "shape", "data": [flat, row-major numbers]}], "values": [{"name", "type", "value"}]}. Numbers, not
// base64, so that a person can read the values; floats are written with enough digits to round-trip
// bit-exactly (NaN, Infinity and -Infinity as rapidjson spells them; NaN payload bits are not kept).
// "crc32" is the CRC-32 of the binary payload the same archive would have (NaNs counted as the
// canonical quiet NaN), so any change to a name, shape or value is caught, while whitespace is free.
//
// Loading trusts nothing in the file: every count, length, rank and size is checked against the
// bytes that remain and against fixed limits before anything is allocated, and any mismatch
// throws SerializeError naming the file, the field and what was expected.

#include <cstdint>
#include <string>
#include <string_view>

#include "ag/serialize/archive.h"

namespace ag {

/// The file format of an archive. Auto picks JSON for a ".json" path and binary for anything else
/// (and refuses ".safetensors" and ".npy", which have their own savers).
///
///     ag::save_archive(a, "ckpt.bin", ag::ArchiveFormat::Json);
enum class ArchiveFormat { Auto, Binary, Json };

/// Saves `archive` to `path` atomically (see serialize::write_file_atomic): a crash leaves the old
/// file or the new one, and an error leaves the old one untouched.
///
///     ag::save_archive(a, "ckpt.ag");                           // portable binary
///     ag::save_archive(a, "ckpt.json");                         // JSON
///     ag::save_archive(a, "ckpt.txt", ag::ArchiveFormat::Json); // JSON, whatever the extension
void save_archive(const Archive& archive, const std::string& path, ArchiveFormat format = ArchiveFormat::Auto);

/// Loads an archive saved by save_archive, in either format (told apart by the file's first byte).
/// Throws SerializeError for a missing, truncated, corrupt or hostile file.
///
///     ag::Archive a = ag::load_archive("ckpt.ag");
///     ag::Tensor w = a.tensor("fc.weight");
Archive load_archive(const std::string& path);

namespace serialize {

inline constexpr std::uint32_t kArchiveVersion = 1;
/// The first 8 bytes of a binary archive: a high byte (caught by 7-bit channels), "AGARCH", '\n'.
inline constexpr std::string_view kArchiveMagic{"\x89" "AGARCH\n", 8};
inline constexpr std::size_t kArchiveHeaderBytes = 24;
/// The "format" field of a JSON archive.
inline constexpr std::string_view kJsonArchiveFormat = "ag.archive";
/// JSON archives larger than this are refused; use binary for big ones. A JSON archive is parsed
/// into memory whole, which costs about twice the file's size for the files ag writes and up to
/// 16 times for hostile ones (arrays of one-digit numbers): the cap bounds that at about 4 GiB.
inline constexpr std::uint64_t kMaxJsonArchiveBytes = std::uint64_t{256} << 20;

/// The bytes save_archive would write (Auto means Binary).
///
///     std::string bytes = ag::serialize::encode_archive(a, ag::ArchiveFormat::Json);
std::string encode_archive(const Archive& archive, ArchiveFormat format = ArchiveFormat::Binary);

/// Parses archive bytes in either format; `path` only names the source in error messages.
///
///     ag::Archive a = ag::serialize::decode_archive(bytes, "<network>");
Archive decode_archive(std::string_view bytes, const std::string& path = "");

/// The CRC-32 that a JSON archive of `archive` carries: that of its binary payload with every NaN
/// replaced by the canonical quiet NaN.
///
///     std::uint32_t crc = ag::serialize::archive_json_crc32(a);   // == the JSON file's "crc32"
std::uint32_t archive_json_crc32(const Archive& archive);

}  // namespace serialize
}  // namespace ag
