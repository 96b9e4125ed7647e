// Tests of ag::distributed. The same program runs on any number of ranks (ctest runs it on 2
// under mpirun and on 1 started on its own): expected values are written in terms of the world
// size. Every rank runs every test in the same order, so collectives inside tests line up.

#include <gtest/gtest.h>
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "ag/autograd/autograd.h"
#include "ag/data/data.h"
#include "ag/distributed/distributed.h"
#include "ag/distributed/mpi_detail.h"
#include "ag/nn/nn.h"
#include "ag/optim/optim.h"
#include "ag/serialize/serialize.h"

using namespace ag;
namespace dist = ag::distributed;

// ---- counting MPI calls -------------------------------------------------------------------------
// Through MPI's profiling interface: these definitions take the place of the library's for every
// call from ag_distributed, count, and forward to the real PMPI_ functions.

static int g_allreduce_calls = 0;
static int g_iallreduce_calls = 0;
static int g_bcast_calls = 0;

extern "C" int MPI_Allreduce(const void* sendbuf, void* recvbuf, int count, MPI_Datatype datatype, MPI_Op op,
                             MPI_Comm comm) {
  ++g_allreduce_calls;
  return PMPI_Allreduce(sendbuf, recvbuf, count, datatype, op, comm);
}

extern "C" int MPI_Iallreduce(const void* sendbuf, void* recvbuf, int count, MPI_Datatype datatype, MPI_Op op,
                              MPI_Comm comm, MPI_Request* request) {
  ++g_iallreduce_calls;
  return PMPI_Iallreduce(sendbuf, recvbuf, count, datatype, op, comm, request);
}

extern "C" int MPI_Bcast(void* buffer, int count, MPI_Datatype datatype, int root, MPI_Comm comm) {
  ++g_bcast_calls;
  return PMPI_Bcast(buffer, count, datatype, root, comm);
}

namespace {

int world() { return dist::world_size(); }
int me() { return dist::rank(); }

/// Launched by mpirun (or another MPI launcher), as opposed to started on its own.
bool under_launcher() { return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMI_RANK") != nullptr; }

/// How many ranks report `flag` true.
std::int64_t count_ranks(bool flag) {
  Tensor t = tensor({std::int64_t{flag ? 1 : 0}});
  dist::all_reduce(t);
  return t.item<std::int64_t>();
}

/// True when `t` holds bitwise the same bytes on every rank.
bool identical_on_all_ranks(const Tensor& t) {
  Tensor root_copy = t.detach().clone();
  dist::broadcast(root_copy, 0);
  bool same = std::memcmp(root_copy.raw_data(), t.raw_data(), t.nbytes()) == 0;
  return count_ranks(!same) == 0;
}

/// Largest |a - b| over largest |b|: the relative difference of a whole tensor.
double relative_difference(const Tensor& a, const Tensor& b) {
  std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    diff = std::max(diff, std::abs(x[i] - y[i]));
    scale = std::max(scale, std::abs(y[i]));
  }
  return scale > 0 ? diff / scale : diff;
}

template <class T>
Tensor values(std::vector<T> v, Dtype dtype) {
  return tensor(v, {static_cast<std::int64_t>(v.size())}).to(dtype);
}

std::shared_ptr<nn::Sequential> small_mlp(Dtype dtype) {
  auto m = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(8, 16), std::make_shared<nn::ReLU>(),
                                            std::make_shared<nn::Linear>(16, 4));
  m->to(dtype);
  return m;
}

/// Runs every rank's checks of one tensor-valued expectation at once and fails with the rank.
#define EXPECT_TENSOR_EQ(actual, expected) \
  EXPECT_TRUE(equal(actual, expected)) << "rank " << me() << ": " << (actual) << " vs expected " << (expected)

// ---- the world ----------------------------------------------------------------------------------

TEST(Environment, RanksAreNumberedFromZeroToWorldSizeMinusOne) {
  ASSERT_TRUE(dist::is_initialized());
  EXPECT_GE(me(), 0);
  EXPECT_LT(me(), world());
  Tensor ranks = tensor({std::int64_t{me()}, std::int64_t{1}});
  dist::all_reduce(ranks);
  // Each rank number appears once: they sum to 0 + 1 + ... + (n - 1).
  EXPECT_EQ(ranks.at<std::int64_t>({0}), std::int64_t{world()} * (world() - 1) / 2);
  EXPECT_EQ(ranks.at<std::int64_t>({1}), world());
}

TEST(Environment, StartedWithoutMpirunTheWorldIsOneRank) {
  if (under_launcher()) GTEST_SKIP() << "started by mpirun";
  EXPECT_EQ(world(), 1);
  EXPECT_EQ(me(), 0);
  Tensor t = tensor({1.5, -2.0});
  dist::all_reduce(t, dist::ReduceOp::Avg);
  EXPECT_TENSOR_EQ(t, tensor({1.5, -2.0}));
}

TEST(Environment, UnderMpirunTheWorldIsTheLaunchedRanks) {
  const char* n = std::getenv("OMPI_COMM_WORLD_SIZE");
  if (n == nullptr) GTEST_SKIP() << "not started by Open MPI's mpirun";
  EXPECT_EQ(world(), std::atoi(n));
  EXPECT_EQ(me(), std::atoi(std::getenv("OMPI_COMM_WORLD_RANK")));
}

