// Fuzzes the .npy loader. Any exception but SerializeError, any sanitizer report, or a broken
// round trip is a crash.

#include <cstdlib>
#include <string>

#include "ag/serialize/serialize.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  ag::Tensor t;
  try {
    t = ag::serialize::decode_npy(input, "fuzz.npy");
  } catch (const ag::SerializeError&) {
    return 0;
  }
  std::string bytes = ag::serialize::encode_npy(t);
  if (ag::serialize::encode_npy(ag::serialize::decode_npy(bytes, "again.npy")) != bytes) std::abort();
  return 0;
}
