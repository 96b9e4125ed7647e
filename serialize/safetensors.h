#pragma once
// safetensors files (.safetensors), the format PyTorch and Hugging Face models are shared in:
//
//     u64 N (little-endian) | N bytes of JSON header | raw little-endian tensor data
//     header: {"__metadata__": {"k": "v", ...}, "name": {"dtype": "F32", "shape": [2, 3],
//              "data_offsets": [begin, end]}, ...}   (offsets relative to the start of the data)
//
// ag reads and writes the dtypes it has: F32, F64 and I64. Loading checks N against the file size
// and a 100 MB limit before reading the header, and requires the tensors' byte ranges to match
// their dtype and shape and to tile the data exactly (no overlap, no gap, nothing after the end).

#include <map>
#include <string>
#include <string_view>

#include "ag/serialize/archive.h"

namespace ag {

/// The contents of a safetensors file: tensors in the order of their data, and the string metadata.
///
///     ag::SafetensorsFile f = ag::load_safetensors("model.safetensors");
///     f.metadata["format"];   // "pt"
struct SafetensorsFile {
  NamedTensors tensors;
  std::map<std::string, std::string> metadata;
};

/// Writes `tensors` (float32, float64 or int64) to a safetensors file, atomically, with optional
/// string metadata. PyTorch reads it by name.
///
///     ag::save_safetensors({{"weight", w}, {"bias", b}}, "linear.safetensors", {{"format", "pt"}});
void save_safetensors(const NamedTensors& tensors, const std::string& path,
                      const std::map<std::string, std::string>& metadata = {});

/// Reads a safetensors file; SerializeError for a truncated, corrupt or hostile file, or for a dtype
/// ag does not have (F16, BF16, I32, ...).
///
///     auto f = ag::load_safetensors("linear.safetensors");
///     for (auto& [name, t] : f.tensors) std::cout << name << " " << t.shape() << "\n";
SafetensorsFile load_safetensors(const std::string& path);

namespace serialize {

/// The largest header accepted, as the reference implementation. The header is parsed into memory
/// whole: a hostile one of this size can cost up to ~1.6 GB while it is rejected.
inline constexpr std::uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

/// The bytes save_safetensors would write; `path` only names the destination in error messages.
///
///     std::string bytes = ag::serialize::encode_safetensors({{"w", w}});
std::string encode_safetensors(const NamedTensors& tensors, const std::map<std::string, std::string>& metadata = {},
                               const std::string& path = "");
/// Parses safetensors bytes; `path` only names the source in error messages.
///
///     ag::SafetensorsFile f = ag::serialize::decode_safetensors(bytes, "<download>");
SafetensorsFile decode_safetensors(std::string_view bytes, const std::string& path = "");

}  // namespace serialize
}  // namespace ag
