// Reduction and AdamW kernels (device code), separate from the launchers so that tests/cuda/emu
// can run them on the CPU. Math: adamw.cuh.
#pragma once

#include <cmath>
#include <cstdint>

#include "cuda/common.cuh"

namespace tt::cuda::opt {

constexpr int kReduceThreads = 256;
constexpr int kMaxPartials = 1024;

template <bool kSquare>
__global__ void reduce_partial_kernel(double* partial, const float* x, int64_t n) {
  __shared__ double sh[32];
  float acc = 0.0f;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float v = x[i];
    acc += kSquare ? v * v : v;
  }
  const double total = block_sum<double>(double(acc), sh);
  if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

__global__ void reduce_final_kernel(float* out, const double* partial, int count) {
  __shared__ double sh[32];
  double acc = 0.0;
  for (int i = threadIdx.x; i < count; i += blockDim.x) acc += partial[i];
  const double total = block_sum<double>(acc, sh);
  if (threadIdx.x == 0) out[0] = float(total);
}

}  // namespace tt::cuda::opt
