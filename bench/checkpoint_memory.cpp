// The memory that activation checkpointing saves: a 32-layer MLP (width 1024, batch 256) trained
// one step plainly and with nn::checkpoint_sequential(..., 8), each in a child process of its own,
// so that each peak resident set is its own. Activations are the peak minus what the model,
// its gradients and the batch hold before the step.
//
//   build/bench/checkpoint_memory

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "ag/ag.h"

using namespace ag;
namespace nn = ag::nn;

namespace {

double rss_mb() {  // current resident set, from /proc
  std::ifstream f("/proc/self/statm");
  long pages = 0, resident = 0;
  f >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}
double peak_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

void run(bool checkpointed, int out_fd) {
  manual_seed(0);
  auto net = std::make_shared<nn::Sequential>();
  for (int i = 0; i < 32; ++i) {
    net->push_back(std::make_shared<nn::Linear>(1024, 1024));
    net->push_back(std::make_shared<nn::ReLU>());
  }
  Tensor x = randn({256, 1024});
  for (Tensor& p : net->parameters()) p.set_grad(zeros_like(p));  // gradients exist before the step
  const double before = rss_mb();
  auto t0 = std::chrono::steady_clock::now();
  Tensor y = checkpointed ? nn::checkpoint_sequential(*net, 8, x) : (*net)(x);
  y.pow(2).mean().backward();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  char line[256];
  int n = std::snprintf(line, sizeof line,
                        "{\"mode\": \"%s\", \"rss_before_step_mb\": %.1f, \"peak_rss_mb\": %.1f, "
                        "\"activations_mb\": %.1f, \"step_s\": %.3f}\n",
                        checkpointed ? "checkpoint_sequential(8)" : "plain", before, peak_mb(), peak_mb() - before,
                        seconds);
  if (write(out_fd, line, static_cast<std::size_t>(n)) != n) _exit(1);
}

}  // namespace

int main() {
  set_num_threads(1);
  for (bool checkpointed : {false, true}) {
    int fds[2];
    if (pipe(fds) != 0) return 1;
    pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      run(checkpointed, fds[1]);
      _exit(0);
    }
    close(fds[1]);
    char buf[512];
    ssize_t got = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (got <= 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
    buf[got] = 0;
    std::fputs(buf, stdout);
  }
  return 0;
}
