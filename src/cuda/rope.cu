// RoPE forward/backward (math: rope.cuh). One thread per rotated pair (n, h, i).
#include <cmath>

#include "cuda/common.cuh"
#include "cuda/cuda_check.h"
#include "cuda/rope.cuh"

namespace tt::cuda {
namespace {

// sign = +1: forward rotation by +angle; sign = -1: the transpose (rotation by -angle).
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

void launch(Ctx& ctx, Buf out, Buf inp, int64_t N, int64_t T, int64_t H, int64_t D, double theta,
            int64_t pos_offset, float sign) {
  const int64_t total = N * H * (D / 2);
  if (total == 0) return;
  const int threads = 256;
  rope_kernel<<<grid_for(total, threads, ctx), threads, 0, ctx.stream>>>(
      out.as<bf16>(), inp.as<bf16>(), N, T, H, D, std::log2(theta), pos_offset, sign);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void rope_forward(Ctx& ctx, Buf out, Buf inp, int64_t N, int64_t T, int64_t H, int64_t D, double theta,
                  int64_t pos_offset) {
  launch(ctx, out, inp, N, T, H, D, theta, pos_offset, 1.0f);
}

void rope_backward(Ctx& ctx, Buf dinp, Buf dout, int64_t N, int64_t T, int64_t H, int64_t D, double theta,
                   int64_t pos_offset) {
  launch(ctx, dinp, dout, N, T, H, D, theta, pos_offset, -1.0f);
}

}  // namespace tt::cuda
