#include "autograd/pool.h"

#include <cstdint>

namespace ag::detail {

namespace {

constexpr std::size_t kGranule = 16;
constexpr std::size_t kClasses = kPoolMaxBytes / kGranule;
constexpr std::size_t kMaxCachedPerClass = 4096;

struct FreeBlock {
  FreeBlock* next;
};

/// Free lists by size class (16, 32, ..., 512 bytes), one set per thread. A block freed on
/// another thread than the one that allocated it simply joins that thread's lists.
struct Pool {
  FreeBlock* head[kClasses] = {};
  std::size_t count[kClasses] = {};
  ~Pool();
};

thread_local bool t_pool_gone = false;  // trivially destructible: still readable after ~Pool
thread_local Pool t_pool;

Pool::~Pool() {
  t_pool_gone = true;
  for (std::size_t c = 0; c < kClasses; ++c)
    while (FreeBlock* b = head[c]) {
      head[c] = b->next;
      ::operator delete(b);
    }
}

std::size_t size_class(std::size_t bytes) { return (bytes + kGranule - 1) / kGranule - 1; }

}  // namespace

void* pool_allocate(std::size_t bytes) {
  if (bytes == 0 || bytes > kPoolMaxBytes || t_pool_gone) return ::operator new(bytes == 0 ? 1 : bytes);
  std::size_t c = size_class(bytes);
  Pool& pool = t_pool;
  if (FreeBlock* b = pool.head[c]) {
    pool.head[c] = b->next;
    --pool.count[c];
    return b;
  }
  return ::operator new((c + 1) * kGranule);
}

void pool_deallocate(void* p, std::size_t bytes) noexcept {
  if (!p) return;
  if (bytes == 0 || bytes > kPoolMaxBytes || t_pool_gone) {
    ::operator delete(p);
    return;
  }
  std::size_t c = size_class(bytes);
  Pool& pool = t_pool;
  if (pool.count[c] >= kMaxCachedPerClass) {
    ::operator delete(p);
    return;
  }
  auto* b = static_cast<FreeBlock*>(p);
  b->next = pool.head[c];
  pool.head[c] = b;
  ++pool.count[c];
}

}  // namespace ag::detail
