// Writes small real files of every kind into DIR/{archive_binary,archive_json,safetensors,npy}/,
// the seed corpora of the fuzzers:   fuzz_make_seeds DIR
// archive_binary also gets bare payloads (the file without its 24-byte header), since its fuzzer
// tries each input behind a valid header as well.

#include <sys/stat.h>

#include <fstream>
#include <iostream>
#include <limits>

#include "ag/autograd/autograd.h"
#include "ag/serialize/serialize.h"

namespace {

void write(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::vector<ag::Archive> archives() {
  std::vector<ag::Archive> out(4);
  out[0].set("step", 1);
  out[1].set("fc.weight", ag::tensor({{0.5, -1.25}, {3.0, 0.1}}));
  out[1].set("fc.bias", ag::tensor({1e-3, 2.0}, ag::kFloat64));
  out[1].set("labels", ag::tensor({2, 0, 1}));
  out[1].set("lr", 0.01);
  out[1].set("note", "warm");
  out[2].set("scalar", ag::tensor(std::vector<float>{std::numeric_limits<float>::quiet_NaN()}, {}));
  out[2].set("empty", ag::zeros({0, 3}, ag::kFloat64));
  out[2].set("deep", ag::ones({1, 2, 1, 2, 1, 2, 1, 2}, ag::kInt64));
  out[3].set_generator_state("rng", ag::Generator(3).get_state());
  out[3].set("inf", std::numeric_limits<double>::infinity());
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_make_seeds DIR\n";
    return 2;
  }
  std::string dir = argv[1];
  for (const char* sub : {"", "/archive_binary", "/archive_json", "/safetensors", "/npy"})
    ::mkdir((dir + sub).c_str(), 0755);
  int i = 0;
  for (const ag::Archive& a : archives()) {
    std::string bin = ag::serialize::encode_archive(a);
    write(dir + "/archive_binary/file" + std::to_string(i), bin);
    write(dir + "/archive_binary/payload" + std::to_string(i), bin.substr(ag::serialize::kArchiveHeaderBytes));
    write(dir + "/archive_json/file" + std::to_string(i), ag::serialize::encode_archive(a, ag::ArchiveFormat::Json));
    write(dir + "/safetensors/file" + std::to_string(i), ag::serialize::encode_safetensors(a.tensors(), {{"k", "v"}}));
    ++i;
  }
  i = 0;
  for (const ag::Tensor& t : {ag::tensor({{1.5, 2.0, -3.0}}), ag::scalar_tensor(2.0, ag::kFloat64),
                              ag::tensor({1, 2, 3}), ag::zeros({0, 3})})
    write(dir + "/npy/file" + std::to_string(i++), ag::serialize::encode_npy(t));
  return 0;
}
