#include "ag/autograd/pool.h"

#include <cstdint>
#include <new>
#include <unordered_map>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace ag::detail {

namespace {

constexpr std::size_t kGranule = 16;
constexpr std::size_t kClasses = kPoolMaxBytes / kGranule;
constexpr std::size_t kMaxCachedPerClass = 4096;
// Medium blocks, (512 B, 16 KiB] in steps of 256 B (a [32, 6, 8] activation of 6 KiB): a few per
// class, so that the cache stays small (at most ~32 MiB per thread if every class fills up).
constexpr std::size_t kMediumGranule = 256, kMediumMaxBytes = 16384;
constexpr std::size_t kMediumClasses = (kMediumMaxBytes - kPoolMaxBytes) / kMediumGranule;
constexpr std::size_t kMaxCachedPerMedium = 64;

struct FreeBlock {
  FreeBlock* next;
};

/// Free lists by size class (16, 32, ..., 512 bytes), one set per thread. A block freed on
/// another thread than the one that allocated it simply joins that thread's lists. Trivially
/// destructible, so that the hot path reads it without a thread_local initialisation check;
/// the Reaper, registered when the thread first frees a block, empties them at thread exit.
struct FreeLists {
  FreeBlock* head[kClasses + kMediumClasses];  // small classes first, then the medium ones
  std::uint32_t count[kClasses + kMediumClasses];
};
thread_local FreeLists t_lists;
thread_local bool t_pool_gone = false;
thread_local bool t_pool_armed = false;  // this thread's Reaper is registered and not yet run

struct Reaper {
  Reaper() = default;
  ~Reaper() {
    t_pool_gone = true;
    t_pool_armed = false;
    for (std::size_t c = 0; c < kClasses + kMediumClasses; ++c)
      while (FreeBlock* b = t_lists.head[c]) {
        t_lists.head[c] = b->next;
        ::operator delete(b);
      }
  }
  void touch() { armed = true; }  // an odr-use: constructs (and registers) this thread's Reaper
  volatile bool armed = false;
};
thread_local Reaper t_reaper;

std::size_t size_class(std::size_t bytes) { return (bytes + kGranule - 1) / kGranule - 1; }
/// The list of a medium block (kPoolMaxBytes < bytes <= kMediumMaxBytes), and the size of its blocks.
std::size_t medium_class(std::size_t bytes) { return kClasses + (bytes - kPoolMaxBytes - 1) / kMediumGranule; }
std::size_t medium_class_bytes(std::size_t c) { return kPoolMaxBytes + (c - kClasses + 1) * kMediumGranule; }

/// Blocks of kHugeBytes and more (an embedding table, its optimizer state) are aligned to 2 MiB
/// and asked to live on transparent huge pages: a lookup into a table of a million rows then
/// misses the TLB far less often (Linux; elsewhere, and where the kernel says no, plain pages).
constexpr std::size_t kHugeBytes = std::size_t{4} << 20;
constexpr std::align_val_t kHugeAlign{std::size_t{2} << 20};

void* huge_allocate(std::size_t bytes) {
  if (bytes < kHugeBytes) return ::operator new(bytes);
  void* p = ::operator new(bytes, kHugeAlign);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  ::madvise(p, bytes, MADV_HUGEPAGE);  // advice only: failure changes nothing
#endif
  return p;
}

void huge_deallocate(void* p, std::size_t bytes) noexcept {
  if (bytes < kHugeBytes) ::operator delete(p);
  else ::operator delete(p, kHugeAlign);
}

/// Bigger blocks by exact size. A training step frees and allocates the same big buffers
/// (activations, gradients) every step; reusing them spares mapping and zero-filling fresh pages,
/// which costs as much as the arithmetic for a 784-512-512-10 MLP. Bounded: when the cache
/// would pass kLargeCacheBytes it is emptied first.
constexpr std::size_t kLargeCacheBytes = std::size_t{256} << 20;

struct LargeCache {
  std::unordered_map<std::size_t, std::vector<void*>> blocks;
  std::size_t bytes = 0;
  void clear() {
    for (auto& [size, list] : blocks)
      for (void* p : list) huge_deallocate(p, size);
    blocks.clear();
    bytes = 0;
  }
  ~LargeCache();
};

thread_local bool t_large_gone = false;
thread_local LargeCache t_large;

LargeCache::~LargeCache() {
  t_large_gone = true;
  clear();
}

void* large_allocate(std::size_t bytes) {
  if (!t_large_gone) {
    auto it = t_large.blocks.find(bytes);
    if (it != t_large.blocks.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      t_large.bytes -= bytes;
      return p;
    }
  }
  return huge_allocate(bytes);
}

void large_deallocate(void* p, std::size_t bytes) noexcept {
  if (t_large_gone || bytes > kLargeCacheBytes) {
    huge_deallocate(p, bytes);
    return;
  }
  try {
    if (t_large.bytes + bytes > kLargeCacheBytes) t_large.clear();
    t_large.blocks[bytes].push_back(p);
    t_large.bytes += bytes;
  } catch (...) {  // no memory for the bookkeeping: just free the block
    huge_deallocate(p, bytes);
  }
}

}  // namespace

