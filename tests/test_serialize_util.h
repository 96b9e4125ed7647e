#pragma once
// Helpers shared by the serialize tests: temporary folders, bit-exact comparisons and tensors
// holding awkward bit patterns.

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "ag/autograd/autograd.h"
#include "ag/serialize/serialize.h"

namespace sertest {

using ag::Tensor;

/// A fresh folder under $TMPDIR (or /tmp), removed with its files when the test ends.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/ag-serialize-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
    path_ = buf.data();
  }
  ~TempDir() {
    for (const std::string& f : files()) ::unlink((path_ + "/" + f).c_str());
    ::rmdir(path_.c_str());
  }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }
  /// The names in the folder, hidden ones included.
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    if (DIR* d = ::opendir(path_.c_str())) {
      while (dirent* e = ::readdir(d))
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) out.push_back(e->d_name);
      ::closedir(d);
    }
    return out;
  }

 private:
  std::string path_;
};

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// The raw bytes of a tensor's elements.
inline std::string raw(const Tensor& t) {
  std::size_t n = static_cast<std::size_t>(t.numel()) * ag::element_size(t.dtype());
  std::string out(n, '\0');
  ag::dispatch(t.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (n) std::memcpy(out.data(), t.data_ptr<T>(), n);
  });
  return out;
}

/// Same dtype, same shape, same bytes.
inline ::testing::AssertionResult same_tensor(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype()) return ::testing::AssertionFailure() << "dtype " << a.dtype() << " vs " << b.dtype();
  if (a.shape() != b.shape()) return ::testing::AssertionFailure() << "shape " << a.shape() << " vs " << b.shape();
  if (raw(a) != raw(b)) return ::testing::AssertionFailure() << "the bytes differ: " << a << " vs " << b;
  return ::testing::AssertionSuccess();
}

/// Like same_tensor, but any NaN equals any NaN (JSON keeps that a value is NaN, not its bits).
inline ::testing::AssertionResult same_values(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return same_tensor(a, b);
  bool ok = true;
  ag::dispatch(a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = a.data_ptr<T>();
    const T* y = b.data_ptr<T>();
    for (std::int64_t i = 0; i < a.numel(); ++i) {
      if constexpr (std::is_floating_point_v<T>)
        if (std::isnan(x[i]) && std::isnan(y[i])) continue;
      ok = ok && std::memcmp(&x[i], &y[i], sizeof(T)) == 0;
    }
  });
  if (!ok) return ::testing::AssertionFailure() << "values differ: " << a << " vs " << b;
  return ::testing::AssertionSuccess();
}

/// Same names in the same order, bit-identical tensors, identical values (NaN equal to NaN when
/// `nan_equal`).
inline ::testing::AssertionResult same_archive(const ag::Archive& a, const ag::Archive& b, bool nan_equal = false) {
  if (a.tensors().size() != b.tensors().size())
    return ::testing::AssertionFailure() << a.tensors().size() << " tensors vs " << b.tensors().size();
  for (std::size_t i = 0; i < a.tensors().size(); ++i) {
    if (a.tensors()[i].first != b.tensors()[i].first)
      return ::testing::AssertionFailure() << "tensor " << i << ": " << a.tensors()[i].first << " vs "
                                           << b.tensors()[i].first;
    auto r = nan_equal ? same_values(a.tensors()[i].second, b.tensors()[i].second)
                       : same_tensor(a.tensors()[i].second, b.tensors()[i].second);
    if (!r) return r << " (tensor " << a.tensors()[i].first << ")";
  }
  if (a.values().size() != b.values().size())
    return ::testing::AssertionFailure() << a.values().size() << " values vs " << b.values().size();
  for (std::size_t i = 0; i < a.values().size(); ++i) {
    const auto& [na, va] = a.values()[i];
    const auto& [nb, vb] = b.values()[i];
    if (na != nb) return ::testing::AssertionFailure() << "value " << i << ": " << na << " vs " << nb;
    if (va.index() != vb.index()) return ::testing::AssertionFailure() << "value " << na << " changed type";
    if (const auto* d = std::get_if<double>(&va)) {
      double e = std::get<double>(vb);
      bool same = std::memcmp(d, &e, sizeof e) == 0 || (nan_equal && std::isnan(*d) && std::isnan(e));
      if (!same) return ::testing::AssertionFailure() << "value " << na << ": " << *d << " vs " << e;
    } else if (va != vb) {
      return ::testing::AssertionFailure() << "value " << na << " differs";
    }
  }
  return ::testing::AssertionSuccess();
}

/// A tensor whose elements are random bit patterns: every exponent, sign and mantissa shows up,
/// NaNs with payloads, infinities, subnormals and -0 included (unless `finite` is asked for).
inline Tensor random_bits(const ag::Shape& shape, ag::Dtype dtype, std::uint64_t seed, bool finite = false) {
  Tensor t = ag::zeros(shape, dtype);
  std::mt19937_64 rng(seed);
  ag::dispatch(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = t.data_ptr<T>();
    for (std::int64_t i = 0; i < t.numel(); ++i) {
      do {
        std::uint64_t bits = rng();
        std::memcpy(&p[i], &bits, sizeof(T));
      } while (finite && std::is_floating_point_v<T> && !std::isfinite(static_cast<double>(p[i])));
    }
  });
  return t;
}

/// Values that break careless float printing: extremes, subnormals, -0 and long mantissas.
template <class T>
std::vector<T> awkward_floats() {
  using L = std::numeric_limits<T>;
  return {T(0),          -T(0),      L::min(),          -L::min(),      L::denorm_min(), -L::denorm_min(),
          L::max(),      L::lowest(), L::epsilon(),     T(0.1),         T(1) / T(3),     T(1e-25),
          T(1.2345678901234567e-6), T(123456789.0), L::infinity(), -L::infinity(), T(2.5), T(-7)};
}

}  // namespace sertest
