// ag's worker threads (parallel.h). A small pool rather than OpenMP: the library adds no compiler
// flag or runtime to the programs that link it, OpenBLAS here is the pthread build with a pool of
// its own (two OpenMP-style spinning pools on two cores starve each other), and the split of a
// range is fixed by the thread count alone, which keeps results reproducible.
//
// Workers wait for a job yielding their core for a while, then on a condition variable (a training
// step issues its large ops back to back, and a sleeping thread takes tens of microseconds to wake). One job
// runs at a time; a parallel_for that finds the pool busy (another user thread) runs on its own
// thread instead of waiting.

#include "ag/autograd/parallel.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "ag/autograd/error.h"
#include "ag/autograd/ops/blas.h"

namespace ag {

namespace {

thread_local bool t_in_chunk = false;  // inside a chunk, loops run serially (no nested jobs)

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

class Pool {
 public:
  static Pool& get() {
    static Pool* pool = new Pool();  // never destroyed: workers may outlive static destructors
    return *pool;
  }

  int size() {
    int n = size_.load(std::memory_order_relaxed);
    if (n == 0) {  // first use: as many threads as OpenBLAS was given (OPENBLAS_NUM_THREADS, or 1)
      std::lock_guard<std::mutex> lock(resize_mutex_);
      if (size_.load() == 0) resize_locked(blas::get_num_threads());
      n = size_.load();
    }
    return n;
  }

  void resize(int n) {
    std::lock_guard<std::mutex> lock(resize_mutex_);
    resize_locked(n);
  }

  /// Runs fn's chunks; false when the pool is busy with another thread's job (run it yourself).
  bool run(std::int64_t begin, std::int64_t end, int chunks, detail::RangeFn fn) {
    std::unique_lock<std::mutex> job_lock(job_mutex_, std::try_to_lock);
    if (!job_lock.owns_lock()) return false;
    const int workers = static_cast<int>(workers_.size());
    if (chunks - 1 > workers) chunks = workers + 1;
    if (chunks <= 1) return false;
    bool wake = false;
    Job job;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const std::uint64_t gen = generation_.load() + 1;
      job = Job{begin, end, chunks, &fn, static_cast<std::uint32_t>(gen)};
      job_ = job;
      error_ = nullptr;
      pending_.store(chunks, std::memory_order_relaxed);
      claim_.store(std::uint64_t(job.tag) << 32, std::memory_order_relaxed);
      generation_.store(gen, std::memory_order_release);
      wake = sleepers_ > 0;
    }
    if (wake) wake_.notify_all();  // waiting workers see the generation change by themselves
    // The caller takes chunks too, until none is left: a worker that is slow to come (its core
    // busy with another pool's thread) costs at worst the single-threaded time, never a wait.
    run_claimed(job);
    // Wait for the chunks the workers took: spin first (they are about done), then sleep.
    for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) {
      if (spin < kSpin) {
        cpu_relax();
        continue;
      }
      std::unique_lock<std::mutex> lock(mutex_);
      done_.wait(lock, [&] { return pending_.load(std::memory_order_acquire) == 0; });
    }
    if (error_) std::rethrow_exception(error_);
    return true;
  }

 private:
  static constexpr int kSpin = 2000;  // the caller's wait: a few microseconds of pause instructions
  static constexpr std::chrono::microseconds kWait{200};  // a worker's, yielding

  struct Job {
    std::int64_t begin = 0, end = 0;
    int chunks = 0;
    const detail::RangeFn* fn = nullptr;
    std::uint32_t tag = 0;  // its generation's low bits: claims of an older job fail
  };

  /// The next unclaimed chunk of `job`, or -1 when none is left (or `job` is over).
  int claim(const Job& job) {
    std::uint64_t cur = claim_.load(std::memory_order_acquire);
    for (;;) {
      if (static_cast<std::uint32_t>(cur >> 32) != job.tag || static_cast<int>(cur & 0xffffffffu) >= job.chunks)
        return -1;
      if (claim_.compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel)) return static_cast<int>(cur & 0xffffffffu);
    }
  }

  /// Runs chunks of `job` while there are some to claim; the last one to finish wakes the caller.
  void run_claimed(const Job& job) {
    for (int c; (c = claim(job)) >= 0;) {
      run_chunk(job, c);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mutex_);  // the caller may be asleep on done_
        done_.notify_one();
      }
    }
  }

  void resize_locked(int n) {
    AG_CHECK(n >= 1, "set_num_threads: the number of threads must be at least 1, got ", n);
    std::lock_guard<std::mutex> job_lock(job_mutex_);  // no job runs while the workers change
    if (!workers_.empty()) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
        generation_.fetch_add(1, std::memory_order_release);
      }
      wake_.notify_all();
      for (std::thread& t : workers_) t.join();
      workers_.clear();
      stop_ = false;
    }
    // A worker starts from the generation of now, not of when its thread happens to run: a job
    // posted in between is one it must take.
    const std::uint64_t now = generation_.load();
    for (int i = 1; i < n; ++i) workers_.emplace_back([this, now] { work(now); });
    size_.store(n);
  }

  /// Chunk c of the current job: the range split into equal parts, the remainder spread over the
  /// first ones, so that the split depends only on the range and the chunk count.
  void run_chunk(const Job& j, int c) {
    const std::int64_t n = j.end - j.begin, base = n / j.chunks, extra = n % j.chunks;
    const std::int64_t b = j.begin + c * base + (c < extra ? c : extra);
    const std::int64_t e = b + base + (c < extra ? 1 : 0);
    const bool outer = t_in_chunk;
    t_in_chunk = true;
    try {
      (*j.fn)(b, e);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    t_in_chunk = outer;
  }

  void work(std::uint64_t seen) {
    for (;;) {
      // Wait a while for the next job yielding the core (to OpenBLAS's threads, or anyone else's),
      // then sleep until one comes: a training step's large ops come back to back, and waking a
      // sleeping thread costs tens of microseconds here.
      std::uint64_t now = seen;
      const auto until = std::chrono::steady_clock::now() + kWait;
      for (int spin = 0; (now = generation_.load(std::memory_order_acquire)) == seen; ++spin) {
        if (spin % 64 == 63 && std::chrono::steady_clock::now() > until) break;
        std::this_thread::yield();
      }
      Job job;
      {
        // The job and its generation are read together: they change together, under the mutex.
        std::unique_lock<std::mutex> lock(mutex_);
        if (now == seen) {
          ++sleepers_;
          wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
          --sleepers_;
        }
        seen = generation_.load(std::memory_order_acquire);
        if (stop_) return;
        job = job_;
      }
      if (job.fn) run_claimed(job);
    }
  }

  std::atomic<int> size_{0};
  std::mutex resize_mutex_;  // set_num_threads against first use
  std::mutex job_mutex_;     // one job at a time
  std::mutex mutex_;         // the job's fields, error_, and the sleeps
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  Job job_;
  std::exception_ptr error_;
  std::atomic<int> pending_{0};
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<std::uint64_t> claim_{0};  // the current job's tag << 32 | its next unclaimed chunk
  bool stop_ = false;
  int sleepers_ = 0;  // workers asleep on wake_ (under mutex_)
};

}  // namespace

namespace detail {

int parallel_threads() { return t_in_chunk ? 1 : Pool::get().size(); }

void parallel_run(std::int64_t begin, std::int64_t end, int chunks, RangeFn fn) {
  if (!Pool::get().run(begin, end, chunks, fn)) fn(begin, end);
}

void set_pool_threads(int n) { Pool::get().resize(n); }

}  // namespace detail

}  // namespace ag
