// LM head + cross-entropy, chunked over rows (tied embedding table [V,C] as the head). CPU:
// src/cpu/cross_entropy.h.
//
//   For rows n of a chunk:  logits = hidden[n,:] @ table^T                 (cuBLASLt, bf16 [rows,V])
//     losses[n] = logsumexp(logits[n]) - logits[n, t_n]     (t_n = targets[n] >= 0; else 0, no grad)
//     A target >= V is also treated as "no target" here, where the CPU reference throws: the targets are
//     on the device and checking them would cost a sync; Qwen3Model checks every token id (0 <= id < V)
//     on the host before it uploads a batch (qwen3.cpp), so none reaches this.
//     dlogits[n,:] = loss_scale * (softmax(logits[n]) - onehot(t_n))    written over the logits (bf16)
//     dhidden[n,:] = dlogits[n,:] @ table                                 (bf16, overwrite)
//     dtable     += dlogits^T @ hidden                                    (fp32, accumulate: beta = 1)
//   losses fp32 [N] overwrite. Softmax statistics in fp32 (online max/sum, one block per row).
//   Extra memory: one bf16 chunk [rows, V] in scratch, rows = 1.75 GiB / (2 V) rounded down to a
//   multiple of 128 (6144 at V = 151936, i.e. 1.87 GB; 3 chunks at N = 16384) -- within the 2 GB
//   budget. Fewer chunks = fewer fp32 read-modify-write passes over dtable. Override the budget with the
//   environment variable TT_CUDA_LM_HEAD_CHUNK_MB.
//   lm_head_logits: logits fp32 [N,V] = hidden @ table^T (one GEMM, fp32 output), for sampling.
#include <cstdlib>

#include "cuda/common.cuh"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_check.h"

namespace tt::cuda {
namespace {

constexpr int kCeThreads = 512;

struct MaxSum {
  float m, s;  // running max and sum of exp(x - m)
};

__device__ __forceinline__ MaxSum combine(MaxSum a, MaxSum b) {
  const float m = fmaxf(a.m, b.m);
  if (m == -INFINITY) return {m, 0.0f};
  return {m, a.s * __expf(a.m - m) + b.s * __expf(b.m - m)};
}

__device__ __forceinline__ void push(MaxSum& a, float x) {
  if (x > a.m) {
    a.s = a.s * __expf(a.m - x) + 1.0f;
    a.m = x;
  } else {
    a.s += __expf(x - a.m);
  }
}

// One block per row of the chunk. kVec: V % 8 == 0, so rows are 16-byte aligned and read as 8 x bf16.
template <bool kVec>
__global__ void __launch_bounds__(kCeThreads)
    softmax_ce_kernel(bf16* logits, float* losses, const int32_t* targets, int64_t V, float loss_scale,
                      bool write_grad) {
  __shared__ MaxSum sh[32];
  __shared__ float target_logit;
  const int64_t r = blockIdx.x;
  bf16* row = logits + r * V;
  const int32_t target = targets[r];
  const bool active = target >= 0 && target < V;
  if (!active) {
    if (threadIdx.x == 0) losses[r] = 0.0f;
    if (write_grad)
      for (int64_t i = threadIdx.x; i < V; i += blockDim.x) row[i] = __float2bfloat16_rn(0.0f);
    return;
  }
  MaxSum acc{-INFINITY, 0.0f};
  if (kVec) {
    const uint4* row4 = reinterpret_cast<const uint4*>(row);
    for (int64_t i = threadIdx.x; i < V / 8; i += blockDim.x) {
      const uint4 u = row4[i];
      const unsigned w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        push(acc, bf16_lo(w[e]));
        push(acc, bf16_hi(w[e]));
      }
    }
  } else {
    for (int64_t i = threadIdx.x; i < V; i += blockDim.x) push(acc, to_f32(row[i]));
  }
  // Block reduce of (max, sum) pairs.
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) {
    MaxSum o{__shfl_xor_sync(kFullMask, acc.m, off), __shfl_xor_sync(kFullMask, acc.s, off)};
    acc = combine(acc, o);
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) sh[warp] = acc;
  if (threadIdx.x == 0) target_logit = to_f32(row[target]);
  __syncthreads();
  if (warp == 0) {
    acc = lane < int(blockDim.x >> 5) ? sh[lane] : MaxSum{-INFINITY, 0.0f};
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
      MaxSum o{__shfl_xor_sync(kFullMask, acc.m, off), __shfl_xor_sync(kFullMask, acc.s, off)};
      acc = combine(acc, o);
    }
    if (lane == 0) sh[0] = acc;
  }
  __syncthreads();
  const float lse = sh[0].m + logf(sh[0].s);
  if (threadIdx.x == 0) losses[r] = lse - target_logit;
  if (!write_grad) return;
  // dlogits = scale * (softmax - onehot), written over the logits (each element read then written by
  // the same thread; the target logit was read before the barrier above).
  if (kVec) {
    uint4* row4 = reinterpret_cast<uint4*>(row);
    for (int64_t i = threadIdx.x; i < V / 8; i += blockDim.x) {
      const uint4 u = row4[i];
      unsigned w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int64_t c = i * 8 + 2 * e;
        const float g0 = (__expf(bf16_lo(w[e]) - lse) - (c == target ? 1.0f : 0.0f)) * loss_scale;
        const float g1 = (__expf(bf16_hi(w[e]) - lse) - (c + 1 == target ? 1.0f : 0.0f)) * loss_scale;
        w[e] = pack_bf16x2(g0, g1);
      }
      row4[i] = make_uint4(w[0], w[1], w[2], w[3]);
    }
  } else {
    for (int64_t i = threadIdx.x; i < V; i += blockDim.x) {
      const float x = to_f32(row[i]);
      row[i] = __float2bfloat16_rn((__expf(x - lse) - (i == target ? 1.0f : 0.0f)) * loss_scale);
    }
  }
}

