// Row-major GEMM -> column-major (cuBLAS) parameters. Host-only and header-only, so the mapping is
// unit-tested against a column-major BLAS on machines without a GPU (tests/cuda/gemm_layout_test).
//
// Row-major C[M,N] = op(A) @ op(B), A stored [M,K] (or [K,M] when trans_a), B stored [K,N] (or
// [N,K] when trans_b), each with its row length as leading dimension. cuBLAS sees a row-major
// [r,c] matrix as the column-major [c,r] matrix (its transpose), so we compute the column-major
// C^T (N x M) = op(B)^T op(A)^T: cuBLAS "A" is our B and cuBLAS "B" is our A, m = N, n = M.
#pragma once

#include <cstdint>

namespace tt::cuda {

struct ColMajorGemm {
  bool trans_a = false, trans_b = false;  // cuBLAS-side ops (for cuBLAS A = our B, cuBLAS B = our A)
  int64_t m = 0, n = 0, k = 0;
  int64_t lda = 0, ldb = 0, ldc = 0;
  // Stored (pre-op) shapes of the cuBLAS operands, as cuBLASLt matrix layouts want them.
  int64_t a_rows = 0, a_cols = 0, b_rows = 0, b_cols = 0;
};

inline ColMajorGemm map_row_major_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K) {
  ColMajorGemm g;
  g.m = N;
  g.n = M;
  g.k = K;
  // cuBLAS A := our B. Row-major [K,N] is column-major N x K (ld N), op N; row-major [N,K]
  // (trans_b) is column-major K x N (ld K), op T.
  g.trans_a = trans_b;
  g.lda = trans_b ? K : N;
  g.a_rows = trans_b ? K : N;
  g.a_cols = trans_b ? N : K;
  // cuBLAS B := our A. Row-major [M,K] is column-major K x M (ld K), op N; row-major [K,M]
  // (trans_a) is column-major M x K (ld M), op T.
  g.trans_b = trans_a;
  g.ldb = trans_a ? M : K;
  g.b_rows = trans_a ? M : K;
  g.b_cols = trans_a ? K : M;
  g.ldc = N;
  return g;
}

}  // namespace tt::cuda
