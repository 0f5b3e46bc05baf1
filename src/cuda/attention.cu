// Causal grouped-query attention. CPU: src/cpu/attention.h.
//
//   q [B*T, Hq*D], k, v [B*T, Hkv*D] bf16; query head h reads kv head h / (Hq/Hkv); scale 1/sqrt(D).
//   forward : S = scale Q K^T (causal), lse_i = log sum_j exp(S_ij), O = softmax(S) V
//             out bf16 overwrite; lse fp32 [B*Hq*T] at (b*Hq + h)*T + i (saved for backward).
//   backward: P recomputed from q, k and lse; D_i = dO_i . O_i; dS = P (dP - D); dP = dO V^T
//             dq = scale dS K;  dk = scale dS^T Q;  dv = P^T dO          (all bf16 overwrite)
//             dk/dv sum over the query heads of their group in a fixed order: no atomics.
//   infer   : batch 1, q = the last Tq of Tkv positions (query i at position Tkv-Tq+i), lse not kept.
//
// Two implementations of forward and backward, which agree to rounding:
//
// 1. Scores path (training at T up to a few thousand): the scores are materialised and every product is a
//    strided-batched cuBLASLt GEMM on tensor cores (gemm_batched_rm), with two fused kernels between them.
//    - Regrouping: q (and out, dout) are copied to [B*Hkv, T, group, D] and k, v to [B*Hkv, T, D], so one
//      batch entry is one (batch, kv head) "pair" whose `group` query heads form the T*group rows
//      (t, hh) of one matrix. GQA needs no k/v expansion, and the dk/dv sum over the group is the K
//      dimension of the dk/dv GEMMs. (The native layout has no single batch stride over (b, head).)
//    - Causal blocks: queries are cut into blocks of Tb positions (Tb = max(128, ~T/8), rounded to 64);
//      block qb's GEMMs cover keys [0, end of block qb) only, so the computed and stored part of S is the
//      block lower triangle, (nb+1)/(2 nb) of T*T (62.5% at T = 512, nb = 4). Inside the diagonal block the
//      kernels write P = dS = 0 above the diagonal, which the GEMMs that read them rely on.
//    - forward : S = scale Q K^T (fp32, per query block) -> softmax kernel: row max and sum in fp32, lse,
//                P = exp(S - lse) written as bf16 over S's own bytes -> O = P V (per query block, bf16).
//    - backward: S and dP = dO V^T (fp32, per query block) -> kernel: P = exp(S - lse),
//                dS = P (dP - D), bf16 over S and dP -> dq = scale dS K (per query block), and per key
//                block kb over all queries that see it (rows t >= kb*Tb): dv = P^T dO, dk = scale dS^T Q.
//    - In-place bf16 over fp32: row r of P lives in the first half of row r of S (bf16 leading dimension
//      2*ldS). A warp owns a row and walks it in 128-column steps: step k writes bytes that hold fp32
//      columns [64k, 64k + 64), read at step k/2 <= k, and a __syncwarp between each step's reads and
//      writes orders the lanes.
//    - Scratch (Ctx slots): S (+ dP after it in the backward) fp32 of a chunk of pairs, in the bulk slot the
//      LM head's logits use too (never live at once), at most the scores budget (512 MiB; environment
//      TT_CUDA_ATTENTION_SCORES_MB, 0 = always the flash path) -- 201 MB (forward), 403 MB (backward) at the
//      seed shape B=32, T=512, Hq=6, Hkv=2, one chunk -- plus the regrouped tensors (34 MB forward, 55 MB
//      backward there).
//    - The budget is sized for memory, not for L2. At the seed shape the S/P/dP/dS bytes (fp32 S and dP
//      written by GEMMs and read by the softmax kernels, bf16 P and dS written and read by GEMMs; 62.5% of
//      each square) are ~0.38 GB forward + ~0.82 GB backward per layer, ~9.6 GB per step, ~2.2 ms at
//      4.3 TB/s if all of it goes through HBM. Chunks that stay in the 60 MB L2 (<= 8 pairs forward, <= 4
//      backward) would split each of the ~30 GEMM / softmax launches per layer into 8-16 launches of under
//      one wave (96 or fewer 128x128 tiles on 132 SMs): ~2000-4000 launches per step at ~3 us, more time
//      than the traffic they save. One chunk of all 64 pairs gives 768 tiles per GEMM (5.8 waves).
//    Taken when head_dim is a multiple of 8 (16-byte rows for cuBLASLt) and one pair's scores fit the
//    budget (T*group*T*4 bytes forward, twice that backward: T <= ~4700 at group 3).
//
// 2. Flash path (decoding, longer T, other head dims): no T x T matrix in HBM, fp32 FMAs on CUDA cores.
//    A block (128 threads) owns 128 / G "rows" (queries for forward/dq, keys for dk/dv) of one (b, head)
//    and streams the other side through shared-memory tiles (fp32). Each row is held by G threads (G a
//    power of two, 16 head dims per thread, G = 4 for D = 64, 8 for D = 128), so dot products are
//    16 FMAs + log2(G) shuffles. Any D <= 512 works (dims past D are zero padding). Online softmax
//    over chunks of 8 keys in base 2 (exp2f). Any T works: tiles loop to T.
//    Thread layout: blockDim = g.rows * G. Thread (row = tid / G, t = tid % G) owns the float4 chunks
//    t, t + G, t + 2G, t + 3G of its row (dims 4*(c*G + t) .. +3), so for a fixed chunk the G threads
//    of a row read consecutive float4s of a shared-memory row (no bank conflicts), and the 32 / G rows
//    of a warp read the same address (broadcast). Partial dot products are summed across the G lanes
//    with xor shuffles (G divides 32, so groups never straddle warps and every lane participates).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <string>

#include "common/check.h"
#include "common/env.h"
#include "cuda/common.cuh"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_check.h"