TEST(Environment, ASecondEnvironmentIsRefused) {
  try {
    dist::Environment again;
    FAIL() << "a second Environment was accepted";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("already started"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(dist::is_initialized());
}

TEST(Environment, MpiErrorsBecomeExceptionsNotAborts) {
  MPI_Comm comm = dist::detail::comm("test");
  MPI_Errhandler handler;
  MPI_Comm_get_errhandler(comm, &handler);
  EXPECT_EQ(handler, MPI_ERRORS_RETURN);
  MPI_Errhandler_free(&handler);
  // A root outside the world: MPI reports the error instead of aborting the job.
  int x = 0;
  try {
    dist::detail::check_mpi(MPI_Bcast(&x, 1, MPI_INT, world() + 5, comm), "test broadcast");
    FAIL() << "no error for a bad root";
  } catch (const dist::DistributedError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("test broadcast: MPI error"), std::string::npos) << msg;
    EXPECT_NE(msg.find("on rank " + std::to_string(me())), std::string::npos) << msg;
    EXPECT_NE(msg.find("root"), std::string::npos) << msg;  // MPI's own words: "invalid root"
  }
}

// ---- all_reduce -----------------------------------------------------------------------------------

TEST(AllReduce, SumOfEveryDtype) {
  const double s = world() * (world() + 1) / 2.0;  // 1 + 2 + ... + n
  const double r = me() + 1;
  for (Dtype d : {kFloat32, kFloat64, kInt64}) {
    Tensor t = values<double>({r, 2 * r, -r}, d);
    dist::all_reduce(t, dist::ReduceOp::Sum);
    EXPECT_EQ(t.dtype(), d);
    EXPECT_TENSOR_EQ(t, values<double>({s, 2 * s, -s}, d));
  }
}

TEST(AllReduce, AvgOfFloatingDtypes) {
  const double r = me() + 1, mean = (world() + 1) / 2.0;
  for (Dtype d : {kFloat32, kFloat64}) {
    Tensor t = values<double>({r, -4 * r}, d).reshape({2, 1});
    dist::all_reduce(t, dist::ReduceOp::Avg);
    EXPECT_EQ(t.shape(), Shape({2, 1}));
    EXPECT_TENSOR_EQ(t, values<double>({mean, -4 * mean}, d).reshape({2, 1}));
  }
}

TEST(AllReduce, AvgOfInt64IsRefused) {
  Tensor t = tensor({1, 2});
  EXPECT_THROW(dist::all_reduce(t, dist::ReduceOp::Avg), std::invalid_argument);
  EXPECT_TENSOR_EQ(t, tensor({1, 2}));
}

TEST(AllReduce, MaxAndMinOfEveryDtype) {
  const double r = me(), last = world() - 1;
  for (Dtype d : {kFloat32, kFloat64, kInt64}) {
    Tensor hi = values<double>({r, -r, 5}, d), lo = hi.clone();
    dist::all_reduce(hi, dist::ReduceOp::Max);
    dist::all_reduce(lo, dist::ReduceOp::Min);
    EXPECT_TENSOR_EQ(hi, values<double>({last, 0, 5}, d));
    EXPECT_TENSOR_EQ(lo, values<double>({0, -last, 5}, d));
  }
}

TEST(AllReduce, ProdOfInt64) {
  Tensor t = tensor({std::int64_t{me() + 1}});
  dist::all_reduce(t, dist::ReduceOp::Prod);
  std::int64_t factorial = 1;
  for (int i = 2; i <= world(); ++i) factorial *= i;
  EXPECT_EQ(t.item<std::int64_t>(), factorial);
}

TEST(AllReduce, ScalarAndEmptyTensors) {
  Tensor s = scalar_tensor(2.0, kFloat64);
  dist::all_reduce(s);
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.item<double>(), 2.0 * world());
  Tensor e = zeros({0, 3});
  dist::all_reduce(e);
  EXPECT_EQ(e.shape(), Shape({0, 3}));
}

TEST(AllReduce, BumpsTheVersionAndKeepsTheHandle) {
  Tensor t = ones({3});
  Tensor view = t.reshape({3, 1});
  auto v = t.version();
  dist::all_reduce(t);
  EXPECT_GT(t.version(), v);
  EXPECT_EQ(view.at<float>({2, 0}), static_cast<float>(world()));  // in place: views see it
}

TEST(AllReduce, UndefinedTensorIsRefused) {
  try {
    dist::all_reduce(Tensor());
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("all_reduce: the tensor is undefined"), std::string::npos) << e.what();
  }
}

TEST(AllReduce, MismatchedSizesThrowOnEveryRankInDebugMode) {
  if (world() == 1) GTEST_SKIP() << "one rank cannot disagree with itself";
  dist::set_debug(true);
  Tensor t = zeros({me() + 2});  // numel 2 on rank 0, 3 on rank 1, ...
  try {
    dist::all_reduce(t);
    ADD_FAILURE() << "rank " << me() << ": no error for mismatched sizes";
  } catch (const dist::DistributedError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("numel from 2 to " + std::to_string(world() + 1)), std::string::npos) << msg;
    EXPECT_NE(msg.find("this is rank " + std::to_string(me())), std::string::npos) << msg;
  }
  dist::set_debug(false);
}

TEST(AllReduce, DebugModeCostsOneSmallExtraCall) {
  dist::set_debug(true);
  Tensor t = ones({4});
  int before = g_allreduce_calls;
  dist::all_reduce(t);
  EXPECT_EQ(g_allreduce_calls - before, 2);
  dist::set_debug(false);
  before = g_allreduce_calls;
  dist::all_reduce(t);
  EXPECT_EQ(g_allreduce_calls - before, 1);
}

// ---- broadcast ------------------------------------------------------------------------------------

TEST(Broadcast, FromEveryRoot) {
  for (int root = 0; root < world(); ++root) {
    for (Dtype d : {kFloat32, kFloat64, kInt64}) {
      Tensor t = full({2, 2}, me() * 10 + 1, d);
      dist::broadcast(t, root);
      EXPECT_TENSOR_EQ(t, full({2, 2}, root * 10 + 1, d));
    }
  }
}

TEST(Broadcast, RootOutsideTheWorldIsRefused) {
  Tensor t = zeros({2});
  try {
    dist::broadcast(t, world());
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("root " + std::to_string(world()) + " is not a rank"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(dist::broadcast(t, -1), std::invalid_argument);
}

TEST(Broadcast, ParametersOfAModuleBecomeRootsEverywhere) {
  manual_seed(7);
  auto expected = small_mlp(kFloat32);  // what rank 0 draws with seed 7
  manual_seed(7 + me());
  auto model = small_mlp(kFloat32);
  dist::broadcast_parameters(*model);
  auto got = model->parameters(), want = expected->parameters();
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_TRUE(equal(got[i], want[i])) << "parameter " << i << " on rank " << me();
    EXPECT_TRUE(got[i].requires_grad());
  }
}

// ---- DistributedSampler ---------------------------------------------------------------------------
// Samplers for every rank are built here with explicit num_replicas and rank: no MPI involved.

std::vector<std::vector<std::int64_t>> split(std::int64_t n, int replicas, dist::DistributedSamplerOptions o) {
  std::vector<std::vector<std::int64_t>> parts;
  for (int r = 0; r < replicas; ++r) parts.push_back(dist::DistributedSampler(n, o.num_replicas(replicas).rank(r)).indices());
  return parts;
}

TEST(DistributedSampler, SplitsLikePyTorchWithoutShuffle) {
  // torch.utils.data.DistributedSampler(range(N), num_replicas=R, rank=r, shuffle=False, drop_last=...)
  auto o = dist::DistributedSamplerOptions().shuffle(false);
  using V = std::vector<std::vector<std::int64_t>>;
  EXPECT_EQ(split(10, 3, o), (V{{0, 3, 6, 9}, {1, 4, 7, 0}, {2, 5, 8, 1}}));
  EXPECT_EQ(split(10, 3, o.drop_last(true)), (V{{0, 3, 6}, {1, 4, 7}, {2, 5, 8}}));
  EXPECT_EQ(split(2, 5, o.drop_last(false)), (V{{0}, {1}, {0}, {1}, {0}}));
  EXPECT_EQ(split(12, 4, o), (V{{0, 4, 8}, {1, 5, 9}, {2, 6, 10}, {3, 7, 11}}));
  EXPECT_EQ(split(0, 2, o), (V{{}, {}}));
}

TEST(DistributedSampler, ShuffledPartsAreDisjointCoveringAndEqual) {
  for (std::int64_t n : {1, 7, 64, 1001}) {
    for (int replicas : {1, 2, 3, 8}) {
      auto parts = split(n, replicas, dist::DistributedSamplerOptions().seed(3));
      const std::size_t len = static_cast<std::size_t>((n + replicas - 1) / replicas);
      std::multiset<std::int64_t> seen;
      for (const auto& p : parts) {
        EXPECT_EQ(p.size(), len) << "n " << n << ", " << replicas << " replicas";
        seen.insert(p.begin(), p.end());
      }
      // Every index appears; only the padding (total - n of them) appears twice.
      std::set<std::int64_t> distinct(seen.begin(), seen.end());
      EXPECT_EQ(static_cast<std::int64_t>(distinct.size()), n);
      EXPECT_EQ(*distinct.begin(), 0);
      EXPECT_EQ(*distinct.rbegin(), n - 1);
      EXPECT_EQ(seen.size() - distinct.size(), len * replicas - static_cast<std::size_t>(n));
    }
  }
}

TEST(DistributedSampler, DropLastGivesDisjointPartsWithoutRepeats) {
  auto parts = split(103, 4, dist::DistributedSamplerOptions().seed(5).drop_last(true));
  std::set<std::int64_t> seen;
  for (const auto& p : parts) {
    EXPECT_EQ(p.size(), 25u);
    seen.insert(p.begin(), p.end());
  }
  EXPECT_EQ(seen.size(), 100u);  // 3 samples dropped, none repeated
  EXPECT_LT(*seen.rbegin(), 103);
}

TEST(DistributedSampler, SameSeedAndEpochSameOrderNewEpochNewOrder) {
  auto o = dist::DistributedSamplerOptions().num_replicas(2).rank(1).seed(11);
  dist::DistributedSampler a(50, o), b(50, o);
  EXPECT_EQ(a.indices(), b.indices());
  auto epoch0 = a.indices();
  a.set_epoch(1);
  EXPECT_NE(a.indices(), epoch0);
  std::vector<std::int64_t> x = a.indices(), y = epoch0;
  std::sort(x.begin(), x.end());
  std::sort(y.begin(), y.end());
  EXPECT_NE(x, y);  // a new split, not just a new order
  b.set_epoch(1);
  EXPECT_EQ(a.indices(), b.indices());
  EXPECT_NE(dist::DistributedSampler(50, o.seed(12)).indices(), epoch0);
}

TEST(DistributedSampler, DefaultsToTheRunningWorld) {
  dist::DistributedSampler s(10, dist::DistributedSamplerOptions().shuffle(false));
  EXPECT_EQ(s.num_replicas(), world());
  EXPECT_EQ(s.rank(), me());
  EXPECT_EQ(s.size(), (10 + world() - 1) / world());
  EXPECT_EQ(s.indices().front(), me() % 10);
}

TEST(DistributedSampler, BadSettingsAreRefused) {
  EXPECT_THROW(dist::DistributedSampler(10, dist::DistributedSamplerOptions().num_replicas(0).rank(0)),
               std::invalid_argument);
  try {
    dist::DistributedSampler(10, dist::DistributedSamplerOptions().num_replicas(2).rank(2));
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("rank 2 is out of range for 2 replicas"), std::string::npos) << e.what();
  }
  EXPECT_THROW(dist::DistributedSampler(-1, dist::DistributedSamplerOptions().num_replicas(1).rank(0)),
               std::invalid_argument);
}

