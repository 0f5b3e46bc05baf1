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
//   losses fp32 [N] overwrite. Softmax statistics in fp32 (online max/sum); one 1024-thread block per SM,
//   each taking rows in turn (deterministic: a fixed reduction order per row).
//   lm_head_logits: logits fp32 [N,V] = hidden @ table^T (one GEMM, fp32 output), for sampling.
//
//   Passes over the logits (seed shape: N = 16384, V = 151936: 4.98 GB of bf16 logits per step): the
//   logits GEMM writes them, the softmax kernel reads them once from HBM and writes dlogits over them, and
//   the dhidden and dtable GEMMs read them. The kernel's second read of a row (to write dlogits) stays on
//   chip: pass 1 keeps the row's first 226 KiB (the opt-in shared memory) of its 297 KiB in shared memory,
//   and the rest (71 KiB) is re-read from L2, where one row per SM is in flight (132 x 71 KiB = 9.6 MB of
//   a 60 MB L2). So the kernel moves 2 x 4.98 GB through HBM (~2.3 ms at 4.3 TB/s), where reading each row
//   twice from HBM moved 3 x 4.98 GB (~3.5 ms).
//   Chunk size: every chunk re-reads the table in the logits and dhidden GEMMs (2 x 117 MB bf16) and reads
//   and writes the fp32 dtable (2 x 233 MB): ~0.70 GB, ~0.16 ms per chunk. A chunk whose logits stay in L2
//   from the GEMM to the softmax kernel (<= ~30 MB, ~98 rows) would need 167 chunks (~117 GB, ~27 ms) to
//   save one 4.98 GB read (~1.2 ms); the break-even is ~7 chunks (2340 rows, 0.7 GB of logits: far above
//   L2). So chunks are as large as memory allows: a 1.75 GiB budget, split into equal chunks (3 x 5504 rows
//   = 1.67 GB at the seed shape), in the bulk scratch slot that attention's scores share. Override the
//   budget with the environment variable TT_CUDA_LM_HEAD_CHUNK_MB.
#include <algorithm>
#include <cstdlib>

#include "common/env.h"
#include "cuda/common.cuh"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_check.h"

