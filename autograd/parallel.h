#pragma once
// ag's threads for its own loops (large elementwise ops, reductions along a dimension, optimizer
// steps): a small pool of workers that set_num_threads sizes, as ATen's at::parallel_for.
//
// A loop is split into as many contiguous chunks as there are threads, the calling thread taking
// the first: chunks depend only on the range and the thread count, and each element is computed by
// the same code whatever chunk it falls in, so elementwise results equal the single-threaded ones.
// Short ranges (fewer than 2 * grain_size), one thread, and calls from inside a chunk run on the
// calling thread with no hand-off at all.

#include <cstdint>
#include <type_traits>
#include <utility>

namespace ag {

/// Elements of a cheap elementwise loop below which ag keeps it on one thread (from twice as many
/// it is split): ~10 microseconds of work, several times a hand-off to a waiting worker.
constexpr std::int64_t kGrainSize = 32768;

namespace detail {

/// A non-owning reference to a callable void(int64_t, int64_t): what the pool runs.
class RangeFn {
 public:
  template <class F>
  explicit RangeFn(const F& f)
      : obj_(&f), call_([](const void* o, std::int64_t b, std::int64_t e) { (*static_cast<const F*>(o))(b, e); }) {}
  void operator()(std::int64_t b, std::int64_t e) const { call_(obj_, b, e); }

 private:
  const void* obj_;
  void (*call_)(const void*, std::int64_t, std::int64_t);
};

/// The threads a parallel_for of this thread may use now: 1 inside a chunk, else the pool's size.
int parallel_threads();
/// Runs fn over [begin, end) in `chunks` contiguous chunks at once; the first exception thrown by
/// a chunk is rethrown here once every chunk has finished.
void parallel_run(std::int64_t begin, std::int64_t end, int chunks, RangeFn fn);
/// Sizes the pool (set_num_threads calls it): n - 1 workers besides the calling thread.
void set_pool_threads(int n);

}  // namespace detail

/// Calls f(b, e) for contiguous chunks [b, e) covering [begin, end), on ag's threads when the range
/// is long enough (at least 2 * grain_size elements) and set_num_threads gave more than one.
///
///     ag::parallel_for(0, n, 32768, [&](std::int64_t b, std::int64_t e) {
///       for (std::int64_t i = b; i < e; ++i) y[i] = 2 * x[i];
///     });
template <class F>
void parallel_for(std::int64_t begin, std::int64_t end, std::int64_t grain_size, const F& f) {
  const std::int64_t n = end - begin;
  if (n <= 0) return;
  if (grain_size < 1) grain_size = 1;
  if (n < 2 * grain_size) {
    f(begin, end);
    return;
  }
  const int threads = detail::parallel_threads();
  if (threads <= 1) {
    f(begin, end);
    return;
  }
  const std::int64_t most = n / grain_size;  // every chunk holds at least grain_size elements
  const int chunks = static_cast<int>(most < threads ? most : threads);
  detail::parallel_run(begin, end, chunks, detail::RangeFn(f));
}

}  // namespace ag
