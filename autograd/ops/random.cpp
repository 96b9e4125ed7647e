// Random tensors and in-place random fills, value for value PyTorch 1.13's CPU kernels. Each
// draws from `gen` or the calling thread's default generator and holds the generator's lock for
// the whole tensor, so a tensor's values are one unbroken run of the stream.
//
// PyTorch's AVX2 build of these kernels fuses every multiply-add (GCC's FMA contraction): each
// a * b + c of theirs is std::fma here, which gives the same bits.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "ag/autograd/generator.h"
#include "ag/autograd/node.h"
#include "ag/autograd/ops.h"
#include "ag/autograd/ops/inplace.h"
#include "ag/autograd/tensor_impl.h"

namespace ag {

namespace {

Generator& pick(Generator* gen) { return gen ? *gen : default_generator(); }

void check_fill(const Tensor& self, const char* op) {
  AG_CHECK(self.defined(), op, ": the tensor is undefined");
  detail::check_inplace(self, op, needs_grad(self));
}

/// `t` with its dims ordered by stride, largest first: walking it row-major visits t's elements
/// in the order of their addresses, as PyTorch's serial kernels fill a non-contiguous output.
Tensor in_memory_order(const Tensor& t) {
  std::vector<std::int64_t> dims(static_cast<std::size_t>(t.dim()));
  for (std::size_t d = 0; d < dims.size(); ++d) dims[d] = static_cast<std::int64_t>(d);
  std::stable_sort(dims.begin(), dims.end(), [&](std::int64_t a, std::int64_t b) { return t.stride(a) > t.stride(b); });
  NoGradGuard no_grad;
  return t.permute(dims);
}

/// Runs fill(T* data, n, in_order) on `self` (or on a buffer copied into it when it cannot be
/// written in order), then records the write: the version moves, and a tensor in a graph gets a
/// history whose gradient is zero, as its values no longer depend on the old ones.
template <class T, class Fill>
Tensor& fill_values(Tensor& self, const char* node_name, Fill&& fill) {
  if (self.is_contiguous()) {
    fill(detail::data<T>(self), self.numel(), true);
  } else {  // filled in the order of the addresses, through a buffer
    Tensor target = in_memory_order(self);
    Tensor buffer = detail::make_tensor(target.shape(), self.dtype());
    fill(detail::data<T>(buffer), buffer.numel(), false);
    detail::copy_values(target, buffer);
  }
  detail::bump_version(self);
  if (needs_grad(self)) {
    Tensor marker = detail::make_alias(self);
    record(node_name, marker, {self}, {}, [](const Tensor& g, const BackwardContext&) -> Grads { return {zeros_like(g)}; });
    if (self.is_view()) detail::rebase_view(self, marker);
    else detail::rebase_history(self, marker);
  }
  return self;
}

// ---- the 16-value Box-Muller block of PyTorch's float32 normal kernel ------------------------
//
// PyTorch's AVX2 kernel takes log, sin and cos of 8 floats at a time with Cephes' single-precision
// polynomials (as Julien Pommier's sse/avx_mathfun evaluate them). The same steps in scalar float
// arithmetic, with the same fused multiply-adds, give the same bits.

float as_float(std::uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}
std::uint32_t bits_of(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
constexpr float f32(double v) { return static_cast<float>(v); }

/// log(x) for a normal float x > 0: x = m 2^e with m in [sqrt(1/2), sqrt(2)), then a degree-9
/// polynomial in m - 1.
inline float cephes_logf(float x) {
  const std::uint32_t bits = bits_of(x);
  float e = static_cast<float>(static_cast<std::int32_t>(bits >> 23) - 0x7f) + 1.0f;
  float m = as_float((bits & ~0x7f800000u) | bits_of(0.5f));  // the mantissa, in [0.5, 1)
  const bool small = m < f32(0.707106781186547524);
  const float twice = small ? m : 0.0f;
  m = m - 1.0f;
  e = e - (small ? 1.0f : 0.0f);
  m = m + twice;
  const float z = m * m;
  float y = f32(7.0376836292E-2);
  for (double c : {-1.1514610310E-1, 1.1676998740E-1, -1.2420140846E-1, 1.4249322787E-1, -1.6668057665E-1,
                   2.0000714765E-1, -2.4999993993E-1, 3.3333331174E-1})
    y = std::fma(y, m, f32(c));
  const float ym = y * m;
  const float e_lo = e * f32(-2.12194440e-4);
  y = std::fma(ym, z, e_lo);
  y = std::fma(-z, 0.5f, y);
  m = m + y;
  return std::fma(e, 0.693359375f, m);
}

/// sin and cos of x >= 0: reduced by multiples of pi/4 in three parts (Cody-Waite), then one
/// polynomial for sin and one for cos on [-pi/4, pi/4].
inline void cephes_sincosf(float x, float* sin_out, float* cos_out) {
  auto j = static_cast<std::int32_t>(x * f32(1.27323954473516));  // 4 / pi, truncated
  j = (j + 1) & ~1;
  const float y = static_cast<float>(j);
  const bool sin_negative = (j & 4) != 0;
  const bool cos_negative = ((~(j - 2)) & 4) != 0;
  const bool sin_is_sin = (j & 2) == 0;  // else the sine is the cosine polynomial, and vice versa
  x = std::fma(y, f32(-0.78515625), x);
  x = std::fma(y, f32(-2.4187564849853515625e-4), x);
  x = std::fma(y, f32(-3.77489497744594108e-8), x);
  const float z = x * x;

  float c = f32(2.443315711809948E-005);
  c = std::fma(c, z, f32(-1.388731625493765E-003));
  c = std::fma(c, z, f32(4.166664568298827E-002));
  c = c * z;
  const float half_z = z * 0.5f;
  c = std::fma(c, z, -half_z);
  c = c + 1.0f;

  float s = f32(-1.9515295891E-4);
  s = std::fma(s, z, f32(8.3321608736E-3));
  s = std::fma(s, z, f32(-1.6666654611E-1));
  s = s * z;
  s = std::fma(s, x, x);

  const float sv = sin_is_sin ? s : c, cv = sin_is_sin ? c : s;
  *sin_out = sin_negative ? -sv : sv;
  *cos_out = cos_negative ? -cv : cv;
}

// Where the CPU has FMA, a second copy of the float block uses the instruction instead of a call
// to libm's fmaf: the same results (a fused multiply-add rounds once either way), 3x faster.
// Every other multiplication of these functions feeds a sqrt, a conversion or an operand of an
// explicit fma, so no contraction can change a value.
// ThreadSanitizer's instrumented ifunc resolver would run before its runtime starts: no clones there.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__APPLE__) && !defined(__SANITIZE_THREAD__)
#define AG_FMA_CLONES __attribute__((target_clones("fma", "default")))
#else
#define AG_FMA_CLONES
#endif

/// d[0..16) holds uniforms on [0, 1); turns them into normals: pairs (d[j], d[j + 8]).
AG_FMA_CLONES void normal_block(float* d, float mean, float std) {
  const float two_pi = static_cast<float>(2.0 * M_PI);
  for (int j = 0; j < 8; ++j) {
    const float u1 = 1.0f - d[j];  // in (0, 1] for the log
    const float u2 = d[j + 8];
    const float radius = std::sqrt(-2.0f * cephes_logf(u1));
    float s, c;
    cephes_sincosf(two_pi * u2, &s, &c);
    const float n1 = radius * c, n2 = radius * s;
    d[j] = std::fma(n1, std, mean);
    d[j + 8] = std::fma(n2, std, mean);
  }
}

void normal_block(double* d, double mean, double std) {
  for (int j = 0; j < 8; ++j) {
    const double u1 = 1.0 - d[j];
    const double u2 = d[j + 8];
    const double radius = std::sqrt(-2.0 * std::log(u1));
    const double theta = 2.0 * M_PI * u2;
    d[j] = std::fma(radius * std::cos(theta), std, mean);
    d[j + 8] = std::fma(radius * std::sin(theta), std, mean);
  }
}

template <class T>
T uniform01(Generator::Stream& s) {
  if constexpr (std::is_same_v<T, float>) return s.uniform_float();
  else return s.uniform_double();
}

/// PyTorch's normal kernel: 16 or more values written in order take the block path (all the
/// uniforms first, then the blocks; a partial last block is redone on 16 fresh uniforms);
/// anything else is drawn one value at a time, in float64, through the generator's cache.
template <class T>
void fill_normal(Generator::Stream& s, T* out, std::int64_t n, bool in_order, double mean, double std) {
  if (n >= 16 && in_order) {
    for (std::int64_t i = 0; i < n; ++i) out[i] = uniform01<T>(s);
    const auto m = static_cast<T>(mean), sd = static_cast<T>(std);
    for (std::int64_t i = 0; i + 16 <= n; i += 16) normal_block(out + i, m, sd);
    if (n % 16 != 0) {
      T* tail = out + n - 16;
      for (int i = 0; i < 16; ++i) tail[i] = uniform01<T>(s);
      normal_block(tail, m, sd);
    }
    return;
  }
  for (std::int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(std::fma(s.normal(), std, mean));
}

/// The integer range of a floating dtype (2^24 for float32, 2^53 for float64).
template <class T>
constexpr std::int64_t exact_integers() {
  return std::int64_t{1} << std::numeric_limits<T>::digits;
}

/// val % range + base, in unsigned arithmetic (range may exceed INT64_MAX), as a T.
template <class T>
T from_range(std::uint64_t val, std::uint64_t range, std::int64_t base) {
  return static_cast<T>(static_cast<std::int64_t>(val % range + static_cast<std::uint64_t>(base)));
}

template <class T>
void fill_from_to(Generator& gen, T* out, std::int64_t n, std::int64_t from, std::int64_t to) {
  const std::uint64_t range = static_cast<std::uint64_t>(to) - static_cast<std::uint64_t>(from);
  gen.draw([&](Generator::Stream& s) {
    // A range of 2^32 or more takes 64 bits per value (int64 and floating tensors, as PyTorch).
    if (range >= (std::uint64_t{1} << 32))
      for (std::int64_t i = 0; i < n; ++i) out[i] = from_range<T>(s.random64(), range, from);
    else
      for (std::int64_t i = 0; i < n; ++i) out[i] = from_range<T>(s.random(), range, from);
  });
}

void check_from_to(Dtype dtype, std::int64_t from, std::int64_t to, const char* op) {
  AG_CHECK(from < to, op, ": expected low < high, got low=", from, " high=", to);
  dispatch(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!std::is_integral_v<T>) {
      constexpr std::int64_t limit = exact_integers<T>();
      AG_CHECK(from >= -limit && to <= limit + 1, op, ": ", dtype, " holds every integer only within [-", limit, ", ",
               limit, "], got low=", from, " high=", to);
    }
  });
}

}  // namespace

// ---- creation -------------------------------------------------------------------------------

Tensor rand(const Shape& shape, TensorOptions options, Generator* gen) {
  AG_CHECK(is_floating(options.dtype()), "rand: expected a floating dtype (float32 or float64), got ", options.dtype());
  Tensor out = empty(shape, options.dtype());
  out.uniform_(0.0, 1.0, gen);
  return options.requires_grad() ? out.requires_grad_(true) : out;
}

Tensor randn(const Shape& shape, TensorOptions options, Generator* gen) {
  AG_CHECK(is_floating(options.dtype()), "randn: expected a floating dtype (float32 or float64), got ", options.dtype());
  Tensor out = empty(shape, options.dtype());
  out.normal_(0.0, 1.0, gen);
  return options.requires_grad() ? out.requires_grad_(true) : out;
}

Tensor randint(std::int64_t low, std::int64_t high, const Shape& shape, TensorOptions options, Generator* gen) {
  check_from_to(options.dtype(), low, high, "randint");
  Tensor out = empty(shape, options.dtype());
  dispatch(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    fill_from_to(pick(gen), detail::data<T>(out), out.numel(), low, high);
  });
  return options.requires_grad() ? out.requires_grad_(true) : out;
}

