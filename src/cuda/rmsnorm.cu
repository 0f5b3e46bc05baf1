// RMSNorm (HF Qwen3RMSNorm). CPU: src/cpu/rmsnorm.h.
//
//   forward : rstd[r] = 1 / sqrt(mean_c(x[r,c]^2) + eps);  out[r,c] = x[r,c] * rstd[r] * w[c]
//             out [R,C] bf16 overwrite; rstd [R] fp32 overwrite (saved for backward); x, w bf16.
//   backward: with g[c] = dout[r,c] * w[c]:
//             dinp[r,c] += rstd * g[c] - x[r,c] * rstd^3 * (sum_c g[c] x[r,c]) / C     (bf16, accumulate)
//             dweight[c] += sum_r dout[r,c] * x[r,c] * rstd[r]                       (fp32, accumulate)
//   All sums in fp32. One warp per row. Rows whose length is a multiple of 8 (and 16-byte aligned tensors)
//   are read and written in 16-byte units of 8 bf16, others one element at a time.
//   The backward is one pass over dout and x: the kernel that writes dinp also sums dout * x * rstd per
//   column, per warp in shared memory, and each block (a fixed range of rows) writes its column sums as an
//   fp32 partial; add_partials_kernel (partials.cuh) adds them in block order: deterministic, no atomics.
#include <algorithm>

#include "common/check.h"
#include "cuda/common.cuh"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_check.h"
#include "cuda/partials.cuh"

namespace tt::cuda {
namespace {

constexpr int kWarps = 8;  // rows in flight per block, one per warp

template <int kN>
__global__ void rmsnorm_forward_kernel(bf16* out, float* rstd, const bf16* inp, const bf16* weight, int64_t R,
                                       int64_t C, float eps) {
  using U = Bf16s<kN>;
  const int64_t r = blockIdx.x * int64_t(kWarps) + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (r >= R) return;
  const int64_t units = C / kN;
  const U* x = reinterpret_cast<const U*>(inp + r * C);
  const U* w = reinterpret_cast<const U*>(weight);
  float ss = 0.0f;
  for (int64_t u = lane; u < units; u += 32) {
    const U xv = x[u];
#pragma unroll
    for (int e = 0; e < kN; ++e) ss += to_f32(xv.v[e]) * to_f32(xv.v[e]);
  }
  ss = warp_sum(ss);
  const float rs = rsqrtf(ss / float(C) + eps);
  if (lane == 0) rstd[r] = rs;
  U* y = reinterpret_cast<U*>(out + r * C);
  for (int64_t u = lane; u < units; u += 32) {
    const U xv = x[u], wv = w[u];
    U yv;
#pragma unroll
    for (int e = 0; e < kN; ++e) yv.v[e] = __float2bfloat16_rn(to_f32(xv.v[e]) * rs * to_f32(wv.v[e]));
    y[u] = yv;
  }
}

// Block b owns rows [b * rows_per_block, ...); partial [gridDim.x, C] receives its dweight column sums.
// Lane l of every warp owns the same columns (units l, l + 32, ...), so its shared-memory sums need no
// synchronisation until the block's final reduction. A warp's sums lie element-major ([kN][units]: column
// u * kN + e at e * units + u), so the 32 lanes touch 32 consecutive floats, one per bank.
template <int kN>
__global__ void rmsnorm_backward_kernel(bf16* dinp, float* partial, const bf16* dout, const bf16* inp,
                                        const bf16* weight, const float* rstd, int64_t R, int64_t C,
                                        int64_t rows_per_block) {
  using U = Bf16s<kN>;
  TT_DYNAMIC_SHARED(float, smem);  // [kWarps][kN][C / kN] per-warp dweight sums
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t units = C / kN;
  float* dw = smem + warp * C;
  for (int64_t u = lane; u < units; u += 32)
#pragma unroll
    for (int e = 0; e < kN; ++e) dw[e * units + u] = 0.0f;
  const U* w = reinterpret_cast<const U*>(weight);
  const int64_t r0 = blockIdx.x * rows_per_block, r1 = min(R, r0 + rows_per_block);
  for (int64_t r = r0 + warp; r < r1; r += kWarps) {
    const U* x = reinterpret_cast<const U*>(inp + r * C);
    const U* dy = reinterpret_cast<const U*>(dout + r * C);
    U* dx = reinterpret_cast<U*>(dinp + r * C);
    float dot = 0.0f;
    for (int64_t u = lane; u < units; u += 32) {
      const U xv = x[u], dyv = dy[u], wv = w[u];
#pragma unroll
      for (int e = 0; e < kN; ++e) dot += to_f32(dyv.v[e]) * to_f32(wv.v[e]) * to_f32(xv.v[e]);
    }
    dot = warp_sum(dot);
    const float rs = rstd[r];
    const float k = rs * rs * rs * dot / float(C);
    for (int64_t u = lane; u < units; u += 32) {  // the row again, from L1
      const U xv = x[u], dyv = dy[u], wv = w[u];
      U dxv = dx[u];
#pragma unroll
      for (int e = 0; e < kN; ++e) {
        const float xe = to_f32(xv.v[e]), dye = to_f32(dyv.v[e]);
        dxv.v[e] = __float2bfloat16_rn(to_f32(dxv.v[e]) + rs * dye * to_f32(wv.v[e]) - xe * k);
        dw[e * units + u] += dye * xe * rs;
      }
      dx[u] = dxv;
    }
  }
  __syncthreads();
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    const int64_t at = (c % kN) * units + c / kN;
    float total = 0.0f;
    for (int wi = 0; wi < kWarps; ++wi) total += smem[wi * C + at];
    partial[blockIdx.x * C + c] = total;
  }
}

// The backward's split of R rows: about 4 blocks per SM, at least 16 rows each (enough parallelism, few
// partials to sum).
struct BackwardSplit {
  int64_t blocks, rows_per_block;
};
BackwardSplit backward_split(const Ctx& ctx, int64_t R) {
  const int64_t blocks = std::max<int64_t>(1, std::min<int64_t>(int64_t(ctx.sm_count) * 4, (R + 15) / 16));
  const int64_t rows_per_block = (R + blocks - 1) / blocks;
  return {std::max<int64_t>(1, (R + rows_per_block - 1) / rows_per_block), rows_per_block};
}

}  // namespace

