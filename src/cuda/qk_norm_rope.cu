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
//   Two kernel pairs:
//   - 16-byte units (D in 16, 32, 64, 128, 256 and 16-byte aligned tensors, the models' case): L = D/8 lanes
//     per head row, 32/L head rows per warp; lane j holds elements 8j..8j+7, and the rotation partner of
//     element i < D/2 (i + D/2) sits in lane j ^ L/2 of the same group (one xor shuffle per element). The
//     backward keeps each lane's weight-gradient columns in registers.
//   - One element at a time (any other D <= kMaxHeadDim): one warp per head row, its D values 32 lanes apart;
//     the rotation pairs meet through a per-warp row in shared memory.
//   The weight gradient is deterministic: each block owns a fixed range of tokens and writes one fp32 partial
//   per column for q and k ([blocks, 2D]); add_partials_kernel (partials.cuh) sums them in block order.
#include <algorithm>

#include "common/check.h"
#include "cuda/common.cuh"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_check.h"
#include "cuda/partials.cuh"

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

// Backward: block b owns tokens [b * tokens_per_block, ...) (all their heads); partial [blocks, 2D] receives
// the block's weight-gradient sums (q's columns, then k's).
__global__ void qk_norm_rope_backward_kernel(bf16* dqkv, float* partial, const bf16* dq, const bf16* dk,
                                             const bf16* dv, const bf16* qkv, const bf16* q_norm,
                                             const bf16* k_norm, const float* q_rstd, const float* k_rstd,
                                             const float* cos, const float* sin, Heads h,
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
    partial[blockIdx.x * int64_t(2 * h.D) + c] = total;
  }
}

// ---- 16-byte units: L = D / 8 lanes per head row ----------------------------------------------------------

using Unit = Bf16s<8>;
using Unit32 = Pack<float, 8>;

// Sum over the L lanes of a head row's group (xor shuffles stay inside the aligned group of L lanes).
__device__ __forceinline__ float group_sum(float v, int L) {
  for (int off = L / 2; off > 0; off >>= 1) v += __shfl_xor_sync(kFullMask, v, off);
  return v;
}

// Where head row r (of the N * (Hq + 2 Hkv) rows of qkv) goes.
struct HeadRow {
  int64_t n;  // token
  int j;      // head within the row of qkv: q heads, then k heads, then v heads
  bool is_q, is_v;
};
__device__ __forceinline__ HeadRow head_row(int64_t r, const Heads& h) {
  const int H3 = h.Hq + 2 * h.Hkv;
  HeadRow hr;
  hr.n = r / H3;
  hr.j = int(r - hr.n * H3);
  hr.is_q = hr.j < h.Hq;
  hr.is_v = hr.j >= h.Hq + h.Hkv;
  return hr;
}
// The unit (of L) of head row hr's q, k or v output row.
__device__ __forceinline__ int64_t out_unit(const HeadRow& hr, const Heads& h, int L, int lane_j) {
  const int64_t head = hr.is_q   ? hr.n * h.Hq + hr.j
                       : hr.is_v ? hr.n * h.Hkv + (hr.j - h.Hq - h.Hkv)
                                 : hr.n * h.Hkv + (hr.j - h.Hq);
  return head * L + lane_j;
}

