// RMSNorm (HF Qwen3RMSNorm), also used per head for the q/k norms (R = N*H rows, C = D). CPU:
// src/cpu/rmsnorm.h.
//
//   forward : rstd[r] = 1 / sqrt(mean_c(x[r,c]^2) + eps);  out[r,c] = x[r,c] * rstd[r] * w[c]
//             out [R,C] bf16 overwrite; rstd [R] fp32 overwrite (saved for backward); x, w bf16.
//   backward: with g[c] = dout[r,c] * w[c]:
//             dinp[r,c] += rstd * g[c] - x[r,c] * rstd^3 * (sum_c g[c] x[r,c]) / C     (bf16, accumulate)
//             dweight[c] += sum_r dout[r,c] * x[r,c] * rstd[r]                       (fp32, accumulate)
//   All sums in fp32. dinp: one warp per row. dweight: a deterministic two-stage column reduction
//   (fixed row ranges per block -> fp32 partials in scratch -> one fixed-order sum per column).
#include <algorithm>
#include <cmath>

#include "cuda/common.cuh"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_check.h"

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

void CudaBackend::rmsnorm_forward_impl(Tensor out, Tensor rstd, Tensor inp, Tensor weight, float eps) {
  OpScope scope(*this, Family::kRmsnorm);
  const int64_t R = inp.rows, C = inp.cols;
  rmsnorm_forward_kernel<<<ceil_div(R, kRowsPerBlock), 32 * kRowsPerBlock, 0, ctx_.stream>>>(
      out.data<bf16>(), rstd.data<float>(), inp.data<bf16>(), weight.data<bf16>(), R, C, eps);
  CUDA_CHECK_LAUNCH();
}

void CudaBackend::rmsnorm_backward_impl(Tensor dinp, Tensor dweight, Tensor dout, Tensor inp, Tensor weight,
                                        Tensor rstd) {
  OpScope scope(*this, Family::kRmsnorm);
  const int64_t R = inp.rows, C = inp.cols;
  rmsnorm_backward_dinp_kernel<<<ceil_div(R, kRowsPerBlock), 32 * kRowsPerBlock, 0, ctx_.stream>>>(
      dinp.data<bf16>(), dout.data<bf16>(), inp.data<bf16>(), weight.data<bf16>(), rstd.data<float>(), R, C);
  CUDA_CHECK_LAUNCH();
  // About 4 blocks per SM in total, at least 64 rows per split.
  const int64_t col_blocks = ceil_div(C, 32);
  int64_t splits = (int64_t(ctx_.sm_count) * 4 + col_blocks - 1) / col_blocks;
  splits = std::max<int64_t>(1, std::min<int64_t>(splits, (R + 63) / 64));
  const int64_t rows_per_split = (R + splits - 1) / splits;
  splits = (R + rows_per_split - 1) / rows_per_split;
  auto* partial = static_cast<float*>(ctx_.scratch(Slot::kNormPartials, size_t(splits * C) * sizeof(float)));
  rmsnorm_dweight_partial_kernel<<<dim3(unsigned(col_blocks), unsigned(splits)), dim3(32, 8), 0,
                                   ctx_.stream>>>(partial, dout.data<bf16>(), inp.data<bf16>(),
                                                  rstd.data<float>(), R, C, rows_per_split);
  CUDA_CHECK_LAUNCH();
  rmsnorm_dweight_final_kernel<<<ceil_div(C, 256), 256, 0, ctx_.stream>>>(dweight.data<float>(), partial,
                                                                          splits, C);
  CUDA_CHECK_LAUNCH();
}

}  // namespace tt::cuda
