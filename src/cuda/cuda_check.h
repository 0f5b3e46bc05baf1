// Error checks for CUDA runtime and cuBLASLt calls.
//
//   CUDA_CHECK(cudaMalloc(&p, n));      CUBLAS_CHECK(cublasLtMatmul(...));      CUDA_CHECK_LAUNCH();
//
// A failure throws tt::Error whose message names the failing statement, the error name and text,
// and file:line (a failing CUDA call is either a bad input we did not catch or a bug here, so the
// location is what the reader needs). CUDA_CHECK_LAUNCH() checks the last kernel launch (launch
// configuration errors are reported there; faults inside a kernel surface at the next sync, or at
// the launch itself with TT_CUDA_SYNC_CHECK=1).
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

namespace tt::cuda {

[[noreturn]] void raise_cuda_error(const char* what, const char* stmt, const char* file, int line,
                                   const char* name, const char* text);
// TT_CUDA_SYNC_CHECK=1 in the environment: CUDA_CHECK_LAUNCH() also synchronises the device, so a fault
// inside a kernel is reported at that kernel's launch site instead of at a later copy (slow; debugging
// and the first run of the GPU tests, scripts/gpu_session.sh).
bool sync_after_launch();

}  // namespace tt::cuda

#define CUDA_CHECK(stmt)                                                                              \
  do {                                                                                                \
    const cudaError_t tt_cuda_err_ = (stmt);                                                          \
    if (tt_cuda_err_ != cudaSuccess)                                                                  \
      ::tt::cuda::raise_cuda_error("CUDA", #stmt, __FILE__, __LINE__, cudaGetErrorName(tt_cuda_err_), \
                                   cudaGetErrorString(tt_cuda_err_));                                 \
  } while (0)

#define CUBLAS_CHECK(stmt)                                                  \
  do {                                                                      \
    const cublasStatus_t tt_cublas_st_ = (stmt);                            \
    if (tt_cublas_st_ != CUBLAS_STATUS_SUCCESS)                             \
      ::tt::cuda::raise_cuda_error("cuBLASLt", #stmt, __FILE__, __LINE__,   \
                                   cublasLtGetStatusName(tt_cublas_st_),    \
                                   cublasLtGetStatusString(tt_cublas_st_)); \
  } while (0)

#define CUDA_CHECK_LAUNCH()                                                   \
  do {                                                                        \
    CUDA_CHECK(cudaGetLastError());                                           \
    if (::tt::cuda::sync_after_launch()) CUDA_CHECK(cudaDeviceSynchronize()); \
  } while (0)
