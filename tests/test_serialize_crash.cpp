// Crash safety of atomic saves: a child process saving in a loop is killed with SIGKILL at 200
// random moments; after each kill the files on disk load and equal one of the saved versions.

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include "test_serialize_util.h"

using ag::Archive;
using sertest::TempDir;

namespace {

constexpr int kVersions = 6;
constexpr int kKills = 200;

/// Version k of a checkpoint: ~20 KB of tensors whose every element depends on k.
Archive version(int k) {
  Archive a;
  a.set("model.weight", ag::full({32, 64}, 0.5 + k));
  a.set("model.bias", ag::arange(256, ag::kFloat64) * static_cast<double>(k + 1));
  a.set("optim.state.0.step", ag::full({16}, k, ag::kInt64));
  a.set("version", k);
  a.set("note", std::string(static_cast<std::size_t>(100 * (k + 1)), 'a' + static_cast<char>(k)));
  return a;
}

/// Which version `a` is, or -1 if it is none of them.
int which_version(const Archive& a, const std::vector<Archive>& versions) {
  for (int k = 0; k < kVersions; ++k)
    if (sertest::same_archive(a, versions[static_cast<std::size_t>(k)])) return k;
  return -1;
}

}  // namespace

TEST(CrashSafety, SigkillDuringSavesNeverLeavesATornFile) {
  std::vector<Archive> versions;
  for (int k = 0; k < kVersions; ++k) versions.push_back(version(k));
  TempDir dir;
  const std::string bin = dir / "ckpt.ag", json = dir / "ckpt.json";
  ag::save_archive(versions[0], bin);
  ag::save_archive(versions[0], json);

  // Kill moments are spread over one and a half rounds of the child's loop (a binary and a JSON
  // save), so they land before, inside and between saves of both kinds.
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) {
    ag::save_archive(versions[1], bin);
    ag::save_archive(versions[1], json);
  }
  double save_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / 3;
  std::mt19937 rng(12345);
  std::uniform_real_distribution<double> delay_us(0, 1.5 * save_us + 500);

  int mid_save = 0;
  std::vector<int> seen(kVersions, 0);
  auto start = std::chrono::steady_clock::now();
  for (int kill = 0; kill < kKills; ++kill) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      try {
        for (int k = kill;; ++k) {
          ag::save_archive(versions[static_cast<std::size_t>(k % kVersions)], bin);
          ag::save_archive(versions[static_cast<std::size_t>((k + 3) % kVersions)], json);
        }
      } catch (...) {
        std::_Exit(3);
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(static_cast<long>(delay_us(rng))));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the saving child stopped on its own (status " << status << ")";

    for (const std::string& path : {bin, json}) {
      Archive loaded;
      ASSERT_NO_THROW(loaded = ag::load_archive(path)) << "kill " << kill << " left a bad " << path;
      int k = which_version(loaded, versions);
      ASSERT_GE(k, 0) << "kill " << kill << ": " << path << " is none of the saved versions";
      ++seen[static_cast<std::size_t>(k)];
    }
    // A leftover temporary file means the kill landed inside a save; remove it for the next round.
    for (const std::string& f : dir.files())
      if (f != "ckpt.ag" && f != "ckpt.json") {
        ++mid_save;
        ::unlink((dir / f).c_str());
      }
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%d kills in %.1f s (one binary + JSON save: %.0f us); %d landed inside a save, leaving its temporary file\n", kKills,
              seconds, save_us, mid_save);
  EXPECT_GT(mid_save, 0) << "no kill interrupted a save: the test did not test anything";
  EXPECT_LT(seconds, 30.0);
}
