#pragma once
// Random numbers: a seedable, serialisable generator (xoshiro256**), so runs are repeatable.

#include <cstdint>
#include <mutex>

namespace ag {

/// The full state of a Generator, for checkpoints: restoring it replays the same numbers.
struct GeneratorState {
  std::uint64_t s[4] = {0, 0, 0, 0};
  std::uint64_t seed = 0;
  bool has_spare_normal = false;
  double spare_normal = 0.0;
};

/// A random number generator. ag::rand/randn/randint and the nn initialisers draw from the
/// default one unless given another. Thread-safe: each fill takes a lock.
///
///     ag::Generator gen(42);
///     auto a = ag::randn({2, 3}, {}, &gen);
///     ag::manual_seed(1);               // seeds the default generator
class Generator {
 public:
  static constexpr std::uint64_t kDefaultSeed = 67280421310721ULL;

  explicit Generator(std::uint64_t seed = kDefaultSeed) { manual_seed(seed); }
  Generator(const Generator& other) : state_(other.get_state()) {}
  Generator& operator=(const Generator& other) {
    if (this != &other) set_state(other.get_state());
    return *this;
  }

  void manual_seed(std::uint64_t seed);
  std::uint64_t initial_seed() const;
  GeneratorState get_state() const;
  void set_state(const GeneratorState& state);

  /// A uniform 64-bit integer.
  std::uint64_t random();
  /// Uniform on [from, to).
  double uniform(double from = 0.0, double to = 1.0);
  /// Normal with the given mean and standard deviation.
  double normal(double mean = 0.0, double std = 1.0);

  template <class T>
  void fill_uniform(T* out, std::int64_t n, double from, double to);
  template <class T>
  void fill_normal(T* out, std::int64_t n, double mean, double std);
  /// Integers uniform on [low, high).
  template <class T>
  void fill_randint(T* out, std::int64_t n, std::int64_t low, std::int64_t high);

 private:
  std::uint64_t next();     // caller holds the lock
  double next_double();     // [0, 1)
  double next_normal();     // standard normal, Box-Muller

  mutable std::mutex mutex_;
  GeneratorState state_;
};

/// The process-wide default generator.
Generator& default_generator();
/// Seeds the default generator, like torch.manual_seed.
void manual_seed(std::uint64_t seed);

}  // namespace ag
