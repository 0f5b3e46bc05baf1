// RMSNorm forward/backward kernels (math: rmsnorm.cuh).
#include <algorithm>

#include "cuda/common.cuh"
#include "cuda/cuda_check.h"
#include "cuda/rmsnorm.cuh"
#include "cuda/rmsnorm_kernels.cuh"

namespace tt::cuda {
using namespace rms;
void rmsnorm_forward(Ctx& ctx, Buf out, Buf rstd, Buf inp, Buf weight, int64_t R, int64_t C, float eps) {
  if (R == 0) return;
  rmsnorm_forward_kernel<<<ceil_div(R, kRowsPerBlock), 32 * kRowsPerBlock, 0, ctx.stream>>>(
      out.as<bf16>(), rstd.as<float>(), inp.as<bf16>(), weight.as<bf16>(), R, C, eps);
  CUDA_CHECK_LAUNCH();
}

void rmsnorm_backward(Ctx& ctx, Buf dinp, Buf dweight, Buf dout, Buf inp, Buf weight, Buf rstd, int64_t R,
                      int64_t C) {
  if (R == 0 || C == 0) return;
  if (!dinp.empty()) {
    rmsnorm_backward_dinp_kernel<<<ceil_div(R, kRowsPerBlock), 32 * kRowsPerBlock, 0, ctx.stream>>>(
        dinp.as<bf16>(), dout.as<bf16>(), inp.as<bf16>(), weight.as<bf16>(), rstd.as<float>(), R, C);
    CUDA_CHECK_LAUNCH();
  }
  if (!dweight.empty()) {
    // About 4 blocks per SM in total, at least 64 rows per split.
    const int64_t col_blocks = ceil_div(C, 32);
    int64_t splits = (int64_t(ctx.sm_count) * 4 + col_blocks - 1) / col_blocks;
    splits = std::max<int64_t>(1, std::min<int64_t>(splits, (R + 63) / 64));
    const int64_t rows_per_split = (R + splits - 1) / splits;
    splits = (R + rows_per_split - 1) / rows_per_split;
    auto* partial = static_cast<float*>(ctx.scratch(Slot::kNormPartials, size_t(splits * C) * sizeof(float)));
    rmsnorm_dweight_partial_kernel<<<dim3(unsigned(col_blocks), unsigned(splits)), dim3(32, 8), 0,
                                     ctx.stream>>>(partial, dout.as<bf16>(), inp.as<bf16>(), rstd.as<float>(),
                                                   R, C, rows_per_split);
    CUDA_CHECK_LAUNCH();
    rmsnorm_dweight_final_kernel<<<ceil_div(C, 256), 256, 0, ctx.stream>>>(dweight.as<float>(), partial,
                                                                           splits, C);
    CUDA_CHECK_LAUNCH();
  }
}

}  // namespace tt::cuda