TEST(DistributedSampler, OrdersEqualPyTorchsForEveryRankAndEpoch) {
  // tests/data/data_golden.json (tests/data/make_rng.py): DistributedSampler(range(n), ...) after set_epoch.
  std::ifstream in(std::string(AG_TEST_DATA_DIR) + "/data_golden.json");
  ASSERT_TRUE(in.good());
  const nlohmann::json doc = nlohmann::json::parse(in);
  int checked = 0;
  for (const auto& c : doc.at("cases")) {
    if (c.at("kind") != "distributed_sampler") continue;
    const auto& p = c.at("params");
    auto o = dist::DistributedSamplerOptions().shuffle(p.at("shuffle")).seed(p.at("seed")).drop_last(p.at("drop_last"));
    int replicas = p.at("num_replicas");
    for (int r = 0; r < replicas; ++r) {
      dist::DistributedSampler s(p.at("n"), o.num_replicas(replicas).rank(r));
      s.set_epoch(p.at("epoch"));
      EXPECT_EQ(s.indices(), c.at("parts").at(r).get<std::vector<std::int64_t>>()) << c.at("name") << " rank " << r;
    }
    ++checked;
  }
  EXPECT_EQ(checked, 6);
}

TEST(DistributedSampler, ADataLoaderOverEveryRankCoversTheDataSetExactlyOnce) {
  // 10 examples, each rank's loader batches its share; the counts summed over ranks are all 1
  // whenever the world divides 10 (1 or 2 ranks here), else the padding repeats a few.
  const std::int64_t n = 10;
  data::TensorDataset ds(arange(n));
  auto sampler = std::make_shared<dist::DistributedSampler>(n, dist::DistributedSamplerOptions().seed(4));
  data::DataLoader loader(ds, data::DataLoaderOptions().batch_size(3).sampler(sampler));
  for (std::int64_t epoch = 0; epoch < 2; ++epoch) {
    sampler->set_epoch(epoch);
    Tensor counts = zeros({n}, kInt64);
    std::int64_t mine = 0;
    for (auto& [x] : loader) {
      for (std::int64_t i : x.to_vector<std::int64_t>()) counts.narrow(0, i, 1).add_(1);
      mine += x.size(0);
    }
    EXPECT_EQ(mine, sampler->size());
    dist::all_reduce(counts);
    std::int64_t total = world() * sampler->size();
    EXPECT_EQ(counts.sum().item<std::int64_t>(), total);
    EXPECT_EQ(counts.min().item<std::int64_t>(), 1) << "some example was not seen in epoch " << epoch;
    if (n % world() == 0) EXPECT_EQ(counts.max().item<std::int64_t>(), 1) << "some example was seen twice";
  }
}

TEST(DistributedSampler, ALoaderStateContinuesThePassOfItsEpoch) {
  auto o = dist::DistributedSamplerOptions().num_replicas(2).rank(1).seed(8);
  data::TensorDataset ds(arange(9));
  auto sampler = std::make_shared<dist::DistributedSampler>(9, o);
  data::DataLoader loader(ds, data::DataLoaderOptions().batch_size(2).sampler(sampler));
  sampler->set_epoch(3);
  std::vector<std::vector<std::int64_t>> straight, resumed;
  Tensor saved;
  for (auto& [x] : loader) {
    straight.push_back(x.to_vector<std::int64_t>());
    if (straight.size() == 1) saved = loader.state();
  }
  auto sampler2 = std::make_shared<dist::DistributedSampler>(9, o);
  data::DataLoader again(ds, data::DataLoaderOptions().batch_size(2).sampler(sampler2));
  again.load_state(saved);
  for (auto& [x] : again) resumed.push_back(x.to_vector<std::int64_t>());
  EXPECT_EQ(resumed, std::vector<std::vector<std::int64_t>>(straight.begin() + 1, straight.end()));
  auto other = std::make_shared<dist::DistributedSampler>(
      12, dist::DistributedSamplerOptions().num_replicas(2).rank(1).seed(8));
  EXPECT_THROW(other->load_state({3, 1, 5}), std::invalid_argument);
}

// ---- DistributedDataParallel ----------------------------------------------------------------------

/// y = W x with x = (rank + 1) * base: dL/dW for L = sum(y) is ones ⊗ x, so the average over
/// ranks is (n + 1) / 2 * ones ⊗ base.
struct LinearNoBias {
  std::shared_ptr<nn::Linear> model = std::make_shared<nn::Linear>(nn::LinearOptions(3, 2).bias(false));
};

