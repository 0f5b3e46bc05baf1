// The row-major -> column-major GEMM mapping used for every cuBLASLt call (src/cuda/gemm_layout.h),
// checked against a column-major BLAS (OpenBLAS cblas_sgemm has cuBLAS's semantics) and a naive
// row-major reference, for all four transpose combinations. Runs without a GPU.
#include "cuda/gemm_layout.h"

#include <cblas.h>
#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace tt::cuda {
namespace {

TEST(GemmLayout, ColumnMajorBlasReproducesRowMajorProduct) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> d(-1, 1);
  struct S {
    int64_t M, N, K;
  };
  for (S s : {S{3, 5, 7}, S{1, 4, 2}, S{8, 1, 3}, S{6, 6, 1}, S{17, 9, 33}})
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        SCOPED_TRACE(testing::Message()
                     << "M=" << s.M << " N=" << s.N << " K=" << s.K << " ta=" << ta << " tb=" << tb);
        std::vector<float> A(size_t(s.M * s.K)), B(size_t(s.K * s.N)), C(size_t(s.M * s.N), 99.f);
        for (float& x : A) x = d(rng);
        for (float& x : B) x = d(rng);
        auto opA = [&](int64_t i, int64_t k) { return ta ? A[size_t(k * s.M + i)] : A[size_t(i * s.K + k)]; };
        auto opB = [&](int64_t k, int64_t j) { return tb ? B[size_t(j * s.K + k)] : B[size_t(k * s.N + j)]; };

        const ColMajorGemm g = map_row_major_gemm(ta, tb, s.M, s.N, s.K);
        // Stored shapes cover exactly the buffers, leading dimensions are legal.
        EXPECT_EQ(g.a_rows * g.a_cols, int64_t(B.size()));
        EXPECT_EQ(g.b_rows * g.b_cols, int64_t(A.size()));
        EXPECT_GE(g.lda, g.a_rows);
        EXPECT_GE(g.ldb, g.b_rows);
        EXPECT_GE(g.ldc, g.m);
        EXPECT_EQ((g.trans_a ? g.a_cols : g.a_rows), g.m);
        EXPECT_EQ((g.trans_b ? g.b_rows : g.b_cols), g.n);

        cblas_sgemm(CblasColMajor, g.trans_a ? CblasTrans : CblasNoTrans,
                    g.trans_b ? CblasTrans : CblasNoTrans, int(g.m), int(g.n), int(g.k), 1.0f, B.data(),
                    int(g.lda), A.data(), int(g.ldb), 0.0f, C.data(), int(g.ldc));
        for (int64_t i = 0; i < s.M; ++i)
          for (int64_t j = 0; j < s.N; ++j) {
            double want = 0;
            for (int64_t k = 0; k < s.K; ++k) want += double(opA(i, k)) * double(opB(k, j));
            EXPECT_NEAR(C[size_t(i * s.N + j)], want, 1e-4) << "C[" << i << "," << j << "]";
          }
      }
}

}  // namespace
}  // namespace tt::cuda