namespace tt::cuda {
namespace {

// Largest head dim the kernels take (G <= 32 threads of 16 dims).
constexpr int64_t kAttentionMaxHeadDim = 512;

constexpr int kDpt = 16;       // head dims per thread
constexpr int kThreads = 128;  // threads per block; rows per block = kThreads / G
constexpr int kChunk = 8;      // streamed rows per online-softmax step
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

struct Geom {
  int64_t Hq, Hkv, D, group;
  int64_t Tq, Tk, q_offset;  // query i sits at position q_offset + i; keys at 0..Tk-1
  int G, Dp, dp_shift;       // threads per row, padded head dim (G * kDpt) = 1 << dp_shift
  int rows;                  // rows per block = kThreads / G
  int tile;                  // streamed rows per shared-memory tile
  bool vec_loads;            // tiles load 8 bf16 at a time (set by the launcher, see can_vec_load)
  float scale, scale_log2;   // 1/sqrt(D), log2(e)/sqrt(D)
};

__device__ __forceinline__ int dim_of(int t, int G, int j) {
  return 4 * ((j >> 2) * G + t) + (j & 3);
}

__device__ __forceinline__ void load_row(float (&r)[kDpt], const bf16* row, int64_t D, int t, int G,
                                         float mul) {
#pragma unroll
  for (int j = 0; j < kDpt; ++j) {
    const int d = dim_of(t, G, j);
    r[j] = d < D ? to_f32(row[d]) * mul : 0.0f;
  }
}

__device__ __forceinline__ void store_row(bf16* row, const float (&r)[kDpt], int64_t D, int t, int G,
                                          float mul) {
#pragma unroll
  for (int j = 0; j < kDpt; ++j) {
    const int d = dim_of(t, G, j);
    if (d < D) row[d] = __float2bfloat16_rn(r[j] * mul);
  }
}

__device__ __forceinline__ float dot_smem(const float (&r)[kDpt], const float* srow, int t, int G) {
  const float4* s4 = reinterpret_cast<const float4*>(srow);
  float acc = 0.0f;
#pragma unroll
  for (int c = 0; c < kDpt / 4; ++c) {
    const float4 s = s4[c * G + t];
    acc = fmaf(r[4 * c + 0], s.x, acc);
    acc = fmaf(r[4 * c + 1], s.y, acc);
    acc = fmaf(r[4 * c + 2], s.z, acc);
    acc = fmaf(r[4 * c + 3], s.w, acc);
  }
  return acc;
}

__device__ __forceinline__ void axpy_smem(float (&acc)[kDpt], float a, const float* srow, int t, int G) {
  const float4* s4 = reinterpret_cast<const float4*>(srow);
#pragma unroll
  for (int c = 0; c < kDpt / 4; ++c) {
    const float4 s = s4[c * G + t];
    acc[4 * c + 0] = fmaf(a, s.x, acc[4 * c + 0]);
    acc[4 * c + 1] = fmaf(a, s.y, acc[4 * c + 1]);
    acc[4 * c + 2] = fmaf(a, s.z, acc[4 * c + 2]);
    acc[4 * c + 3] = fmaf(a, s.w, acc[4 * c + 3]);
  }
}

__device__ __forceinline__ float group_sum(float v, int G) {
  for (int off = G >> 1; off > 0; off >>= 1) v += __shfl_xor_sync(kFullMask, v, off);
  return v;
}

// The two backward kernels' scores for kChunk consecutive shared rows (row stride Dp): s[c] = <a, A row c>
// and d[c] = <b, B row c>, each summed over the G lanes of a row. All dot products come before all the
// shuffles, so the shuffles of the 2 * kChunk sums pipeline.
__device__ __forceinline__ void chunk_dots2(float (&s)[kChunk], const float (&a)[kDpt], const float* A,
                                            float (&d)[kChunk], const float (&b)[kDpt], const float* B,
                                            int Dp, int t, int G) {
#pragma unroll
  for (int c = 0; c < kChunk; ++c) {
    s[c] = dot_smem(a, A + c * Dp, t, G);
    d[c] = dot_smem(b, B + c * Dp, t, G);
  }
#pragma unroll
  for (int c = 0; c < kChunk; ++c) {
    s[c] = group_sum(s[c], G);
    d[c] = group_sum(d[c], G);
  }
}

// Shared tile rows [0, tile) <- global rows r0 + r of a head slice (row r at base + r * ld), fp32,
// zero past `nrows` or past D, so every shared value read later is finite.
__device__ __forceinline__ void load_tile(float* s, const bf16* base, int64_t ld, int64_t r0, int64_t nrows,
                                          const Geom& g) {
  if (g.vec_loads) {
    // 8 bf16 (one 16-byte load) per step: D % 8 == 0, ld % 8 == 0 and 16-byte aligned bases (host-checked).
    const int per_row = g.Dp >> 3, n8 = g.tile * per_row;
    for (int idx = threadIdx.x; idx < n8; idx += blockDim.x) {
      const int r = idx / per_row, d = (idx - r * per_row) * 8;
      const int64_t gr = r0 + r;
      float4 lo = make_float4(0.0f, 0.0f, 0.0f, 0.0f), hi = lo;
      if (gr < nrows && d < g.D) {
        const uint4 u = *reinterpret_cast<const uint4*>(base + gr * ld + d);
        lo = make_float4(bf16_lo(u.x), bf16_hi(u.x), bf16_lo(u.y), bf16_hi(u.y));
        hi = make_float4(bf16_lo(u.z), bf16_hi(u.z), bf16_lo(u.w), bf16_hi(u.w));
      }
      float4* dst = reinterpret_cast<float4*>(s + r * g.Dp + d);
      dst[0] = lo;
      dst[1] = hi;
    }
    return;
  }
  const int n = g.tile * g.Dp;
  for (int idx = threadIdx.x; idx < n; idx += blockDim.x) {
    const int r = idx >> g.dp_shift, d = idx & (g.Dp - 1);
    const int64_t gr = r0 + r;
    s[idx] = (gr < nrows && d < g.D) ? to_f32(base[gr * ld + d]) : 0.0f;
  }
}

// grid (B*Hq, query blocks); block g.rows*G threads; smem 2 * tile * Dp floats.
__global__ void __launch_bounds__(kThreads)
    attention_forward_kernel(bf16* out, float* lse, const bf16* q, const bf16* k, const bf16* v, Geom g) {
  TT_DYNAMIC_SHARED(float4, smem4);
  float* Ks = reinterpret_cast<float*>(smem4);
  float* Vs = Ks + g.tile * g.Dp;
  const int64_t bh = blockIdx.x, b = bh / g.Hq, h = bh % g.Hq, kvh = h / g.group;
  const int64_t qb = int64_t(gridDim.y) - 1 - blockIdx.y;  // the longest (last) query blocks first
  const int G = g.G, row = threadIdx.x / G, t = threadIdx.x % G;
  const int64_t i = qb * g.rows + row;
  const bool valid = i < g.Tq;
  const int64_t qi = valid ? i : g.Tq - 1;  // padding rows compute a copy of the last row, never stored
  const int64_t qpos = g.q_offset + qi;
  const int64_t ldq = g.Hq * g.D, ldk = g.Hkv * g.D;

  float qr[kDpt], acc[kDpt];
  load_row(qr, q + (b * g.Tq + qi) * ldq + h * g.D, g.D, t, G, g.scale_log2);
#pragma unroll
  for (int j = 0; j < kDpt; ++j) acc[j] = 0.0f;
  float m = -INFINITY, l = 0.0f;

  const int64_t last_i = min((qb + 1) * g.rows, g.Tq) - 1;
  const int64_t kend = min(g.Tk, g.q_offset + last_i + 1);  // keys any row of the block can see
  const bf16* kbase = k + b * g.Tk * ldk + kvh * g.D;
  const bf16* vbase = v + b * g.Tk * ldk + kvh * g.D;
  for (int64_t k0 = 0; k0 < kend; k0 += g.tile) {
    __syncthreads();
    load_tile(Ks, kbase, ldk, k0, g.Tk, g);
    load_tile(Vs, vbase, ldk, k0, g.Tk, g);
    __syncthreads();
    const int nk = int(min(int64_t(g.tile), kend - k0));
    for (int j0 = 0; j0 < nk; j0 += kChunk) {
      float s[kChunk];
#pragma unroll
      for (int c = 0; c < kChunk; ++c) s[c] = dot_smem(qr, Ks + (j0 + c) * g.Dp, t, G);
#pragma unroll
      for (int c = 0; c < kChunk; ++c) s[c] = group_sum(s[c], G);
      float mx = m;
#pragma unroll
      for (int c = 0; c < kChunk; ++c) {
        if (k0 + j0 + c > qpos) s[c] = -INFINITY;
        mx = fmaxf(mx, s[c]);
      }
      // mx is finite: key 0 is in the first chunk and visible to every query.
      const float corr = exp2f(m - mx);
      l *= corr;
#pragma unroll
      for (int j = 0; j < kDpt; ++j) acc[j] *= corr;
#pragma unroll
      for (int c = 0; c < kChunk; ++c) {
        const float p = exp2f(s[c] - mx);
        l += p;
        axpy_smem(acc, p, Vs + (j0 + c) * g.Dp, t, G);
      }
      m = mx;
    }
  }
  if (valid) {
    store_row(out + (b * g.Tq + i) * ldq + h * g.D, acc, g.D, t, G, 1.0f / l);
    if (lse != nullptr && t == 0) lse[(b * g.Hq + h) * g.Tq + i] = (m + log2f(l)) * kLn2;
  }
}

// delta[(b*Hq + h)*T + t] = sum_d dout * out. One warp per (row n, head h).
__global__ void attention_delta_kernel(float* delta, const bf16* dout, const bf16* out, int64_t N, int64_t T,
                                       int64_t Hq, int64_t D) {
  const int64_t w = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31;
  if (w >= N * Hq) return;
  const int64_t n = w / Hq, h = w % Hq;
  const bf16* a = dout + n * Hq * D + h * D;
  const bf16* o = out + n * Hq * D + h * D;
  float acc = 0.0f;
  for (int64_t d = lane; d < D; d += 32) acc += to_f32(a[d]) * to_f32(o[d]);
  acc = warp_sum(acc);
  if (lane == 0) delta[((n / T) * Hq + h) * T + n % T] = acc;
}

// dq. grid (B*Hq, query blocks); block g.rows*G; smem 2 * tile * Dp floats (K and V tiles).
__global__ void __launch_bounds__(kThreads)
    attention_backward_dq_kernel(bf16* dq, const float* delta, const float* lse, const bf16* dout,
                                 const bf16* q, const bf16* k, const bf16* v, Geom g) {
  TT_DYNAMIC_SHARED(float4, smem4);
  float* Ks = reinterpret_cast<float*>(smem4);
  float* Vs = Ks + g.tile * g.Dp;
  const int64_t bh = blockIdx.x, b = bh / g.Hq, h = bh % g.Hq, kvh = h / g.group;
  const int64_t qb = int64_t(gridDim.y) - 1 - blockIdx.y;
  const int G = g.G, row = threadIdx.x / G, t = threadIdx.x % G;
  const int64_t i = qb * g.rows + row;
  const bool valid = i < g.Tq;
  const int64_t qi = valid ? i : g.Tq - 1;
  const int64_t qpos = g.q_offset + qi;
  const int64_t ldq = g.Hq * g.D, ldk = g.Hkv * g.D;

  float qr[kDpt], dor[kDpt], acc[kDpt];
  load_row(qr, q + (b * g.Tq + qi) * ldq + h * g.D, g.D, t, G, g.scale_log2);
  load_row(dor, dout + (b * g.Tq + qi) * ldq + h * g.D, g.D, t, G, 1.0f);
#pragma unroll
  for (int j = 0; j < kDpt; ++j) acc[j] = 0.0f;
  const float lse2 = lse[(b * g.Hq + h) * g.Tq + qi] * kLog2e;
  const float di = delta[(b * g.Hq + h) * g.Tq + qi];

  const int64_t last_i = min((qb + 1) * g.rows, g.Tq) - 1;
  const int64_t kend = min(g.Tk, g.q_offset + last_i + 1);
  const bf16* kbase = k + b * g.Tk * ldk + kvh * g.D;
  const bf16* vbase = v + b * g.Tk * ldk + kvh * g.D;
  for (int64_t k0 = 0; k0 < kend; k0 += g.tile) {
    __syncthreads();
    load_tile(Ks, kbase, ldk, k0, g.Tk, g);
    load_tile(Vs, vbase, ldk, k0, g.Tk, g);
    __syncthreads();
    const int nk = int(min(int64_t(g.tile), kend - k0));
    for (int j0 = 0; j0 < nk; j0 += kChunk) {
      float s[kChunk], dp[kChunk];
      chunk_dots2(s, qr, Ks + j0 * g.Dp, dp, dor, Vs + j0 * g.Dp, g.Dp, t, G);
#pragma unroll
      for (int c = 0; c < kChunk; ++c) {
        const float p = (k0 + j0 + c <= qpos) ? exp2f(s[c] - lse2) : 0.0f;
        const float ds = p * (dp[c] - di);
        axpy_smem(acc, ds, Ks + (j0 + c) * g.Dp, t, G);
      }
    }
  }
  if (valid) store_row(dq + (b * g.Tq + i) * ldq + h * g.D, acc, g.D, t, G, g.scale);
}

// dk, dv. grid (B*Hkv, key blocks); block g.rows*G; smem (2 * Dp + 2) * tile floats
// (Q tile, dO tile, lse*log2e, delta).
__global__ void __launch_bounds__(kThreads)
    attention_backward_dkdv_kernel(bf16* dk, bf16* dv, const float* delta, const float* lse, const bf16* dout,
                                   const bf16* q, const bf16* k, const bf16* v, Geom g) {
  TT_DYNAMIC_SHARED(float4, smem4);
  float* Qs = reinterpret_cast<float*>(smem4);
  float* dOs = Qs + g.tile * g.Dp;
  float* L2s = dOs + g.tile * g.Dp;
  float* Ds = L2s + g.tile;
  const int64_t bkv = blockIdx.x, b = bkv / g.Hkv, kvh = bkv % g.Hkv;
  const int64_t kb = blockIdx.y;  // the first key blocks see the most queries and start first
  const int G = g.G, row = threadIdx.x / G, t = threadIdx.x % G;
  const int64_t j = kb * g.rows + row;
  const bool valid = j < g.Tk;
  const int64_t kj = valid ? j : g.Tk - 1;
  const int64_t ldq = g.Hq * g.D, ldk = g.Hkv * g.D;

  float kr[kDpt], vr[kDpt], dk_acc[kDpt], dv_acc[kDpt];
  load_row(kr, k + (b * g.Tk + kj) * ldk + kvh * g.D, g.D, t, G, 1.0f);
  load_row(vr, v + (b * g.Tk + kj) * ldk + kvh * g.D, g.D, t, G, 1.0f);
#pragma unroll
  for (int d = 0; d < kDpt; ++d) dk_acc[d] = dv_acc[d] = 0.0f;

  // Queries that can see any key of this block: position q_offset + i >= kb * g.rows.
  const int64_t i_start = max(int64_t(0), kb * g.rows - g.q_offset);
  for (int64_t hh = 0; hh < g.group; ++hh) {
    const int64_t h = kvh * g.group + hh;
    const bf16* qbase = q + b * g.Tq * ldq + h * g.D;
    const bf16* dobase = dout + b * g.Tq * ldq + h * g.D;
    const float* lse_h = lse + (b * g.Hq + h) * g.Tq;
    const float* delta_h = delta + (b * g.Hq + h) * g.Tq;
    for (int64_t i0 = i_start; i0 < g.Tq; i0 += g.tile) {
      __syncthreads();
      load_tile(Qs, qbase, ldq, i0, g.Tq, g);
      load_tile(dOs, dobase, ldq, i0, g.Tq, g);
      for (int r = threadIdx.x; r < g.tile; r += blockDim.x) {
        const bool in = i0 + r < g.Tq;
        L2s[r] = in ? lse_h[i0 + r] * kLog2e : 0.0f;
        Ds[r] = in ? delta_h[i0 + r] : 0.0f;
      }
      __syncthreads();
      const int nq = int(min(int64_t(g.tile), g.Tq - i0));
      for (int c0 = 0; c0 < nq; c0 += kChunk) {
        float s[kChunk], dp[kChunk];
        chunk_dots2(s, kr, Qs + c0 * g.Dp, dp, vr, dOs + c0 * g.Dp, g.Dp, t, G);
#pragma unroll
        for (int c = 0; c < kChunk; ++c) {
          const int64_t qi = i0 + c0 + c;
          const bool see = qi < g.Tq && g.q_offset + qi >= kj;
          const float p = see ? exp2f(s[c] * g.scale_log2 - L2s[c0 + c]) : 0.0f;
          const float ds = p * (dp[c] - Ds[c0 + c]);
          axpy_smem(dv_acc, p, dOs + (c0 + c) * g.Dp, t, G);
          axpy_smem(dk_acc, ds, Qs + (c0 + c) * g.Dp, t, G);
        }
      }
    }
  }
  if (valid) {
    store_row(dk + (b * g.Tk + j) * ldk + kvh * g.D, dk_acc, g.D, t, G, g.scale);
    store_row(dv + (b * g.Tk + j) * ldk + kvh * g.D, dv_acc, g.D, t, G, 1.0f);
  }
}

}  // namespace

std::optional<std::string> attention_unsupported(int64_t head_dim) {
  if (head_dim > 0 && head_dim <= kAttentionMaxHeadDim) return std::nullopt;
  return "head_dim " + std::to_string(head_dim) + " is outside the attention kernels' range 1.." +
         std::to_string(kAttentionMaxHeadDim);
}

namespace {

inline Geom make_geom(int64_t Hq, int64_t Hkv, int64_t D, int64_t Tq, int64_t Tk, int64_t q_offset,
                      int extra_per_row) {
  // Hkv > 0 and Hq % Hkv == 0: the Backend contract (model/backend.cpp check_heads).
  if (const auto why = attention_unsupported(D)) TT_FAIL() << "CUDA attention: " << *why;
  Geom g;
  g.Hq = Hq;
  g.Hkv = Hkv;
  g.D = D;
  g.group = Hq / Hkv;
  g.Tq = Tq;
  g.Tk = Tk;
  g.q_offset = q_offset;
  g.G = 1;
  while (int64_t(g.G) * kDpt < D) g.G *= 2;
  g.Dp = g.G * kDpt;
  g.rows = kThreads / g.G;
  g.dp_shift = 0;
  while ((1 << g.dp_shift) < g.Dp) ++g.dp_shift;
  // Shared memory per tile row: two Dp-wide fp32 rows (+ extras); stay within the default 48 KiB.
  int tile = int((48 * 1024 / 4) / (2 * g.Dp + extra_per_row));
  tile = tile > 64 ? 64 : tile;
  tile = tile / kChunk * kChunk;
  g.tile = tile < kChunk ? kChunk : tile;
  g.vec_loads = false;
  g.scale = float(1.0 / std::sqrt(double(D)));
  g.scale_log2 = g.scale * kLog2e;
  return g;
}

inline size_t smem_bytes(const Geom& g, int extra_per_row) {
  return size_t(g.tile) * size_t(2 * g.Dp + extra_per_row) * sizeof(float);
}

// Dynamic shared memory of one attention block. Without opting in through cudaFuncSetAttribute a launch may
// use 48 KiB; head_dim 128 uses exactly that (and no static shared memory), so anything larger would fail
// at launch as a bare "invalid argument": name the cause here instead.
size_t launch_smem(const Geom& g, int extra_per_row) {
  const size_t bytes = smem_bytes(g, extra_per_row);
  TT_CHECK(bytes <= 48 * 1024) << "CUDA attention: head_dim " << g.D << " needs " << bytes
                               << " bytes of shared memory per block, over the 48 KiB default";
  return bytes;
}

void launch_forward(Ctx& ctx, bf16* out, float* lse, const bf16* q, const bf16* k, const bf16* v, int64_t B,
                    const Geom& g) {
  if (B * g.Tq == 0) return;
  const dim3 grid(unsigned(B * g.Hq), unsigned(ceil_div(g.Tq, g.rows)));
  attention_forward_kernel<<<grid, kThreads, launch_smem(g, 0), ctx.stream>>>(out, lse, q, k, v, g);
  CUDA_CHECK_LAUNCH();
}

// ---- scores path ----------------------------------------------------------------------------------------

constexpr int64_t kScoresBudgetMiB = 512;  // default budget of the fp32 score buffers of one chunk
constexpr int64_t kMinQueryBlock = 128;    // the GEMMs' tile height: smaller blocks only add calls
constexpr int64_t kQueryBlocks = 8;        // most blocks: (nb+1)/(2 nb) of the square is computed
constexpr int kRowThreads = 256;           // softmax kernels: 8 warps, one row each

struct ScoresGeom {
  int64_t T, Hq, Hkv, D, group;
  int64_t Tb;         // positions per query (and key) block
  int64_t ldS;        // fp32 row stride of S and dP (T rounded up to 8: 32-byte rows); bf16 P, dS: 2 * ldS
  int64_t pair_rows;  // rows of one pair's S: T * group, row t * group + hh
  float scale;
  int64_t pair_floats() const { return pair_rows * ldS; }
};

// kScoresBudgetMiB, or the environment's TT_CUDA_ATTENTION_SCORES_MB (whole MiB), in bytes.
int64_t scores_budget_bytes() {
  return env_int("TT_CUDA_ATTENTION_SCORES_MB", kScoresBudgetMiB, 0, int64_t(1) << 30,
                 "MiB of attention scores; 0 selects the flash attention kernels")
         << 20;
}

ScoresGeom make_scores_geom(int64_t T, int64_t Hq, int64_t Hkv, int64_t D) {
  ScoresGeom g;
  g.T = T;
  g.Hq = Hq;
  g.Hkv = Hkv;
  g.D = D;
  g.group = Hq / Hkv;
  const int64_t per_block = (T + kQueryBlocks - 1) / kQueryBlocks;
  g.Tb = std::max(kMinQueryBlock, (per_block + 63) / 64 * 64);
  g.ldS = (T + 7) / 8 * 8;
  g.pair_rows = T * g.group;
  g.scale = float(1.0 / std::sqrt(double(D)));
  return g;
}

// Pairs per chunk when each pair needs `buffers` fp32 score matrices (1 forward, 2 backward); 0 when the
// scores path does not apply (head_dim not a multiple of 8, or one pair over the budget).
int64_t scores_chunk_pairs(const ScoresGeom& g, int64_t pairs, int buffers) {
  if (g.D % 8 != 0) return 0;
  const int64_t pair_bytes = g.pair_floats() * int64_t(sizeof(float)) * buffers;
  const int64_t fit = scores_budget_bytes() / pair_bytes;
  return std::min(fit, pairs);
}

// One tensor between the native layout [B*T, Hkv*W] (row b*T + t, kv head g at columns g*W ..) and the
// grouped one [B*Hkv, T, W] (entry b*Hkv + g). W = group*D for q, out, dout (a kv head's query heads are
// adjacent columns), D for k, v.
struct RegroupJob {
  const bf16* from;
  bf16* to;
  int64_t W;
};
struct RegroupJobs {
  RegroupJob job[4];
  int64_t B, T, Hkv;
  bool to_grouped;
};

// Unit U: uint4 (8 bf16) when every W and pointer allows 16-byte accesses, else bf16. 32-bit indices
// (the host checks that they fit).
template <class U>
__device__ __forceinline__ void regroup(const bf16* from_bf16, bf16* to_bf16, int64_t W, uint32_t rows,
                                        uint32_t T, uint32_t Hkv, bool to_grouped) {
  const uint32_t Wu = uint32_t(W / int64_t(sizeof(U) / sizeof(bf16))), row_units = Hkv * Wu;
  const uint32_t n = rows * row_units;
  const U* from = reinterpret_cast<const U*>(from_bf16);
  U* to = reinterpret_cast<U*>(to_bf16);
  for (uint32_t native = blockIdx.x * blockDim.x + threadIdx.x; native < n;
       native += gridDim.x * blockDim.x) {
    const uint32_t row = native / row_units, c = native - row * row_units;
    const uint32_t g = c / Wu, w = c - g * Wu, b = row / T, t = row - b * T;
    const uint32_t grouped = ((b * Hkv + g) * T + t) * Wu + w;
    if (to_grouped)
      to[grouped] = from[native];
    else
      to[native] = from[grouped];
  }
}

// grid (x, jobs): blockIdx.y picks the job, x strides over its units.
__global__ void attention_regroup_kernel(RegroupJobs r, bool vec) {
  // Constant indices only: a parameter array indexed at run time is copied to local memory.
  const unsigned y = blockIdx.y;
  const RegroupJob j = y == 0 ? r.job[0] : y == 1 ? r.job[1] : y == 2 ? r.job[2] : r.job[3];
  const uint32_t rows = uint32_t(r.B * r.T), T = uint32_t(r.T), Hkv = uint32_t(r.Hkv);
  if (vec)
    regroup<uint4>(j.from, j.to, j.W, rows, T, Hkv, r.to_grouped);
  else
    regroup<bf16>(j.from, j.to, j.W, rows, T, Hkv, r.to_grouped);
}

void launch_regroup(Ctx& ctx, bool to_grouped, std::initializer_list<RegroupJob> jobs, int64_t B, int64_t T,
                    int64_t Hkv) {
  RegroupJobs r{};
  r.B = B;
  r.T = T;
  r.Hkv = Hkv;
  r.to_grouped = to_grouped;
  int count = 0;
  bool vec = true;
  int64_t most = 0;
  for (const RegroupJob& j : jobs) {
    r.job[count++] = j;
    vec = vec && j.W % 8 == 0 && reinterpret_cast<uintptr_t>(j.from) % 16 == 0 &&
          reinterpret_cast<uintptr_t>(j.to) % 16 == 0;
    most = std::max(most, B * T * Hkv * j.W);
  }
  TT_CHECK(most < (int64_t(1) << 31))
      << "attention regrouping: " << most << " elements exceed 32-bit indexing";
  const int64_t units = vec ? most / 8 : most;
  const dim3 grid(unsigned(grid_for(units, 256, ctx)), unsigned(count));
  attention_regroup_kernel<<<grid, 256, 0, ctx.stream>>>(r, vec);
  CUDA_CHECK_LAUNCH();
}

// A row of the S buffer of a chunk: pair (c0 + row / pair_rows), position t, query head h of batch b.
struct ScoreRow {
  int64_t t, end;  // causal: columns 0..t; the GEMMs computed columns [0, end) (end of t's block)
  int64_t lse_at;  // index into lse / delta [B*Hq, T]
};

__device__ __forceinline__ ScoreRow score_row(int64_t row, int64_t c0, const ScoresGeom& g) {
  const int64_t pair = c0 + row / g.pair_rows, r = row % g.pair_rows, t = r / g.group, hh = r % g.group;
  const int64_t b = pair / g.Hkv, h = (pair % g.Hkv) * g.group + hh;
  ScoreRow s;
  s.t = t;
  s.end = min((t / g.Tb + 1) * g.Tb, g.T);
  s.lse_at = (b * g.Hq + h) * g.T + t;
  return s;
}

__device__ __forceinline__ void store_bf16x4(bf16* p, float a, float b, float c, float d) {
  *reinterpret_cast<uint2*>(p) = make_uint2(pack_bf16x2(a, b), pack_bf16x2(c, d));
}

// Forward softmax of `rows` rows of S (chunk pairs from c0), one warp per row: lse, and P over S.
// Columns are read 4 at a time (float4); values past T in a row's last float4 were never written and are
// masked, never used.
__global__ void __launch_bounds__(kRowThreads)
    attention_softmax_kernel(float* S, float* lse, int64_t c0, int64_t rows, ScoresGeom g) {
  const int64_t row = int64_t(blockIdx.x) * (kRowThreads / 32) + threadIdx.x / 32;
  if (row >= rows) return;  // the whole warp
  const int lane = threadIdx.x & 31;
  const ScoreRow sr = score_row(row, c0, g);
  float* s = S + row * g.ldS;

  float m = -INFINITY, l = 0.0f;  // this lane's running max and sum of exp(x - m)
  for (int64_t j = 4 * lane; j <= sr.t; j += 128) {
    const float4 v = *reinterpret_cast<const float4*>(s + j);
    const float x[4] = {v.x, v.y, v.z, v.w};
    float mx = m;
#pragma unroll
    for (int q = 0; q < 4; ++q)
      if (j + q <= sr.t) mx = fmaxf(mx, x[q]);
    l *= exp2f((m - mx) * kLog2e);
#pragma unroll
    for (int q = 0; q < 4; ++q)
      if (j + q <= sr.t) l += exp2f((x[q] - mx) * kLog2e);
    m = mx;
  }
  const float row_max = warp_max(m);  // finite: column 0 is lane 0's
  const float sum = warp_sum(m == -INFINITY ? 0.0f : l * exp2f((m - row_max) * kLog2e));
  const float row_lse = row_max + logf(sum);
  if (lane == 0) lse[sr.lse_at] = row_lse;

  bf16* p = reinterpret_cast<bf16*>(s);
  for (int64_t j0 = 0; j0 < sr.end; j0 += 128) {
    const int64_t j = j0 + 4 * lane;
    float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (j <= sr.t) v = *reinterpret_cast<const float4*>(s + j);
    __syncwarp();  // every lane has read this step's columns before any overwrites them
    if (j < sr.end) {
      const float x[4] = {v.x, v.y, v.z, v.w};
      float pr[4];
#pragma unroll
      for (int q = 0; q < 4; ++q) pr[q] = j + q <= sr.t ? exp2f((x[q] - row_lse) * kLog2e) : 0.0f;
      store_bf16x4(p + j, pr[0], pr[1], pr[2], pr[3]);
    }
  }
}

// Backward: P = exp(S - lse) and dS = P (dP - D) of `rows` rows, bf16 over S and dP; one warp per row.
__global__ void __launch_bounds__(kRowThreads)
    attention_dsoftmax_kernel(float* S, float* dP, const float* lse, const float* delta, int64_t c0,
                              int64_t rows, ScoresGeom g) {
  const int64_t row = int64_t(blockIdx.x) * (kRowThreads / 32) + threadIdx.x / 32;
  if (row >= rows) return;
  const int lane = threadIdx.x & 31;
  const ScoreRow sr = score_row(row, c0, g);
  float* s = S + row * g.ldS;
  float* dp = dP + row * g.ldS;
  const float row_lse = lse[sr.lse_at], row_delta = delta[sr.lse_at];
  bf16* p = reinterpret_cast<bf16*>(s);
  bf16* ds = reinterpret_cast<bf16*>(dp);
  for (int64_t j0 = 0; j0 < sr.end; j0 += 128) {
    const int64_t j = j0 + 4 * lane;
    float4 sv = make_float4(0.0f, 0.0f, 0.0f, 0.0f), dv = sv;
    if (j <= sr.t) {
      sv = *reinterpret_cast<const float4*>(s + j);
      dv = *reinterpret_cast<const float4*>(dp + j);
    }
    __syncwarp();
    if (j < sr.end) {
      const float x[4] = {sv.x, sv.y, sv.z, sv.w}, y[4] = {dv.x, dv.y, dv.z, dv.w};
      float pr[4], dsr[4];
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        const bool seen = j + q <= sr.t;
        pr[q] = seen ? exp2f((x[q] - row_lse) * kLog2e) : 0.0f;
        dsr[q] = seen ? pr[q] * (y[q] - row_delta) : 0.0f;
      }
      store_bf16x4(p + j, pr[0], pr[1], pr[2], pr[3]);
      store_bf16x4(ds + j, dsr[0], dsr[1], dsr[2], dsr[3]);
    }
  }
}

// Blocks of the softmax kernels for `rows` rows (a warp each).
unsigned row_blocks(int64_t rows) {
  return unsigned(ceil_div(rows, kRowThreads / 32));
}

// Regrouped copies carved from one scratch slot, each 256-byte aligned.
class HeadsScratch {
 public:
  HeadsScratch(Ctx& ctx, std::initializer_list<int64_t> elems) {
    char* base = static_cast<char*>(ctx.scratch(Slot::kAttnHeads, bytes(elems)));
    for (int64_t n : elems) {
      parts_[count_++] = reinterpret_cast<bf16*>(base);
      base += padded(n);
    }
  }
  bf16* operator[](int i) const { return parts_[i]; }
  // The slot's bytes for tensors of these element counts (attention_scratch sizes it so too).
  static size_t bytes(std::initializer_list<int64_t> elems) {
    size_t total = 0;
    for (int64_t n : elems) total += padded(n);
    return total;
  }

