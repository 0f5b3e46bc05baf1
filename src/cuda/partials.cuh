// Deterministic weight gradients of the norms (rmsnorm.cu, qk_norm_rope.cu): each block of the backward
// kernel owns a fixed range of rows and writes one fp32 partial sum per column; this kernel adds the
// partials to the gradient in block order, so the result is the same every run (no atomics).
#pragma once

#include "cuda/common.cuh"

namespace tt::cuda {
namespace {

// For c < cols: dst[c] += sum over b < blocks of partial[b * cols + c], where dst is lo + c for c < split
// and hi + (c - split) from there (two gradients from one set of partials).
__global__ void add_partials_kernel(float* lo, float* hi, int64_t split, const float* partial, int64_t blocks,
                                    int64_t cols) {
  const int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c >= cols) return;
  float s = 0.0f;
  for (int64_t b = 0; b < blocks; ++b) s += partial[b * cols + c];
  if (c < split)
    lo[c] += s;
  else
    hi[c - split] += s;
}

}  // namespace
}  // namespace tt::cuda
