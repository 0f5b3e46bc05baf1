// The attention inputs from the stacked q|k|v projection: per-head RMSNorm of q and k, then RoPE (rotate_half
// convention), the value heads copied out. CPU: src/cpu/qk_norm_rope.h (rmsnorm.h + rope.h composed).
//
//   qkv [N, (Hq + 2 Hkv) D] bf16: per row Hq query heads, Hkv key heads, Hkv value heads.
//   forward : per q/k head row x [D]: rstd = 1/sqrt(mean(x^2) + eps), y = x * rstd * w, then with
//             c = cos[n % T][i], s = sin[n % T][i] (fp32 tables [P, D/2], made on the host in fp64):
//             out[i] = y[i] c - y[i+D/2] s;  out[i+D/2] = y[i+D/2] c + y[i] s
//             q [N, Hq*D], k [N, Hkv*D], v [N, Hkv*D] bf16 overwrite; q_rstd [N*Hq], k_rstd [N*Hkv] fp32
//             overwrite (saved). y stays in fp32 between the norm and the rotation.
//   backward: g = R^T dy (the transposed rotation), then the norm's backward with x from qkv:
//             dx = rstd g w - x rstd^3 (sum_c g w x) / D    -> dqkv (bf16, overwrite; value part = dv)
//             dw += sum over rows of g x rstd                -> dq_norm, dk_norm (fp32, accumulate)
//   One warp per head row (a row's D values in registers, 32 lanes apart; the rotation pairs i, i + D/2 meet
//   through a per-warp row in shared memory). The weight gradient is deterministic: each block owns a fixed
//   range of tokens and writes one fp32 partial per column for q and for k; one more kernel sums the
//   partials in block order. D <= kMaxHeadDim.
#include <algorithm>

#include "common/check.h"
#include "cuda/common.cuh"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_check.h"

