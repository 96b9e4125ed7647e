// Direct calls into OpenBLAS (cblas). Kept apart from every file that might include
// xtensor-blas: the two headers clash (see blas.h).

#include "ag/autograd/ops/blas.h"

#include <cblas.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "ag/autograd/error.h"

namespace ag::blas {

namespace {

/// ag runs OpenBLAS on one thread unless asked otherwise: small models lose more to thread
/// hand-off than they gain (a second thread pays only from ~128^3), and one thread keeps
/// results reproducible. OPENBLAS_NUM_THREADS in the environment wins.
void init_threads() {
  static const bool done = [] {
    if (std::getenv("OPENBLAS_NUM_THREADS") == nullptr) openblas_set_num_threads(1);
    return true;
  }();
  (void)done;
}

/// OpenBLAS takes 32-bit sizes.
int as_int(std::int64_t v) {
  AG_CHECK(v <= INT_MAX, "matmul: the size ", v, " exceeds what OpenBLAS accepts (", INT_MAX, ")");
  return static_cast<int>(v);
}

CBLAS_TRANSPOSE flag(bool t) { return t ? CblasTrans : CblasNoTrans; }

template <class T>
struct Cblas;
template <>
struct Cblas<float> {
  static constexpr auto gemm = cblas_sgemm;
  static constexpr auto gemv = cblas_sgemv;
};
template <>
struct Cblas<double> {
  static constexpr auto gemm = cblas_dgemm;
  static constexpr auto gemv = cblas_dgemv;
};

/// Products of at most this many multiply-adds run as plain loops: a single prediction's
/// [1, 8] x [8, 2] is 16 of them, and OpenBLAS spends ~300 instructions on a gemv call before
/// its first one (bigger products: gemm_small's vector kernels below, else OpenBLAS).
constexpr std::int64_t kTinyProduct = 128;

/// C = alpha op(A) op(B) + beta C, each dot product summed in order; C is not read when beta is 0.
template <class T>
void gemm_tiny(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a, std::int64_t lda,
               const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  const std::int64_t a_row = ta ? 1 : lda, a_col = ta ? lda : 1;  // op(A)[i, p] = a[i * a_row + p * a_col]
  const std::int64_t b_row = tb ? 1 : ldb, b_col = tb ? ldb : 1;  // op(B)[p, j] = b[p * b_row + j * b_col]
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      T acc = 0;
      for (std::int64_t p = 0; p < k; ++p) acc += a[i * a_row + p * a_col] * b[p * b_row + j * b_col];
      T& out = c[i * ldc + j];
      out = beta == T(0) ? alpha * acc : alpha * acc + beta * out;
    }
}

/// Small products of a shape a small model repeats, below OpenBLAS's ~2,000-instruction call:
/// at most kSmallProduct multiply-adds, and rows of C, or dot products, of 4, 8 or 16 values (a
/// width known at compile time, in vector registers: g++ left to plain loops split a row of 8
/// into pieces of 4, 2, 1 and 1, and a dot product of 8 into scalar steps).
constexpr std::int64_t kSmallProduct = 4096;

#if defined(__GNUC__)
/// 16 bytes of T: one SSE2 register (four floats, two doubles).
template <class T>
struct Lanes;
template <>
struct Lanes<float> {
  typedef float type __attribute__((vector_size(16)));
};
template <>
struct Lanes<double> {
  typedef double type __attribute__((vector_size(16)));
};
template <class T>
using Vec = typename Lanes<T>::type;
template <class T>
constexpr std::int64_t kLanes = 16 / sizeof(T);

template <class T>
Vec<T> broadcast(T v) {
  if constexpr (kLanes<T> == 4) return Vec<T>{v, v, v, v};
  else return Vec<T>{v, v};
}
template <class T>
Vec<T> load(const T* p) {
  Vec<T> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class T>
void store(T* p, Vec<T> v) {
  std::memcpy(p, &v, sizeof v);
}

/// C's rows when op(B)'s rows are contiguous: C[i, :] = alpha sum_p op(A)[i, p] B[p, :] + beta
/// C[i, :], the N sums of a row in registers, each summed over p in order.
template <class T, std::int64_t N>
void gemm_rows(std::int64_t m, std::int64_t k, T alpha, const T* a, std::int64_t a_row, std::int64_t a_col,
               const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  constexpr std::int64_t L = kLanes<T>, Q = N / L;
  for (std::int64_t i = 0; i < m; ++i) {
    Vec<T> acc[Q] = {};
    for (std::int64_t p = 0; p < k; ++p) {
      const Vec<T> x = broadcast(a[i * a_row + p * a_col]);
      const T* row = b + p * ldb;
      for (std::int64_t q = 0; q < Q; ++q) acc[q] += x * load(row + L * q);
    }
    T* out = c + i * ldc;
    for (std::int64_t q = 0; q < Q; ++q)
      store(out + L * q, beta == T(0) ? alpha * acc[q] : alpha * acc[q] + beta * load(out + L * q));
  }
}

/// C's elements as dot products of K values when op(A)'s rows and op(B)'s columns are contiguous
/// (linear's x W^T): a partial sum per lane, the lanes added pairwise at the end.
template <class T, std::int64_t K>
void gemm_dots(std::int64_t m, std::int64_t n, T alpha, const T* a, std::int64_t lda, const T* b, std::int64_t ldb,
               T beta, T* c, std::int64_t ldc) {
  constexpr std::int64_t L = kLanes<T>;
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      const T* x = a + i * lda;
      const T* y = b + j * ldb;
      Vec<T> s = load(x) * load(y);
      for (std::int64_t p = L; p < K; p += L) s += load(x + p) * load(y + p);
      T acc;
      if constexpr (L == 4) acc = (s[0] + s[1]) + (s[2] + s[3]);
      else acc = s[0] + s[1];
      T& out = c[i * ldc + j];
      out = beta == T(0) ? alpha * acc : alpha * acc + beta * out;
    }
}

/// Calls f(width) for a width of 4, 8 or 16 (as a compile-time constant); false for any other.
template <class F>
bool with_width(std::int64_t w, F f) {
  switch (w) {
    case 4: f(std::integral_constant<std::int64_t, 4>()); return true;
    case 8: f(std::integral_constant<std::int64_t, 8>()); return true;
    case 16: f(std::integral_constant<std::int64_t, 16>()); return true;
    default: return false;
  }
}

/// Runs a small product on these paths; false when it is not one of them.
template <class T>
bool gemm_small(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
                std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  if (m > kSmallProduct || n > kSmallProduct || k > kSmallProduct || m * n * k > kSmallProduct) return false;
  if (!tb)
    return with_width(n, [&](auto width) {
      gemm_rows<T, decltype(width)::value>(m, k, alpha, a, ta ? 1 : lda, ta ? lda : 1, b, ldb, beta, c, ldc);
    });
  if (!ta)
    return with_width(k, [&](auto width) { gemm_dots<T, decltype(width)::value>(m, n, alpha, a, lda, b, ldb, beta, c, ldc); });
  return false;
}
#else
template <class T>
bool gemm_small(bool, bool, std::int64_t, std::int64_t, std::int64_t, T, const T*, std::int64_t, const T*, std::int64_t, T,
                T*, std::int64_t) {
  return false;
}
#endif

template <class T>
void gemm_impl(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a, std::int64_t lda,
               const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (m <= kTinyProduct && n <= kTinyProduct && k <= kTinyProduct && m * n * k <= kTinyProduct) {
    gemm_tiny(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  if (gemm_small(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)) return;
  init_threads();
  if ((k == 0 || m == 1 || n == 1) && beta != T(1)) {
    // C = beta * C here: gemv would compute 0 * garbage (NaN) when C is not an input
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
    beta = T(1);
  }
  if (k == 0) return;  // op(A) @ op(B) is empty: C is just beta * C
  if (m == 1) {
    // the one row of C is op(B)^T x, x being the one row of op(A) (strided when A is transposed)
    int incx = as_int(ta ? lda : 1);
    if (!tb) Cblas<T>::gemv(CblasRowMajor, CblasTrans, as_int(k), as_int(n), alpha, b, as_int(ldb), a, incx, beta, c, 1);
    else Cblas<T>::gemv(CblasRowMajor, CblasNoTrans, as_int(n), as_int(k), alpha, b, as_int(ldb), a, incx, beta, c, 1);
    return;
  }
  if (n == 1) {
    // the one column of C is op(A) x, x being the one column of op(B)
    int incx = as_int(tb ? 1 : ldb);
    if (!ta) Cblas<T>::gemv(CblasRowMajor, CblasNoTrans, as_int(m), as_int(k), alpha, a, as_int(lda), b, incx, beta, c, as_int(ldc));
    else Cblas<T>::gemv(CblasRowMajor, CblasTrans, as_int(k), as_int(m), alpha, a, as_int(lda), b, incx, beta, c, as_int(ldc));
    return;
  }
  Cblas<T>::gemm(CblasRowMajor, flag(ta), flag(tb), as_int(m), as_int(n), as_int(k), alpha, a, as_int(lda), b,
                 as_int(ldb), beta, c, as_int(ldc));
}

}  // namespace

void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a,
          std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc) {
  gemm_impl(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, double alpha, const double* a,
          std::int64_t lda, const double* b, std::int64_t ldb, double beta, double* c, std::int64_t ldc) {
  gemm_impl(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void set_num_threads(int n) {
  AG_CHECK(n >= 1, "set_num_threads: the number of threads must be at least 1, got ", n);
  init_threads();
  openblas_set_num_threads(n);
}

int get_num_threads() {
  init_threads();
  return openblas_get_num_threads();
}

}  // namespace ag::blas