 private:
  static size_t padded(int64_t n) { return (size_t(n) * sizeof(bf16) + 255) / 256 * 256; }
  bf16* parts_[8] = {};
  int count_ = 0;
};

// Grouped operands of a chunk starting at pair c0: a q-like tensor (rows t*group + hh) or a k-like one
// (rows t), from row offset `row` (in rows of D elements).
StridedOperand q_like(const bf16* base, const ScoresGeom& g, int64_t c0, int64_t row) {
  return {base + (c0 * g.pair_rows + row) * g.D, g.D, g.pair_rows * g.D};
}
StridedOperand k_like(const bf16* base, const ScoresGeom& g, int64_t c0, int64_t row) {
  return {base + (c0 * g.T + row) * g.D, g.D, g.T * g.D};
}
// bf16 P or dS over an fp32 chunk buffer, from row `row` and column `col`.
StridedOperand probs(const float* buf, const ScoresGeom& g, int64_t row, int64_t col) {
  const bf16* p = reinterpret_cast<const bf16*>(buf);
  return {p + row * 2 * g.ldS + col, 2 * g.ldS, g.pair_rows * 2 * g.ldS};
}

// Per query block qb of positions [t0, t1): S[rows t0*group.., 0:t1] = alpha A[rows] B[0:t1]^T, fp32.
void scores_gemms(Ctx& ctx, float* S, const bf16* a, const bf16* b, float alpha, const ScoresGeom& g,
                  int64_t c0, int64_t n) {
  for (int64_t t0 = 0; t0 < g.T; t0 += g.Tb) {
    const int64_t t1 = std::min(t0 + g.Tb, g.T);
    gemm_batched_rm(ctx, S + t0 * g.group * g.ldS, DType::F32, g.ldS, g.pair_floats(),
                    q_like(a, g, c0, t0 * g.group), false, k_like(b, g, c0, 0), true, (t1 - t0) * g.group, t1,
                    g.D, n, alpha);
  }
}

// Per query block: out[rows t0*group.., :] = alpha probs[rows, 0:t1] B[0:t1], bf16 grouped q-like output.
void probs_times_k_like(Ctx& ctx, bf16* out, const float* probs_buf, const bf16* b, float alpha,
                        const ScoresGeom& g, int64_t c0, int64_t n) {
  for (int64_t t0 = 0; t0 < g.T; t0 += g.Tb) {
    const int64_t t1 = std::min(t0 + g.Tb, g.T);
    bf16* o = out + (c0 * g.pair_rows + t0 * g.group) * g.D;
    gemm_batched_rm(ctx, o, DType::BF16, g.D, g.pair_rows * g.D, probs(probs_buf, g, t0 * g.group, 0), false,
                    k_like(b, g, c0, 0), false, (t1 - t0) * g.group, g.D, t1, n, alpha);
  }
}

// Per key block [j0, j1): out[j0:j1, :] = alpha probs[rows j0*group.., j0:j1]^T B[rows j0*group..], summed
// over every query (and query head of the group) that sees the block; bf16 grouped k-like output.
void probs_t_times_q_like(Ctx& ctx, bf16* out, const float* probs_buf, const bf16* b, float alpha,
                          const ScoresGeom& g, int64_t c0, int64_t n) {
  for (int64_t j0 = 0; j0 < g.T; j0 += g.Tb) {
    const int64_t j1 = std::min(j0 + g.Tb, g.T);
    bf16* o = out + (c0 * g.T + j0) * g.D;
    gemm_batched_rm(ctx, o, DType::BF16, g.D, g.T * g.D, probs(probs_buf, g, j0 * g.group, j0), true,
                    q_like(b, g, c0, j0 * g.group), false, j1 - j0, g.D, (g.T - j0) * g.group, n, alpha);
  }
}

void scores_forward(Ctx& ctx, Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, int64_t B,
                    const ScoresGeom& g, int64_t chunk) {
  const int64_t nq = B * g.T * g.Hq * g.D, nk = B * g.T * g.Hkv * g.D, pairs = B * g.Hkv;
  const HeadsScratch heads(ctx, {nq, nk, nk, nq});
  bf16 *qg = heads[0], *kg = heads[1], *vg = heads[2], *og = heads[3];
  launch_regroup(ctx, true,
                 {{q.data<bf16>(), qg, g.group * g.D}, {k.data<bf16>(), kg, g.D}, {v.data<bf16>(), vg, g.D}},
                 B, g.T, g.Hkv);
  auto* S = static_cast<float*>(ctx.scratch(Slot::kBulk, size_t(chunk * g.pair_floats()) * sizeof(float)));
  for (int64_t c0 = 0; c0 < pairs; c0 += chunk) {
    const int64_t n = std::min(chunk, pairs - c0), rows = n * g.pair_rows;
    scores_gemms(ctx, S, qg, kg, g.scale, g, c0, n);
    attention_softmax_kernel<<<row_blocks(rows), kRowThreads, 0, ctx.stream>>>(S, lse.data<float>(), c0, rows,
                                                                               g);
    CUDA_CHECK_LAUNCH();
    probs_times_k_like(ctx, og, S, vg, 1.0f, g, c0, n);
  }
  launch_regroup(ctx, false, {{og, out.data<bf16>(), g.group * g.D}}, B, g.T, g.Hkv);
}

void scores_backward(Ctx& ctx, Tensor dq, Tensor dk, Tensor dv, Tensor dout, const float* delta, Tensor lse,
                     Tensor q, Tensor k, Tensor v, int64_t B, const ScoresGeom& g, int64_t chunk) {
  const int64_t nq = B * g.T * g.Hq * g.D, nk = B * g.T * g.Hkv * g.D, pairs = B * g.Hkv;
  const HeadsScratch heads(ctx, {nq, nk, nk, nq, nq, nk, nk});
  bf16 *qg = heads[0], *kg = heads[1], *vg = heads[2], *dog = heads[3];
  bf16 *dqg = heads[4], *dkg = heads[5], *dvg = heads[6];
  launch_regroup(ctx, true,
                 {{q.data<bf16>(), qg, g.group * g.D},
                  {k.data<bf16>(), kg, g.D},
                  {v.data<bf16>(), vg, g.D},
                  {dout.data<bf16>(), dog, g.group * g.D}},
                 B, g.T, g.Hkv);
  const size_t chunk_bytes = size_t(chunk * g.pair_floats()) * sizeof(float);
  auto* S = static_cast<float*>(ctx.scratch(Slot::kBulk, 2 * chunk_bytes));
  float* dP = S + chunk * g.pair_floats();
  for (int64_t c0 = 0; c0 < pairs; c0 += chunk) {
    const int64_t n = std::min(chunk, pairs - c0), rows = n * g.pair_rows;
    scores_gemms(ctx, S, qg, kg, g.scale, g, c0, n);
    scores_gemms(ctx, dP, dog, vg, 1.0f, g, c0, n);
    attention_dsoftmax_kernel<<<row_blocks(rows), kRowThreads, 0, ctx.stream>>>(S, dP, lse.data<float>(),
                                                                                delta, c0, rows, g);
    CUDA_CHECK_LAUNCH();
    probs_times_k_like(ctx, dqg, dP, kg, g.scale, g, c0, n);    // dq = scale dS K
    probs_t_times_q_like(ctx, dvg, S, dog, 1.0f, g, c0, n);     // dv = P^T dO
    probs_t_times_q_like(ctx, dkg, dP, qg, g.scale, g, c0, n);  // dk = scale dS^T Q
  }
  launch_regroup(
      ctx, false,
      {{dqg, dq.data<bf16>(), g.group * g.D}, {dkg, dk.data<bf16>(), g.D}, {dvg, dv.data<bf16>(), g.D}}, B,
      g.T, g.Hkv);
}

}  // namespace