Tensor randint(std::int64_t high, const Shape& shape, TensorOptions options, Generator* gen) {
  return randint(0, high, shape, options, gen);
}

Tensor randperm(std::int64_t n, TensorOptions options, Generator* gen) {
  AG_CHECK(n >= 0, "randperm: n must be non-negative, got ", n);
  Tensor out = empty({n}, options.dtype());
  dispatch(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!std::is_integral_v<T>)
      AG_CHECK(n <= exact_integers<T>(), "randperm: ", out.dtype(), " holds every integer only up to ",
               exact_integers<T>(), ", got n=", n, "; use int64");
    T* r = detail::data<T>(out);
    for (std::int64_t i = 0; i < n; ++i) r[i] = static_cast<T>(i);
    // PyTorch 1.13's shuffle for every n: swap r[i] with r[i + random() % (n - i)].
    pick(gen).draw([&](Generator::Stream& s) {
      for (std::int64_t i = 0; i + 1 < n; ++i) {
        auto z = static_cast<std::int64_t>(s.random() % static_cast<std::uint64_t>(n - i));
        std::swap(r[i], r[i + z]);
      }
    });
  });
  return options.requires_grad() ? out.requires_grad_(true) : out;
}

Tensor rand_like(const Tensor& t, Generator* gen) { return rand(t.shape(), t.dtype(), gen); }
Tensor randn_like(const Tensor& t, Generator* gen) { return randn(t.shape(), t.dtype(), gen); }

