#include "ag/autograd/generator.h"

#include <cmath>
#include <random>

#include "ag/autograd/error.h"

namespace ag {

namespace {

constexpr int kN = GeneratorState::kWords;
constexpr int kM = 397;

/// mt19937's seeding (Matsumoto and Nishimura's init_genrand) from the low 32 bits of `seed`.
void seed_words(GeneratorState& s, std::uint64_t seed) {
  s.words[0] = static_cast<std::uint32_t>(seed);
  for (int i = 1; i < kN; ++i)
    s.words[i] = 1812433253u * (s.words[i - 1] ^ (s.words[i - 1] >> 30)) + static_cast<std::uint32_t>(i);
  s.index = kN;
  s.seed = seed;
  s.next_normal.reset();
}

thread_local Generator* thread_default = nullptr;

}  // namespace

void Generator::Stream::twist(GeneratorState& s) {
  auto& w = s.words;
  auto mix = [](std::uint32_t upper, std::uint32_t lower) {
    std::uint32_t y = (upper & 0x80000000u) | (lower & 0x7fffffffu);
    return (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
  };
  // Word i takes word i + 397, wrapping around: past the wrap those words are already new.
  int i = 0;
  for (; i < kN - kM; ++i) w[i] = w[i + kM] ^ mix(w[i], w[i + 1]);
  for (; i < kN - 1; ++i) w[i] = w[i + kM - kN] ^ mix(w[i], w[i + 1]);
  w[kN - 1] = w[kM - 1] ^ mix(w[kN - 1], w[0]);
  s.index = 0;
}

double Generator::Stream::normal() {
  if (s_.next_normal) {
    double v = *s_.next_normal;
    s_.next_normal.reset();
    return v;
  }
  // Box-Muller: u1 gives the angle, 1 - u2 in (0, 1] the radius, as PyTorch's normal_distribution.
  double u1 = uniform_double();
  double u2 = uniform_double();
  double r = std::sqrt(-2.0 * std::log(1.0 - u2));
  double theta = 2.0 * M_PI * u1;
  s_.next_normal = r * std::sin(theta);
  return r * std::cos(theta);
}

Generator& Generator::operator=(const Generator& other) {
  if (this != &other) set_state(other.get_state());
  return *this;
}

Generator& Generator::manual_seed(std::uint64_t seed) {
  std::lock_guard<std::mutex> lock(mutex_);
  seed_words(state_, seed);
  return *this;
}

std::uint64_t Generator::seed() {
  std::random_device device;
  std::uint64_t s = (static_cast<std::uint64_t>(device()) << 32) | device();
  manual_seed(s);
  return s;
}

std::uint64_t Generator::initial_seed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return state_.seed;
}

GeneratorState Generator::get_state() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return state_;
}

Generator& Generator::set_state(const GeneratorState& state) {
  AG_CHECK(state.index >= 0 && state.index <= kN, "Generator::set_state: the word index must be in 0..", kN,
           ", got ", state.index);
  bool all_zero = true;
  for (std::uint32_t w : state.words) all_zero = all_zero && w == 0;
  AG_CHECK(!all_zero, "Generator::set_state: all 624 state words are 0, a state mt19937 never reaches "
           "(it would yield only zeros)");
  std::lock_guard<std::mutex> lock(mutex_);
  state_ = state;
  return *this;
}

std::uint32_t Generator::random() {
  return draw([](Stream& s) { return s.random(); });
}

std::uint64_t Generator::random64() {
  return draw([](Stream& s) { return s.random64(); });
}

Generator& default_generator() {
  static Generator process_default;
  return thread_default ? *thread_default : process_default;
}

Generator& manual_seed(std::uint64_t seed) { return default_generator().manual_seed(seed); }
std::uint64_t seed() { return default_generator().seed(); }
std::uint64_t initial_seed() { return default_generator().initial_seed(); }

GeneratorGuard::GeneratorGuard(Generator& gen) : previous_(thread_default) { thread_default = &gen; }
GeneratorGuard::~GeneratorGuard() { thread_default = previous_; }

}  // namespace ag