namespace tt::cuda {
namespace {

constexpr int kWarps = 8;  // head rows in flight per block, one per warp
constexpr int kMaxHeadDim = 256;
constexpr int kMaxPerLane = kMaxHeadDim / 32;

struct Heads {
  int64_t N, T;  // rows, sequence length (table row n % T)
  int Hq, Hkv, D;
};

// Forward: warp w of the grid takes head rows w, w + warps, ... of the N * (Hq + 2 Hkv) head rows.
__global__ void qk_norm_rope_forward_kernel(bf16* q, bf16* k, bf16* v, float* q_rstd, float* k_rstd,
                                            const bf16* qkv, const bf16* q_norm, const bf16* k_norm,
                                            const float* cos, const float* sin, Heads h, float eps) {
  TT_DYNAMIC_SHARED(float, smem);  // [kWarps][D]
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  float* row = smem + warp * h.D;
  const int H3 = h.Hq + 2 * h.Hkv, half = h.D / 2;
  const int64_t rows = h.N * H3;
  const int64_t warps = int64_t(gridDim.x) * kWarps;
  for (int64_t r = blockIdx.x * int64_t(kWarps) + warp; r < rows; r += warps) {
    const int64_t n = r / H3;
    const int j = int(r % H3);
    const bf16* x = qkv + r * h.D;  // head j of row n
    if (j >= h.Hq + h.Hkv) {        // a value head: copied
      bf16* dst = v + (n * h.Hkv + (j - h.Hq - h.Hkv)) * h.D;
      for (int c = lane; c < h.D; c += 32) dst[c] = x[c];
      continue;
    }
    const bool is_q = j < h.Hq;
    const bf16* w = is_q ? q_norm : k_norm;
    float ss = 0.0f;
    for (int c = lane; c < h.D; c += 32) {
      const float t = to_f32(x[c]);
      ss += t * t;
    }
    ss = warp_sum(ss);
    const float rs = rsqrtf(ss / float(h.D) + eps);
    if (lane == 0) {
      if (is_q)
        q_rstd[n * h.Hq + j] = rs;
      else
        k_rstd[n * h.Hkv + (j - h.Hq)] = rs;
    }
    for (int c = lane; c < h.D; c += 32) row[c] = to_f32(x[c]) * rs * to_f32(w[c]);
    __syncwarp();
    bf16* out = is_q ? q + (n * h.Hq + j) * h.D : k + (n * h.Hkv + (j - h.Hq)) * h.D;
    const float* cs = cos + (n % h.T) * half;
    const float* sn = sin + (n % h.T) * half;
    for (int i = lane; i < half; i += 32) {
      const float a = row[i], b = row[i + half];
      out[i] = __float2bfloat16_rn(a * cs[i] - b * sn[i]);
      out[i + half] = __float2bfloat16_rn(b * cs[i] + a * sn[i]);
    }
    __syncwarp();  // the row buffer is reused by this warp's next head row
  }
}

// Backward: block b owns tokens [b * tokens_per_block, ...) (all their heads); partial_q/partial_k
// [blocks, D] receive the block's weight-gradient sums.
__global__ void qk_norm_rope_backward_kernel(bf16* dqkv, float* partial_q, float* partial_k, const bf16* dq,
                                             const bf16* dk, const bf16* dv, const bf16* qkv,
                                             const bf16* q_norm, const bf16* k_norm, const float* q_rstd,
                                             const float* k_rstd, const float* cos, const float* sin, Heads h,
                                             int64_t tokens_per_block) {
  TT_DYNAMIC_SHARED(float, smem);  // [kWarps][D] rows, then [kWarps][2][D] weight-gradient sums
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  float* row = smem + warp * h.D;
  float* dw = smem + kWarps * h.D + warp * 2 * h.D;  // this warp's q (0..D) and k (D..2D) sums
  for (int c = lane; c < 2 * h.D; c += 32) dw[c] = 0.0f;
  const int H3 = h.Hq + 2 * h.Hkv, half = h.D / 2;
  const int64_t n0 = blockIdx.x * tokens_per_block;
  const int64_t n1 = min(h.N, n0 + tokens_per_block);
  for (int64_t r = n0 * H3 + warp; r < n1 * H3; r += kWarps) {
    const int64_t n = r / H3;
    const int j = int(r % H3);
    bf16* dx = dqkv + r * h.D;
    if (j >= h.Hq + h.Hkv) {
      const bf16* src = dv + (n * h.Hkv + (j - h.Hq - h.Hkv)) * h.D;
      for (int c = lane; c < h.D; c += 32) dx[c] = src[c];
      continue;
    }
    const bool is_q = j < h.Hq;
    const bf16* dy = is_q ? dq + (n * h.Hq + j) * h.D : dk + (n * h.Hkv + (j - h.Hq)) * h.D;
    const float* cs = cos + (n % h.T) * half;
    const float* sn = sin + (n % h.T) * half;
    for (int i = lane; i < half; i += 32) {  // g = R^T dy
      const float a = to_f32(dy[i]), b = to_f32(dy[i + half]);
      row[i] = a * cs[i] + b * sn[i];
      row[i + half] = b * cs[i] - a * sn[i];
    }
    __syncwarp();
    const bf16* x = qkv + r * h.D;
    const bf16* w = is_q ? q_norm : k_norm;
    const float rs = is_q ? q_rstd[n * h.Hq + j] : k_rstd[n * h.Hkv + (j - h.Hq)];
    float gx[kMaxPerLane], dot = 0.0f;
    for (int c = lane, e = 0; c < h.D; c += 32, ++e) {
      gx[e] = to_f32(x[c]);
      dot += row[c] * to_f32(w[c]) * gx[e];
    }
    dot = warp_sum(dot);
    const float kcoef = rs * rs * rs * dot / float(h.D);
    float* dwj = dw + (is_q ? 0 : h.D);
    for (int c = lane, e = 0; c < h.D; c += 32, ++e) {
      dx[c] = __float2bfloat16_rn(rs * row[c] * to_f32(w[c]) - gx[e] * kcoef);
      dwj[c] += row[c] * gx[e] * rs;
    }
    __syncwarp();
  }
  __syncthreads();
  for (int c = threadIdx.x; c < 2 * h.D; c += blockDim.x) {
    float total = 0.0f;
    for (int wi = 0; wi < kWarps; ++wi) total += smem[kWarps * h.D + wi * 2 * h.D + c];
    if (c < h.D)
      partial_q[blockIdx.x * int64_t(h.D) + c] = total;
    else
      partial_k[blockIdx.x * int64_t(h.D) + (c - h.D)] = total;
  }
}

// dw[c] += sum_b partial[b * D + c], in block order.
__global__ void qk_norm_dweight_final_kernel(float* dq_norm, float* dk_norm, const float* partial_q,
                                             const float* partial_k, int64_t blocks, int D) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= 2 * D) return;
  const float* p = c < D ? partial_q + c : partial_k + (c - D);
  float s = 0.0f;
  for (int64_t b = 0; b < blocks; ++b) s += p[b * D];
  if (c < D)
    dq_norm[c] += s;
  else
    dk_norm[c - D] += s;
}

