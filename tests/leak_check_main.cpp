// leak_check: trains the sentiment model for a number of steps, for the leak and soak tests.
//
//   leak_check [--steps N]     train N steps (default 1000) on the main thread and, at the same
//                              time, another model on a second thread (whose thread-local block
//                              pool is released when it exits); ctest runs this under valgrind
//                              memcheck, which must report 0 bytes definitely or indirectly lost
//   leak_check --soak [N]      train N steps (default 100,000) and fail unless the resident set
//                              grows by less than 1 MiB after the warm-up
//   leak_check --skip WHY      print WHY and exit 77, ctest's "skipped" (no valgrind here)
//
// Both modes also check that no graph node outlives its step (Node::live_count).

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "sentiment_model.h"

namespace {

constexpr int kSkipped = 77;

/// The resident set size of this process in KiB (VmRSS in /proc/self/status), or -1.
long rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return -1;
}

int train(long steps) {
  const std::int64_t nodes_before = ag::Node::live_count();
  float loss = 0, other_loss = 0;
  std::thread other([&] {
    sentiment::Trainer t(2);
    for (long i = 0; i < steps; ++i) other_loss = t.step();
  });
  {
    sentiment::Trainer t(1);
    for (long i = 0; i < steps; ++i) loss = t.step();
  }
  other.join();
  std::printf("leak_check: %ld steps on two threads, last losses %.4f and %.4f\n", steps, loss, other_loss);
  if (ag::Node::live_count() != nodes_before) {
    std::printf("leak_check: %lld graph nodes outlived training\n",
                static_cast<long long>(ag::Node::live_count() - nodes_before));
    return 1;
  }
  return 0;
}

// The warm-up: everything that legitimately grows does so in the first steps and then stays —
// Adam's state (made by the first step), OpenBLAS's buffers (first gemm), the thread-local pool's
// caches (its small-block free lists fill to the most blocks of each size that one step has free
// at once, far below the 4096-per-size cap for this model, and its big-block cache to the buffers
// one step frees; a step's allocations repeat exactly, so the next step takes them all back) and
// malloc's arenas. The RSS printed at 1, 10, 100 and 1,000 steps shows the plateau is reached
// within the first few steps; measuring from step 1,000 leaves 99,000 in which growth means a leak.
int soak(long steps) {
  const long warmup = 1000;
  if (steps <= warmup) {
    std::printf("leak_check --soak: needs more than %ld steps\n", warmup);
    return 2;
  }
  const std::int64_t nodes_before = ag::Node::live_count();
  sentiment::Trainer t(1);
  std::vector<std::pair<long, long>> samples;  // (step, KiB)
  long after_warmup = -1, peak_after = 0;
  float loss = 0;
  for (long i = 1; i <= steps; ++i) {
    loss = t.step();
    if (i == 1 || i == 10 || i == 100) samples.emplace_back(i, rss_kib());
    if (i == warmup) after_warmup = rss_kib();
    if (i >= warmup && i % 1000 == 0) {
      long now = rss_kib();
      if (now > peak_after) peak_after = now;
      if (i % 25000 == 0) samples.emplace_back(i, now);
    }
  }
  const long end = rss_kib(), growth = peak_after - after_warmup;
  std::printf("leak_check --soak: %ld steps, last loss %.4f; VmRSS", steps, loss);
  for (auto [step, kib] : samples) std::printf(" %ld: %ld KiB,", step, kib);
  std::printf(" after the %ld-step warm-up: %ld KiB, peak after it: %ld KiB, at the end: %ld KiB; growth %ld KiB\n",
              warmup, after_warmup, peak_after, end, growth);
  if (after_warmup < 0) {
    std::printf("leak_check --soak: cannot read VmRSS from /proc/self/status\n");
    return 2;
  }
  if (ag::Node::live_count() != nodes_before) {  // the trainer is alive but keeps no graph between steps
    std::printf("leak_check --soak: %lld graph nodes outlive their step\n",
                static_cast<long long>(ag::Node::live_count() - nodes_before));
    return 1;
  }
  if (growth >= 1024) {
    std::printf("leak_check --soak: FAIL, the resident set grew by %ld KiB (limit 1024)\n", growth);
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "--skip") == 0) {
    std::printf("leak_check: skipped: %s\n", argc >= 3 ? argv[2] : "");
    return kSkipped;
  }
  if (argc >= 2 && std::strcmp(argv[1], "--soak") == 0) return soak(argc >= 3 ? std::atol(argv[2]) : 100000);
  if (argc >= 3 && std::strcmp(argv[1], "--steps") == 0) return train(std::atol(argv[2]));
  if (argc == 1) return train(1000);
  std::fprintf(stderr, "usage: %s [--steps N | --soak [N] | --skip WHY]\n", argv[0]);
  return 2;
}
