// ag::parallel_for and the ops that use ag's threads: every index runs exactly once, chunks are
// contiguous and depend only on the range and the thread count, nested loops and exceptions
// behave, and elementwise ops, the vectorised math, sums along a dimension and optimizer steps
// give on two threads exactly what they give on one.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <thread>
#include <stdexcept>
#include <utility>
#include <vector>

#include "ag/autograd/autograd.h"
#include "ag/autograd/pool.h"
#include "ag/optim/optim.h"

namespace {

/// Runs the test body's checks at `n` threads, then restores the thread count.
struct Threads {
  int before;
  explicit Threads(int n) : before(ag::get_num_threads()) { ag::set_num_threads(n); }
  ~Threads() { ag::set_num_threads(before); }
};

/// The chunks parallel_for made, sorted by start.
std::vector<std::pair<std::int64_t, std::int64_t>> chunks_of(std::int64_t begin, std::int64_t end, std::int64_t grain) {
  std::mutex m;
  std::vector<std::pair<std::int64_t, std::int64_t>> seen;
  ag::parallel_for(begin, end, grain, [&](std::int64_t b, std::int64_t e) {
    std::lock_guard<std::mutex> lock(m);
    seen.emplace_back(b, e);
  });
  std::sort(seen.begin(), seen.end());
  return seen;
}

}  // namespace

TEST(Pool, ABlockFreedOnAnotherThreadServesEverySizeOfItsClass) {
  // Blocks made on one thread and freed on another join the second thread's lists, which then
  // hand them out for any size of their class: each must be a whole class block (checked byte
  // by byte here, and for overflows under ASan). Small (16-byte classes), medium (256-byte
  // classes up to 16 KiB) and large (exact sizes) blocks, on both sides of each line.
  using ag::detail::pool_allocate;
  using ag::detail::pool_deallocate;
  for (std::size_t bytes : {1, 17, 500, 512, 513, 600, 768, 769, 6000, 16383, 16384, 16385, 40000}) {
    SCOPED_TRACE(bytes);
    std::vector<void*> made;
    std::thread maker([&] {
      for (int i = 0; i < 8; ++i) {
        made.push_back(pool_allocate(bytes));
        std::memset(made.back(), 0x5a, bytes);
      }
    });
    maker.join();
    for (void* p : made) pool_deallocate(p, bytes);
    // the largest size of the block's class: the next 16 or 256 bytes up (large blocks: exact)
    const std::size_t step = bytes <= 512 ? 16 : bytes <= 16384 ? 256 : 1;
    const std::size_t widest = (bytes + step - 1) / step * step;
    std::vector<unsigned char*> again;
    for (int i = 0; i < 8; ++i) {
      again.push_back(static_cast<unsigned char*>(pool_allocate(widest)));
      std::memset(again.back(), i, widest);
    }
    for (int i = 0; i < 8; ++i) {
      EXPECT_EQ(again[i][0], i);
      EXPECT_EQ(again[i][widest - 1], i);
      pool_deallocate(again[i], widest);
    }
  }
}

TEST(ParallelFor, CoversTheRangeOnceInContiguousChunks) {
  Threads two(2);
  for (std::int64_t n : {0, 1, 5, 99, 100, 101, 1000, 100001}) {
    std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
    ag::parallel_for(7, 7 + n, 50, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t i = b; i < e; ++i) hits[static_cast<std::size_t>(i - 7)].fetch_add(1);
    });
    for (std::int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<std::size_t>(i)].load(), 1) << "n " << n << " i " << i;
    auto c = chunks_of(7, 7 + n, 50);
    if (n == 0) {
      EXPECT_TRUE(c.empty());
      continue;
    }
    EXPECT_EQ(c.front().first, 7);
    EXPECT_EQ(c.back().second, 7 + n);
    for (std::size_t k = 1; k < c.size(); ++k) EXPECT_EQ(c[k].first, c[k - 1].second);
    // Below twice the grain the loop stays whole; above it, one chunk per thread.
    EXPECT_EQ(c.size(), n < 100 ? 1u : 2u) << n;
  }
}

