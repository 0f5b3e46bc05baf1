// RoPE kernels (device code), separate from the launchers so that tests/cuda/emu can run them on
// the CPU. Math: rope.cuh.
#pragma once

#include <cmath>
#include <cstdint>

#include "cuda/common.cuh"

namespace tt::cuda::rope {

__global__ void rope_kernel(bf16* out, const bf16* inp, int64_t N, int64_t T, int64_t H, int64_t D,
                            double log2_theta, int64_t pos_offset, float sign) {
  const int64_t half = D / 2;
  const int64_t total = N * H * half;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = idx % half;
    const int64_t nh = idx / half;  // n * H + h
    const int64_t n = nh / H;
    const double pos = double(pos_offset + n % T);
    const double inv_freq = exp2(-(2.0 * double(i) / double(D)) * log2_theta);
    const double two_pi = 6.283185307179586476925286766559;
    const double ang = fmod(pos * inv_freq, two_pi);
    float s, c;
    sincosf(float(ang), &s, &c);
    s *= sign;
    const int64_t base = nh * D;
    const float x1 = to_f32(inp[base + i]);
    const float x2 = to_f32(inp[base + i + half]);
    out[base + i] = __float2bfloat16_rn(x1 * c - x2 * s);
    out[base + i + half] = __float2bfloat16_rn(x2 * c + x1 * s);
  }
}

}  // namespace tt::cuda::rope
