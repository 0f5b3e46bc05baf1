// RMSNorm kernels (device code), separate from the launchers so that tests/cuda/emu can run them
// on the CPU. Math: rmsnorm.cuh.
#pragma once

#include <cmath>
#include <cstdint>

#include "cuda/common.cuh"

namespace tt::cuda::rms {

constexpr int kRowsPerBlock = 8;  // one warp per row, 8 warps per block

__global__ void rmsnorm_forward_kernel(bf16* out, float* rstd, const bf16* inp, const bf16* weight, int64_t R,
                                       int64_t C, float eps) {
  const int64_t r = blockIdx.x * int64_t(kRowsPerBlock) + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (r >= R) return;
  const bf16* x = inp + r * C;
  float ss = 0.0f;
  for (int64_t c = lane; c < C; c += 32) {
    const float v = to_f32(x[c]);
    ss += v * v;
  }
  ss = warp_sum(ss);
  const float rs = rsqrtf(ss / float(C) + eps);
  if (lane == 0) rstd[r] = rs;
  bf16* y = out + r * C;
  for (int64_t c = lane; c < C; c += 32) y[c] = __float2bfloat16_rn(to_f32(x[c]) * rs * to_f32(weight[c]));
}

__global__ void rmsnorm_backward_dinp_kernel(bf16* dinp, const bf16* dout, const bf16* inp,
                                             const bf16* weight, const float* rstd, int64_t R, int64_t C) {
  const int64_t r = blockIdx.x * int64_t(kRowsPerBlock) + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (r >= R) return;
  const bf16* x = inp + r * C;
  const bf16* dy = dout + r * C;
  float dot = 0.0f;
  for (int64_t c = lane; c < C; c += 32) dot += to_f32(dy[c]) * to_f32(weight[c]) * to_f32(x[c]);
  dot = warp_sum(dot);
  const float rs = rstd[r];
  const float k = rs * rs * rs * dot / float(C);
  bf16* dx = dinp + r * C;
  for (int64_t c = lane; c < C; c += 32) {
    const float g = to_f32(dy[c]) * to_f32(weight[c]);
    dx[c] = __float2bfloat16_rn(to_f32(dx[c]) + rs * g - to_f32(x[c]) * k);
  }
}

// Block (32 x 8) handles 32 columns and rows [split*rows_per_split, ...); partial[split*C + c].
__global__ void rmsnorm_dweight_partial_kernel(float* partial, const bf16* dout, const bf16* inp,
                                               const float* rstd, int64_t R, int64_t C,
                                               int64_t rows_per_split) {
  __shared__ float sh[8][33];
  const int64_t c = blockIdx.x * 32 + threadIdx.x;
  const int64_t split = blockIdx.y;
  const int64_t r0 = split * rows_per_split;
  const int64_t r1 = min(R, r0 + rows_per_split);
  float acc = 0.0f;
  if (c < C)
    for (int64_t r = r0 + threadIdx.y; r < r1; r += 8)
      acc += to_f32(dout[r * C + c]) * to_f32(inp[r * C + c]) * rstd[r];
  sh[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    float s = 0.0f;
#pragma unroll
    for (int i = 0; i < 8; ++i) s += sh[i][threadIdx.x];
    partial[split * C + c] = s;
  }
}

__global__ void rmsnorm_dweight_final_kernel(float* dweight, const float* partial, int64_t splits,
                                             int64_t C) {
  const int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c >= C) return;
  float s = 0.0f;
  for (int64_t i = 0; i < splits; ++i) s += partial[i * C + c];
  dweight[c] += s;
}

}  // namespace tt::cuda::rms
