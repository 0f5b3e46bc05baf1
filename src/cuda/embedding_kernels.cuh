// Embedding kernels (device code), separate from the launchers so that tests/cuda/emu can run them on
// the CPU. Math: embedding.cuh.
#pragma once

#include <cmath>
#include <cstdint>

#include "cuda/common.cuh"

namespace tt::cuda::emb {

__global__ void embedding_forward_kernel(bf16* out, const int32_t* ids, const bf16* table, int64_t N,
                                         int64_t C, int64_t V) {
  const int64_t total = N * C;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = i / C, c = i - n * C;
    const int32_t id = ids[n];
    out[i] = (id >= 0 && id < V) ? table[int64_t(id) * C + c] : __float2bfloat16_rn(0.0f);
  }
}

__global__ void embedding_backward_atomic_kernel(float* dtable, const int32_t* ids, const bf16* dout,
                                                 int64_t N, int64_t C, int64_t V) {
  const int64_t total = N * C;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = i / C, c = i - n * C;
    const int32_t id = ids[n];
    if (id >= 0 && id < V) atomicAdd(&dtable[int64_t(id) * C + c], to_f32(dout[i]));
  }
}

// keys[n] = ids[n] (out-of-range ids become V, sorted last and skipped); vals[n] = n.
__global__ void embedding_sort_prep_kernel(int32_t* keys, int32_t* vals, const int32_t* ids, int64_t N,
                                           int64_t V) {
  for (int64_t n = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; n < N;
       n += int64_t(gridDim.x) * blockDim.x) {
    const int32_t id = ids[n];
    keys[n] = (id >= 0 && id < V) ? id : int32_t(V);
    vals[n] = int32_t(n);
  }
}

// One warp per sorted position; the warp at the start of a run of equal keys sums the run's rows
// (in increasing n: the sort is stable) and adds the total to dtable once. The run's end is found
// by binary search in the sorted keys (a frequent token can have hundreds of rows); each lane keeps
// kSegCols column accumulators so a row contributes kSegCols independent loads per lane.
constexpr int kSegCols = 8;

__global__ void embedding_backward_segments_kernel(float* dtable, const int32_t* keys, const int32_t* rows,
                                                   const bf16* dout, int64_t N, int64_t C, int64_t V) {
  const int64_t warp = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31;
  if (warp >= N) return;
  const int32_t key = keys[warp];
  if (key >= V || (warp > 0 && keys[warp - 1] == key)) return;
  int64_t lo = warp + 1, hi = N;  // first position in [warp+1, N) whose key differs (keys ascending)
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (keys[mid] == key)
      lo = mid + 1;
    else
      hi = mid;
  }
  const int64_t end = lo;
  for (int64_t c0 = 0; c0 < C; c0 += 32 * kSegCols) {
    float acc[kSegCols];
#pragma unroll
    for (int j = 0; j < kSegCols; ++j) acc[j] = 0.0f;
    for (int64_t p = warp; p < end; ++p) {
      const bf16* src = dout + int64_t(rows[p]) * C;
#pragma unroll
      for (int j = 0; j < kSegCols; ++j) {
        const int64_t c = c0 + lane + 32 * j;
        if (c < C) acc[j] += to_f32(src[c]);
      }
    }
#pragma unroll
    for (int j = 0; j < kSegCols; ++j) {
      const int64_t c = c0 + lane + 32 * j;
      if (c < C) dtable[int64_t(key) * C + c] += acc[j];
    }
  }
}

}  // namespace tt::cuda::emb