// Every lane of a warp runs every iteration (the shuffles need the full warp); a group whose row is past the
// end computes on zeros and stores nothing.
__global__ void qk_norm_rope_forward_vec_kernel(bf16* q, bf16* k, bf16* v, float* q_rstd, float* k_rstd,
                                                const bf16* qkv, const bf16* q_norm, const bf16* k_norm,
                                                const float* cos, const float* sin, Heads h, float eps) {
  const int L = h.D / 8, per_warp = 32 / L, lane = threadIdx.x & 31, lj = lane % L;
  const int64_t rows = h.N * (h.Hq + 2 * h.Hkv);
  const int64_t warp0 = blockIdx.x * int64_t(kWarps) + (threadIdx.x >> 5),
                warps = int64_t(gridDim.x) * kWarps;
  const int half_units = L / 2;
  const float sign = lj < half_units ? -1.0f : 1.0f;  // out = y c + sign * partner(y) s
  for (int64_t base = warp0 * per_warp; base < rows; base += warps * per_warp) {
    const int64_t r = base + lane / L;
    const bool valid = r < rows;
    const HeadRow hr = head_row(valid ? r : 0, h);
    Unit x;
    if (valid) {
      x = reinterpret_cast<const Unit*>(qkv)[r * L + lj];
    } else {
#pragma unroll
      for (int e = 0; e < 8; ++e) x.v[e] = __float2bfloat16_rn(0.0f);
    }
    float ss = 0.0f;
#pragma unroll
    for (int e = 0; e < 8; ++e) ss += to_f32(x.v[e]) * to_f32(x.v[e]);
    ss = group_sum(ss, L);
    const float rs = rsqrtf(ss / float(h.D) + eps);
    const Unit w = reinterpret_cast<const Unit*>(hr.is_q ? q_norm : k_norm)[lj];
    const int64_t t = hr.n % h.T;
    const Unit32 c = reinterpret_cast<const Unit32*>(cos + t * (h.D / 2))[lj % half_units];
    const Unit32 sn = reinterpret_cast<const Unit32*>(sin + t * (h.D / 2))[lj % half_units];
    Unit out;
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      const float y = to_f32(x.v[e]) * rs * to_f32(w.v[e]);
      const float partner = __shfl_xor_sync(kFullMask, y, half_units);
      out.v[e] = __float2bfloat16_rn(y * c.v[e] + sign * partner * sn.v[e]);
    }
    if (!valid) continue;
    const int64_t u = out_unit(hr, h, L, lj);
    if (hr.is_v) {
      reinterpret_cast<Unit*>(v)[u] = x;
    } else {
      reinterpret_cast<Unit*>(hr.is_q ? q : k)[u] = out;
      if (lj == 0) (hr.is_q ? q_rstd : k_rstd)[u / L] = rs;
    }
  }
}

// Backward, vector form: block b owns tokens [b * tokens_per_block, ...); lane j of every group owns weight
// columns 8j..8j+7 of q and of k, summed in registers, then over the groups of the warp (shuffles), over the
// warps (shared memory, in warp order) into the block's partial [2D].
__global__ void qk_norm_rope_backward_vec_kernel(bf16* dqkv, float* partial, const bf16* dq, const bf16* dk,
                                                 const bf16* dv, const bf16* qkv, const bf16* q_norm,
                                                 const bf16* k_norm, const float* q_rstd, const float* k_rstd,
                                                 const float* cos, const float* sin, Heads h,
                                                 int64_t tokens_per_block) {
  __shared__ float sums[kWarps][2 * kMaxHeadDim];
  const int L = h.D / 8, per_warp = 32 / L, lane = threadIdx.x & 31, lj = lane % L, warp = threadIdx.x >> 5;
  const int H3 = h.Hq + 2 * h.Hkv, half_units = L / 2;
  const float sign = lj < half_units ? -1.0f : 1.0f;  // g = dy c - sign * partner(dy) s  (R^T)
  const int64_t n0 = blockIdx.x * tokens_per_block, n1 = min(h.N, n0 + tokens_per_block);
  float acc_q[8] = {}, acc_k[8] = {};
  for (int64_t base = n0 * H3 + warp * per_warp; base < n1 * H3; base += kWarps * per_warp) {
    const int64_t r = base + lane / L;
    const bool valid = r < n1 * H3;
    const HeadRow hr = head_row(valid ? r : n0 * H3, h);
    const int64_t u = out_unit(hr, h, L, lj);
    Unit dy;
    if (valid && !hr.is_v) {
      dy = reinterpret_cast<const Unit*>(hr.is_q ? dq : dk)[u];
    } else {
#pragma unroll
      for (int e = 0; e < 8; ++e) dy.v[e] = __float2bfloat16_rn(0.0f);
    }
    const int64_t t = hr.n % h.T;
    const Unit32 c = reinterpret_cast<const Unit32*>(cos + t * (h.D / 2))[lj % half_units];
    const Unit32 sn = reinterpret_cast<const Unit32*>(sin + t * (h.D / 2))[lj % half_units];
    const Unit x = reinterpret_cast<const Unit*>(qkv)[(valid ? r : n0 * H3) * L + lj];
    const Unit w = reinterpret_cast<const Unit*>(hr.is_q ? q_norm : k_norm)[lj];
    float g[8], dot = 0.0f;
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      const float d = to_f32(dy.v[e]);
      const float partner = __shfl_xor_sync(kFullMask, d, half_units);
      g[e] = d * c.v[e] - sign * partner * sn.v[e];
      dot += g[e] * to_f32(w.v[e]) * to_f32(x.v[e]);
    }
    dot = group_sum(dot, L);
    if (!valid) continue;
    Unit dx;
    if (hr.is_v) {
      dx = reinterpret_cast<const Unit*>(dv)[u];
    } else {
      const float rs = (hr.is_q ? q_rstd : k_rstd)[u / L];
      const float kcoef = rs * rs * rs * dot / float(h.D);
#pragma unroll
      for (int e = 0; e < 8; ++e) {
        const float xe = to_f32(x.v[e]);
        dx.v[e] = __float2bfloat16_rn(rs * g[e] * to_f32(w.v[e]) - xe * kcoef);
        if (hr.is_q)  // constant indices only: the accumulators stay in registers
          acc_q[e] += g[e] * xe * rs;
        else
          acc_k[e] += g[e] * xe * rs;
      }
    }
    reinterpret_cast<Unit*>(dqkv)[r * L + lj] = dx;
  }
  // The groups of the warp: lanes lj, lj + L, ... hold the same columns.