Heads heads_of(Tensor qkv, Tensor q, Tensor k, Tensor cos, int64_t seq_len) {
  Heads h;
  h.N = qkv.rows;
  h.T = seq_len;
  h.D = int(2 * cos.cols);
  h.Hq = int(q.cols / h.D);
  h.Hkv = int(k.cols / h.D);
  TT_CHECK(h.D <= kMaxHeadDim) << "CUDA qk_norm_rope: head_dim " << h.D << " is above the kernels' "
                               << kMaxHeadDim;
  return h;
}

}  // namespace

void CudaBackend::qk_norm_rope_forward_impl(Tensor q, Tensor k, Tensor v, Tensor q_rstd, Tensor k_rstd,
                                            Tensor qkv, Tensor q_norm, Tensor k_norm, Tensor cos, Tensor sin,
                                            int64_t seq_len, float eps) {
  OpScope scope(*this, Family::kQkNormRope);
  const Heads h = heads_of(qkv, q, k, cos, seq_len);
  const int64_t rows = h.N * (h.Hq + 2 * h.Hkv);
  const int blocks = int(std::min<int64_t>((rows + kWarps - 1) / kWarps, int64_t(ctx_.sm_count) * 16));
  qk_norm_rope_forward_kernel<<<blocks, 32 * kWarps, size_t(kWarps) * h.D * sizeof(float), ctx_.stream>>>(
      q.data<bf16>(), k.data<bf16>(), v.data<bf16>(), q_rstd.data<float>(), k_rstd.data<float>(),
      qkv.data<bf16>(), q_norm.data<bf16>(), k_norm.data<bf16>(), cos.data<float>(), sin.data<float>(), h,
      eps);
  CUDA_CHECK_LAUNCH();
}

void CudaBackend::qk_norm_rope_backward_impl(Tensor dqkv, Tensor dq_norm, Tensor dk_norm, Tensor dq,
                                             Tensor dk, Tensor dv, Tensor qkv, Tensor q_norm, Tensor k_norm,
                                             Tensor q_rstd, Tensor k_rstd, Tensor cos, Tensor sin,
                                             int64_t seq_len) {
  OpScope scope(*this, Family::kQkNormRope);
  const Heads h = heads_of(qkv, dq, dk, cos, seq_len);
  // About 4 blocks per SM, at least 16 tokens each: enough parallelism, few partials to sum.
  int64_t blocks = std::max<int64_t>(1, std::min<int64_t>(int64_t(ctx_.sm_count) * 4, (h.N + 15) / 16));
  const int64_t tokens_per_block = (h.N + blocks - 1) / blocks;
  blocks = (h.N + tokens_per_block - 1) / tokens_per_block;
  auto* partial =
      static_cast<float*>(ctx_.scratch(Slot::kNormPartials, size_t(2 * blocks * h.D) * sizeof(float)));
  const size_t smem = size_t(kWarps) * 3 * h.D * sizeof(float);
  qk_norm_rope_backward_kernel<<<unsigned(blocks), 32 * kWarps, smem, ctx_.stream>>>(
      dqkv.data<bf16>(), partial, partial + blocks * h.D, dq.data<bf16>(), dk.data<bf16>(), dv.data<bf16>(),
      qkv.data<bf16>(), q_norm.data<bf16>(), k_norm.data<bf16>(), q_rstd.data<float>(), k_rstd.data<float>(),
      cos.data<float>(), sin.data<float>(), h, tokens_per_block);
  CUDA_CHECK_LAUNCH();
  qk_norm_dweight_final_kernel<<<ceil_div(2 * h.D, 128), 128, 0, ctx_.stream>>>(
      dq_norm.data<float>(), dk_norm.data<float>(), partial, partial + blocks * h.D, blocks, h.D);
  CUDA_CHECK_LAUNCH();
}

}  // namespace tt::cuda