SlotBytes rmsnorm_scratch(const Ctx& ctx, int64_t R, int64_t C) {
  SlotBytes s{};
  s[size_t(Slot::kNormPartials)] = size_t(backward_split(ctx, R).blocks * C) * sizeof(float);
  return s;
}

void CudaBackend::rmsnorm_forward_impl(Tensor out, Tensor rstd, Tensor inp, Tensor weight, float eps) {
  OpScope scope(*this, Family::kRmsnorm);
  const int64_t R = inp.rows, C = inp.cols;
  const auto kernel =
      can_vec_load(C, {out.ptr, inp.ptr, weight.ptr}) ? rmsnorm_forward_kernel<8> : rmsnorm_forward_kernel<1>;
  kernel<<<ceil_div(R, kWarps), 32 * kWarps, 0, ctx_.stream>>>(
      out.data<bf16>(), rstd.data<float>(), inp.data<bf16>(), weight.data<bf16>(), R, C, eps);
  CUDA_CHECK_LAUNCH();
}

std::optional<std::string> rmsnorm_backward_unsupported(const Ctx& ctx, int64_t columns) {
  // a block keeps one fp32 partial row of dweight per warp in shared memory
  const size_t smem = size_t(kWarps) * size_t(columns) * sizeof(float);
  if (smem <= ctx.max_smem_per_block) return std::nullopt;
  return "a row of " + std::to_string(columns) + " columns needs " + std::to_string(smem) +
         " bytes of shared memory in the RMSNorm backward, above the device's " +
         std::to_string(ctx.max_smem_per_block);
}

void CudaBackend::rmsnorm_backward_impl(Tensor dinp, Tensor dweight, Tensor dout, Tensor inp, Tensor weight,
                                        Tensor rstd) {
  OpScope scope(*this, Family::kRmsnorm);
  const int64_t R = inp.rows, C = inp.cols;
  const size_t smem = size_t(kWarps) * size_t(C) * sizeof(float);
  if (const auto why = rmsnorm_backward_unsupported(ctx_, C)) TT_FAIL() << "CUDA rmsnorm backward: " << *why;
  const auto [blocks, rows_per_block] = backward_split(ctx_, R);
  auto* partial = static_cast<float*>(ctx_.scratch(Slot::kNormPartials, size_t(blocks * C) * sizeof(float)));
  const auto kernel = can_vec_load(C, {dinp.ptr, dout.ptr, inp.ptr, weight.ptr}) ? rmsnorm_backward_kernel<8>
                                                                                 : rmsnorm_backward_kernel<1>;
  allow_dynamic_smem(kernel, smem);
  kernel<<<unsigned(blocks), 32 * kWarps, smem, ctx_.stream>>>(dinp.data<bf16>(), partial, dout.data<bf16>(),
                                                               inp.data<bf16>(), weight.data<bf16>(),
                                                               rstd.data<float>(), R, C, rows_per_block);
  CUDA_CHECK_LAUNCH();
  float* dw = dweight.data<float>();
  add_partials_kernel<<<ceil_div(C, 256), 256, 0, ctx_.stream>>>(dw, dw, C, partial, blocks, C);
  CUDA_CHECK_LAUNCH();
}

}  // namespace tt::cuda
