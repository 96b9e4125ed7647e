#pragma once
// The progress line a training run draws on a terminal, as tqdm draws its bar: redrawn at most
// every `interval` (0.1 s: ten times a second), with the loss and accuracy smoothed over the
// recent steps, the steps per second since the start, and the time left.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

namespace sentiment {

/// Throttled, smoothed progress of a run of `total` steps, of which `done` were done before it
/// started (a resumed run). The clock is passed in, so a test can drive it.
///
///     ProgressLine bar(840, 0, clock::now());
///     for (...) {
///       bar.step(loss, acc);
///       if (bar.due(clock::now())) std::printf("\r%s", bar.line(epoch, epochs, clock::now()).c_str());
///     }
class ProgressLine {
 public:
  using Clock = std::chrono::steady_clock;

  ProgressLine(std::int64_t total, std::int64_t done, Clock::time_point start,
               Clock::duration interval = std::chrono::milliseconds(100))
      : total_(total), done_(done), first_(done), start_(start), interval_(interval) {}

  /// Records one step's loss and accuracy in the moving averages (tqdm's exponential smoothing,
  /// with the start-up bias corrected as Adam does, so the first steps are not pulled towards 0).
  void step(double loss, double acc) {
    ++done_;
    ++seen_;
    loss_ = kBeta * loss_ + (1 - kBeta) * loss;
    acc_ = kBeta * acc_ + (1 - kBeta) * acc;
  }

  /// Whether the line should be redrawn at `now`: on the first call, and then once `interval`
  /// has passed since the last redraw. A true answer counts as a redraw.
  bool due(Clock::time_point now) {
    if (drawn_ && now - last_ < interval_) return false;
    drawn_ = true;
    last_ = now;
    return true;
  }

  double loss() const { return seen_ ? loss_ / (1 - std::pow(kBeta, static_cast<double>(seen_))) : 0.0; }
  double accuracy() const { return seen_ ? acc_ / (1 - std::pow(kBeta, static_cast<double>(seen_))) : 0.0; }
  /// Steps per second of this run so far (0 before a measurable time has passed).
  double rate(Clock::time_point now) const {
    double s = std::chrono::duration<double>(now - start_).count();
    return s > 0 ? static_cast<double>(done_ - first_) / s : 0.0;
  }

  /// "epoch 3/30  step 84/840  loss 0.1234  acc 0.969  41000 steps/s  ETA 0:02"
  std::string line(std::int64_t epoch, std::int64_t epochs, Clock::time_point now) const {
    double r = rate(now);
    std::string eta = r > 0 ? clock_text(static_cast<double>(total_ - done_) / r) : "?";
    char buf[160];
    std::snprintf(buf, sizeof buf, "epoch %lld/%lld  step %lld/%lld  loss %.4f  acc %.3f  %.0f steps/s  ETA %s",
                  static_cast<long long>(epoch), static_cast<long long>(epochs), static_cast<long long>(done_),
                  static_cast<long long>(total_), loss(), accuracy(), r, eta.c_str());
    return buf;
  }

  /// Seconds as tqdm shows them: "m:ss", or "h:mm:ss" from an hour.
  static std::string clock_text(double seconds) {
    auto s = static_cast<long long>(std::llround(std::max(0.0, seconds)));
    char buf[32];
    if (s >= 3600) std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
    else std::snprintf(buf, sizeof buf, "%lld:%02lld", s / 60, s % 60);
    return buf;
  }

 private:
  static constexpr double kBeta = 0.9;  // weight of the past in the moving averages
  std::int64_t total_, done_, first_, seen_ = 0;
  double loss_ = 0, acc_ = 0;
  Clock::time_point start_, last_{};
  Clock::duration interval_;
  bool drawn_ = false;
};

}  // namespace sentiment
