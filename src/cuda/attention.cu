// Causal grouped-query attention, flash-style (no T x T matrix in HBM). CPU: src/cpu/attention.h.
//
//   q [B*T, Hq*D], k, v [B*T, Hkv*D] bf16; query head h reads kv head h / (Hq/Hkv); scale 1/sqrt(D).
//   forward : S = scale Q K^T (causal), lse_i = log sum_j exp(S_ij), O = softmax(S) V
//             out bf16 overwrite; lse fp32 [B*Hq*T] at (b*Hq + h)*T + i (saved for backward).
//   backward: P recomputed from q, k and lse; D_i = dO_i . O_i; dS = P (dP - D); dP = dO V^T
//             dq = scale dS K;  dk = scale dS^T Q;  dv = P^T dO          (all bf16 overwrite)
//             dk/dv sum over the query heads of their group inside one block: no atomics.
//   infer   : batch 1, q = the last Tq of Tkv positions (query i at position Tkv-Tq+i), lse not kept.
//
// Work split: a block (128 threads) owns 128 / G "rows" (queries for forward/dq, keys for dk/dv) of one (b,
// head) and streams the other side through shared-memory tiles (fp32). Each row is held by G threads (G a
// power of two, 16 head dims per thread, G = 4 for D = 64, 8 for D = 128), so dot products are
// 16 FMAs + log2(G) shuffles. Any D <= 512 works (dims past D are zero padding). Online softmax
// over chunks of 8 keys in base 2 (exp2f). Any T works: tiles loop to T.
//
// Thread layout: blockDim = g.rows * G. Thread (row = tid / G, t = tid % G) owns the float4 chunks
// t, t + G, t + 2G, t + 3G of its row (dims 4*(c*G + t) .. +3), so for a fixed chunk the G threads
// of a row read consecutive float4s of a shared-memory row (no bank conflicts), and the 32 / G rows
// of a warp read the same address (broadcast). Partial dot products are summed across the G lanes
// with xor shuffles (G divides 32, so groups never straddle warps and every lane participates).
#include <cmath>
#include <cstdint>
#include <initializer_list>

#include "common/check.h"
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

inline Geom make_geom(int64_t Hq, int64_t Hkv, int64_t D, int64_t Tq, int64_t Tk, int64_t q_offset,
                      int extra_per_row) {
  TT_CHECK(Hq > 0 && Hkv > 0 && Hq % Hkv == 0)
      << "attention: Hq (" << Hq << ") must be a positive multiple of Hkv (" << Hkv << ")";
  TT_CHECK(D > 0 && D <= kAttentionMaxHeadDim)
      << "attention: head_dim " << D << " is outside the CUDA kernels' range 1.." << kAttentionMaxHeadDim;
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

// 16-byte tile loads are legal when every row start is 16-byte aligned: D and the row strides
// (Hq*D, Hkv*D) multiples of 8 elements and all base pointers 16-byte aligned.
inline bool can_vec_load(int64_t D, std::initializer_list<const void*> ptrs) {
  if (D % 8 != 0) return false;
  for (const void* p : ptrs)
    if (reinterpret_cast<uintptr_t>(p) % 16 != 0) return false;
  return true;
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

}  // namespace

void CudaBackend::attention_forward_impl(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, int64_t D) {
  OpScope scope(*this, Family::kAttention);
  const int64_t Hq = q.cols / D, Hkv = k.cols / D, T = lse.cols, B = lse.rows / Hq;
  Geom g = make_geom(Hq, Hkv, D, T, T, 0, 0);
  g.vec_loads = can_vec_load(D, {q.ptr, k.ptr, v.ptr});
  launch_forward(ctx_, out.data<bf16>(), lse.data<float>(), q.data<bf16>(), k.data<bf16>(), v.data<bf16>(), B,
                 g);
}

void CudaBackend::attention_backward_impl(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor out,
                                          Tensor lse, Tensor q, Tensor k, Tensor v, int64_t D) {
  OpScope scope(*this, Family::kAttention);
  const int64_t Hq = q.cols / D, Hkv = k.cols / D, T = lse.cols, B = lse.rows / Hq;
  auto* delta = static_cast<float*>(ctx_.scratch(Slot::kAttnDelta, size_t(B * Hq * T) * sizeof(float)));
  {
    const int64_t threads = B * T * Hq * 32;
    attention_delta_kernel<<<ceil_div(threads, 256), 256, 0, ctx_.stream>>>(
        delta, dout.data<bf16>(), out.data<bf16>(), B * T, T, Hq, D);
    CUDA_CHECK_LAUNCH();
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

void CudaBackend::attention_infer_impl(Tensor out, Tensor q, Tensor k_cache, Tensor v_cache, int64_t D) {
  OpScope scope(*this, Family::kAttention);
  const int64_t Tq = q.rows, Tkv = k_cache.rows;
  Geom g = make_geom(q.cols / D, k_cache.cols / D, D, Tq, Tkv, Tkv - Tq, 0);
  g.vec_loads = can_vec_load(D, {k_cache.ptr, v_cache.ptr});
  launch_forward(ctx_, out.data<bf16>(), nullptr, q.data<bf16>(), k_cache.data<bf16>(), v_cache.data<bf16>(),
                 1, g);
}

}  // namespace tt::cuda
