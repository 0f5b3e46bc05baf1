// SwiGLU kernels (device code), separate from the launchers so that tests/cuda/emu can run them on
// the CPU. Math: swiglu.cuh.
#pragma once

#include <cmath>
#include <cstdint>

#include "cuda/common.cuh"

namespace tt::cuda::swi {

__device__ __forceinline__ float sigmoid(float x) {
  return 1.0f / (1.0f + __expf(-x));
}

__global__ void swiglu_forward_kernel(bf16* out, const bf16* gate, const bf16* up, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float g = to_f32(gate[i]);
    out[i] = __float2bfloat16_rn(g * sigmoid(g) * to_f32(up[i]));
  }
}

__global__ void swiglu_forward_kernel2(__nv_bfloat162* out, const __nv_bfloat162* gate,
                                       const __nv_bfloat162* up, int64_t n2) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n2;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float2 g = __bfloat1622float2(gate[i]);
    const float2 u = __bfloat1622float2(up[i]);
    out[i] = __floats2bfloat162_rn(g.x * sigmoid(g.x) * u.x, g.y * sigmoid(g.y) * u.y);
  }
}

__global__ void swiglu_backward_kernel(bf16* dgate, bf16* dup, const bf16* dout, const bf16* gate,
                                       const bf16* up, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float g = to_f32(gate[i]), u = to_f32(up[i]), dy = to_f32(dout[i]);
    const float sg = sigmoid(g);
    const float silu = g * sg;
    dgate[i] = __float2bfloat16_rn(dy * u * sg * (1.0f + g * (1.0f - sg)));
    dup[i] = __float2bfloat16_rn(dy * silu);
  }
}

}  // namespace tt::cuda::swi
