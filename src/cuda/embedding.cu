// Token embedding lookup and its gradient (CPU: src/cpu/embedding.h).
//
//   forward : out[n, :] = table[ids[n], :]        out [N,C] bf16 overwrite; ids I32 [N]; table [V,C] bf16.
//             An id outside [0, V) gives a zero row (the model validates tokens on the host).
//   backward: dtable[ids[n], :] += dout[n, :]     dtable [V,C] fp32 accumulate; dout [N,C] bf16.
//   Nothing saved. Backward has two paths:
//   - deterministic (default): stable radix sort of (id, n) pairs (CUB), then one warp per run of
//     equal ids sums its rows in increasing n and adds once to dtable: bit-identical across runs.
//   - atomics (set_deterministic(false)): one fp32 atomicAdd per element; the order of additions
//     for repeated ids varies from run to run.
#include <cub/device/device_radix_sort.cuh>

#include "cuda/common.cuh"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_check.h"

namespace tt::cuda {
namespace {

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

int bits_for(int64_t v) {  // smallest b with v < 2^b
  int b = 1;
  while (b < 31 && (int64_t(1) << b) <= v) ++b;
  return b;
}

constexpr int kThreads = 256;

}  // namespace

void CudaBackend::embedding_forward_impl(Tensor out, Tensor ids, Tensor table) {
  OpScope scope(*this, Family::kEmbedding);
  const int64_t N = ids.numel(), C = table.cols, V = table.rows;
  if (C == 0) return;
  embedding_forward_kernel<<<grid_for(N * C, kThreads, ctx_), kThreads, 0, ctx_.stream>>>(
      out.data<bf16>(), ids.data<int32_t>(), table.data<bf16>(), N, C, V);
  CUDA_CHECK_LAUNCH();
}

void CudaBackend::embedding_backward_impl(Tensor dtable, Tensor ids, Tensor dout) {
  OpScope scope(*this, Family::kEmbedding);
  const int64_t N = ids.numel(), C = dtable.cols, V = dtable.rows;
  if (C == 0) return;
  if (!ctx_.deterministic) {
    embedding_backward_atomic_kernel<<<grid_for(N * C, kThreads, ctx_), kThreads, 0, ctx_.stream>>>(
        dtable.data<float>(), ids.data<int32_t>(), dout.data<bf16>(), N, C, V);
    CUDA_CHECK_LAUNCH();
    return;
  }
  const size_t nb = size_t(N) * sizeof(int32_t);
  auto* keys_in = static_cast<int32_t*>(ctx_.scratch(Slot::kSortKeysIn, nb));
  auto* keys_out = static_cast<int32_t*>(ctx_.scratch(Slot::kSortKeysOut, nb));
  auto* vals_in = static_cast<int32_t*>(ctx_.scratch(Slot::kSortValsIn, nb));
  auto* vals_out = static_cast<int32_t*>(ctx_.scratch(Slot::kSortValsOut, nb));
  embedding_sort_prep_kernel<<<grid_for(N, kThreads, ctx_), kThreads, 0, ctx_.stream>>>(
      keys_in, vals_in, ids.data<int32_t>(), N, V);
  CUDA_CHECK_LAUNCH();
  const int end_bit = bits_for(V);  // keys are in [0, V]
  size_t temp_bytes = 0;
  CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, keys_in, keys_out, vals_in, vals_out,
                                             int(N), 0, end_bit, ctx_.stream));
  void* temp = ctx_.scratch(Slot::kSortTemp, temp_bytes);
  CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp, temp_bytes, keys_in, keys_out, vals_in, vals_out, int(N),
                                             0, end_bit, ctx_.stream));
  embedding_backward_segments_kernel<<<ceil_div(N * 32, kThreads), kThreads, 0, ctx_.stream>>>(
      dtable.data<float>(), keys_out, vals_out, dout.data<bf16>(), N, C, V);
  CUDA_CHECK_LAUNCH();
}

}  // namespace tt::cuda
