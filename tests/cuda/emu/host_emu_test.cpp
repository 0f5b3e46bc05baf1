// The emulated CUDA runtime / cuBLASLt / CUB (tests/cuda/emu/include) refuse what a GPU refuses: if they
// did not, cuda_emu_ops_test and cuda_emu_train_test could pass on host-side bugs that fault on a GPU.
#include <cublasLt.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
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

// A capture keeps the stream's work (launches with their arguments as they were, copies) for the graph and
// runs nothing; each graph launch runs it all; allocation and synchronisation during a capture fail and
// invalidate it, as on a GPU.
TEST(EmulatedRuntime, StreamCaptureRecordsWorkAndRefusesWhatAGraphCannotHold) {
  cudaStream_t s = nullptr;
  ASSERT_EQ(cudaStreamCreate(&s), cudaSuccess);
  float* d = device_floats(4);
  const float ones[4] = {1, 1, 1, 1};
  float host[4] = {};
  ASSERT_EQ(cudaMemsetAsync(d, 0, 4 * sizeof(float), s), cudaSuccess);
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  ::tt::emu::Launch(1, 32, 0, s).run(write_kernel, d, 2);  // d = {0, 1, ...}
  ASSERT_EQ(cudaMemcpyAsync(d + 2, ones, 2 * sizeof(float), cudaMemcpyHostToDevice, s), cudaSuccess);
  cudaGraph_t graph = nullptr;
  ASSERT_EQ(cudaStreamEndCapture(s, &graph), cudaSuccess);
  ASSERT_EQ(cudaMemcpyAsync(host, d, sizeof host, cudaMemcpyDeviceToHost, s), cudaSuccess);
  EXPECT_EQ(std::vector<float>(host, host + 4), std::vector<float>(4, 0.0f))
      << "captured work ran at capture";
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec, s), cudaSuccess);
  ASSERT_EQ(cudaMemcpyAsync(host, d, sizeof host, cudaMemcpyDeviceToHost, s), cudaSuccess);
  EXPECT_EQ(std::vector<float>(host, host + 4), (std::vector<float>{0, 1, 1, 1}));
  EXPECT_EQ(cudaGraphExecDestroy(exec), cudaSuccess);
  EXPECT_EQ(cudaGraphDestroy(graph), cudaSuccess);

  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  void* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, 16), cudaErrorStreamCaptureUnsupported);
  EXPECT_EQ(cudaStreamSynchronize(s), cudaErrorStreamCaptureUnsupported);
  EXPECT_EQ(cudaStreamEndCapture(s, &graph), cudaErrorStreamCaptureInvalidated);
  EXPECT_EQ(graph, nullptr);
  cudaGetLastError();
  EXPECT_EQ(cudaFree(d), cudaSuccess);
  EXPECT_EQ(cudaStreamDestroy(s), cudaSuccess);
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

// A cuBLASLt handle and an fp32-compute matmul descriptor, as matmul.cu makes them.
class EmulatedCublasLtPlan : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(cublasLtCreate(&lt), CUBLAS_STATUS_SUCCESS);
    ASSERT_EQ(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), CUBLAS_STATUS_SUCCESS);
  }
  void TearDown() override {
    cublasLtMatmulDescDestroy(desc);
    cublasLtDestroy(lt);
  }
  cublasLtHandle_t lt = nullptr;
  cublasLtMatmulDesc_t desc = nullptr;
};

TEST_F(EmulatedCublasLtPlan, HeuristicOffersNothingForMisalignedOperands) {
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
}

