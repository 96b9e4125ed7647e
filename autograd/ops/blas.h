#pragma once
// The one door to OpenBLAS. Only blas.cpp includes <cblas.h>: it cannot share a translation
// unit with xtensor-blas, whose headers declare their own CBLAS enums.

#include <cstdint>

namespace ag::blas {

/// C = alpha * op(A) @ op(B) + beta * C on row-major matrices, op(X) = X^T when the flag is set:
/// op(A) is [m, k], op(B) is [k, n], C is [m, n]; lda/ldb/ldc are the row strides as stored.
/// m == 1 or n == 1 goes to gemv (OpenBLAS's gemm is several times slower there); with
/// beta == 0, C may hold garbage (it is never read).
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a,
          std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc);
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, double alpha, const double* a,
          std::int64_t lda, const double* b, std::int64_t ldb, double beta, double* c, std::int64_t ldc);

void set_num_threads(int n);
int get_num_threads();

}  // namespace ag::blas
