// GEMMs of the CPU backend, row-major with leading dimensions:
//
//   C[M,N] = alpha * op(A)[M,K] @ op(B)[K,N] + beta * C      op(X) = X or X^T (trans_a, trans_b)
//
// In / Out: float / float through oneDNN's sgemm; bf16 / bf16 or bf16 / float (bf16 inputs always
// accumulate in fp32) through oneDNN's matmul primitive; double / double through OpenBLAS (the f64
// reference for the tests).
// Why oneDNN: it picks its kernels from the CPU's features (AVX2, AVX-512, AVX512-BF16, AMX) at run
// time, where Debian's OpenBLAS 0.3.21 chooses by CPU model and falls back to SSE3 kernels on models it
// does not know (a 5x slower sgemm), and has no bf16 GEMM. Measured side by side in bench_gemm
// (DESIGN.md, "CPU backend").
// Threads: all of the backend's threads (parallel.h), or only the calling thread inside a parallel
// region (the attention tasks) and for small products. A shape gives the same bits run to run for a given
// thread count (a resumed run must use the same --threads to continue bit for bit).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include "cpu/bf16.h"
#include "cpu/parallel.h"
#include "model/tensor.h"

namespace tt::cpu {

// Products below this many FLOPs (or this narrow) run on one thread: forking a team costs more than it
// saves there, and on a loaded machine every team's barrier can wait for a descheduled thread.
constexpr double kParallelGemmFlops = 4e7;
constexpr int64_t kParallelGemmWidth = 64;

// The oneDNN path: A, B of dtype `in`; C of dtype `out`.
struct GemmShape {
  bool trans_a = false, trans_b = false;
  int64_t M = 0, N = 0, K = 0, lda = 0, ldb = 0, ldc = 0;
  float alpha = 1, beta = 0;
  DType in = DType::F32, out = DType::F32;
  int threads = 0;  // set by gemm_dnnl: 1 for small products, else the backend's thread count
  bool operator==(const GemmShape&) const = default;
};
void gemm_dnnl(const GemmShape& s, const void* A, const void* B, void* C);

// The OpenBLAS path for double (large products split over the threads along M or N).
void gemm_f64(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
              int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc);

template <class T>
constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, float>) return DType::F32;
  if constexpr (std::is_same_v<T, double>) return DType::F64;
  if constexpr (std::is_same_v<T, bf16>) return DType::BF16;
}

// One row times a transposed matrix, the products of decoding (x [1, K] @ W[N, K]^T), for rows [n0, n1):
// y[n] = alpha * dot(x, W[n, :]) + beta * y[n]. Memory-bound; per ISA (kernels_f32.cpp).
void gemv_rows(int64_t n0, int64_t n1, int64_t K, float alpha, const float* x, const float* W, int64_t ldw,
               float beta, float* y);
void gemv_rows(int64_t n0, int64_t n1, int64_t K, float alpha, const bf16* x, const bf16* W, int64_t ldw,
               float beta, float* y);
void gemv_rows(int64_t n0, int64_t n1, int64_t K, float alpha, const bf16* x, const bf16* W, int64_t ldw,
               float beta, bf16* y);

template <class In, class Out>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha, const In* A, int64_t lda,
          const In* B, int64_t ldb, double beta, Out* C, int64_t ldc) {
  if constexpr (std::is_same_v<In, double>) {
    static_assert(std::is_same_v<Out, double>, "double GEMMs write double");
    gemm_f64(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  } else {
    static_assert(std::is_same_v<Out, In> || std::is_same_v<Out, float>,
                  "GEMM output: the input type or float");
    if (M == 1 && !trans_a && trans_b && K > 0) {
      // Decoding's one-row products as a GEMV over the rows of B (oneDNN's M = 1 GEMM first packs all of
      // B), threaded only for ~0.5M multiply-adds per thread and more: below, waking the team costs more.
      parallel_for(N, std::max<int64_t>(1, 500000 / K), [&](int64_t n0, int64_t n1) {
        gemv_rows(n0, n1, K, float(alpha), A, B, ldb, float(beta), C);
      });
      return;
    }
    gemm_dnnl({trans_a, trans_b, M, N, K, lda, ldb, ldc, float(alpha), float(beta), dtype_of<In>(),
               dtype_of<Out>()},
              A, B, C);
  }
}

// True when this CPU has native bf16 dot products (AVX512-BF16 or AMX-BF16), which the bf16 backend needs.
bool cpu_has_bf16();
// One line for the log: the oneDNN version, the instruction set its kernels use, the kernel a typical
// f32 (and, with bf16, bf16) GEMM of the model runs, and the thread count.
std::string gemm_kernel_description(bool bf16);

}  // namespace tt::cpu