#pragma unroll
  for (int e = 0; e < 8; ++e)
    for (int off = L; off < 32; off <<= 1) {
      acc_q[e] += __shfl_xor_sync(kFullMask, acc_q[e], off);
      acc_k[e] += __shfl_xor_sync(kFullMask, acc_k[e], off);
    }
  if (lane < L)
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      sums[warp][8 * lj + e] = acc_q[e];
      sums[warp][h.D + 8 * lj + e] = acc_k[e];
    }
  __syncthreads();
  for (int c = threadIdx.x; c < 2 * h.D; c += blockDim.x) {
    float total = 0.0f;
    for (int wi = 0; wi < kWarps; ++wi) total += sums[wi][c];
    partial[blockIdx.x * int64_t(2 * h.D) + c] = total;
  }
}

}  // namespace

std::optional<std::string> qk_norm_rope_unsupported(int64_t head_dim) {
  if (head_dim <= kMaxHeadDim) return std::nullopt;
  return "head_dim " + std::to_string(head_dim) + " is above the q/k-norm and RoPE kernels' " +
         std::to_string(kMaxHeadDim);
}

namespace {

Heads heads_of(Tensor qkv, Tensor q, Tensor k, Tensor cos, int64_t seq_len) {
  Heads h;
  h.N = qkv.rows;
  h.T = seq_len;
  h.D = int(2 * cos.cols);
  h.Hq = int(q.cols / h.D);
  h.Hkv = int(k.cols / h.D);
  if (const auto why = qk_norm_rope_unsupported(h.D)) TT_FAIL() << "CUDA qk_norm_rope: " << *why;
  return h;
}

// Whether the 16-byte-unit kernels take these tensors (see the header).
bool vec_heads(const Heads& h, std::initializer_list<const void*> ptrs) {
  return h.D % 16 == 0 && h.D <= kMaxHeadDim && (h.D & (h.D - 1)) == 0 && aligned16(ptrs);
}

// The backward's split of N tokens: about 4 blocks per SM, at least 16 tokens each (enough parallelism, few
// partials to sum).
struct BackwardSplit {
  int64_t blocks, tokens_per_block;
};
BackwardSplit backward_split(const Ctx& ctx, int64_t N) {
  const int64_t blocks = std::max<int64_t>(1, std::min<int64_t>(int64_t(ctx.sm_count) * 4, (N + 15) / 16));
  const int64_t tokens_per_block = (N + blocks - 1) / blocks;
  return {(N + tokens_per_block - 1) / tokens_per_block, tokens_per_block};
}

}  // namespace