SlotBytes attention_scratch(int64_t B, int64_t T, int64_t Hq, int64_t Hkv, int64_t D, bool backward) {
  SlotBytes s{};
  const ScoresGeom g = make_scores_geom(T, Hq, Hkv, D);
  const int64_t nq = B * T * Hq * D, nk = B * T * Hkv * D, pairs = B * Hkv;
  // the scores path (scores_forward / scores_backward): regrouped heads and a chunk of score buffers
  if (const int64_t chunk = scores_chunk_pairs(g, pairs, 1); chunk > 0) {
    s[size_t(Slot::kAttnHeads)] = HeadsScratch::bytes({nq, nk, nk, nq});
    s[size_t(Slot::kBulk)] = size_t(chunk * g.pair_floats()) * sizeof(float);
  }
  if (!backward) return s;
  if (const int64_t chunk = scores_chunk_pairs(g, pairs, 2); chunk > 0) {
    s[size_t(Slot::kAttnHeads)] =
        std::max(s[size_t(Slot::kAttnHeads)], HeadsScratch::bytes({nq, nk, nk, nq, nq, nk, nk}));
    s[size_t(Slot::kBulk)] =
        std::max(s[size_t(Slot::kBulk)], 2 * size_t(chunk * g.pair_floats()) * sizeof(float));
  }
  s[size_t(Slot::kAttnDelta)] = size_t(B * Hq * T) * sizeof(float);  // the backward's D_i
  return s;
}

