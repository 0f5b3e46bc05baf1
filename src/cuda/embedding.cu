// Token embedding lookup and its gradient (CPU: src/cpu/embedding.h).
//
//   forward : out[n, :] = table[ids[n], :]        out [N,C] bf16 overwrite; ids I32 [N]; table [V,C] bf16.
//             An id outside [0, V) gives a zero row (the model validates tokens on the host). Rows move in
//             16-byte units of 8 bf16 when C % 8 == 0 (and the tensors are 16-byte aligned).
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

// Grid-stride over the N * C / kN output units of kN bf16 (kN = 8: C % 8 == 0 and 16-byte aligned tensors).
template <int kN>
__global__ void embedding_forward_kernel(bf16* out, const int32_t* ids, const bf16* table, int64_t N,
                                         int64_t C, int64_t V) {
  using U = Bf16s<kN>;
  const int64_t Cu = C / kN, total = N * Cu;
  const U* t = reinterpret_cast<const U*>(table);
  U* o = reinterpret_cast<U*>(out);
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = i / Cu, c = i - n * Cu;
    const int32_t id = ids[n];
    if (id >= 0 && id < V) {
      o[i] = t[int64_t(id) * Cu + c];
    } else {
      U zero;
#pragma unroll
      for (int e = 0; e < kN; ++e) zero.v[e] = __float2bfloat16_rn(0.0f);
      o[i] = zero;
    }
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
// by binary search in the sorted keys (a frequent token can have hundreds of rows). Each lane keeps
// kSegUnits units of kN columns (kN = 8: C % 8 == 0 and aligned tensors, 16-byte loads of dout) as
// accumulators, so a row contributes kSegUnits independent loads per lane.
template <int kN>
__global__ void embedding_backward_segments_kernel(float* dtable, const int32_t* keys, const int32_t* rows,
                                                   const bf16* dout, int64_t N, int64_t C, int64_t V) {
  constexpr int kSegUnits = kN == 1 ? 8 : 2;
  using U = Bf16s<kN>;
  using F = Pack<float, kN>;
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
  const int64_t end = lo, Cu = C / kN;
  F* dst = reinterpret_cast<F*>(dtable + int64_t(key) * C);
  for (int64_t u0 = 0; u0 < Cu; u0 += 32 * kSegUnits) {
    F acc[kSegUnits];
#pragma unroll
    for (int j = 0; j < kSegUnits; ++j)
#pragma unroll
      for (int e = 0; e < kN; ++e) acc[j].v[e] = 0.0f;
    for (int64_t p = warp; p < end; ++p) {
      const U* src = reinterpret_cast<const U*>(dout + int64_t(rows[p]) * C);
#pragma unroll
      for (int j = 0; j < kSegUnits; ++j) {
        const int64_t u = u0 + lane + 32 * j;
        if (u < Cu) {
          const U x = src[u];
#pragma unroll
          for (int e = 0; e < kN; ++e) acc[j].v[e] += to_f32(x.v[e]);
        }
      }
    }
#pragma unroll
    for (int j = 0; j < kSegUnits; ++j) {
      const int64_t u = u0 + lane + 32 * j;
      if (u < Cu) {
        F d = dst[u];
#pragma unroll
        for (int e = 0; e < kN; ++e) d.v[e] += acc[j].v[e];
        dst[u] = d;
      }
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

SlotBytes embedding_scratch(const Ctx& ctx, int64_t N, int64_t V) {
  SlotBytes s{};
  if (!ctx.deterministic) return s;  // atomics: no scratch
  const size_t nb = size_t(N) * sizeof(int32_t);
  for (Slot slot : {Slot::kSortKeysIn, Slot::kSortKeysOut, Slot::kSortValsIn, Slot::kSortValsOut})
    s[size_t(slot)] = nb;
  size_t temp_bytes = 0;  // CUB's temporary storage, asked as the op asks it (no device work)
  CUDA_CHECK(
      cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, static_cast<const int32_t*>(nullptr),
                                      static_cast<int32_t*>(nullptr), static_cast<const int32_t*>(nullptr),
                                      static_cast<int32_t*>(nullptr), int(N), 0, bits_for(V), ctx.stream));
  s[size_t(Slot::kSortTemp)] = temp_bytes;
  return s;
}

void CudaBackend::embedding_forward_impl(Tensor out, Tensor ids, Tensor table) {
  OpScope scope(*this, Family::kEmbedding);
  const int64_t N = ids.numel(), C = table.cols, V = table.rows;
  if (C == 0) return;
  const bool vec = can_vec_load(C, {out.ptr, table.ptr});
  const auto kernel = vec ? embedding_forward_kernel<8> : embedding_forward_kernel<1>;
  kernel<<<grid_for(N * C / (vec ? 8 : 1), kThreads, ctx_), kThreads, 0, ctx_.stream>>>(
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
  // With C % 8 == 0 every fp32 unit of 8 in dtable is 16-byte aligned once the base is.
  const auto segments = can_vec_load(C, {dout.ptr, dtable.ptr}) ? embedding_backward_segments_kernel<8>
                                                                : embedding_backward_segments_kernel<1>;
  segments<<<ceil_div(N * 32, kThreads), kThreads, 0, ctx_.stream>>>(dtable.data<float>(), keys_out, vals_out,
                                                                     dout.data<bf16>(), N, C, V);
  CUDA_CHECK_LAUNCH();
}

}  // namespace tt::cuda
