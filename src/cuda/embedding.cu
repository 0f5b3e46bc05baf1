// Embedding lookup and gradient (math and the two backward paths: embedding.cuh).
#include <cub/device/device_radix_sort.cuh>

#include "cuda/common.cuh"
#include "cuda/cuda_check.h"
#include "cuda/embedding.cuh"
#include "cuda/embedding_kernels.cuh"

namespace tt::cuda {
using namespace emb;
namespace {

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