// ---- in place -------------------------------------------------------------------------------

Tensor& Tensor::uniform_(double from, double to, Generator* gen) {
  check_fill(*this, "uniform_");
  AG_CHECK(from <= to, "uniform_: expected from <= to, got from=", from, " to=", to);
  return dispatch_floating(dtype(), "uniform_", [&](auto tag) -> Tensor& {
    using T = typename decltype(tag)::type;
    const auto lo = static_cast<T>(from), hi = static_cast<T>(to);
    AG_CHECK(hi - lo <= std::numeric_limits<T>::max(), "uniform_: the range to - from = ", to - from,
             " exceeds the largest ", dtype(), " (", std::numeric_limits<T>::max(), ")");
    return fill_values<T>(*this, "UniformBackward0", [&](T* out, std::int64_t n, bool) {
      pick(gen).draw([&](Generator::Stream& s) {
        for (std::int64_t i = 0; i < n; ++i) out[i] = std::fma(uniform01<T>(s), hi - lo, lo);
      });
    });
  });
}

Tensor& Tensor::normal_(double mean, double std, Generator* gen) {
  check_fill(*this, "normal_");
  AG_CHECK(std >= 0, "normal_: std must be non-negative, got ", std);
  return dispatch_floating(dtype(), "normal_", [&](auto tag) -> Tensor& {
    using T = typename decltype(tag)::type;
    return fill_values<T>(*this, "NormalBackward0", [&](T* out, std::int64_t n, bool in_order) {
      pick(gen).draw([&](Generator::Stream& s) { fill_normal(s, out, n, in_order, mean, std); });
    });
  });
}

