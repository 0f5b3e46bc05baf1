// RMSNorm forward/backward kernels (math: rmsnorm.cuh).
#include <algorithm>

#include "cuda/common.cuh"
#include "cuda/cuda_check.h"
#include "cuda/rmsnorm.cuh"

namespace tt::cuda {
namespace {

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

}  // namespace

void rmsnorm_forward(Ctx& ctx, Buf out, Buf rstd, Buf inp, Buf weight, int64_t R, int64_t C, float eps) {
  if (R == 0) return;
  rmsnorm_forward_kernel<<<ceil_div(R, kRowsPerBlock), 32 * kRowsPerBlock, 0, ctx.stream>>>(
      out.as<bf16>(), rstd.as<float>(), inp.as<bf16>(), weight.as<bf16>(), R, C, eps);
  CUDA_CHECK_LAUNCH();
}

void rmsnorm_backward(Ctx& ctx, Buf dinp, Buf dweight, Buf dout, Buf inp, Buf weight, Buf rstd, int64_t R,
                      int64_t C) {
  if (R == 0 || C == 0) return;
  if (!dinp.empty()) {
    rmsnorm_backward_dinp_kernel<<<ceil_div(R, kRowsPerBlock), 32 * kRowsPerBlock, 0, ctx.stream>>>(
        dinp.as<bf16>(), dout.as<bf16>(), inp.as<bf16>(), weight.as<bf16>(), rstd.as<float>(), R, C);
    CUDA_CHECK_LAUNCH();
  }
  if (!dweight.empty()) {
    // About 4 blocks per SM in total, at least 64 rows per split.
    const int64_t col_blocks = ceil_div(C, 32);
    int64_t splits = (int64_t(ctx.sm_count) * 4 + col_blocks - 1) / col_blocks;
    splits = std::max<int64_t>(1, std::min<int64_t>(splits, (R + 63) / 64));
    const int64_t rows_per_split = (R + splits - 1) / splits;
    splits = (R + rows_per_split - 1) / rows_per_split;
    auto* partial = static_cast<float*>(ctx.scratch(Slot::kNormPartials, size_t(splits * C) * sizeof(float)));
    rmsnorm_dweight_partial_kernel<<<dim3(unsigned(col_blocks), unsigned(splits)), dim3(32, 8), 0,
                                     ctx.stream>>>(partial, dout.as<bf16>(), inp.as<bf16>(), rstd.as<float>(),
                                                   R, C, rows_per_split);
    CUDA_CHECK_LAUNCH();
    rmsnorm_dweight_final_kernel<<<ceil_div(C, 256), 256, 0, ctx.stream>>>(dweight.as<float>(), partial,
                                                                           splits, C);
    CUDA_CHECK_LAUNCH();
  }
}

}  // namespace tt::cuda
