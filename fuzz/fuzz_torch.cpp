// Fuzzes the torch.save reader (zip + restricted pickle machine). Any exception but SerializeError,
// any sanitizer report, a broken round trip, or more heap in use at once than the bound below is
// a crash.

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "ag/serialize/serialize.h"
#include "ag/serialize/zip.h"

namespace {

// The heap in use by this process, counted by the replaced operator new / delete below.
std::atomic<std::size_t> g_in_use{0};
std::atomic<std::size_t> g_peak{0};

void* counted(std::size_t n, std::size_t align = 0) {
  void* p = align ? std::aligned_alloc(align, (n + align - 1) / align * align) : std::malloc(n ? n : 1);
  if (!p) throw std::bad_alloc();
  const std::size_t now = g_in_use += malloc_usable_size(p);
  if (now > g_peak) g_peak = now;
  return p;
}
void uncounted(void* p) {
  if (!p) return;
  g_in_use -= malloc_usable_size(p);
  std::free(p);
}

// What the reader may hold at once: the storages (at most 8 bytes per file byte, int8 -> int64),
// the pickle machine's budget (64 bytes per pickle byte + 1 MiB) and a margin for the rest.
std::size_t bound(std::size_t size) { return (std::size_t{2} << 20) + 72 * size; }

bool same(const ag::NamedTensors& a, const ag::NamedTensors& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t k = 0; k < a.size(); ++k) {
    const ag::Tensor x = a[k].second.contiguous(), y = b[k].second.contiguous();
    if (a[k].first != b[k].first || x.dtype() != y.dtype() || x.shape() != y.shape()) return false;
    if (x.nbytes() && std::memcmp(x.raw_data(), y.raw_data(), x.nbytes()) != 0) return false;
  }
  return true;
}

}  // namespace

// Every form of operator new and delete, so that none reaches the sanitizer's own with a pointer
// from the other.
void* operator new(std::size_t n) { return counted(n); }
void* operator new[](std::size_t n) { return counted(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try { return counted(n); } catch (...) { return nullptr; }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  try { return counted(n); } catch (...) { return nullptr; }
}
void* operator new(std::size_t n, std::align_val_t a) { return counted(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted(n, static_cast<std::size_t>(a)); }
void operator delete(void* p) noexcept { uncounted(p); }
void operator delete[](void* p) noexcept { uncounted(p); }
void operator delete(void* p, std::size_t) noexcept { uncounted(p); }
void operator delete[](void* p, std::size_t) noexcept { uncounted(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { uncounted(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { uncounted(p); }
void operator delete(void* p, std::align_val_t) noexcept { uncounted(p); }
void operator delete[](void* p, std::align_val_t) noexcept { uncounted(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { uncounted(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { uncounted(p); }

/// Reads `input` as a module and as an optimizer state dict; aborts on a broken bound or round trip.
void check(const std::string& input) {
  const std::size_t before = g_in_use;
  g_peak = before;
  ag::NamedTensors sd;
  bool loaded = false;
  try {
    sd = ag::serialize::decode_torch_state_dict(input, "fuzz.pt");
    loaded = true;
  } catch (const ag::SerializeError&) {
  }
  if (g_peak - before > bound(input.size())) std::abort();
  // The optimizer reader walks the same objects differently.
  try {
    ag::serialize::decode_torch_optimizer(input, "fuzz.pt");
  } catch (const ag::SerializeError&) {
  }
  if (g_peak - before > bound(input.size())) std::abort();
  if (!loaded) return;
  // What loads saves and loads again to the same tensors.
  const ag::NamedTensors again = ag::serialize::decode_torch_state_dict(ag::serialize::encode_torch_state_dict(sd), "again.pt");
  if (!same(sd, again)) std::abort();
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  // The bytes as a whole file (the zip reader), and as the data.pkl of a valid zip whose storages
  // "0" to "3" hold 64 bytes each, so that the CRCs do not stop the fuzzer at the pickle's door.
  check(input);
  ag::serialize::ZipWriter zip;
  zip.add("archive/data.pkl", input);
  for (int k = 0; k < 4; ++k) zip.add("archive/data/" + std::to_string(k), std::string(64, static_cast<char>(k)));
  zip.add("archive/version", "3\n");
  check(zip.finish());
  return 0;
}