TEST(DistributedDataParallel, BroadcastsRank0sParametersAtConstruction) {
  manual_seed(21);
  auto expected = small_mlp(kFloat64);
  manual_seed(21 + 100 * me());
  auto model = small_mlp(kFloat64);
  dist::DistributedDataParallel ddp(model);
  auto got = model->parameters(), want = expected->parameters();
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(equal(got[i], want[i])) << "parameter " << i;
}

TEST(DistributedDataParallel, AveragesGradientsAcrossRanks) {
  LinearNoBias net;
  dist::DistributedDataParallel ddp(*net.model);
  Tensor x = tensor({{1.0f, 2.0f, 3.0f}}) * static_cast<float>(me() + 1);
  ddp(x).sum().backward();  // averages: nothing else to call
  const float mean = (world() + 1) / 2.0f;
  EXPECT_TENSOR_EQ(net.model->weight.grad(), tensor({{1.0f, 2.0f, 3.0f}, {1.0f, 2.0f, 3.0f}}) * mean);
  ddp.sync_gradients();  // kept for older code: changes nothing
  EXPECT_TENSOR_EQ(net.model->weight.grad(), tensor({{1.0f, 2.0f, 3.0f}, {1.0f, 2.0f, 3.0f}}) * mean);
}

TEST(DistributedDataParallel, BucketsFollowReverseRegistrationOrderWithASmallerFirstBucket) {
  manual_seed(3);
  nn::Sequential model(std::make_shared<nn::Linear>(4, 3), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(3, 2));
  // Gradient bytes, last registered first: 2.bias 8, 2.weight 24, 0.bias 12, 0.weight 48. A bucket
  // closes once it holds its limit: 8 bytes for the first, 30 for the others.
  const double byte = 1.0 / (1024 * 1024);
  std::vector<Tensor> tiny_grads;
  Tensor x = randn({5, 4}), y = randint(0, 2, {5});
  {
  dist::DistributedDataParallel tiny(model, dist::DDPOptions().first_bucket_cap_mb(8 * byte).bucket_cap_mb(30 * byte));
  auto buckets = tiny.buckets();
  ASSERT_EQ(buckets.size(), 3u);
  EXPECT_EQ(buckets[0].parameter_names, std::vector<std::string>({"2.bias"}));
  EXPECT_EQ(buckets[1].parameter_names, std::vector<std::string>({"2.weight", "0.bias"}));
  EXPECT_EQ(buckets[2].parameter_names, std::vector<std::string>({"0.weight"}));
  EXPECT_EQ(buckets[1].numel, 9);

  int before = g_iallreduce_calls;
  cross_entropy(tiny(x), y).backward();
  EXPECT_EQ(g_iallreduce_calls - before, 3);  // one per bucket, all during backward
  for (const Tensor& p : model.parameters()) tiny_grads.push_back(p.grad().clone());
  }  // one wrapper per model at a time: each one's hooks average the gradients

  // PyTorch's caps (1 MiB first, then 25 MiB) put this model in one bucket: one call, the same gradients.
  model.zero_grad();
  dist::DistributedDataParallel one(model);
  EXPECT_EQ(one.buckets().size(), 1u);
  const int before = g_iallreduce_calls;
  cross_entropy(one(x), y).backward();
  EXPECT_EQ(g_iallreduce_calls - before, 1);
  auto params = model.parameters();
  for (std::size_t i = 0; i < params.size(); ++i) EXPECT_TRUE(equal(params[i].grad(), tiny_grads[i]));
}

TEST(DistributedDataParallel, ABucketStartsWhileBackwardIsStillRunning) {
  manual_seed(4);
  auto first = std::make_shared<nn::Linear>(4, 3), last = std::make_shared<nn::Linear>(3, 2);
  nn::Sequential model(first, std::make_shared<nn::ReLU>(), last);
  const double byte = 1.0 / (1024 * 1024);
  dist::DistributedDataParallel ddp(model, dist::DDPOptions().first_bucket_cap_mb(32 * byte).bucket_cap_mb(32 * byte));
  ASSERT_EQ(ddp.buckets().size(), 2u);  // [2.bias, 2.weight], [0.bias, 0.weight]
  Tensor x = randn({5, 4}), y = randint(0, 2, {5});
  Tensor hidden = first->forward(x);
  // The gradient of the first layer's output is computed after the last layer's parameters have
  // theirs: by then the last layer's bucket is on its way.
  int started_when_hidden_grad_ran = -1;
  const int before = g_iallreduce_calls;
  hidden.register_hook([&](const Tensor& g) {
    started_when_hidden_grad_ran = g_iallreduce_calls - before;
    return g;
  });
  Tensor out = last->forward(relu(hidden));
  cross_entropy(out, y).backward();
  EXPECT_EQ(started_when_hidden_grad_ran, 1);
  EXPECT_EQ(g_iallreduce_calls - before, 2);
}

TEST(DistributedDataParallel, EachDtypeHasItsOwnBuckets) {
  struct Mixed : nn::Module {
    nn::Parameter& a = register_parameter("a", zeros({3}));
    nn::Parameter& b = register_parameter("b", zeros({2}, kFloat64));
    nn::Parameter& c = register_parameter("c", zeros({4}));
  } mixed;
  dist::DistributedDataParallel ddp(mixed);
  auto buckets = ddp.buckets();
  ASSERT_EQ(buckets.size(), 2u);
  EXPECT_EQ(buckets[0].dtype, kFloat32);
  EXPECT_EQ(buckets[0].parameter_names, std::vector<std::string>({"c", "a"}));
  EXPECT_EQ(buckets[1].dtype, kFloat64);
  int before = g_iallreduce_calls;
  (mixed.a.sum() + mixed.b.sum().to(kFloat32) * 2 + mixed.c.sum()).backward();
  EXPECT_EQ(g_iallreduce_calls - before, 2);
  EXPECT_TENSOR_EQ(mixed.b.grad(), full({2}, 2.0, kFloat64));
}

TEST(DistributedDataParallel, ParameterWithoutGradientOnSomeRanksStillTakesPart) {
  // Rank 0 uses head a, the others head b; no rank uses head c.
  struct Heads : nn::Module {
    std::shared_ptr<nn::Linear> a = register_module("a", std::make_shared<nn::Linear>(3, 2));
    std::shared_ptr<nn::Linear> b = register_module("b", std::make_shared<nn::Linear>(3, 2));
    std::shared_ptr<nn::Linear> c = register_module("c", std::make_shared<nn::Linear>(3, 2));
    Tensor forward(const Tensor& x) override { return dist::rank() == 0 ? (*a)(x) : (*b)(x); }
  } heads;
  dist::DistributedDataParallel ddp(heads);
  Tensor x = full({1, 3}, me() + 1.0);
  int before = g_iallreduce_calls;
  ddp(x).sum().backward();
  EXPECT_EQ(g_iallreduce_calls - before, 1);  // the same single call on every rank
  const double n = world();
  // d sum(W x + b) / dW = ones ⊗ x, / db = ones; averaged over all n ranks.
  EXPECT_TRUE(allclose(heads.a->weight.grad(), full({2, 3}, 1.0 / n)));
  EXPECT_TRUE(allclose(heads.a->bias.grad(), full({2}, 1.0 / n)));
  if (world() > 1) {
    double sum_b = 0;  // x = r + 1 on ranks 1..n-1
    for (int r = 1; r < world(); ++r) sum_b += r + 1;
    EXPECT_TRUE(allclose(heads.b->weight.grad(), full({2, 3}, sum_b / n)));
    EXPECT_TRUE(allclose(heads.b->bias.grad(), full({2}, (n - 1) / n)));
  } else {
    EXPECT_FALSE(heads.b->weight.grad().defined());  // no rank had one
  }
  EXPECT_FALSE(heads.c->weight.grad().defined());
  EXPECT_FALSE(heads.c->bias.grad().defined());
  for (const Tensor& p : heads.parameters())
    if (p.grad().defined()) EXPECT_TRUE(identical_on_all_ranks(p.grad()));
}