// Copies a host vector into new device memory.
template <class T>
T* to_device(const std::vector<T>& v) {
  void* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, v.size() * sizeof(T)), cudaSuccess);
  EXPECT_EQ(cudaMemcpyAsync(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  return static_cast<T*>(p);
}
template <class T>
std::vector<T> to_host(const T* p, size_t n) {
  std::vector<T> v(n);
  EXPECT_EQ(cudaMemcpyAsync(v.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
  return v;
}

TEST(EmulatedCub, SortPairsIsAStableSortOnTheKeyBitsOfDeviceMemory) {
  const std::vector<int32_t> keys = {5, 3, 5, 0, 3, 7, 1, 5};
  std::vector<int32_t> vals(keys.size());
  for (size_t i = 0; i < vals.size(); ++i) vals[i] = int32_t(i);
  const int n = int(keys.size());
  int32_t *keys_in = to_device(keys), *vals_in = to_device(vals);
  int32_t *keys_out = to_device(std::vector<int32_t>(keys.size())), *vals_out = to_device(vals);
  size_t temp_bytes = 0;
  ASSERT_EQ(
      cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, keys_in, keys_out, vals_in, vals_out, n, 0, 3),
      cudaSuccess);
  EXPECT_GT(temp_bytes, 0u);
  std::vector<char> host_temp(temp_bytes);
  EXPECT_EQ(cub::DeviceRadixSort::SortPairs(host_temp.data(), temp_bytes, keys_in, keys_out, vals_in,
                                            vals_out, n, 0, 3),
            cudaErrorInvalidValue);  // host temporary storage
  void* temp = nullptr;
  ASSERT_EQ(cudaMalloc(&temp, temp_bytes), cudaSuccess);
  size_t short_bytes = temp_bytes - 1;
  EXPECT_EQ(cub::DeviceRadixSort::SortPairs(temp, short_bytes, keys_in, keys_out, vals_in, vals_out, n, 0, 3),
            cudaErrorInvalidValue);
  std::vector<int32_t> host_out(keys.size());
  EXPECT_EQ(
      cub::DeviceRadixSort::SortPairs(temp, temp_bytes, keys_in, host_out.data(), vals_in, vals_out, n, 0, 3),
      cudaErrorInvalidValue);  // host output
  cudaGetLastError();
  ASSERT_EQ(cub::DeviceRadixSort::SortPairs(temp, temp_bytes, keys_in, keys_out, vals_in, vals_out, n, 0, 3),
            cudaSuccess);
  EXPECT_EQ(to_host(keys_out, keys.size()), (std::vector<int32_t>{0, 1, 3, 3, 5, 5, 5, 7}));
  EXPECT_EQ(to_host(vals_out, keys.size()), (std::vector<int32_t>{3, 6, 1, 4, 0, 2, 7, 5}));
  for (void* p : {static_cast<void*>(keys_in), static_cast<void*>(vals_in), static_cast<void*>(keys_out),
                  static_cast<void*>(vals_out), temp})
    cudaFree(p);
}

TEST(EmulatedRuntime, ZeroByteAllocationsAndTimingFreeEvents) {
  void* p = reinterpret_cast<void*>(1);
  EXPECT_EQ(cudaMalloc(&p, 0), cudaSuccess);
  EXPECT_EQ(p, nullptr);
  EXPECT_EQ(cudaFree(p), cudaSuccess);
  cudaEvent_t a = nullptr, b = nullptr;
  ASSERT_EQ(cudaEventCreateWithFlags(&a, cudaEventDisableTiming), cudaSuccess);
  ASSERT_EQ(cudaEventCreate(&b), cudaSuccess);
  cudaEventRecord(a);
  cudaEventRecord(b);
  float ms = 0;
  EXPECT_EQ(cudaEventElapsedTime(&ms, a, b), cudaErrorInvalidResourceHandle);
  cudaGetLastError();
  cudaEventDestroy(a);
  cudaEventDestroy(b);
}

TEST_F(EmulatedCublasLtPlan, MatmulRefusesPointersLessAlignedThanItsAlgorithmWasChosenFor) {
  cublasLtMatrixLayout_t ab = nullptr, c = nullptr;
  cublasLtMatrixLayoutCreate(&ab, CUDA_R_16BF, 8, 8, 8);
  cublasLtMatrixLayoutCreate(&c, CUDA_R_32F, 8, 8, 8);
  cublasLtMatmulPreference_t pref = nullptr;
  cublasLtMatmulPreferenceCreate(&pref);  // default minimum alignments: 256 bytes
  cublasLtMatmulHeuristicResult_t r{};
  int returned = 0;
  ASSERT_EQ(cublasLtMatmulAlgoGetHeuristic(lt, desc, ab, ab, c, c, pref, 1, &r, &returned),
            CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(returned, 1);
  void *a = nullptr, *d = nullptr;
  ASSERT_EQ(cudaMalloc(&a, 64 * 2 + 16), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&d, 64 * 4), cudaSuccess);
  const float alpha = 1, beta = 0;
  EXPECT_EQ(cublasLtMatmul(lt, desc, &alpha, a, ab, a, ab, &beta, d, c, d, c, &r.algo, nullptr, 0, nullptr),
            CUBLAS_STATUS_SUCCESS);
  const void* a16 = static_cast<char*>(a) + 16;  // 16-byte aligned only
  EXPECT_EQ(cublasLtMatmul(lt, desc, &alpha, a16, ab, a, ab, &beta, d, c, d, c, &r.algo, nullptr, 0, nullptr),
            CUBLAS_STATUS_INVALID_VALUE);
  cudaFree(a);
  cudaFree(d);
  cublasLtMatmulPreferenceDestroy(pref);
  cublasLtMatrixLayoutDestroy(ab);
  cublasLtMatrixLayoutDestroy(c);
}

// The candidates' attributes tell their order of summation, and the two that sum in another order differ from
// the first exactly where a sum rounds: D[8x8] = A[8x64] B[64x8] in fp32.
TEST_F(EmulatedCublasLtPlan, CandidatesReportSplitKAndOtherOrdersDifferWhereSumsRound) {
  using tt::emu::GemmAlgo;
  tt::emu::set_gemm_candidates({GemmAlgo::kOneSequence, GemmAlgo::kSplitK, GemmAlgo::kOtherOrder});
  cublasLtMatrixLayout_t al = nullptr, bl = nullptr, dl = nullptr;
  cublasLtMatrixLayoutCreate(&al, CUDA_R_16BF, 8, 64, 8);
  cublasLtMatrixLayoutCreate(&bl, CUDA_R_16BF, 64, 8, 64);
  cublasLtMatrixLayoutCreate(&dl, CUDA_R_32F, 8, 8, 8);
  cublasLtMatmulPreference_t pref = nullptr;
  cublasLtMatmulPreferenceCreate(&pref);
  cublasLtMatmulHeuristicResult_t r[tt::emu::kGemmAlgos] = {};
  int returned = 0;
  const cublasStatus_t st =
      cublasLtMatmulAlgoGetHeuristic(lt, desc, al, bl, dl, dl, pref, tt::emu::kGemmAlgos, r, &returned);
  tt::emu::set_gemm_candidates({GemmAlgo::kOneSequence});  // the algorithms already made keep their kinds
  ASSERT_EQ(st, CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(returned, 3);
  for (int i = 0; i < 3; ++i) {
    int32_t splits = 0;
    uint32_t scheme = 99;
    uint64_t flags = 0;
    size_t written = 0;
    ASSERT_EQ(cublasLtMatmulAlgoConfigGetAttribute(&r[i].algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &splits,
                                                   sizeof(splits), &written),
              CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(written, sizeof(splits));
    ASSERT_EQ(cublasLtMatmulAlgoConfigGetAttribute(&r[i].algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &scheme,
                                                   sizeof(scheme), nullptr),
              CUBLAS_STATUS_SUCCESS);
    ASSERT_EQ(cublasLtMatmulAlgoCapGetAttribute(&r[i].algo, CUBLASLT_ALGO_CAP_NUMERICAL_IMPL_FLAGS, &flags,
                                                sizeof(flags), nullptr),
              CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(splits, i == 1 ? 2 : 1) << "candidate " << i;
    EXPECT_EQ(scheme, i == 1 ? CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE : CUBLASLT_REDUCTION_SCHEME_NONE);
    EXPECT_EQ(flags, CUBLASLT_NUMERICAL_IMPL_FLAGS_HMMA | CUBLASLT_NUMERICAL_IMPL_FLAGS_ACCUMULATOR_32F |
                         CUBLASLT_NUMERICAL_IMPL_FLAGS_INPUT_16BF);
  }
  int64_t wide = 0;
  size_t needed = 0;
  EXPECT_EQ(cublasLtMatmulAlgoConfigGetAttribute(&r[0].algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &wide,
                                                 sizeof(wide), nullptr),
            CUBLAS_STATUS_INVALID_VALUE);  // an int32_t attribute read into 8 bytes
  EXPECT_EQ(
      cublasLtMatmulAlgoConfigGetAttribute(&r[0].algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, nullptr, 0, &needed),
      CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(needed, sizeof(int32_t));
  // Each candidate's D for A and B from `value(i)`.
  auto products = [&](float (*value)(int)) {
    std::vector<__nv_bfloat16> ha(8 * 64), hb(64 * 8);
    for (size_t i = 0; i < ha.size(); ++i) ha[i] = __float2bfloat16_rn(value(int(i)));
    for (size_t i = 0; i < hb.size(); ++i) hb[i] = __float2bfloat16_rn(value(int(i) + 7919));
    __nv_bfloat16 *a = to_device(ha), *b = to_device(hb);
    float* d = device_floats(64);
    std::vector<std::vector<float>> out;
    const float alpha = 1, beta = 0;
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(cublasLtMatmul(lt, desc, &alpha, a, al, b, bl, &beta, d, dl, d, dl, &r[i].algo, nullptr, 0,
                               nullptr),
                CUBLAS_STATUS_SUCCESS);
      out.push_back(to_host(d, 64));
    }
    for (void* p : {static_cast<void*>(a), static_cast<void*>(b), static_cast<void*>(d)}) cudaFree(p);
    return out;
  };
  const auto exact = products([](int i) { return float(i % 7 - 3); });
  EXPECT_EQ(exact[1], exact[0]);
  EXPECT_EQ(exact[2], exact[0]);
  // Magnitudes from 2^-8 to 1: the fp32 sums round, and the rounding depends on the order.
  const auto rounded = products([](int i) {
    return std::ldexp(1.0f + float(i * 37 % 128) / 128.0f, -(i % 9)) * (i % 3 == 0 ? -1.0f : 1.0f);
  });
  EXPECT_NE(rounded[1], rounded[0]);
  EXPECT_NE(rounded[2], rounded[0]);
  cublasLtMatmulPreferenceDestroy(pref);
  for (auto* l : {al, bl, dl}) cublasLtMatrixLayoutDestroy(l);
}

// Strided batches: D_e = A_e B_e for e < 3, column-major A_e [2x3] (ld 8, 24 elements apart), B_e [3x2]
// (ld 8, 16 apart), D_e [2x2] fp32 (ld 4, 8 apart); small integers, so bf16 and fp32 are exact.
class EmulatedCublasLtBatch : public EmulatedCublasLtPlan {
 protected:
  static constexpr int kBatch = 3;
  void SetUp() override {
    EmulatedCublasLtPlan::SetUp();
    std::vector<__nv_bfloat16> ha(24 * kBatch), hb(16 * kBatch);
    for (size_t i = 0; i < ha.size(); ++i) ha[i] = __float2bfloat16_rn(float(int(i % 7) - 3));
    for (size_t i = 0; i < hb.size(); ++i) hb[i] = __float2bfloat16_rn(float(int(i % 5) - 2));
    a_host = ha;
    b_host = hb;
    a = to_device(ha);
    b = to_device(hb);
    d = to_device(std::vector<float>(8 * kBatch, -1.0f));
    al = layout(CUDA_R_16BF, 2, 3, 8, 24);
    bl = layout(CUDA_R_16BF, 3, 2, 8, 16);
    dl = layout(CUDA_R_32F, 2, 2, 4, 8);
  }
  void TearDown() override {
    for (auto* l : {al, bl, dl}) cublasLtMatrixLayoutDestroy(l);
    for (void* p : {static_cast<void*>(a), static_cast<void*>(b), static_cast<void*>(d)}) cudaFree(p);
    EmulatedCublasLtPlan::TearDown();
  }
  static cublasLtMatrixLayout_t layout(cudaDataType_t type, uint64_t rows, uint64_t cols, int64_t ld,
                                       int64_t stride, int32_t count = kBatch) {
    cublasLtMatrixLayout_t l = nullptr;
    EXPECT_EQ(cublasLtMatrixLayoutCreate(&l, type, rows, cols, ld), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)),
              CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride,
                                               sizeof(stride)),
              CUBLAS_STATUS_SUCCESS);
    return l;
  }
  // The heuristic's answer for these layouts with 16-byte minimum alignments; its algorithm goes to algo.
  cublasStatus_t heuristic(cublasLtMatrixLayout_t la, cublasLtMatrixLayout_t lb, cublasLtMatrixLayout_t ld_,
                           int* returned) {
    cublasLtMatmulPreference_t pref = nullptr;
    cublasLtMatmulPreferenceCreate(&pref);
    const uint32_t align = 16;
    for (auto attr : {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
      cublasLtMatmulPreferenceSetAttribute(pref, attr, &align, sizeof(align));
    cublasLtMatmulHeuristicResult_t r{};
    *returned = 0;
    const cublasStatus_t st =
        cublasLtMatmulAlgoGetHeuristic(lt, desc, la, lb, ld_, ld_, pref, 1, &r, returned);
    cublasLtMatmulPreferenceDestroy(pref);
    if (st == CUBLAS_STATUS_SUCCESS && *returned > 0) algo = r.algo;
    return st;
  }
  cublasStatus_t matmul(cublasLtMatrixLayout_t la, cublasLtMatrixLayout_t lb, cublasLtMatrixLayout_t ld_) {
    const float alpha = 1, beta = 0;
    return cublasLtMatmul(lt, desc, &alpha, a, la, b, lb, &beta, d, ld_, d, ld_, &algo, nullptr, 0, nullptr);
  }
  std::vector<__nv_bfloat16> a_host, b_host;
  __nv_bfloat16 *a = nullptr, *b = nullptr;
  float* d = nullptr;
  cublasLtMatrixLayout_t al = nullptr, bl = nullptr, dl = nullptr;
  cublasLtMatmulAlgo_t algo{};
};

TEST_F(EmulatedCublasLtBatch, StridedBatchComputesEveryEntry) {
  int returned = 0;
  ASSERT_EQ(heuristic(al, bl, dl, &returned), CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(returned, 1);
  ASSERT_EQ(matmul(al, bl, dl), CUBLAS_STATUS_SUCCESS);
  const std::vector<float> got = to_host(d, 8 * kBatch);
  for (int e = 0; e < kBatch; ++e)
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j) {
        float want = 0;
        for (int l = 0; l < 3; ++l)
          want += __bfloat162float(a_host[size_t(24 * e + i + 8 * l)]) *
                  __bfloat162float(b_host[size_t(16 * e + l + 8 * j)]);
        EXPECT_EQ(got[size_t(8 * e + i + 4 * j)], want) << "entry " << e << " (" << i << ", " << j << ")";
      }
}

TEST_F(EmulatedCublasLtBatch, MismatchedCountsOutOfBoundsEntriesAndOverlappingOutputsAreRefused) {
  int returned = 0;
  ASSERT_EQ(heuristic(al, bl, dl, &returned), CUBLAS_STATUS_SUCCESS);
  // Batch counts must agree (the real heuristic logs "batch counts mismatch").
  cublasLtMatrixLayout_t two = layout(CUDA_R_16BF, 3, 2, 8, 16, 2);
  EXPECT_EQ(heuristic(al, two, dl, &returned), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(returned, 0);
  EXPECT_EQ(matmul(al, two, dl), CUBLAS_STATUS_INVALID_VALUE);
  // With entries 24 apart, entry 2 of B ends past its allocation (48 elements): refused, nothing written.
  cublasLtMatrixLayout_t far = layout(CUDA_R_16BF, 3, 2, 8, 24);
  EXPECT_EQ(matmul(al, far, dl), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(to_host(d, 8 * kBatch), std::vector<float>(8 * kBatch, -1.0f));
  // D entries 4 elements apart share elements (each spans 6): a race on a GPU.
  cublasLtMatrixLayout_t overlap = layout(CUDA_R_32F, 2, 2, 4, 4);
  EXPECT_EQ(matmul(al, bl, overlap), CUBLAS_STATUS_INVALID_VALUE);
  for (auto* l : {two, far, overlap}) cublasLtMatrixLayoutDestroy(l);
}

TEST_F(EmulatedCublasLtBatch, EntriesLessThan16ByteAlignedGetNoAlgorithm) {
  cublasLtMatrixLayout_t odd = layout(CUDA_R_16BF, 3, 2, 8, 20);  // 40-byte steps between entries
  int returned = -1;
  EXPECT_EQ(heuristic(al, odd, dl, &returned), CUBLAS_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(returned, 0);
  const int64_t stride = 8;
  EXPECT_EQ(cublasLtMatrixLayoutSetAttribute(odd, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, 4),
            CUBLAS_STATUS_INVALID_VALUE);  // int64_t attribute set from 4 bytes
  cublasLtMatrixLayoutDestroy(odd);
}

TEST(EmulatedBackend, OddShapesTakeTheCublasGemmExFallbackAndAlignedOnesCublasLt) {
  auto be = tt::make_cuda_backend(0);
  const tt::emu::GemmCounts before = tt::emu::gemm_counts();
  const int64_t M = 3, K = 8, N = 16;
  tt::Tensor out = be->alloc(M, N, tt::DType::BF16), inp = be->alloc(M, K, tt::DType::BF16);
  tt::Tensor w = be->alloc(N, K, tt::DType::BF16);
  be->matmul_forward(out, inp, w);  // leading dimensions 16 and 32 bytes
  const tt::emu::GemmCounts planned = tt::emu::gemm_counts();
  EXPECT_GT(planned.lt, before.lt);
  be->matmul_forward(out, inp, w);  // the cached plan: one call
  EXPECT_EQ(tt::emu::gemm_counts().lt, planned.lt + 1);
  tt::Tensor out_odd = be->alloc(M, 7, tt::DType::BF16), w_odd = be->alloc(7, K, tt::DType::BF16);
  be->matmul_forward(out_odd, inp, w_odd);  // 14-byte rows of the output
  EXPECT_EQ(tt::emu::gemm_counts().gemm_ex, before.gemm_ex + 1);
  for (tt::Tensor t : {out, inp, w, out_odd, w_odd}) be->free(t);
}

}  // namespace
