// Threads: ag has no global state that training touches (grad mode, the small-block pool and the
// engine's scratch counters are per thread; every draw from a generator holds its lock, and a
// GeneratorGuard gives a thread a default generator of its own; the live-node counter is
// atomic), so independent models can train on separate threads at once. These tests show it, and
// are the ones the ThreadSanitizer build (`cmake --preset tsan`) is there to watch.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "sentiment_model.h"

using namespace ag;

namespace {

/// What one training run leaves behind: every step's loss and the final parameters.
struct TrainingRun {
  std::vector<float> losses;
  std::vector<std::vector<float>> params;
};

TrainingRun train(std::uint64_t seed, int steps) {
  sentiment::Trainer t(seed);
  TrainingRun r;
  for (int i = 0; i < steps; ++i) r.losses.push_back(t.step());
  for (const Tensor& p : t.model.parameters()) r.params.push_back(p.to_vector<float>());
  return r;
}

/// Bit-for-bit equality (NaN-safe, unlike ==).
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

/// Lets N threads start their work at the same moment.
class StartLine {
 public:
  explicit StartLine(int n) : waiting_(n) {}
  void arrive_and_wait() {
    std::unique_lock<std::mutex> lock(m_);
    if (--waiting_ == 0) cv_.notify_all();
    else cv_.wait(lock, [&] { return waiting_ == 0; });
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  int waiting_;
};

}  // namespace

TEST(ThreadSafety, TwoModelsTrainedAtOnceMatchTheSameTrainedOneAfterTheOther) {
  const int steps = 200;
  TrainingRun a_alone = train(11, steps);
  TrainingRun b_alone = train(22, steps);

  TrainingRun a_together, b_together;
  StartLine start(2);
  std::thread ta([&] { start.arrive_and_wait(); a_together = train(11, steps); });
  std::thread tb([&] { start.arrive_and_wait(); b_together = train(22, steps); });
  ta.join();
  tb.join();

  EXPECT_TRUE(same_bits(a_together.losses, a_alone.losses));
  EXPECT_TRUE(same_bits(b_together.losses, b_alone.losses));
  ASSERT_EQ(a_together.params.size(), 3u);  // emb.weight, fc.weight, fc.bias
  ASSERT_EQ(b_together.params.size(), a_together.params.size());
  for (std::size_t i = 0; i < a_alone.params.size(); ++i) {
    EXPECT_TRUE(same_bits(a_together.params[i], a_alone.params[i])) << "parameter " << i << " of model a";
    EXPECT_TRUE(same_bits(b_together.params[i], b_alone.params[i])) << "parameter " << i << " of model b";
  }
  // The two seeds give two different models: the comparison above is not trivially true.
  EXPECT_FALSE(same_bits(a_alone.params[0], b_alone.params[0]));
  // And training did something.
  EXPECT_LT(a_alone.losses.back(), a_alone.losses.front());
}

TEST(ThreadSafety, NoGradGuardOnOneThreadLeavesAnotherRecording) {
  // Thread A evaluates under NoGradGuard while thread B trains: B's steps must still record
  // graphs, A's forward passes must not, however the two interleave.
  const int rounds = 100;
  StartLine start(2);
  std::atomic<int> a_recorded{0}, b_unrecorded{0};
  std::thread a([&] {
    sentiment::Trainer t(5);
    NoGradGuard no_grad;
    start.arrive_and_wait();
    for (int i = 0; i < rounds; ++i) {
      sentiment::Batch batch = sentiment::make_batch(t.gen);
      if (t.model(batch.tokens).requires_grad()) ++a_recorded;
    }
  });
  std::thread b([&] {
    sentiment::Trainer t(6);
    start.arrive_and_wait();
    for (int i = 0; i < rounds; ++i) {
      sentiment::Batch batch = sentiment::make_batch(t.gen);
      Tensor loss = cross_entropy(t.model(batch.tokens), batch.labels);
      if (!loss.requires_grad() || !loss.grad_fn()) {
        ++b_unrecorded;
        continue;
      }
      t.opt.zero_grad();
      loss.backward();
      t.opt.step();
    }
  });
  a.join();
  b.join();
  EXPECT_EQ(a_recorded.load(), 0);
  EXPECT_EQ(b_unrecorded.load(), 0);
  EXPECT_TRUE(GradMode::is_enabled());  // this thread's mode was never touched
}

TEST(ThreadSafety, DefaultGeneratorSharedByTwoThreadsHandsOutEachDrawOnce) {
  // Each fill takes the generator's lock, so two threads drawing at once split one sequence
  // between them: together they get exactly the numbers one thread would have drawn.
  const int fills = 200, n = 16;
  manual_seed(123);
  std::vector<double> one_thread = rand({2 * fills * n}, kFloat64).to_vector<double>();

  manual_seed(123);
  std::vector<double> got[2];
  StartLine start(2);
  auto draw = [&](int k) {
    start.arrive_and_wait();
    for (int i = 0; i < fills; ++i) {
      std::vector<double> v = rand({n}, kFloat64).to_vector<double>();
      got[k].insert(got[k].end(), v.begin(), v.end());
    }
  };
  std::thread t0(draw, 0), t1(draw, 1);
  t0.join();
  t1.join();
  std::vector<double> both = got[0];
  both.insert(both.end(), got[1].begin(), got[1].end());
  std::sort(both.begin(), both.end());
  std::sort(one_thread.begin(), one_thread.end());
  EXPECT_EQ(both, one_thread);
}

TEST(ThreadSafety, EachFillFromASharedGeneratorIsOneUnbrokenRunOfItsStream) {
  // The lock is held for a whole tensor: every fill of one thread is one of the single thread's
  // fills (a normal block, 32 uniforms turned into normals, included), never a mix of two.
  const int fills = 300, n = 32;
  manual_seed(9);
  std::vector<std::vector<float>> slots;
  for (int i = 0; i < 2 * fills; ++i) slots.push_back(randn({n}).to_vector<float>());
  std::sort(slots.begin(), slots.end());

  manual_seed(9);
  std::vector<std::vector<float>> got[2];
  StartLine start(2);
  auto draw = [&](int k) {
    start.arrive_and_wait();
    for (int i = 0; i < fills; ++i) got[k].push_back(randn({n}).to_vector<float>());
  };
  std::thread t0(draw, 0), t1(draw, 1);
  t0.join();
  t1.join();
  std::vector<std::vector<float>> both = got[0];
  both.insert(both.end(), got[1].begin(), got[1].end());
  std::sort(both.begin(), both.end());
  EXPECT_EQ(both, slots);
}

TEST(ThreadSafety, AGeneratorGuardGivesEachThreadItsOwnRepeatableStream) {
  // Layers, dropout and ag::rand without a generator draw from the thread's guarded generator:
  // each thread gets what it gets alone, whatever the other does, and the process-wide default
  // generator is left alone.
  auto work = [](std::uint64_t seed) {
    Generator gen(seed);
    GeneratorGuard guard(gen);
    nn::Linear layer(6, 4);
    std::vector<float> out;
    for (int i = 0; i < 50; ++i) {
      Tensor y = nn::functional::dropout(layer(rand({3, 6})), 0.3, true);
      std::vector<float> v = y.detach().to_vector<float>();
      out.insert(out.end(), v.begin(), v.end());
    }
    return out;
  };
  const std::vector<float> alone1 = work(1), alone2 = work(2);
  manual_seed(5);
  const GeneratorState before = default_generator().get_state();
  std::vector<float> got1, got2;
  StartLine start(2);
  std::thread t1([&] { start.arrive_and_wait(); got1 = work(1); });
  std::thread t2([&] { start.arrive_and_wait(); got2 = work(2); });
  t1.join();
  t2.join();
  EXPECT_EQ(got1, alone1);
  EXPECT_EQ(got2, alone2);
  EXPECT_EQ(default_generator().get_state().words, before.words);
  EXPECT_EQ(default_generator().get_state().index, before.index);
}

TEST(ThreadSafety, GeneratorGuardsNestAndEndWithTheirScope) {
  Generator outer(1), inner(2);
  EXPECT_NE(&default_generator(), &outer);
  {
    GeneratorGuard a(outer);
    EXPECT_EQ(&default_generator(), &outer);
    {
      GeneratorGuard b(inner);
      EXPECT_EQ(&default_generator(), &inner);
      manual_seed(77);  // seeds the thread's default: inner
    }
    EXPECT_EQ(&default_generator(), &outer);
  }
  EXPECT_NE(&default_generator(), &outer);
  EXPECT_EQ(inner.initial_seed(), 77u);
  EXPECT_EQ(outer.initial_seed(), 1u);
}

TEST(ThreadSafety, TensorsMadeOnOneThreadCanBeFreedOnAnother) {
  // Small blocks come from a per-thread pool; a block freed on another thread joins that
  // thread's lists. Hand tensors and whole graphs from a producer to a consumer that drops them.
  const int count = 2000;
  std::vector<Tensor> made;
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  std::int64_t consumed_sum = 0;
  const std::int64_t nodes_before = Node::live_count();
  std::thread consumer([&] {
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return done; });
    for (Tensor& t : made) consumed_sum += static_cast<std::int64_t>(t.sum().item<double>());
    made.clear();  // frees on this thread what the producer allocated
  });
  std::thread producer([&] {
    std::vector<Tensor> local;
    for (int i = 0; i < count; ++i) {
      Tensor w = ones({3}, requires_grad());
      local.push_back(w * 2 + 1);  // [3, 3, 3] with a graph of two nodes
    }
    std::lock_guard<std::mutex> lock(m);
    made = std::move(local);
    done = true;
    cv.notify_all();
  });
  producer.join();
  consumer.join();
  EXPECT_EQ(consumed_sum, 9 * count);
  EXPECT_EQ(Node::live_count(), nodes_before);
}

TEST(ThreadSafety, LiveNodeCountReturnsToItsStartAfterGraphsOnTwoThreads) {
  const std::int64_t before = Node::live_count();
  auto work = [] {
    Tensor x = ones({4}, requires_grad());
    for (int i = 0; i < 500; ++i) {
      Tensor y = (x * x).sum();
      y.backward();
    }
  };
  std::thread t0(work), t1(work);
  t0.join();
  t1.join();
  EXPECT_EQ(Node::live_count(), before);
}