TEST(DistributedDataParallel, ARankWithoutBackwardTakesPartThroughSyncGradients) {
  LinearNoBias net;
  dist::DistributedDataParallel ddp(*net.model);
  for (int step = 0; step < 2; ++step) {
    net.model->zero_grad();
    if (me() == 0) ddp(tensor({{1.0f, 2.0f, 3.0f}})).sum().backward();  // the other ranks have no rows
    ddp.sync_gradients();
    EXPECT_TENSOR_EQ(net.model->weight.grad(), tensor({{1.0f, 2.0f, 3.0f}, {1.0f, 2.0f, 3.0f}}) / world());
  }
}

TEST(DistributedDataParallel, NoSyncAccumulatesThenOneSyncAveragesTheSum) {
  LinearNoBias net;
  dist::DistributedDataParallel ddp(*net.model);
  const float r = me() + 1;
  {
    auto guard = ddp.no_sync();
    const int before = g_iallreduce_calls;
    ddp(tensor({{1.0f, 2.0f, 3.0f}}) * r).sum().backward();
    EXPECT_EQ(g_iallreduce_calls, before) << "no communication inside no_sync()";
    EXPECT_TENSOR_EQ(net.model->weight.grad(), tensor({{1.0f, 2.0f, 3.0f}, {1.0f, 2.0f, 3.0f}}) * r);
    EXPECT_THROW(ddp.sync_gradients(), std::logic_error);
  }
  ddp(tensor({{4.0f, 5.0f, 6.0f}}) * r).sum().backward();
  const float mean = (world() + 1) / 2.0f;
  EXPECT_TENSOR_EQ(net.model->weight.grad(), tensor({{5.0f, 7.0f, 9.0f}, {5.0f, 7.0f, 9.0f}}) * mean);
}

TEST(DistributedDataParallel, ReplacedParametersAreCaught) {
  auto model = small_mlp(kFloat32);
  dist::DistributedDataParallel ddp(model);
  model->to(kFloat64);  // new parameter tensors the buckets do not know
  try {
    ddp.sync_gradients();
    FAIL();
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("build the DistributedDataParallel after changing them"), std::string::npos)
        << e.what();
  }
}

