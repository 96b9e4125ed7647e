// ddp_failure MODE: one rank (the last) fails in the middle of a training step; every rank must
// end with a clear error within DDPOptions::timeout instead of waiting forever. Run on 2 ranks by
// ddp_failure.sh, which checks what each rank printed and that the job ended in time.
//
//   stuck  the failing rank raises in the middle of backward (after its first bucket started),
//          catches the error and then stays alive without communicating: the others time out.
//   exit   the same, but the failing rank then returns from main at once.
//   skip   the failing rank raises in its model's forward, catches the error and goes on with the
//          next step: its next reduction tells the others, and every rank throws.

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "ag/autograd/autograd.h"
#include "ag/distributed/distributed.h"
#include "ag/nn/nn.h"

using namespace ag;
namespace dist = ag::distributed;

/// Linear-ReLU-Linear whose backward can be made to throw between the two layers.
struct Net : nn::Module {
  std::shared_ptr<nn::Linear> first = register_module("first", std::make_shared<nn::Linear>(4, 8));
  std::shared_ptr<nn::Linear> last = register_module("last", std::make_shared<nn::Linear>(8, 2));
  bool fail_in_forward = false, fail_in_backward = false;
  Tensor forward(const Tensor& x) override {
    Tensor h = (*first)(x);
    if (fail_in_forward) throw std::runtime_error("bad batch in forward");
    // Runs after the last layer's gradients are in, so its bucket has started.
    if (fail_in_backward) h.register_hook([](const Tensor&) -> Tensor { throw std::runtime_error("out of memory in backward"); });
    return (*last)(relu(h));
  }
};

int main(int argc, char** argv) {
  dist::Environment env(argc, argv);
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode != "stuck" && mode != "exit" && mode != "skip") {
    std::fprintf(stderr, "usage: %s stuck|exit|skip\n", argv[0]);
    return 2;
  }
  const bool failing = env.rank() == env.world_size() - 1;
  manual_seed(0);
  Net model;
  const double byte = 1.0 / (1024 * 1024);
  // Two buckets ([last.bias, last.weight], [first.bias, first.weight]); a short timeout for the test.
  dist::DistributedDataParallel ddp(
      model, dist::DDPOptions().first_bucket_cap_mb(64 * byte).bucket_cap_mb(64 * byte).timeout(std::chrono::seconds(3)));
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  for (int step = 0; step < 3; ++step) {
    try {
      Tensor x = randn({4, 4});
      model.fail_in_forward = failing && mode == "skip" && step == 0;
      model.fail_in_backward = failing && mode != "skip" && step == 1;
      ddp(x).pow(2).mean().backward();
    } catch (const dist::DistributedError& e) {
      std::printf("rank %d: DistributedError after %.1f s: %s\n", env.rank(), elapsed(), e.what());
      std::fflush(stdout);
      return 1;
    } catch (const std::exception& e) {
      std::printf("rank %d: raised at step %d: %s\n", env.rank(), step, e.what());
      std::fflush(stdout);
      if (mode == "exit") return 1;
      if (mode == "stuck") {
        std::this_thread::sleep_for(std::chrono::seconds(60));
        return 1;
      }
    }
  }
  std::printf("rank %d: finished without an error\n", env.rank());
  return 0;
}
