// The emulated CUDA runtime / cuBLASLt / CUB (tests/cuda/emu/include) refuse what a GPU refuses: if they
// did not, cuda_emu_ops_test and cuda_emu_train_test could pass on host-side bugs that fault on a GPU.
#include <cublasLt.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cub/device/device_radix_sort.cuh>
#include <vector>

#include "model/backend.h"

namespace {

__global__ void write_kernel(float* out, int n) {
  for (int i = int(threadIdx.x); i < n; i += int(blockDim.x)) out[i] = float(i);
}

float* device_floats(size_t n) {
  void* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, n * sizeof(float)), cudaSuccess);
  return static_cast<float*>(p);
}

TEST(EmulatedRuntime, CopiesMustStayInsideOneAllocationAndMatchTheirDirection) {
  float* d = device_floats(8);
  std::vector<float> h(16, 1.0f);
  EXPECT_EQ(cudaMemcpyAsync(d, h.data(), 8 * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  EXPECT_EQ(cudaMemcpyAsync(d, h.data(), 9 * sizeof(float), cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpyAsync(d + 1, h.data(), 8 * sizeof(float), cudaMemcpyHostToDevice),
            cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpyAsync(h.data(), d, 4, cudaMemcpyHostToDevice), cudaErrorInvalidValue);  // reversed
  EXPECT_EQ(cudaMemcpyAsync(h.data(), d, 8 * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(cudaMemsetAsync(d, 0, 9 * sizeof(float)), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);  // the last failure, then cleared
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_EQ(cudaFree(h.data()), cudaErrorInvalidDevicePointer);
  EXPECT_EQ(cudaFree(d), cudaSuccess);
  EXPECT_EQ(cudaMemsetAsync(d, 0, 4), cudaErrorInvalidValue);  // freed
  cudaGetLastError();
}

TEST(EmulatedRuntime, LaunchesCheckConfigurationAndPointerArguments) {
  float* d = device_floats(64);
  ::tt::emu::Launch(1, 32).run(write_kernel, d, 64);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  std::vector<float> h(64);
  ASSERT_EQ(cudaMemcpyAsync(h.data(), d, 64 * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(h[63], 63.0f);

  std::vector<float> host(64);
  ::tt::emu::Launch(1, 32).run(write_kernel, host.data(), 64);  // a host pointer: a GPU would fault
  EXPECT_EQ(cudaGetLastError(), cudaErrorIllegalAddress);
  EXPECT_EQ(host[63], 0.0f);
  ::tt::emu::Launch(1, 1025).run(write_kernel, d, 64);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  ::tt::emu::Launch(dim3(1, 65536), 32).run(write_kernel, d, 64);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  ::tt::emu::Launch(1, 32, 48 * 1024 + 1).run(write_kernel, d, 64);  // over 48 KiB without an opt-in
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  ASSERT_EQ(cudaFuncSetAttribute(write_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024),
            cudaSuccess);
  ::tt::emu::Launch(1, 32, 48 * 1024 + 1).run(write_kernel, d, 64);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  cudaFree(d);
}

TEST(EmulatedRuntime, AllocationsBeyondTheDeviceMemoryFail) {
  size_t free_b = 0, total_b = 0;
  ASSERT_EQ(cudaMemGetInfo(&free_b, &total_b), cudaSuccess);
  void* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, free_b + 1), cudaErrorMemoryAllocation);
  EXPECT_EQ(cudaGetLastError(), cudaErrorMemoryAllocation);
}

TEST(EmulatedCublasLt, OperandsOutsideTheirAllocationAreRefused) {
  // C[2x2] = A[2x3] B[3x2], column-major bf16 inputs, fp32 output.
  void *a = nullptr, *b = nullptr, *c = nullptr;
  ASSERT_EQ(cudaMalloc(&a, 6 * 2), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&b, 5 * 2), cudaSuccess);  // one element short
  ASSERT_EQ(cudaMalloc(&c, 4 * 4), cudaSuccess);
  cublasHandle_t h = nullptr;
  ASSERT_EQ(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
  const float alpha = 1, beta = 0;
  EXPECT_EQ(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 3, &alpha, a, CUDA_R_16BF, 2, b, CUDA_R_16BF, 3,
                         &beta, c, CUDA_R_32F, 2, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_INVALID_VALUE);
  cudaFree(b);
  ASSERT_EQ(cudaMalloc(&b, 6 * 2), cudaSuccess);
  EXPECT_EQ(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 3, &alpha, a, CUDA_R_16BF, 2, b, CUDA_R_16BF, 3,
                         &beta, c, CUDA_R_32F, 2, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_SUCCESS);
  std::vector<float> host(4, 0.0f);
  EXPECT_EQ(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 3, &alpha, a, CUDA_R_16BF, 2, b, CUDA_R_16BF, 3,
                         &beta, host.data(), CUDA_R_32F, 2, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_INVALID_VALUE);  // host output
  cublasDestroy(h);
  cudaFree(a);
  cudaFree(b);
  cudaFree(c);
}

TEST(EmulatedCublasLt, HeuristicOffersNothingForMisalignedOperands) {
  cublasLtHandle_t lt = nullptr;
  ASSERT_EQ(cublasLtCreate(&lt), CUBLAS_STATUS_SUCCESS);
  cublasLtMatmulDesc_t desc = nullptr;
  ASSERT_EQ(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), CUBLAS_STATUS_SUCCESS);
  auto heuristic = [&](int64_t ld, uint32_t align) {
    cublasLtMatrixLayout_t l = nullptr;
    cublasLtMatrixLayoutCreate(&l, CUDA_R_16BF, uint64_t(ld), 4, ld);
    cublasLtMatmulPreference_t pref = nullptr;
    cublasLtMatmulPreferenceCreate(&pref);
    for (auto attr : {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
      cublasLtMatmulPreferenceSetAttribute(pref, attr, &align, sizeof(align));
    cublasLtMatmulHeuristicResult_t r{};
    int returned = -1;
    cublasLtMatmulAlgoGetHeuristic(lt, desc, l, l, l, l, pref, 1, &r, &returned);
    cublasLtMatmulPreferenceDestroy(pref);
    cublasLtMatrixLayoutDestroy(l);
    return returned;
  };
  EXPECT_EQ(heuristic(8, 256), 1);
  EXPECT_EQ(heuristic(7, 256), 0);  // 14-byte columns
  EXPECT_EQ(heuristic(8, 2), 0);
  cublasLtMatmulDescDestroy(desc);
  cublasLtDestroy(lt);
}

TEST(EmulatedCub, SortPairsIsAStableSortOnTheKeyBits) {
  const std::vector<int32_t> keys = {5, 3, 5, 0, 3, 7, 1, 5};
  std::vector<int32_t> vals(keys.size());
  for (size_t i = 0; i < vals.size(); ++i) vals[i] = int32_t(i);
  std::vector<int32_t> keys_out(keys.size()), vals_out(keys.size());
  size_t temp_bytes = 0;
  ASSERT_EQ(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, keys.data(), keys_out.data(), vals.data(),
                                            vals_out.data(), int(keys.size()), 0, 3),
            cudaSuccess);
  EXPECT_GT(temp_bytes, 0u);
  std::vector<char> temp(temp_bytes);
  ASSERT_EQ(cub::DeviceRadixSort::SortPairs(temp.data(), temp_bytes, keys.data(), keys_out.data(),
                                            vals.data(), vals_out.data(), int(keys.size()), 0, 3),
            cudaSuccess);
  EXPECT_EQ(keys_out, (std::vector<int32_t>{0, 1, 3, 3, 5, 5, 5, 7}));
  EXPECT_EQ(vals_out, (std::vector<int32_t>{3, 6, 1, 4, 0, 2, 7, 5}));
}

TEST(EmulatedBackend, OddShapesTakeTheCublasGemmExFallbackAndAlignedOnesCublasLt) {
  auto be = tt::make_cuda_backend(0);
  const tt::emu::GemmCounts before = tt::emu::gemm_counts();
  const int64_t M = 3, K = 8, N = 16;
  tt::Buf out = be->alloc(size_t(M * N), tt::DType::BF16), inp = be->alloc(size_t(M * K), tt::DType::BF16);
  tt::Buf w = be->alloc(size_t(N * K), tt::DType::BF16);
  be->matmul_forward(out, inp, w, M, K, N, false);  // leading dimensions 16 and 32 bytes
  EXPECT_EQ(tt::emu::gemm_counts().lt, before.lt + 1);
  tt::Buf out_odd = be->alloc(size_t(M * 7), tt::DType::BF16),
          w_odd = be->alloc(size_t(7 * K), tt::DType::BF16);
  be->matmul_forward(out_odd, inp, w_odd, M, K, 7, false);  // 14-byte rows of the output
  EXPECT_EQ(tt::emu::gemm_counts().gemm_ex, before.gemm_ex + 1);
  for (tt::Buf b : {out, inp, w, out_odd, w_odd}) be->free(b);
}

}  // namespace