TEST(DistributedDataParallel, ABadGradientOnOneRankStopsEveryRankAndChangesNothing) {
  LinearNoBias net;
  dist::DistributedDataParallel ddp(*net.model);
  const bool culprit = me() == world() - 1;
  // A float64 .grad, left by mistake, on the culprit only: backward accumulates into it.
  if (culprit) net.model->weight.mutable_grad() = zeros({2, 3}, kFloat64);
  try {
    ddp(ones({1, 3})).sum().backward();
    ADD_FAILURE() << "rank " << me() << ": no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_TRUE(culprit) << e.what();
    EXPECT_NE(std::string(e.what()).find("the gradient of 'weight' is [2, 3] float64 but the parameter is [2, 3] float32"),
              std::string::npos)
        << e.what();
  } catch (const dist::DistributedError& e) {
    EXPECT_FALSE(culprit) << e.what();
    EXPECT_NE(std::string(e.what()).find("another rank found a problem"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(allclose(net.model->weight.grad().to(kFloat32), ones({2, 3}))) << "the local gradient, not averaged";
  // The next step works again on every rank.
  net.model->weight.set_grad({});
  ddp(ones({1, 3})).sum().backward();
  EXPECT_TENSOR_EQ(net.model->weight.grad(), ones({2, 3}));
}

TEST(DistributedDataParallel, DifferentModelsOnDifferentRanksAreCaught) {
  if (world() == 1) GTEST_SKIP() << "one rank cannot disagree with itself";
  nn::Linear model(3, me() == 0 ? 2 : 3);
  try {
    dist::DistributedDataParallel ddp(model);
    ADD_FAILURE() << "rank " << me() << ": no error for different models";
  } catch (const dist::DistributedError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("DistributedDataParallel: the ranks passed different arguments"), std::string::npos) << msg;
    EXPECT_NE(msg.find("parameter elements from 8 to 12"), std::string::npos) << msg;
  }
}

TEST(DistributedDataParallel, BadBucketCapIsRefused) {
  LinearNoBias net;
  EXPECT_THROW(dist::DistributedDataParallel(*net.model, dist::DDPOptions().bucket_cap_mb(0)), std::invalid_argument);
}

// ---- training: DDP on shards == one process on the global batch ---------------------------------

enum class Opt { SGD, Adam };

std::unique_ptr<optim::Optimizer> make_optimizer(Opt which, const std::vector<Tensor>& params) {
  if (which == Opt::SGD) return std::make_unique<optim::SGD>(params, optim::SGDOptions(0.1).momentum(0.9));
  return std::make_unique<optim::Adam>(params, optim::AdamOptions(0.01));
}

struct TrainCase {
  Dtype dtype;
  Opt opt;
};

class TrainingMatchesOneProcess : public ::testing::TestWithParam<TrainCase> {};

TEST_P(TrainingMatchesOneProcess, After20Steps) {
  const auto [dtype, which] = GetParam();
  const int steps = 20;
  const std::int64_t global_batch = 24;  // divisible by 1, 2, 3, 4, 6 and 8 ranks
  ASSERT_EQ(global_batch % world(), 0);

  // The reference: one process, the whole batch, rank 0's initial weights (seed 100).
  manual_seed(100);
  auto reference = small_mlp(dtype);
  auto ref_opt = make_optimizer(which, reference->parameters());

  // DDP: every rank starts from different weights; construction makes them rank 0's.
  manual_seed(100 + me());
  auto model = small_mlp(dtype);
  dist::DistributedDataParallel ddp(model);
  auto opt = make_optimizer(which, model->parameters());
  // This rank's rows of each global batch.
  dist::DistributedSampler sampler(global_batch, dist::DistributedSamplerOptions().shuffle(false));
  Tensor shard = tensor(sampler.indices(), {sampler.size()});

  Generator data(1234);  // the same global batches on every rank
  for (int step = 0; step < steps; ++step) {
    Tensor x = randn({global_batch, 8}, dtype, &data);
    Tensor y = randint(0, 4, {global_batch}, kInt64, &data);

    ref_opt->zero_grad();
    cross_entropy((*reference)(x), y).backward();
    ref_opt->step();

    opt->zero_grad();
    cross_entropy(ddp(index_select(x, 0, shard)), index_select(y, 0, shard)).backward();
    ddp.sync_gradients();
    opt->step();
  }

  auto got = model->named_parameters(), want = reference->named_parameters();
  double worst = 0;
  for (const auto& [name, p] : got) {
    const Tensor& q = *want.find(name);
    double rel = relative_difference(p, q);
    worst = std::max(worst, rel);
    EXPECT_LE(rel, 1e-6) << name << " on rank " << me();
    EXPECT_TRUE(identical_on_all_ranks(p)) << name << " differs between ranks";
    if (world() == 1) EXPECT_TRUE(equal(p, q)) << name << ": one rank should match bit for bit";
  }
  Tensor worst_all = tensor({worst}, kFloat64);
  dist::all_reduce(worst_all, dist::ReduceOp::Max);
  if (me() == 0)
    std::printf("[ ddp ] %d rank(s), %s, %s, %d steps: max relative difference to one process %.3g\n", world(),
                dtype_name(dtype), which == Opt::SGD ? "SGD(momentum 0.9)" : "Adam", steps,
                worst_all.item<double>());
}

INSTANTIATE_TEST_SUITE_P(Ddp, TrainingMatchesOneProcess,
                         ::testing::Values(TrainCase{kFloat32, Opt::SGD}, TrainCase{kFloat32, Opt::Adam},
                                           TrainCase{kFloat64, Opt::SGD}, TrainCase{kFloat64, Opt::Adam}),
                         [](const auto& info) {
                           return std::string(dtype_name(info.param.dtype)) +
                                  (info.param.opt == Opt::SGD ? "_SGD" : "_Adam");
                         });

// ---- overlap: the same numbers as after backward, and as one process --------------------------

/// Every parameter of `a` against the same-named one of `b`: the largest relative difference.
double worst_difference(const nn::Module& a, const nn::Module& b) {
  auto got = a.named_parameters(), want = b.named_parameters();
  double worst = 0;
  for (const auto& [name, p] : got) worst = std::max(worst, relative_difference(p, *want.find(name)));
  return worst;
}

/// This rank's rows of a global batch (contiguous shards of equal size).
Tensor shard_of(const Tensor& t) {
  const std::int64_t n = t.size(0) / world();
  return t.narrow(0, me() * n, n);
}

TEST(DdpOverlap, EqualsTheNonOverlappedReductionAndOneProcessOnTheGlobalBatch) {
  const double byte = 1.0 / (1024 * 1024);
  // Several small buckets, so that some start while backward still runs.
  const auto small = dist::DDPOptions().first_bucket_cap_mb(30 * byte).bucket_cap_mb(300 * byte);
  manual_seed(31);
  auto reference = small_mlp(kFloat64);
  manual_seed(31 + me());
  auto overlapped = small_mlp(kFloat64);
  manual_seed(31 + me());
  auto after = small_mlp(kFloat64);
  // Both start from rank 0's weights, the reference's.
  dist::DistributedDataParallel ddp(overlapped, small), ddp_after(after, dist::DDPOptions(small).overlap(false));
  EXPECT_GE(ddp.buckets().size(), 3u);
  optim::SGD ref_opt(reference->parameters(), optim::SGDOptions(0.1).momentum(0.9)),
      opt(overlapped->parameters(), optim::SGDOptions(0.1).momentum(0.9)),
      opt_after(after->parameters(), optim::SGDOptions(0.1).momentum(0.9));
  const std::int64_t global_batch = 8 * world();
  Generator data(7);
  for (int step = 0; step < 5; ++step) {
    Tensor x = randn({global_batch, 8}, kFloat64, &data), y = randint(0, 4, {global_batch}, kInt64, &data);
    ref_opt.zero_grad();
    cross_entropy((*reference)(x), y).backward();
    ref_opt.step();
    opt.zero_grad();
    cross_entropy(ddp(shard_of(x)), shard_of(y)).backward();
    opt.step();
    opt_after.zero_grad();
    cross_entropy(ddp_after(shard_of(x)), shard_of(y)).backward();
    opt_after.step();
  }
  EXPECT_LE(worst_difference(*overlapped, *after), 1e-12);
  EXPECT_LE(worst_difference(*overlapped, *reference), 1e-12);
  for (const Tensor& p : overlapped->parameters()) EXPECT_TRUE(identical_on_all_ranks(p));
}

/// a and c are used, b never is: `c(relu(a(x)))`.
struct WithUnusedBranch : nn::Module {
  std::shared_ptr<nn::Linear> a = register_module("a", std::make_shared<nn::Linear>(4, 3));
  std::shared_ptr<nn::Linear> b = register_module("b", std::make_shared<nn::Linear>(4, 3));
  std::shared_ptr<nn::Linear> c = register_module("c", std::make_shared<nn::Linear>(3, 2));
  WithUnusedBranch() { to(kFloat64); }
  Tensor forward(const Tensor& x) override { return (*c)(relu((*a)(x))); }
};

TEST(DdpOverlap, UnusedParametersWithAndWithoutFindUnusedParameters) {
  const double byte = 1.0 / (1024 * 1024);
  const auto small = dist::DDPOptions().first_bucket_cap_mb(30 * byte).bucket_cap_mb(30 * byte);
  manual_seed(41);
  WithUnusedBranch reference;
  manual_seed(41);
  WithUnusedBranch found;
  manual_seed(41);
  WithUnusedBranch not_found;
  dist::DistributedDataParallel ddp_found(found, dist::DDPOptions(small).find_unused_parameters(true)),
      ddp_not_found(not_found, small);
  const std::int64_t global_batch = 4 * world();
  Generator data(8);
  for (int step = 0; step < 3; ++step) {
    Tensor x = randn({global_batch, 4}, kFloat64, &data);
    for (nn::Module* m : {static_cast<nn::Module*>(&reference), static_cast<nn::Module*>(&found),
                          static_cast<nn::Module*>(&not_found)})
      m->zero_grad();
    reference(x).pow(2).mean().backward();
    const int before = g_iallreduce_calls, buckets = static_cast<int>(ddp_found.buckets().size());
    ddp_found(shard_of(x)).pow(2).mean().backward();
    EXPECT_EQ(g_iallreduce_calls - before, buckets);
    ddp_not_found(shard_of(x)).pow(2).mean().backward();
    for (nn::Module* m : {static_cast<nn::Module*>(&found), static_cast<nn::Module*>(&not_found)}) {
      auto got = m->named_parameters(), want = reference.named_parameters();
      for (const auto& [name, p] : got) {
        const Tensor& q = *want.find(name);
        ASSERT_EQ(p.grad().defined(), q.grad().defined()) << name;
        if (q.grad().defined()) EXPECT_LE(relative_difference(p.grad(), q.grad()), 1e-12) << name;
      }
    }
    EXPECT_FALSE(found.b->weight.grad().defined()) << "no rank had one: it stays undefined";
  }
}

TEST(DdpOverlap, NoSyncOverFourMicroBatchesThenOneReductionEqualsOneProcess) {
  manual_seed(51);
  auto reference = small_mlp(kFloat64);
  manual_seed(51);
  auto model = small_mlp(kFloat64);
  dist::DistributedDataParallel ddp(model);
  optim::SGD ref_opt(reference->parameters(), optim::SGDOptions(0.1)), opt(model->parameters(), optim::SGDOptions(0.1));
  const int micro = 4;
  const std::int64_t per_micro = 2 * world(), global_batch = micro * per_micro;
  Generator data(9);
  for (int step = 0; step < 3; ++step) {
    Tensor x = randn({global_batch, 8}, kFloat64, &data), y = randint(0, 4, {global_batch}, kInt64, &data);
    ref_opt.zero_grad();
    cross_entropy((*reference)(x), y).backward();
    ref_opt.step();
    opt.zero_grad();
    const int before = g_iallreduce_calls, buckets = static_cast<int>(ddp.buckets().size());
    for (int k = 0; k < micro; ++k) {
      // Micro-batch k of the global batch; this rank's rows of it. Each loss is a quarter.
      Tensor xk = x.narrow(0, k * per_micro, per_micro), yk = y.narrow(0, k * per_micro, per_micro);
      auto loss = [&] { return cross_entropy(ddp(shard_of(xk)), shard_of(yk)) / micro; };
      if (k < micro - 1) {
        auto guard = ddp.no_sync();
        loss().backward();
        EXPECT_EQ(g_iallreduce_calls, before) << "micro-batch " << k;
      } else {
        loss().backward();
      }
    }
    EXPECT_EQ(g_iallreduce_calls - before, buckets);
    opt.step();
  }
  EXPECT_LE(worst_difference(*model, *reference), 1e-12);
}

/// Registered head first, but used last: its gradients are ready first, against the initial
/// reverse-registration order.
struct HeadFirst : nn::Module {
  std::shared_ptr<nn::Linear> head = register_module("head", std::make_shared<nn::Linear>(6, 3));
  std::shared_ptr<nn::Linear> body = register_module("body", std::make_shared<nn::Linear>(4, 6));
  HeadFirst() { to(kFloat64); }
  Tensor forward(const Tensor& x) override { return (*head)(tanh((*body)(x))); }
};

TEST(DdpOverlap, GradientsReadyOutOfRegistrationOrderGiveTheSameResultAndRebuildTheBuckets) {
  const double byte = 1.0 / (1024 * 1024);
  manual_seed(61);
  HeadFirst reference;
  manual_seed(61);
  HeadFirst model;
  dist::DistributedDataParallel ddp(model, dist::DDPOptions().first_bucket_cap_mb(20 * byte).bucket_cap_mb(60 * byte));
  auto first = ddp.buckets();
  ASSERT_GE(first.size(), 2u);
  EXPECT_EQ(first[0].parameter_names[0].rfind("body.", 0), 0u) << "reverse registration order at first";
  optim::SGD ref_opt(reference.parameters(), optim::SGDOptions(0.1)), opt(model.parameters(), optim::SGDOptions(0.1));
  const std::int64_t global_batch = 4 * world();
  Generator data(10);
  for (int step = 0; step < 4; ++step) {
    Tensor x = randn({global_batch, 4}, kFloat64, &data);
    ref_opt.zero_grad();
    reference(x).pow(2).mean().backward();
    ref_opt.step();
    opt.zero_grad();
    ddp(shard_of(x)).pow(2).mean().backward();
    opt.step();
    if (step == 0) {
      auto rebuilt = ddp.buckets();
      ASSERT_FALSE(rebuilt.empty());
      EXPECT_EQ(rebuilt[0].parameter_names[0].rfind("head.", 0), 0u) << "the order gradients became ready in";
      EXPECT_EQ(rebuilt.back().parameter_names.back().rfind("body.", 0), 0u);
    }
  }
  EXPECT_LE(worst_difference(model, reference), 1e-12);
}

/// y = x * scale, scale a buffer.
struct Scaled : nn::Module {
  nn::Parameter& w = register_parameter("w", ones({2}, kFloat64));
  Tensor& scale = register_buffer("scale", ones({1}, kFloat64));
  Tensor forward(const Tensor& x) override { return x * w * scale; }
};

TEST(DdpOverlap, BroadcastBuffersCopiesRank0sBuffersAtEveryForward) {
  Scaled model, kept;
  dist::DistributedDataParallel ddp(model), ddp_kept(kept, dist::DDPOptions().broadcast_buffers(false));
  model.scale.fill_(me() + 2.0);
  kept.scale.fill_(me() + 2.0);
  Tensor out = ddp(ones({2}, kFloat64));
  EXPECT_EQ(model.scale.item<double>(), 2.0) << "rank 0's value";
  EXPECT_TRUE(equal(out, full({2}, 2.0, kFloat64)));
  ddp_kept(ones({2}, kFloat64));
  EXPECT_EQ(kept.scale.item<double>(), me() + 2.0) << "broadcast_buffers(false): each rank its own";
}

// ---- checkpoints ----------------------------------------------------------------------------------

/// A folder every rank agrees on (rank 0's pid names it), removed at the end.
struct SharedTempDir {
  std::filesystem::path path;
  SharedTempDir() {
    Tensor pid = tensor({std::int64_t{getpid()}});
    dist::broadcast(pid, 0);
    path = std::filesystem::temp_directory_path() / ("ag_test_distributed_" + std::to_string(pid.item<std::int64_t>()));
    if (me() == 0) std::filesystem::create_directories(path);
    dist::barrier();
  }
  ~SharedTempDir() {
    dist::barrier();
    if (me() == 0) std::filesystem::remove_all(path);
  }
};

TEST(Checkpoint, Rank0WritesTheArchiveEveryRankLoadsIt) {
  SharedTempDir dir;
  const std::string file = (dir.path / "ckpt.ag").string();
  manual_seed(5);
  auto model = small_mlp(kFloat32);
  dist::DistributedDataParallel ddp(model);
  Archive archive;
  archive.set_tensors("model", model->state_dict().items());
  archive.set("step", 20);

  int writes = 0;
  dist::save_on_rank0([&] {
    ++writes;
    save_archive(archive, file);
  });
  EXPECT_EQ(count_ranks(writes == 1), 1);  // exactly one rank wrote
  EXPECT_EQ(writes, me() == 0 ? 1 : 0);

  // Every rank loads what rank 0 wrote into a model initialised differently.
  manual_seed(6 + me());
  auto loaded = small_mlp(kFloat32);
  Archive back = load_archive(file);
  nn::StateDict sd;
  for (const auto& [name, t] : back.tensors_with_prefix("model")) sd.insert(name, t);
  loaded->load_state_dict(sd);
  EXPECT_EQ(back.get_int("step"), 20);
  auto want = model->parameters(), got = loaded->parameters();
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(equal(got[i], want[i])) << "parameter " << i;
  // Written atomically: no temporary file is left next to it.
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path)) files += entry.is_regular_file();
  EXPECT_EQ(files, 1);
}