SlotBytes qk_norm_rope_scratch(const Ctx& ctx, int64_t N, int64_t D) {
  SlotBytes s{};
  s[size_t(Slot::kNormPartials)] = size_t(2 * backward_split(ctx, N).blocks * D) * sizeof(float);
  return s;
}

void CudaBackend::qk_norm_rope_forward_impl(Tensor q, Tensor k, Tensor v, Tensor q_rstd, Tensor k_rstd,
                                            Tensor qkv, Tensor q_norm, Tensor k_norm, Tensor cos, Tensor sin,
                                            int64_t seq_len, float eps) {
  OpScope scope(*this, Family::kQkNormRope);
  const Heads h = heads_of(qkv, q, k, cos, seq_len);
  const int64_t rows = h.N * (h.Hq + 2 * h.Hkv);
  if (vec_heads(h, {q.ptr, k.ptr, v.ptr, qkv.ptr, q_norm.ptr, k_norm.ptr, cos.ptr, sin.ptr})) {
    const int64_t rows_per_block = int64_t(kWarps) * (32 / (h.D / 8));
    const int blocks = int(std::min<int64_t>(ceil_div(rows, rows_per_block), int64_t(ctx_.sm_count) * 16));
    qk_norm_rope_forward_vec_kernel<<<blocks, 32 * kWarps, 0, ctx_.stream>>>(
        q.data<bf16>(), k.data<bf16>(), v.data<bf16>(), q_rstd.data<float>(), k_rstd.data<float>(),
        qkv.data<bf16>(), q_norm.data<bf16>(), k_norm.data<bf16>(), cos.data<float>(), sin.data<float>(), h,
        eps);
    CUDA_CHECK_LAUNCH();
    return;
  }
  const int blocks = int(std::min<int64_t>(ceil_div(rows, kWarps), int64_t(ctx_.sm_count) * 16));
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
  const auto [blocks, tokens_per_block] = backward_split(ctx_, h.N);
  auto* partial =
      static_cast<float*>(ctx_.scratch(Slot::kNormPartials, size_t(2 * blocks * h.D) * sizeof(float)));
  if (vec_heads(h, {dqkv.ptr, dq.ptr, dk.ptr, dv.ptr, qkv.ptr, q_norm.ptr, k_norm.ptr, cos.ptr, sin.ptr})) {
    qk_norm_rope_backward_vec_kernel<<<unsigned(blocks), 32 * kWarps, 0, ctx_.stream>>>(
        dqkv.data<bf16>(), partial, dq.data<bf16>(), dk.data<bf16>(), dv.data<bf16>(), qkv.data<bf16>(),
        q_norm.data<bf16>(), k_norm.data<bf16>(), q_rstd.data<float>(), k_rstd.data<float>(),
        cos.data<float>(), sin.data<float>(), h, tokens_per_block);
  } else {
    const size_t smem = size_t(kWarps) * 3 * h.D * sizeof(float);
    qk_norm_rope_backward_kernel<<<unsigned(blocks), 32 * kWarps, smem, ctx_.stream>>>(
        dqkv.data<bf16>(), partial, dq.data<bf16>(), dk.data<bf16>(), dv.data<bf16>(), qkv.data<bf16>(),
        q_norm.data<bf16>(), k_norm.data<bf16>(), q_rstd.data<float>(), k_rstd.data<float>(),
        cos.data<float>(), sin.data<float>(), h, tokens_per_block);
  }
  CUDA_CHECK_LAUNCH();
  add_partials_kernel<<<ceil_div(2 * h.D, 128), 128, 0, ctx_.stream>>>(
      dq_norm.data<float>(), dk_norm.data<float>(), h.D, partial, blocks, 2 * h.D);
  CUDA_CHECK_LAUNCH();
}

}  // namespace tt::cuda