void CudaBackend::attention_forward_impl(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, int64_t D) {
  OpScope scope(*this, Family::kAttentionForward);
  const int64_t Hq = q.cols / D, Hkv = k.cols / D, T = lse.cols, B = lse.rows / Hq;
  const ScoresGeom sg = make_scores_geom(T, Hq, Hkv, D);
  if (const int64_t chunk = scores_chunk_pairs(sg, B * Hkv, 1); chunk > 0) {
    scores_forward(ctx_, out, lse, q, k, v, B, sg, chunk);
    return;
  }
  Geom g = make_geom(Hq, Hkv, D, T, T, 0, 0);
  g.vec_loads = can_vec_load(D, {q.ptr, k.ptr, v.ptr});
  launch_forward(ctx_, out.data<bf16>(), lse.data<float>(), q.data<bf16>(), k.data<bf16>(), v.data<bf16>(), B,
                 g);
}

void CudaBackend::attention_backward_impl(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor out,
                                          Tensor lse, Tensor q, Tensor k, Tensor v, int64_t D) {
  OpScope scope(*this, Family::kAttentionBackward);
  const int64_t Hq = q.cols / D, Hkv = k.cols / D, T = lse.cols, B = lse.rows / Hq;
  auto* delta = static_cast<float*>(ctx_.scratch(Slot::kAttnDelta, size_t(B * Hq * T) * sizeof(float)));
  {
    const int64_t threads = B * T * Hq * 32;
    attention_delta_kernel<<<ceil_div(threads, 256), 256, 0, ctx_.stream>>>(
        delta, dout.data<bf16>(), out.data<bf16>(), B * T, T, Hq, D);
    CUDA_CHECK_LAUNCH();
  }
  const ScoresGeom sg = make_scores_geom(T, Hq, Hkv, D);
  if (const int64_t chunk = scores_chunk_pairs(sg, B * Hkv, 2); chunk > 0) {
    scores_backward(ctx_, dq, dk, dv, dout, delta, lse, q, k, v, B, sg, chunk);
    return;
  }
  {
    Geom g = make_geom(Hq, Hkv, D, T, T, 0, 0);
    g.vec_loads = can_vec_load(D, {k.ptr, v.ptr});
    const dim3 grid(unsigned(B * Hq), unsigned(ceil_div(T, g.rows)));
    attention_backward_dq_kernel<<<grid, kThreads, launch_smem(g, 0), ctx_.stream>>>(
        dq.data<bf16>(), delta, lse.data<float>(), dout.data<bf16>(), q.data<bf16>(), k.data<bf16>(),
        v.data<bf16>(), g);
    CUDA_CHECK_LAUNCH();
  }
  {
    Geom g = make_geom(Hq, Hkv, D, T, T, 0, 2);
    g.vec_loads = can_vec_load(D, {q.ptr, dout.ptr});
    const dim3 grid(unsigned(B * Hkv), unsigned(ceil_div(T, g.rows)));
    attention_backward_dkdv_kernel<<<grid, kThreads, launch_smem(g, 2), ctx_.stream>>>(
        dk.data<bf16>(), dv.data<bf16>(), delta, lse.data<float>(), dout.data<bf16>(), q.data<bf16>(),
        k.data<bf16>(), v.data<bf16>(), g);
    CUDA_CHECK_LAUNCH();
  }
}

// Decoding always takes the flash kernel: batch 1 and a few queries leave the GEMMs nothing to batch.
void CudaBackend::attention_infer_impl(Tensor out, Tensor q, Tensor k_cache, Tensor v_cache, int64_t D) {
  OpScope scope(*this, Family::kAttentionForward);
  const int64_t Tq = q.rows, Tkv = k_cache.rows;
  Geom g = make_geom(q.cols / D, k_cache.cols / D, D, Tq, Tkv, Tkv - Tq, 0);
  g.vec_loads = can_vec_load(D, {k_cache.ptr, v_cache.ptr});
  launch_forward(ctx_, out.data<bf16>(), nullptr, q.data<bf16>(), k_cache.data<bf16>(), v_cache.data<bf16>(),
                 1, g);
}

}  // namespace tt::cuda