TEST(Checkpoint, TrainingResumedOnEveryRankFromRank0sCheckpointContinuesIdentically) {
  SharedTempDir dir;
  const std::string file = (dir.path / "run.ckpt").string();
  const std::int64_t global_batch = 8 * world();
  dist::DistributedSampler sampler(global_batch, dist::DistributedSamplerOptions().shuffle(false));
  Tensor shard = tensor(sampler.indices(), {sampler.size()});
  Generator data(99);
  auto train = [&](dist::DistributedDataParallel& ddp, optim::Optimizer& opt, int steps) {
    for (int i = 0; i < steps; ++i) {
      Tensor x = randn({global_batch, 8}, {}, &data), y = randint(0, 4, {global_batch}, kInt64, &data);
      opt.zero_grad();
      cross_entropy(ddp(index_select(x, 0, shard)), index_select(y, 0, shard)).backward();
      ddp.sync_gradients();
      opt.step();
    }
  };
  manual_seed(8 + me());
  auto model = small_mlp(kFloat32);
  dist::DistributedDataParallel ddp(model);
  optim::SGD opt(model->parameters(), optim::SGDOptions(0.1).momentum(0.9));
  train(ddp, opt, 5);
  Archive meta;
  meta.set("step", 5);
  dist::save_on_rank0([&] { save_checkpoint(file, *model, &opt, nullptr, meta); });

  // Every rank restores rank 0's file into a fresh model and optimizer (momentum buffers too).
  manual_seed(1000 + me());
  auto resumed = small_mlp(kFloat32);
  optim::SGD resumed_opt(resumed->parameters(), optim::SGDOptions(0.5));
  Archive back = load_checkpoint(file, *resumed, &resumed_opt);
  EXPECT_EQ(back.get_int("step"), 5);
  dist::DistributedDataParallel resumed_ddp(resumed);

  // Both runs take the same 3 further steps on the same data.
  const auto state = data.get_state();
  train(ddp, opt, 3);
  data.set_state(state);
  train(resumed_ddp, resumed_opt, 3);
  auto a = model->parameters(), b = resumed->parameters();
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(equal(a[i], b[i])) << "parameter " << i << " on rank " << me();
    EXPECT_TRUE(identical_on_all_ranks(b[i])) << "parameter " << i;
  }
}

