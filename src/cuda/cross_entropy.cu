// Chunked LM head + fused softmax cross-entropy (math and memory budget: cross_entropy.cuh).
#include <cstdlib>

#include "cuda/common.cuh"
#include "cuda/cross_entropy.cuh"
#include "cuda/cross_entropy_kernels.cuh"
#include "cuda/cuda_check.h"
#include "cuda/matmul.cuh"

namespace tt::cuda {
using namespace ce;
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

void lm_head_loss(Ctx& ctx, Buf losses, Buf dhidden, Buf dtable, Buf hidden, Buf table, Buf targets,
                  int64_t N, int64_t C, int64_t V, float loss_scale) {
  if (N == 0) return;
  const int64_t chunk = lm_head_chunk_rows(N, V);
  auto* logits = static_cast<bf16*>(ctx.scratch(Slot::kLogits, size_t(chunk) * size_t(V) * sizeof(bf16)));
  const bool grad = !dhidden.empty();
  const bool vec = V % 8 == 0;
  for (int64_t r0 = 0; r0 < N; r0 += chunk) {
    const int64_t rows = chunk < N - r0 ? chunk : N - r0;
    const bf16* h = hidden.as<bf16>() + r0 * C;
    // logits[rows, V] = h[rows, C] @ table[V, C]^T
    gemm_rm(ctx, logits, DType::BF16, h, false, table.ptr, true, rows, V, C, false);
    if (vec)
      softmax_ce_kernel<true><<<unsigned(rows), kCeThreads, 0, ctx.stream>>>(
          logits, losses.as<float>() + r0, targets.as<int32_t>() + r0, V, loss_scale, grad);
    else
      softmax_ce_kernel<false><<<unsigned(rows), kCeThreads, 0, ctx.stream>>>(
          logits, losses.as<float>() + r0, targets.as<int32_t>() + r0, V, loss_scale, grad);
    CUDA_CHECK_LAUNCH();
    if (!grad) continue;
    // dhidden[rows, C] = dlogits[rows, V] @ table[V, C]
    gemm_rm(ctx, dhidden.as<bf16>() + r0 * C, DType::BF16, logits, false, table.ptr, false, rows, C, V,
            false);
    // dtable[V, C] += dlogits[rows, V]^T @ h[rows, C]
    if (!dtable.empty()) gemm_rm(ctx, dtable.ptr, dtable.dtype, logits, true, h, false, V, C, rows, true);
  }
}

void lm_head_logits(Ctx& ctx, Buf logits, Buf hidden, Buf table, int64_t N, int64_t C, int64_t V) {
  gemm_rm(ctx, logits.ptr, DType::F32, hidden.ptr, false, table.ptr, true, N, V, C, false);
}

}  // namespace tt::cuda