namespace tt::cuda {
namespace {

constexpr int kCeThreads = 1024;

struct MaxSum {
  float m, s;  // running max and sum of exp(x - m)
};

__device__ __forceinline__ MaxSum combine(MaxSum a, MaxSum b) {
  const float m = fmaxf(a.m, b.m);
  if (m == -INFINITY) return {m, 0.0f};
  return {m, a.s * __expf(a.m - m) + b.s * __expf(b.m - m)};
}

// The partner lane's pair, moved as one 64-bit shuffle.
__device__ __forceinline__ MaxSum shfl_xor(MaxSum a, int off) {
  const unsigned long long packed =
      (static_cast<unsigned long long>(__float_as_uint(a.m)) << 32) | __float_as_uint(a.s);
  const unsigned long long o = __shfl_xor_sync(kFullMask, packed, off);
  return {__uint_as_float(unsigned(o >> 32)), __uint_as_float(unsigned(o & 0xffffffffu))};
}

__device__ __forceinline__ void push(MaxSum& a, float x) {
  if (x > a.m) {
    a.s = a.s * __expf(a.m - x) + 1.0f;
    a.m = x;
  } else {
    a.s += __expf(x - a.m);
  }
}

// Persistent: block b takes rows b, b + gridDim.x, ... of the chunk, one at a time (one block per SM).
// Units of kN bf16 (kN = 8: V % 8 == 0 and 16-byte aligned rows; else 1). The first `cached` units of the
// row are kept in dynamic shared memory by pass 1, so pass 2 reads them on chip; the rest are re-read
// from global memory, where the row was just read (gridDim.x rows in flight: see the header).
template <int kN>
__global__ void __launch_bounds__(kCeThreads, 1)
    softmax_ce_kernel(bf16* logits, float* losses, const int32_t* targets, int64_t rows, int64_t V,
                      int64_t cached, float loss_scale, bool write_grad) {
  using U = Bf16s<kN>;
  TT_DYNAMIC_SHARED(uint4, cache_raw);  // [cached] units
  U* cache = reinterpret_cast<U*>(cache_raw);
  __shared__ MaxSum sh[32];
  __shared__ float target_logit;
  const int64_t units = V / kN;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    U* row = reinterpret_cast<U*>(logits + r * V);
    const int32_t target = targets[r];
    if (target < 0 || target >= V) {  // no target: no loss, no gradient (uniform over the block)
      if (threadIdx.x == 0) losses[r] = 0.0f;
      if (write_grad) {
        U zero;
#pragma unroll
        for (int e = 0; e < kN; ++e) zero.v[e] = __float2bfloat16_rn(0.0f);
        for (int64_t i = threadIdx.x; i < units; i += blockDim.x) row[i] = zero;
      }
      continue;
    }
    // Pass 1: online max / sum of exp over the row, caching its head on chip.
    MaxSum acc{-INFINITY, 0.0f};
#pragma unroll 4
    for (int64_t i = threadIdx.x; i < units; i += blockDim.x) {
      const U u = row[i];
      if (i < cached) cache[i] = u;
#pragma unroll
      for (int e = 0; e < kN; ++e) push(acc, to_f32(u.v[e]));
    }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) acc = combine(acc, shfl_xor(acc, off));
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) sh[warp] = acc;
    if (threadIdx.x == 0) target_logit = to_f32(logits[r * V + target]);
    __syncthreads();
    if (warp == 0) {
      acc = lane < int(blockDim.x >> 5) ? sh[lane] : MaxSum{-INFINITY, 0.0f};
#pragma unroll
      for (int off = 16; off > 0; off >>= 1) acc = combine(acc, shfl_xor(acc, off));
      if (lane == 0) sh[0] = acc;
    }
    __syncthreads();
    const float lse = sh[0].m + logf(sh[0].s);
    if (threadIdx.x == 0) losses[r] = lse - target_logit;
    if (write_grad) {
      // Pass 2: dlogits = scale * (softmax - onehot) over the logits. Each unit is read and written by the
      // thread that cached it in pass 1 (the target logit was read before the barrier above).
#pragma unroll 4
      for (int64_t i = threadIdx.x; i < units; i += blockDim.x) {
        U u = i < cached ? cache[i] : row[i];
#pragma unroll
        for (int e = 0; e < kN; ++e) {
          const float onehot = i * kN + e == target ? 1.0f : 0.0f;
          u.v[e] = __float2bfloat16_rn((__expf(to_f32(u.v[e]) - lse) - onehot) * loss_scale);
        }
        row[i] = u;
      }
    }
    __syncthreads();  // sh and target_logit are rewritten for the next row
  }
}

// The most rows a chunk may have: its bf16 logits within the budget.
int64_t lm_head_most_rows(int64_t V) {
  // 1.75 GiB by default: 3 chunks of 5504 rows (1.67 GB) at N = 16384, V = 151936
  const int64_t budget_mb =
      env_int("TT_CUDA_LM_HEAD_CHUNK_MB", 1792, 1, int64_t(1) << 30, "MiB of bf16 logits per LM-head chunk");
  return std::max<int64_t>(1, (budget_mb << 20) / (2 * std::max<int64_t>(V, 1)));
}

// Rows per chunk: as few chunks as the budget allows, of equal size (a multiple of 128, GEMM-friendly M).
int64_t lm_head_chunk_rows(int64_t N, int64_t V) {
  const int64_t most = lm_head_most_rows(V);
  const int64_t chunks = (N + most - 1) / most;
  int64_t rows = (N + chunks - 1) / chunks;
  if (rows > 256) rows = std::min(most, (rows + 127) / 128 * 128);
  return std::min(rows, N);
}

}  // namespace

