// Embedding lookup and gradient (math and the two backward paths: embedding.cuh).
#include <cub/device/device_radix_sort.cuh>

#include "cuda/common.cuh"
#include "cuda/cuda_check.h"
#include "cuda/embedding.cuh"

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
// (in increasing n: the sort is stable) and adds the total to dtable once.
__global__ void embedding_backward_segments_kernel(float* dtable, const int32_t* keys, const int32_t* rows,
                                                   const bf16* dout, int64_t N, int64_t C, int64_t V) {
  const int64_t warp = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31;
  if (warp >= N) return;
  const int32_t key = keys[warp];
  if (key >= V || (warp > 0 && keys[warp - 1] == key)) return;
  int64_t end = warp + 1;
  while (end < N && keys[end] == key) ++end;
  for (int64_t c = lane; c < C; c += 32) {
    float acc = 0.0f;
    for (int64_t p = warp; p < end; ++p) acc += to_f32(dout[int64_t(rows[p]) * C + c]);
    dtable[int64_t(key) * C + c] += acc;
  }
}

int bits_for(int64_t v) {  // smallest b with v < 2^b
  int b = 1;
  while (b < 31 && (int64_t(1) << b) <= v) ++b;
  return b;
}

}  // namespace

void embedding_forward(Ctx& ctx, Buf out, Buf ids, Buf table, int64_t N, int64_t C, int64_t V) {
  if (N * C == 0) return;
  const int threads = 256;
  embedding_forward_kernel<<<grid_for(N * C, threads, ctx), threads, 0, ctx.stream>>>(
      out.as<bf16>(), ids.as<int32_t>(), table.as<bf16>(), N, C, V);
  CUDA_CHECK_LAUNCH();
}

void embedding_backward(Ctx& ctx, Buf dtable, Buf ids, Buf dout, int64_t N, int64_t C, int64_t V) {
  if (N * C == 0) return;
  const int threads = 256;
  if (!ctx.deterministic) {
    embedding_backward_atomic_kernel<<<grid_for(N * C, threads, ctx), threads, 0, ctx.stream>>>(
        dtable.as<float>(), ids.as<int32_t>(), dout.as<bf16>(), N, C, V);
    CUDA_CHECK_LAUNCH();
    return;
  }
  const size_t nb = size_t(N) * sizeof(int32_t);
  auto* keys_in = static_cast<int32_t*>(ctx.scratch(Slot::kSortKeysIn, nb));
  auto* keys_out = static_cast<int32_t*>(ctx.scratch(Slot::kSortKeysOut, nb));
  auto* vals_in = static_cast<int32_t*>(ctx.scratch(Slot::kSortValsIn, nb));
  auto* vals_out = static_cast<int32_t*>(ctx.scratch(Slot::kSortValsOut, nb));
  embedding_sort_prep_kernel<<<grid_for(N, threads, ctx), threads, 0, ctx.stream>>>(keys_in, vals_in,
                                                                                    ids.as<int32_t>(), N, V);
  CUDA_CHECK_LAUNCH();
  const int end_bit = bits_for(V);  // keys are in [0, V]
  size_t temp_bytes = 0;
  CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, keys_in, keys_out, vals_in, vals_out,
                                             int(N), 0, end_bit, ctx.stream));
  void* temp = ctx.scratch(Slot::kSortTemp, temp_bytes);
  CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp, temp_bytes, keys_in, keys_out, vals_in, vals_out, int(N),
                                             0, end_bit, ctx.stream));
  const int64_t thread_count = N * 32;
  embedding_backward_segments_kernel<<<ceil_div(thread_count, threads), threads, 0, ctx.stream>>>(
      dtable.as<float>(), keys_out, vals_out, dout.as<bf16>(), N, C, V);
  CUDA_CHECK_LAUNCH();
}

}  // namespace tt::cuda
