// Fuzzes the safetensors loader. Any exception but SerializeError, any sanitizer report, or a
// broken round trip is a crash.

#include <cstdlib>
#include <string>

#include "ag/serialize/serialize.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  ag::SafetensorsFile file;
  try {
    file = ag::serialize::decode_safetensors(input, "fuzz.safetensors");
  } catch (const ag::SerializeError&) {
    return 0;
  }
  // What loads saves and loads again to the same bytes.
  std::string bytes = ag::serialize::encode_safetensors(file.tensors, file.metadata);
  ag::SafetensorsFile again = ag::serialize::decode_safetensors(bytes, "again.safetensors");
  if (ag::serialize::encode_safetensors(again.tensors, again.metadata) != bytes) std::abort();
  return 0;
}