// Rows per chunk for a given vocabulary.
int64_t lm_head_chunk_rows(int64_t N, int64_t V) {
  int64_t budget_mb = 1792;  // 1.75 GiB = 1.88 GB: 3 chunks at N = 16384, V = 151936
  if (const char* env = std::getenv("TT_CUDA_LM_HEAD_CHUNK_MB")) {
    const long long v = std::atoll(env);
    if (v > 0) budget_mb = v;
  }
  int64_t rows = (budget_mb << 20) / (2 * (V > 0 ? V : 1));
  if (rows > 256) rows = rows / 128 * 128;  // GEMM-friendly M
  if (rows < 1) rows = 1;
  return rows < N ? rows : N;
}

}  // namespace

void CudaBackend::lm_head_loss_impl(Tensor losses, Tensor dhidden, Tensor dtable, Tensor hidden, Tensor table,
                                    Tensor targets, float loss_scale) {
  OpScope scope(*this, Family::kLmHead);
  const int64_t N = hidden.rows, C = hidden.cols, V = table.rows;
  const int64_t chunk = lm_head_chunk_rows(N, V);
  auto* logits = static_cast<bf16*>(ctx_.scratch(Slot::kLogits, size_t(chunk) * size_t(V) * sizeof(bf16)));
  const bool grad = !dhidden.empty();
  const bool vec = V % 8 == 0;
  for (int64_t r0 = 0; r0 < N; r0 += chunk) {
    const int64_t rows = chunk < N - r0 ? chunk : N - r0;
    const bf16* h = hidden.data<bf16>() + r0 * C;
    // logits[rows, V] = h[rows, C] @ table[V, C]^T
    gemm_rm(ctx_, logits, DType::BF16, h, false, table.ptr, true, rows, V, C, false);
    if (vec)
      softmax_ce_kernel<true><<<unsigned(rows), kCeThreads, 0, ctx_.stream>>>(
          logits, losses.data<float>() + r0, targets.data<int32_t>() + r0, V, loss_scale, grad);
    else
      softmax_ce_kernel<false><<<unsigned(rows), kCeThreads, 0, ctx_.stream>>>(
          logits, losses.data<float>() + r0, targets.data<int32_t>() + r0, V, loss_scale, grad);
    CUDA_CHECK_LAUNCH();
    if (!grad) continue;
    // dhidden[rows, C] = dlogits[rows, V] @ table[V, C]
    gemm_rm(ctx_, dhidden.data<bf16>() + r0 * C, DType::BF16, logits, false, table.ptr, false, rows, C, V,
            false);
    // dtable[V, C] += dlogits[rows, V]^T @ h[rows, C]
    if (!dtable.empty()) gemm_rm(ctx_, dtable.ptr, dtable.dtype, logits, true, h, false, V, C, rows, true);
  }
}

void CudaBackend::lm_head_logits_impl(Tensor logits, Tensor hidden, Tensor table) {
  OpScope scope(*this, Family::kLmHead);
  gemm_rm(ctx_, logits.ptr, DType::F32, hidden.ptr, false, table.ptr, true, hidden.rows, table.rows,
          hidden.cols, false);
}

}  // namespace tt::cuda