namespace {

[[gnu::noinline]] void* allocate_slow(std::size_t bytes) {
  if (bytes > kPoolMaxBytes && bytes <= kMediumMaxBytes) {
    const std::size_t c = medium_class(bytes);
    if (FreeBlock* b = t_pool_gone ? nullptr : t_lists.head[c]) {
      t_lists.head[c] = b->next;
      --t_lists.count[c];
      return b;
    }
    // Always a whole class block, even past the thread's pool: another thread may cache it, and
    // any size of the class may then reuse it.
    return ::operator new(medium_class_bytes(c));
  }
  if (bytes > kPoolMaxBytes) return large_allocate(bytes);
  if (bytes == 0) return ::operator new(1);
  return ::operator new((size_class(bytes) + 1) * kGranule);  // a whole class block, for the same reason
}

[[gnu::noinline]] void deallocate_slow(void* p, std::size_t bytes) noexcept {
  if (bytes > kMediumMaxBytes) {
    large_deallocate(p, bytes);
    return;
  }
  const bool medium = bytes > kPoolMaxBytes;
  const std::size_t c = medium ? medium_class(bytes) : size_class(bytes);
  if (bytes == 0 || t_pool_gone || t_lists.count[c] >= (medium ? kMaxCachedPerMedium : kMaxCachedPerClass)) {
    ::operator delete(p);
    return;
  }
  t_reaper.touch();  // the thread's first freed block: registers the thread-exit cleanup
  t_pool_armed = true;
  auto* b = static_cast<FreeBlock*>(p);
  b->next = t_lists.head[c];
  t_lists.head[c] = b;
  ++t_lists.count[c];
}

}  // namespace

// The hot paths: a block of a common size, popped from or pushed onto this thread's list.
void* pool_allocate(std::size_t bytes) {
  if (bytes - 1 < kPoolMaxBytes && !t_pool_gone) {
    const std::size_t c = size_class(bytes);
    if (FreeBlock* b = t_lists.head[c]) {
      t_lists.head[c] = b->next;
      --t_lists.count[c];
      return b;
    }
  }
  return allocate_slow(bytes);
}

void pool_deallocate(void* p, std::size_t bytes) noexcept {
  if (!p) return;
  if (bytes - 1 < kPoolMaxBytes && t_pool_armed) {
    const std::size_t c = size_class(bytes);
    const std::uint32_t n = t_lists.count[c];
    if (n < kMaxCachedPerClass) {
      auto* b = static_cast<FreeBlock*>(p);
      b->next = t_lists.head[c];
      t_lists.head[c] = b;
      t_lists.count[c] = n + 1;
      return;
    }
  }
  deallocate_slow(p, bytes);
}

}  // namespace ag::detail
