// The fused softmax-cross-entropy kernel (device code), separate from the launcher so that
// tests/cuda/emu can run it on the CPU. Math: cross_entropy.cuh.
#pragma once

#include <cmath>
#include <cstdint>

#include "cuda/common.cuh"

namespace tt::cuda::ce {

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

}  // namespace tt::cuda::ce
