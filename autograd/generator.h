#pragma once
// Random numbers as PyTorch 1.13 draws them on the CPU: the same engine (mt19937, seeded with the
// low 32 bits of the seed), the same transforms and the same cache of the second Box-Muller value,
// so that the same seed and the same calls give PyTorch's numbers.
//
// Threads. As in PyTorch there is one process-wide default generator, and every draw from a
// generator holds its lock: a tensor's values are always one unbroken run of its stream, whatever
// other threads do. Threads drawing from one generator get their runs in the order the scheduler
// lets them in, so their numbers are repeatable only if the threads take turns. For repeatable
// numbers in threads, give each thread its own Generator: pass it to the calls that take one, or
// install it for the thread with a GeneratorGuard, which also covers the calls that take none
// (layer constructors, Dropout).

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>

namespace ag {

/// Everything a Generator's future numbers depend on. Restoring it replays the same numbers.
///
///     ag::GeneratorState s = gen.get_state();
///     auto a = ag::randn({3}, {}, &gen);
///     gen.set_state(s);
///     auto b = ag::randn({3}, {}, &gen);   // equal to a
struct GeneratorState {
  static constexpr int kWords = 624;
  /// mt19937's state words and the index of the next one to use (kWords: twist first).
  std::array<std::uint32_t, kWords> words{};
  std::int32_t index = kWords;
  /// The seed it was last seeded with (initial_seed()).
  std::uint64_t seed = 0;
  /// The second value of the last Box-Muller pair of the one-at-a-time normal path, not yet used.
  std::optional<double> next_normal;
};

/// A random number generator with PyTorch's CPU stream: ag::Generator(s) and torch.Generator()
/// seeded with s give the same rand, randn, randint, randperm, normal_, uniform_, bernoulli_ and
/// dropout values. ag::rand/randn/... and the nn initialisers draw from the default generator
/// unless given one.
///
///     ag::Generator gen(42);
///     auto a = ag::randn({2, 3}, {}, &gen);
///     ag::manual_seed(1);               // seeds the default generator, like torch.manual_seed
class Generator {
 public:
  /// PyTorch's default seed (torch.Generator().initial_seed()).
  static constexpr std::uint64_t kDefaultSeed = 67280421310721ULL;

  explicit Generator(std::uint64_t seed = kDefaultSeed) { manual_seed(seed); }
  Generator(const Generator& other) : state_(other.get_state()) {}
  Generator& operator=(const Generator& other);

  /// Restarts the stream from `seed` (only its low 32 bits reach the engine, as in PyTorch) and
  /// forgets the cached normal value.
  Generator& manual_seed(std::uint64_t seed);
  /// Seeds from the operating system's entropy and returns the seed, like torch.Generator.seed().
  std::uint64_t seed();
  /// The seed it was last seeded with.
  std::uint64_t initial_seed() const;
  GeneratorState get_state() const;
  /// Throws std::invalid_argument for a state no mt19937 can be in (index outside 0..624, all words 0).
  Generator& set_state(const GeneratorState& state);

  /// The next 32-bit output of the engine.
  std::uint32_t random();
  /// Two outputs as one 64-bit number: (first << 32) | second, as PyTorch's random64().
  std::uint64_t random64();

  /// The stream as a fill sees it: draws through it come from the generator while the fill holds
  /// the generator's lock (see draw()).
  class Stream {
   public:
    std::uint32_t random() {
      if (s_.index >= GeneratorState::kWords) twist(s_);
      std::uint32_t y = s_.words[static_cast<std::size_t>(s_.index++)];
      y ^= y >> 11;  // mt19937's tempering
      y ^= (y << 7) & 0x9d2c5680u;
      y ^= (y << 15) & 0xefc60000u;
      return y ^ (y >> 18);
    }
    std::uint64_t random64() {
      std::uint64_t hi = random();
      return (hi << 32) | random();
    }
    /// PyTorch's uniform doubles on [0, 1): the low 53 bits of random64() times 2^-53.
    double uniform_double() { return static_cast<double>(random64() & ((std::uint64_t{1} << 53) - 1)) * 0x1.0p-53; }
    /// PyTorch's uniform floats on [0, 1): the low 24 bits of random() times 2^-24.
    float uniform_float() { return static_cast<float>(random() & ((1u << 24) - 1)) * 0x1.0p-24f; }
    /// A standard normal from the one-at-a-time path: the cached value if there is one, else a
    /// new Box-Muller pair whose second value is cached.
    double normal();

   private:
    friend class Generator;
    explicit Stream(GeneratorState& s) : s_(s) {}
    /// Regenerates all 624 words and restarts at the first.
    static void twist(GeneratorState& s);
    GeneratorState& s_;
  };

  /// Runs fn(stream) holding the generator's lock, so that everything fn draws is one unbroken
  /// run of the stream, and returns what fn returns.
  ///
  ///     float u = gen.draw([](ag::Generator::Stream& s) { return s.uniform_float(); });
  template <class Fn>
  decltype(auto) draw(Fn&& fn) {
    std::lock_guard<std::mutex> lock(mutex_);
    Stream stream(state_);
    return fn(stream);
  }

 private:
  mutable std::mutex mutex_;
  GeneratorState state_;
};

/// The calling thread's default generator: the one a GeneratorGuard installed, else the
/// process-wide default generator (PyTorch's torch.default_generator).
Generator& default_generator();
/// Seeds the default generator, like torch.manual_seed.
Generator& manual_seed(std::uint64_t seed);
/// Seeds the default generator from the operating system's entropy and returns the seed (torch.seed()).
std::uint64_t seed();
/// The seed the default generator was last seeded with (torch.initial_seed()).
std::uint64_t initial_seed();

/// Makes `gen` the calling thread's default generator until the guard goes out of scope: every
/// draw of this thread that names no generator (ag::rand, layer initialisers, dropout,
/// manual_seed, a DataLoader's shuffle) uses it. Guards nest; other threads are not affected.
///
///     std::thread worker([] {
///       ag::Generator gen(7);
///       ag::GeneratorGuard guard(gen);
///       nn::Linear layer(4, 2);          // the same weights on every run, whatever other threads draw
///     });
class GeneratorGuard {
 public:
  explicit GeneratorGuard(Generator& gen);
  ~GeneratorGuard();
  GeneratorGuard(const GeneratorGuard&) = delete;
  GeneratorGuard& operator=(const GeneratorGuard&) = delete;

 private:
  Generator* previous_;
};

}  // namespace ag