SlotBytes lm_head_scratch(int64_t N, int64_t V) {
  SlotBytes s{};
  // Not lm_head_chunk_rows(N, V): a batch just above `most` rows is cut in halves, while a smaller one (an
  // evaluation's last, partial batch) is one chunk of up to `most` rows; min(N, most) bounds every batch <=
  // N.
  s[size_t(Slot::kBulk)] = size_t(std::min(N, lm_head_most_rows(V))) * size_t(V) * sizeof(bf16);
  return s;
}

void CudaBackend::lm_head_loss_impl(Tensor losses, Tensor dhidden, Tensor dtable, Tensor hidden, Tensor table,
                                    Tensor targets, float loss_scale) {
  // Timed as two families: the GEMMs (lm_head_gemm) and the softmax kernel (lm_head_softmax).
  const int64_t N = hidden.rows, C = hidden.cols, V = table.rows;
  const int64_t chunk = lm_head_chunk_rows(N, V);
  auto* logits = static_cast<bf16*>(ctx_.scratch(Slot::kBulk, size_t(chunk) * size_t(V) * sizeof(bf16)));
  const bool grad = !dhidden.empty();
  // 16-byte units when every row is 16-byte aligned (V % 8 == 0; the scratch buffer is 256-byte aligned).
  const bool vec = V % 8 == 0;
  const int64_t unit_bytes = vec ? 16 : 2, units = vec ? V / 8 : V;
  // On-chip row cache for pass 2: the opt-in shared memory less the kernel's static arrays; none for the
  // loss alone (evaluation), which reads each row once.
  const int64_t cached =
      grad ? std::min<int64_t>(units, (int64_t(ctx_.max_smem_per_block) - 1024) / unit_bytes) : 0;
  const size_t smem = size_t(std::max<int64_t>(cached, 1) * unit_bytes);
  const auto kernel = vec ? softmax_ce_kernel<8> : softmax_ce_kernel<1>;
  allow_dynamic_smem(kernel, smem);
  for (int64_t r0 = 0; r0 < N; r0 += chunk) {
    const int64_t rows = chunk < N - r0 ? chunk : N - r0;
    const bf16* h = hidden.data<bf16>() + r0 * C;
    {
      OpScope scope(*this, Family::kLmHeadGemm);
      // logits[rows, V] = h[rows, C] @ table[V, C]^T
      gemm_rm(ctx_, logits, DType::BF16, h, false, table.ptr, true, rows, V, C, false);
    }
    {
      OpScope scope(*this, Family::kLmHeadSoftmax);
      const unsigned blocks = unsigned(std::min<int64_t>(rows, ctx_.sm_count));
      kernel<<<blocks, kCeThreads, smem, ctx_.stream>>>(
          logits, losses.data<float>() + r0, targets.data<int32_t>() + r0, rows, V, cached, loss_scale, grad);
      CUDA_CHECK_LAUNCH();
    }
    if (!grad) continue;
    OpScope scope(*this, Family::kLmHeadGemm);
    // dhidden[rows, C] = dlogits[rows, V] @ table[V, C]
    gemm_rm(ctx_, dhidden.data<bf16>() + r0 * C, DType::BF16, logits, false, table.ptr, false, rows, C, V,
            false);
    // dtable[V, C] += dlogits[rows, V]^T @ h[rows, C]
    if (!dtable.empty()) gemm_rm(ctx_, dtable.ptr, dtable.dtype, logits, true, h, false, V, C, rows, true);
  }
}

void CudaBackend::lm_head_logits_impl(Tensor logits, Tensor hidden, Tensor table) {
  OpScope scope(*this, Family::kLmHeadGemm);
  gemm_rm(ctx_, logits.ptr, DType::F32, hidden.ptr, false, table.ptr, true, hidden.rows, table.rows,
          hidden.cols, false);
}

}  // namespace tt::cuda
