// Fuzzes the JSON archive loader (rapidjson underneath). Any exception but SerializeError, any
// sanitizer report, or a broken round trip is a crash. The CRC is checked after the whole
// document has been parsed and validated, so the fuzzer reaches every check before it.

#include <cstdlib>
#include <string>

#include "ag/serialize/serialize.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  ag::Archive archive;
  try {
    archive = ag::serialize::decode_archive(input, "fuzz.json");
  } catch (const ag::SerializeError&) {
    return 0;
  }
  std::string json = ag::serialize::encode_archive(archive, ag::ArchiveFormat::Json);
  if (ag::serialize::encode_archive(ag::serialize::decode_archive(json, "fuzz.json"), ag::ArchiveFormat::Json) != json)
    std::abort();
  return 0;
}
