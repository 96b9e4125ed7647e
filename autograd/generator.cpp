#include "ag/autograd/generator.h"

#include <cmath>

#include "ag/autograd/error.h"

namespace ag {

namespace {
std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

void Generator::manual_seed(std::uint64_t seed) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::uint64_t x = seed;
  for (auto& word : state_.s) word = splitmix64(x);
  state_.seed = seed;
  state_.has_spare_normal = false;
  state_.spare_normal = 0.0;
}

std::uint64_t Generator::initial_seed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return state_.seed;
}

GeneratorState Generator::get_state() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return state_;
}

void Generator::set_state(const GeneratorState& state) {
  AG_CHECK(state.s[0] | state.s[1] | state.s[2] | state.s[3], "Generator::set_state: an all-zero state is invalid");
  std::lock_guard<std::mutex> lock(mutex_);
  state_ = state;
}

// xoshiro256** (Blackman & Vigna): 256 bits of state, period 2^256 - 1.
std::uint64_t Generator::next() {
  auto& s = state_.s;
  std::uint64_t result = rotl(s[1] * 5, 7) * 9;
  std::uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double Generator::next_double() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

double Generator::next_normal() {
  if (state_.has_spare_normal) {
    state_.has_spare_normal = false;
    return state_.spare_normal;
  }
  // Box-Muller on (0, 1] x [0, 1): one draw gives two independent normals.
  double u1 = 1.0 - next_double();
  double u2 = next_double();
  double r = std::sqrt(-2.0 * std::log(u1));
  double theta = 2.0 * M_PI * u2;
  state_.spare_normal = r * std::sin(theta);
  state_.has_spare_normal = true;
  return r * std::cos(theta);
}

std::uint64_t Generator::random() {
  std::lock_guard<std::mutex> lock(mutex_);
  return next();
}

double Generator::uniform(double from, double to) {
  std::lock_guard<std::mutex> lock(mutex_);
  return from + (to - from) * next_double();
}

double Generator::normal(double mean, double std) {
  std::lock_guard<std::mutex> lock(mutex_);
  return mean + std * next_normal();
}

template <class T>
void Generator::fill_uniform(T* out, std::int64_t n, double from, double to) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (std::int64_t i = 0; i < n; ++i) {
    T v = static_cast<T>(from + (to - from) * next_double());
    // Rounding to float may land on `to`; keep the interval half-open.
    out[i] = (v >= static_cast<T>(to) && to > from) ? static_cast<T>(from) : v;
  }
}

template <class T>
void Generator::fill_normal(T* out, std::int64_t n, double mean, double std) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (std::int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(mean + std * next_normal());
}

template <class T>
void Generator::fill_randint(T* out, std::int64_t n, std::int64_t low, std::int64_t high) {
  AG_CHECK(high > low, "randint: expected low < high, got low=", low, " high=", high);
  std::lock_guard<std::mutex> lock(mutex_);
  // In unsigned arithmetic: high - low may exceed INT64_MAX (randint(INT64_MIN, INT64_MAX)).
  const auto base = static_cast<std::uint64_t>(low);
  const auto range = static_cast<unsigned __int128>(static_cast<std::uint64_t>(high) - base);
  for (std::int64_t i = 0; i < n; ++i)
    out[i] = static_cast<T>(static_cast<std::int64_t>(base + static_cast<std::uint64_t>((next() * range) >> 64)));
}

#define AG_INSTANTIATE(T)                                                             \
  template void Generator::fill_uniform<T>(T*, std::int64_t, double, double);        \
  template void Generator::fill_normal<T>(T*, std::int64_t, double, double);         \
  template void Generator::fill_randint<T>(T*, std::int64_t, std::int64_t, std::int64_t);
AG_INSTANTIATE(float)
AG_INSTANTIATE(double)
AG_INSTANTIATE(std::int64_t)
#undef AG_INSTANTIATE

Generator& default_generator() {
  static Generator gen;
  return gen;
}

void manual_seed(std::uint64_t seed) { default_generator().manual_seed(seed); }

}  // namespace ag
