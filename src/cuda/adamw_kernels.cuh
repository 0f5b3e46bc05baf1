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

struct AdamWParams {
  float lr, beta1, beta2, eps, decay_factor;  // decay_factor = 1 - lr*wd (or 1)
  float bias1, bias2;                         // 1 - beta^step
  float max_grad_norm;
};

__global__ void adamw_kernel(float* master, bf16* compute, const float* grads, float* m, float* v,
                             const float* grad_norm_sq, int64_t n, AdamWParams a) {
  float clip = 1.0f;
  if (a.max_grad_norm > 0.0f) {
    const float norm = sqrtf(grad_norm_sq[0]);
    clip = fminf(1.0f, a.max_grad_norm / (norm + 1e-6f));
  }
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float g = grads[i] * clip;
    float p = master[i] * a.decay_factor;
    const float mi = a.beta1 * m[i] + (1.0f - a.beta1) * g;
    const float vi = a.beta2 * v[i] + (1.0f - a.beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    p -= a.lr * (mi / a.bias1) / (sqrtf(vi / a.bias2) + a.eps);
    master[i] = p;
    if (compute) compute[i] = __float2bfloat16_rn(p);
  }
}

}  // namespace tt::cuda::opt
