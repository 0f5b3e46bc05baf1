// Matmul (a bias-free nn.Linear) on the CPU through OpenBLAS cblas_{s,d}gemm.
//
//   forward:  out[M,N]  = inp[M,K] @ weight[N,K]^T          (overwrite, or += when accumulate)
//   backward: dinp[M,K] = dout[M,N] @ weight[N,K]           (overwrite, or += when accumulate_dinp)
//             dweight[N,K] += dout[M,N]^T @ inp[M,K]        (ALWAYS accumulates)
// Saved for backward: the input `inp` (the caller keeps it). Either backward output may be null.
// All matrices row-major and contiguous. T = float or double.
#pragma once

#include <cblas.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "cpu/parallel.h"

namespace tt::cpu {

// One single-threaded BLAS call (OpenBLAS is set to 1 thread by the CPU backend, see gemm()).
template <class T>
void gemm_blas(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
               const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  const auto ta = trans_a ? CblasTrans : CblasNoTrans;
  const auto tb = trans_b ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasRowMajor, ta, tb, (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C,
                (int)ldc);
  } else {
    static_assert(std::is_same_v<T, double>);
    cblas_dgemm(CblasRowMajor, ta, tb, (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C,
                (int)ldc);
  }
}

// One single-threaded BLAS matrix-vector product, row-major: y[rows] = alpha * op(A) x + beta * y
// (op(A) = A [rows, cols] or, with trans, A^T for A [cols, rows]).
template <class T>
void gemv_blas(bool trans, int64_t rows, int64_t cols, T alpha, const T* A, int64_t lda, const T* x,
               int64_t incx, T beta, T* y, int64_t incy) {
  if (rows == 0) return;
  // cblas takes the stored matrix's dimensions
  const int m = int(trans ? cols : rows), n = int(trans ? rows : cols);
  const auto ta = trans ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemv(CblasRowMajor, ta, m, n, alpha, A, (int)lda, x, (int)incx, beta, y, (int)incy);
  } else {
    cblas_dgemv(CblasRowMajor, ta, m, n, alpha, A, (int)lda, x, (int)incx, beta, y, (int)incy);
  }
}

// C[1,N] = alpha * op(A)[1,K] @ op(B)[K,N] + beta * C as a GEMV over op(B)^T, split along N (one
// block per core). A GEMM with M = 1 would pack all of B first (OpenBLAS 0.3.21 does not forward
// it to GEMV): for the LM head of one generated token (151936 x 384) that was 45 ms against 20 ms
// for the GEMV, which runs at memory bandwidth. y = B x when trans_b (B is [N,K]), else B^T x.
template <class T>
void gemm_row(bool trans_a, bool trans_b, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
              int64_t ldb, T beta, T* C) {
  const int64_t incx = trans_a ? lda : 1;  // op(A) is one row: A [1,K], or a column of A [K,1]
  const int64_t threads = num_threads();
  if (threads <= 1 || double(N) * double(K) < 1e6) {
    gemv_blas(!trans_b, N, K, alpha, B, ldb, A, incx, beta, C, 1);
    return;
  }
  const int64_t block = (N / threads + 15) / 16 * 16;
  parallel_for(threads, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t * block, e = t + 1 == threads ? N : std::min(N, b + block);
      if (b >= e) continue;
      const T* bb = trans_b ? B + b * ldb : B + b;
      gemv_blas(!trans_b, e - b, K, alpha, bb, ldb, A, incx, beta, C + b, 1);
    }
  });
}

// Row-major C[M,N] = alpha * op(A) @ op(B) + beta * C with leading dimensions (strided heads work).
// Large products are split into one block of C per core (along M or N, whichever is larger) and each
// block is one single-threaded BLAS call on its own std::thread. Why not OpenBLAS's own threading:
// its workers busy-wait, and on this 2-core box under any other load (a parallel build, ctest -j2)
// that made some shapes 5-20x slower (the LM head's dlogits @ E at hidden 32: 3.2 s with OpenBLAS
// threads vs 0.17 s single-threaded, measured with load ~8); joined threads degrade gracefully.
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M == 1 && K > 0) {  // one row (generation): a GEMV, see gemm_row
    gemm_row(trans_a, trans_b, N, K, alpha, A, lda, B, ldb, beta, C);
    return;
  }
  const double flops = 2.0 * double(M) * double(N) * double(K);
  const int64_t threads = num_threads();
  if (threads <= 1 || flops < 4e7 || std::max(M, N) < 64) {
    gemm_blas(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  const bool split_m = M >= N;
  const int64_t len = split_m ? M : N;
  const int64_t block = (len / threads + 15) / 16 * 16;  // multiples of 16 rows/columns
  parallel_for(threads, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t * block, e = t + 1 == threads ? len : std::min(len, b + block);
      if (b >= e) continue;
      if (split_m) {
        const T* a = trans_a ? A + b : A + b * lda;
        gemm_blas(trans_a, trans_b, e - b, N, K, alpha, a, lda, B, ldb, beta, C + b * ldc, ldc);
      } else {
        const T* bb = trans_b ? B + b * ldb : B + b;
        gemm_blas(trans_a, trans_b, M, e - b, K, alpha, A, lda, bb, ldb, beta, C + b, ldc);
      }
    }
  });
}

template <class T>
void matmul_forward(T* out, const T* inp, const T* weight, int64_t M, int64_t K, int64_t N,
                    bool accumulate = false) {
  gemm<T>(false, true, M, N, K, T(1), inp, K, weight, K, accumulate ? T(1) : T(0), out, N);
}

template <class T>
void matmul_backward(T* dinp, T* dweight, const T* dout, const T* inp, const T* weight, int64_t M, int64_t K,
                     int64_t N, bool accumulate_dinp) {
  if (dinp) gemm<T>(false, false, M, K, N, T(1), dout, N, weight, K, accumulate_dinp ? T(1) : T(0), dinp, K);
  if (dweight) gemm<T>(true, false, N, K, M, T(1), dout, N, inp, K, T(1), dweight, K);
}

}  // namespace tt::cpu
