// ddp_mlp_bench: the mlp workload of bench/README.md trained data-parallel, for scaling figures.
//
//   mpirun -np 2 build/distributed/ddp_mlp_bench [--steps 100] [--warmup 3] [--batch 128] [--bucket-mb 25]
//                                                [--first-bucket-mb 1] [--overlap 1]
//   build/distributed/ddp_mlp_bench              # one rank, no mpirun needed
//
// Linear(784, 512)-ReLU-Linear(512, 512)-ReLU-Linear(512, 10), SGD(lr 0.01, momentum 0.9), one
// global batch of 128 split evenly across the ranks, single-threaded OpenBLAS on every rank.
// Rank 0 prints one JSON line: steps/s of the slowest rank, the time of each step's backward
// (which includes the averaging), and the part of it spent waiting for all-reduces to finish
// (communication that overlap did not hide), both the largest over the ranks.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "ag/autograd/autograd.h"
#include "ag/distributed/distributed.h"
#include "ag/nn/nn.h"
#include "ag/optim/optim.h"

using namespace ag;
namespace dist = ag::distributed;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

/// The largest value of `v` over all ranks.
double max_over_ranks(double v) {
  Tensor t = tensor({v}, kFloat64);
  dist::all_reduce(t, dist::ReduceOp::Max);
  return t.item<double>();
}

int usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--steps N] [--warmup N] [--batch GLOBAL_BATCH] [--bucket-mb MB] "
               "[--first-bucket-mb MB] [--overlap 0|1]\n", argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  dist::Environment env(argc, argv);
  int steps = 100, warmup = 3;
  std::int64_t batch = 128;
  double bucket_mb = 25, first_bucket_mb = 1;
  int overlap = 1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) return usage(argv[0]);
    if (a == "--steps") steps = std::atoi(argv[++i]);
    else if (a == "--warmup") warmup = std::atoi(argv[++i]);
    else if (a == "--batch") batch = std::atoll(argv[++i]);
    else if (a == "--bucket-mb") bucket_mb = std::atof(argv[++i]);
    else if (a == "--first-bucket-mb") first_bucket_mb = std::atof(argv[++i]);
    else if (a == "--overlap") overlap = std::atoi(argv[++i]);
    else return usage(argv[0]);
  }
  const int ranks = env.world_size(), rank = env.rank();
  if (steps < 1 || warmup < 0 || bucket_mb <= 0 || first_bucket_mb <= 0 || batch < ranks || batch % ranks != 0)
    return usage(argv[0]);
  set_num_threads(1);

  // The global batch of the mlp workload; this rank trains on its contiguous slice of it.
  manual_seed(0);
  Tensor x = randn({batch, 784});
  Tensor y = randint(0, 10, {batch});
  const std::int64_t local = batch / ranks;
  Tensor x_local = x.narrow(0, rank * local, local), y_local = y.narrow(0, rank * local, local);

  nn::Sequential model(std::make_shared<nn::Linear>(784, 512), std::make_shared<nn::ReLU>(),
                       std::make_shared<nn::Linear>(512, 512), std::make_shared<nn::ReLU>(),
                       std::make_shared<nn::Linear>(512, 10));
  dist::DistributedDataParallel ddp(
      model, dist::DDPOptions().bucket_cap_mb(bucket_mb).first_bucket_cap_mb(first_bucket_mb).overlap(overlap != 0));
  optim::SGD opt(model.parameters(), optim::SGDOptions(0.01).momentum(0.9));

  double backward_seconds = 0;
  auto step = [&] {
    opt.zero_grad();
    Tensor loss = cross_entropy(ddp(x_local), y_local);
    auto t0 = Clock::now();
    loss.backward();  // the gradients come out averaged across ranks
    backward_seconds += seconds_since(t0);
    opt.step();
    return loss;
  };
  for (int i = 0; i < warmup; ++i) step();
  backward_seconds = 0;
  const double wait_before = ddp.communication_wait_seconds();
  dist::barrier();
  Tensor loss;
  auto t0 = Clock::now();
  for (int i = 0; i < steps; ++i) loss = step();
  const double elapsed = max_over_ranks(seconds_since(t0));
  const double backward = max_over_ranks(backward_seconds);
  const double wait = max_over_ranks(ddp.communication_wait_seconds() - wait_before);
  // The global batch's loss: the mean of the ranks' means over equal shards.
  Tensor global_loss = loss.detach().to(kFloat64).reshape({1});
  dist::all_reduce(global_loss, dist::ReduceOp::Avg);
  if (rank == 0)
    std::printf("{\"workload\": \"mlp_ddp\", \"ranks\": %d, \"global_batch\": %lld, \"overlap\": %s, "
                "\"steps_per_s\": %.2f, \"backward_ms_per_step\": %.3f, \"comm_wait_ms_per_step\": %.3f, "
                "\"buckets\": %zu, \"loss\": %.6f}\n",
                ranks, static_cast<long long>(batch), overlap ? "true" : "false", steps / elapsed,
                backward / steps * 1e3, wait / steps * 1e3, ddp.buckets().size(), global_loss.item<double>());
  return 0;
}
