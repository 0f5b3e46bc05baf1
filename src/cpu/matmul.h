// Matmul (a bias-free nn.Linear) on the CPU through OpenBLAS cblas_{s,d}gemm.
//
//   forward:  out[M,N]  = inp[M,K] @ weight[N,K]^T          (overwrite, or += when accumulate)
//   backward: dinp[M,K] = dout[M,N] @ weight[N,K]           (overwrite, or += when accumulate_dinp)
//             dweight[N,K] += dout[M,N]^T @ inp[M,K]        (ALWAYS accumulates)
// Saved for backward: the input `inp` (the caller keeps it). Either backward output may be null.
// All matrices row-major and contiguous. T = float or double.
#pragma once

#include <cblas.h>

#include <cstdint>
#include <type_traits>

namespace tt::cpu {

// Row-major C[M,N] = alpha * op(A) @ op(B) + beta * C with leading dimensions (strided heads work).
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
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
