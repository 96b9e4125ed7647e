// The memory the loaders take, against the size of the file: makes the files of bench/README.md's
// "Loading memory" table and loads one, printing its peak resident set. Run each load in its own
// process (under /usr/bin/time -v if you like) so that each peak is its own.
//
//   build/bench/load_memory make-archive /tmp/scalars.ag 1000000        # 1 M scalar tensors
//   build/bench/load_memory make-safetensors /tmp/empty.safetensors 1000000   # 1 M empty tensors
//   build/bench/load_memory make-npy /tmp/big.npy 3000000000              # 3 GB of float32 (sparse)
//   build/bench/load_memory make-oversized json|safetensors|npy /tmp/x 3000000000
//   build/bench/load_memory load archive|safetensors|npy /tmp/scalars.ag
//
// The large files are sparse (their zeros take no disk); delete them afterwards.

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "ag/ag.h"

using namespace ag;

namespace {

double peak_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

double file_mib(const std::string& path) {
  serialize::InputFile f(path);
  return static_cast<double>(f.size()) / (1024.0 * 1024.0);
}

/// Grows `path` to `size` bytes with zeros (a hole: no disk is used).
void extend(const std::string& path, std::uint64_t size) {
  int fd = ::open(path.c_str(), O_WRONLY);
  if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    std::perror(path.c_str());
    std::exit(1);
  }
  ::close(fd);
}

/// A .npy header for `n` float32 elements, padded to 64 bytes.
std::string npy_header(std::uint64_t n) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(n) + ",), }";
  dict.append((64 - (10 + dict.size() + 1) % 64) % 64, ' ');
  dict += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out.push_back(static_cast<char>(dict.size() & 0xff));
  out.push_back(static_cast<char>(dict.size() >> 8));
  return out + dict;
}

int usage() {
  std::fprintf(stderr,
               "usage: load_memory make-archive PATH N | make-safetensors PATH N | make-npy PATH BYTES |\n"
               "       make-oversized json|safetensors|npy PATH BYTES | load archive|safetensors|npy PATH\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) return usage();
  const std::string cmd = argv[1];
  if (cmd == "make-archive") {
    Archive a;
    const long n = std::atol(argv[3]);
    for (long i = 0; i < n; ++i) a.set("t" + std::to_string(i), scalar_tensor(static_cast<float>(i)));
    save_archive(a, argv[2]);
  } else if (cmd == "make-safetensors") {
    NamedTensors t;
    const long n = std::atol(argv[3]);
    for (long i = 0; i < n; ++i) t.emplace_back("t" + std::to_string(i), empty({0}));
    save_safetensors(t, argv[2]);
  } else if (cmd == "make-npy") {
    const std::uint64_t n = std::strtoull(argv[3], nullptr, 10) / 4;
    std::string header = npy_header(n);
    serialize::write_file_atomic(argv[2], {header});
    extend(argv[2], header.size() + n * 4);
  } else if (cmd == "make-oversized" && argc == 5) {
    const std::string kind = argv[2], path = argv[3];
    const std::uint64_t size = std::strtoull(argv[4], nullptr, 10);
    if (kind == "json") {
      save_archive(Archive(), path, ArchiveFormat::Json);  // then zeros: over the cap, and not JSON
    } else if (kind == "safetensors") {
      save_safetensors({{"x", zeros({4})}}, path);  // then trailing zeros
    } else if (kind == "npy") {
      save_npy(zeros({4}), path);  // then trailing zeros
    } else {
      return usage();
    }
    extend(path, size);
  } else if (cmd == "load") {
    const std::string kind = argv[2], path = argv[3];
    std::size_t count = 0;
    try {
      if (kind == "archive") count = load_archive(path).tensors().size();
      else if (kind == "safetensors") count = load_safetensors(path).tensors.size();
      else if (kind == "npy") count = static_cast<std::size_t>(load_npy(path).numel());
      else return usage();
      std::printf("loaded %zu %s from %.1f MiB: peak resident %.1f MiB\n", count, kind == "npy" ? "elements" : "tensors",
                  file_mib(path), peak_mib());
    } catch (const SerializeError& e) {
      std::printf("refused (%.1f MiB file): %s\npeak resident %.1f MiB\n", file_mib(path), e.what(), peak_mib());
    }
  } else {
    return usage();
  }
  return 0;
}
