// Fuzzes the binary archive loader. Each input is tried as a whole file and as a payload behind a
// valid header (magic, version, length and CRC), so the CRC does not stop the fuzzer at the door.
// Any exception but SerializeError, any sanitizer report, or a broken round trip is a crash.

#include <cstdlib>
#include <string>

#include "ag/serialize/serialize.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  try {
    ag::serialize::decode_archive(input, "fuzz");
  } catch (const ag::SerializeError&) {
  }

  std::string file(ag::serialize::kArchiveMagic);
  ag::serialize::detail::store_le<std::uint32_t>(file, ag::serialize::kArchiveVersion);
  ag::serialize::detail::store_le<std::uint64_t>(file, input.size());
  ag::serialize::detail::store_le<std::uint32_t>(file, ag::serialize::crc32(input.data(), input.size()));
  file += input;
  ag::Archive archive;
  try {
    archive = ag::serialize::decode_archive(file, "fuzz");
  } catch (const ag::SerializeError&) {
    return 0;
  }
  // The binary format is canonical: whatever loads saves back to the same bytes ...
  if (ag::serialize::encode_archive(archive) != file) std::abort();
  // ... and its JSON form loads back to the same JSON.
  std::string json = ag::serialize::encode_archive(archive, ag::ArchiveFormat::Json);
  if (ag::serialize::encode_archive(ag::serialize::decode_archive(json, "fuzz.json"), ag::ArchiveFormat::Json) != json)
    std::abort();
  return 0;
}
