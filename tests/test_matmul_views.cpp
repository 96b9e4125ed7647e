// matmul reads transposed and row-sliced views where they lie: BLAS gets a transpose flag and a
// leading dimension, never a contiguous copy. big_allocations.h replaces the global operator new to
// count the allocations of 64 KiB and more. Tensor data that big comes from operator new unless the
// thread's cache of freed blocks has one of the size, so each call is measured on a fresh thread
// (its cache empty): a copy of an operand shows up as one more block beside the output's.

#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <thread>
#include <vector>

#include "ag/autograd/autograd.h"
#include "big_allocations.h"

namespace {

using ag::Tensor;

/// The big blocks `f` allocates when run on a thread of its own, and its result.
template <class F>
long big_blocks_of(F&& f, Tensor& out) {
  long blocks = 0;
  std::thread t([&] {
    const long before = big_allocations::blocks.load();
    out = f();
    blocks = big_allocations::blocks.load() - before;
  });
  t.join();
  return blocks;
}

}  // namespace

TEST(MatmulViews, TransposedAndRowSlicedOperandsReachBlasWithoutACopy) {
  ag::NoGradGuard no_grad;
  ag::manual_seed(0);
  const Tensor a = ag::randn({128, 256}, ag::kFloat64);  // 256 KiB
  const Tensor b = ag::randn({256, 128}, ag::kFloat64);
  const Tensor c = ag::randn({128, 128}, ag::kFloat64);  // the output's size
  const Tensor big = ag::randn({256, 300}, ag::kFloat64);
  Tensor r;
  // The counter works: a contiguous copy of a transposed operand is one big block.
  EXPECT_EQ(big_blocks_of([&] { return a.t().contiguous(); }, r), 1);

  struct Case {
    const char* what;
    std::function<Tensor()> f;
    Tensor reference;
  };
  const Tensor bt = b.t().contiguous(), at = a.t().contiguous();
  const std::vector<Case> cases = {
      {"a @ b", [&] { return a.matmul(b); }, a.matmul(b)},
      {"b.t() @ a.t() (both transposed views)", [&] { return bt.t().matmul(at.t()); }, bt.t().contiguous().matmul(at.t().contiguous())},
      {"a @ bt.t()", [&] { return a.matmul(bt.t()); }, a.matmul(b)},
      {"c.t() @ c", [&] { return c.t().matmul(c); }, c.t().contiguous().matmul(c)},
      {"rows 0..128 and columns 0..256 of a [256, 300] (a sliced view)",
       [&] { return big.narrow(0, 0, 128).narrow(1, 0, 256).matmul(b); },
       big.narrow(0, 0, 128).narrow(1, 0, 256).contiguous().matmul(b)},
      {"the transpose of a column-sliced view", [&] { return big.narrow(1, 10, 128).t().matmul(big.narrow(0, 0, 256).narrow(1, 0, 128)); },
       big.narrow(1, 10, 128).t().contiguous().matmul(big.narrow(0, 0, 256).narrow(1, 0, 128).contiguous())},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.what);
    EXPECT_EQ(big_blocks_of(k.f, r), 1) << "only the output is allocated";
    EXPECT_TRUE(r.is_contiguous());
    EXPECT_TRUE(ag::allclose(r, k.reference, 1e-12, 1e-12));
  }
}

TEST(MatmulViews, AStepOtherThanOneInBothDimsIsCopiedOnce) {
  // BLAS needs one of the two dims dense: x[::2, ::2] is copied (one block), then multiplied.
  ag::NoGradGuard no_grad;
  ag::manual_seed(1);
  const Tensor big = ag::randn({256, 512}, ag::kFloat64);
  const Tensor b = ag::randn({256, 128}, ag::kFloat64);
  const Tensor stepped = big.slice(0, 0, 256, 2).slice(1, 0, 512, 2);  // [128, 256], strides [1024, 2]
  Tensor r;
  EXPECT_EQ(big_blocks_of([&] { return stepped.matmul(b); }, r), 2) << "the operand's copy and the output";
  EXPECT_TRUE(ag::allclose(r, stepped.contiguous().matmul(b), 1e-12, 1e-12));
}