TEST(ParallelFor, OneThreadNestedLoopsAndShortRangesRunOnTheCallingThread) {
  {
    Threads one(1);
    EXPECT_EQ(chunks_of(0, 1000000, 1).size(), 1u);
  }
  Threads two(2);
  EXPECT_EQ(chunks_of(0, 10, 1000).size(), 1u);
  std::atomic<int> inner_chunks{0};
  ag::parallel_for(0, 1000, 10, [&](std::int64_t, std::int64_t) {
    ag::parallel_for(0, 1000, 10, [&](std::int64_t, std::int64_t) { inner_chunks.fetch_add(1); });
  });
  EXPECT_EQ(inner_chunks.load(), 2);  // two outer chunks, each running its inner loop whole
}

TEST(ParallelFor, AnExceptionInAChunkReachesTheCaller) {
  Threads two(2);
  EXPECT_THROW(ag::parallel_for(0, 1000, 10,
                                [](std::int64_t b, std::int64_t) {
                                  if (b > 0) throw std::runtime_error("second chunk");
                                }),
               std::runtime_error);
  // The pool still works afterwards.
  EXPECT_EQ(chunks_of(0, 1000, 10).size(), 2u);
  EXPECT_THROW(ag::set_num_threads(0), std::invalid_argument);
}

TEST(ParallelOps, TwoThreadsGiveExactlyTheSingleThreadedResults) {
  ag::manual_seed(0);
  const std::int64_t n = 300001;  // not a multiple of anything
  ag::Tensor a = ag::randn({n}), b = ag::randn({n}), m = ag::randn({600, 500});
  ag::Tensor ad = a.to(ag::kFloat64), bd = b.to(ag::kFloat64);
  ag::Tensor idx = ag::randint(0, 5000, {256, 16}), w = ag::randn({256, 16, 60});
  auto compute = [&] {
    std::vector<ag::Tensor> r;
    r.push_back(a + b);
    r.push_back(a * 0.5 - b);
    r.push_back(ad / bd);
    r.push_back(ag::exp(a));
    r.push_back(ag::tanh(ad));
    r.push_back(ag::sigmoid(a));
    r.push_back(ag::log(a.abs() + 1e-3));
    r.push_back(ag::relu(a));
    r.push_back(a.sum());   // the whole tensor: fixed blocks, summed across threads
    r.push_back(ad.mean());
    r.push_back(m.sum(0));  // one row of output: split over the columns
    r.push_back(m.sum(1));  // many rows: split over them
    r.push_back(m.reshape({6, 100, 500}).sum(1));
    // relu's backward (one fused pass) and an elementwise backward
    ag::Tensor x = a.detach().requires_grad_();
    (ag::relu(x) * b).sum().backward();
    r.push_back(x.grad());
    // an embedding's backward, split by table row: 4096 lookups with repeats, padding, and the
    // rows scaled by their count
    ag::Tensor table = m.reshape({5000, 60}).detach().requires_grad_();
    for (bool by_freq : {false, true}) {
      table.set_grad(ag::Tensor());
      auto opts = ag::EmbeddingFuncOptions().padding_idx(7).scale_grad_by_freq(by_freq);
      (ag::embedding(table, idx, opts) * w).sum().backward();
      r.push_back(table.grad());
    }
    return r;
  };
  auto train = [&](bool adam) {
    ag::manual_seed(1);
    ag::Tensor p = ag::randn({n}, ag::requires_grad());
    std::unique_ptr<ag::optim::Optimizer> opt;
    if (adam) opt = std::make_unique<ag::optim::Adam>(std::vector<ag::Tensor>{p}, ag::optim::AdamOptions(1e-2).weight_decay(0.1));
    else opt = std::make_unique<ag::optim::SGD>(std::vector<ag::Tensor>{p}, ag::optim::SGDOptions(0.1).momentum(0.9).nesterov(true));
    for (int step = 0; step < 3; ++step) {
      opt->zero_grad();
      (p * p * b).sum().backward();
      opt->step();
    }
    return p.detach().clone();
  };
  std::vector<ag::Tensor> one, two;
  ag::Tensor sgd1, sgd2, adam1, adam2;
  {
    Threads t(1);
    one = compute();
    sgd1 = train(false);
    adam1 = train(true);
  }
  {
    Threads t(2);
    two = compute();
    sgd2 = train(false);
    adam2 = train(true);
  }
  ASSERT_EQ(one.size(), two.size());
  for (std::size_t i = 0; i < one.size(); ++i) EXPECT_TRUE(ag::equal(one[i], two[i])) << "result " << i;
  EXPECT_TRUE(ag::equal(sgd1, sgd2));
  EXPECT_TRUE(ag::equal(adam1, adam2));
}