TEST(Checkpoint, AFailedSaveOnRank0ThrowsOnEveryRank) {
  Archive archive;
  archive.set("step", 1);
  const std::string bad = "/nonexistent-ag-folder/ckpt.ag";
  try {
    dist::save_on_rank0([&] { save_archive(archive, bad); });
    ADD_FAILURE() << "rank " << me() << ": no error";
  } catch (const SerializeError& e) {
    EXPECT_EQ(me(), 0) << "only rank 0 rethrows its own exception";
    EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
  } catch (const dist::DistributedError& e) {
    EXPECT_NE(me(), 0);
    std::string msg = e.what();
    EXPECT_NE(msg.find("saving failed on rank 0"), std::string::npos) << msg;
    EXPECT_NE(msg.find(bad), std::string::npos) << msg;
  }
}

// ---- output -----------------------------------------------------------------------------------------

/// On ranks other than 0, prints failures only, marked with the rank.
class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestStart(const ::testing::TestInfo& info) override {
    test_ = std::string(info.test_suite_name()) + "." + info.name();
  }
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (r.failed())
      std::printf("[rank %d] FAILED %s at %s:%d\n%s\n", rank_, test_.c_str(), r.file_name() ? r.file_name() : "?",
                  r.line_number(), r.summary());
  }

 private:
  int rank_;
  std::string test_;
};

}  // namespace

int main(int argc, char** argv) {
  dist::Environment env(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  if (env.rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new RankFailurePrinter(env.rank()));
  }
  int failed = RUN_ALL_TESTS();
  // Every rank exits with the same status, whichever rank failed.
  Tensor status = tensor({std::int64_t{failed}});
  dist::all_reduce(status, dist::ReduceOp::Max);
  if (env.rank() == 0 && failed == 0 && status.item<std::int64_t>() != 0)
    std::printf("Tests failed on another rank: see the [rank N] FAILED lines above.\n");
  return static_cast<int>(status.item<std::int64_t>());
}

// ---- sparse gradients ------------------------------------------------------------------------------

/// An Embedding(sparse=true) of 20 words and a Linear head, float64.
std::shared_ptr<nn::Sequential> sparse_model() {
  manual_seed(5);
  auto model = std::make_shared<nn::Sequential>(std::make_shared<nn::Embedding>(nn::EmbeddingOptions(20, 4).sparse(true)),
                                                std::make_shared<nn::Linear>(nn::LinearOptions(4, 1)));
  model->to(kFloat64);
  return model;
}

TEST(DistributedDataParallel, SparseEmbeddingGradientsAreGatheredAndTrainAsOneProcess) {
  auto alone = sparse_model(), model = sparse_model();
  dist::DistributedDataParallel ddp(model);
  const auto buckets = ddp.buckets();
  ASSERT_EQ(buckets.size(), 2u);
  EXPECT_FALSE(buckets[0].sparse);
  EXPECT_EQ(buckets[0].parameter_names, (std::vector<std::string>{"1.bias", "1.weight"}));
  EXPECT_TRUE(buckets[1].sparse);
  EXPECT_EQ(buckets[1].parameter_names, std::vector<std::string>{"0.weight"});
  auto emb_of = [](nn::Sequential& m) { return m.parameters()[0]; };
  auto head_of = [](nn::Sequential& m) { return std::vector<Tensor>{m.parameters()[1], m.parameters()[2]}; };
  optim::SparseAdam adam_alone({emb_of(*alone)}, optim::SparseAdamOptions(0.1)), adam({emb_of(*model)}, optim::SparseAdamOptions(0.1));
  optim::SGD sgd_alone(head_of(*alone), optim::SGDOptions(0.1)), sgd(head_of(*model), optim::SGDOptions(0.1));
  const std::int64_t per_rank = 3, global = per_rank * world();
  for (int step = 0; step < 4; ++step) {
    // The global batch: repeated words within and across ranks; every rank takes its slice.
    std::vector<std::int64_t> ids;
    for (std::int64_t k = 0; k < global; ++k) ids.push_back((k * (step + 3)) % 7);
    Tensor words = tensor(ids, {global});
    Tensor mine = words.slice(0, me() * per_rank, (me() + 1) * per_rank);
    adam.zero_grad();
    sgd.zero_grad();
    ddp(mine).pow(2).mean().backward();
    ddp.sync_gradients();
    ASSERT_TRUE(emb_of(*model).grad().is_sparse());
    EXPECT_EQ(emb_of(*model).grad()._nnz(), global) << "every rank's rows";
    adam.step();
    sgd.step();
    adam_alone.zero_grad();
    sgd_alone.zero_grad();
    alone->forward(words).pow(2).mean().backward();
    EXPECT_TRUE(allclose(emb_of(*model).grad().to_dense(), emb_of(*alone).grad().to_dense(), 1e-14, 1e-16));
    adam_alone.step();
    sgd_alone.step();
  }
  auto got = model->parameters(), want = alone->parameters();
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(allclose(got[i], want[i], 1e-12, 1e-14)) << "parameter " << i;
}

TEST(DistributedDataParallel, ASparseGradientInADenseBucketIsRefusedOnEveryRank) {
  LinearNoBias net;
  dist::DistributedDataParallel ddp(*net.model);
  try {
    embedding(net.model->weight, tensor({1, 0}), EmbeddingFuncOptions().sparse(true)).sum().backward();
    ADD_FAILURE() << "rank " << me() << ": no error";
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("the gradient of 'weight' ([2, 3]) is sparse, but it is in a bucket of 1 dense gradient"),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("Embedding built with sparse(true)"), std::string::npos) << msg;
  }
  EXPECT_TRUE(net.model->weight.grad().is_sparse()) << "nothing changed";
}