Tensor& Tensor::bernoulli_(double p, Generator* gen) {
  check_fill(*this, "bernoulli_");
  AG_CHECK(p >= 0.0 && p <= 1.0, "bernoulli_: the probability p must be in [0, 1], got ", p);
  return dispatch(dtype(), [&](auto tag) -> Tensor& {
    using T = typename decltype(tag)::type;
    return fill_values<T>(*this, "BernoulliBackward0", [&](T* out, std::int64_t n, bool) {
      pick(gen).draw([&](Generator::Stream& s) {
        const T values[2] = {T(0), T(1)};  // indexed by the comparison: no branch to mispredict
        for (std::int64_t i = 0; i < n; ++i) out[i] = values[s.uniform_double() < p];
      });
    });
  });
}

Tensor& Tensor::random_(std::int64_t from, std::int64_t to, Generator* gen) {
  check_fill(*this, "random_");
  check_from_to(dtype(), from, to, "random_");
  return dispatch(dtype(), [&](auto tag) -> Tensor& {
    using T = typename decltype(tag)::type;
    return fill_values<T>(*this, "RandomBackward0", [&](T* out, std::int64_t n, bool) {
      fill_from_to(pick(gen), out, n, from, to);
    });
  });
}

Tensor& Tensor::random_(Generator* gen) {
  check_fill(*this, "random_");
  return dispatch(dtype(), [&](auto tag) -> Tensor& {
    using T = typename decltype(tag)::type;
    return fill_values<T>(*this, "RandomBackward0", [&](T* out, std::int64_t n, bool) {
      pick(gen).draw([&](Generator::Stream& s) {
        // [0, 2^63) for int64; every integer a floating dtype holds exactly, [0, 2^24] or [0, 2^53].
        if constexpr (std::is_integral_v<T>) {
          for (std::int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(s.random64() % (std::uint64_t{1} << 63));
        } else {
          constexpr auto bound = static_cast<std::uint64_t>(exact_integers<T>()) + 1;
          for (std::int64_t i = 0; i < n; ++i)
            out[i] = static_cast<T>(std::is_same_v<T, float> ? s.random() % bound : s.random64() % bound);
        }
      });
    });
  });
}

}  // namespace ag
