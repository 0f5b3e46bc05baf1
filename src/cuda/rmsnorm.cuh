// RMSNorm (HF Qwen3RMSNorm), also used per head for the q/k norms (R = N*H rows, C = D).
//
//   forward : rstd[r] = 1 / sqrt(mean_c(x[r,c]^2) + eps);  out[r,c] = x[r,c] * rstd[r] * w[c]
//             out [R,C] bf16 overwrite; rstd [R] fp32 overwrite (saved for backward); x, w bf16.
//   backward: with g[c] = dout[r,c] * w[c]:
//             dinp[r,c] += rstd * g[c] - x[r,c] * rstd^3 * (sum_c g[c] x[r,c]) / C     (bf16, accumulate)
//             dweight[c] += sum_r dout[r,c] * x[r,c] * rstd[r]                       (fp32, accumulate)
//   All sums in fp32. dinp: one warp per row. dweight: a deterministic two-stage column reduction
//   (fixed row ranges per block -> fp32 partials in scratch -> one fixed-order sum per column).
#pragma once

#include "cuda/context.h"

namespace tt::cuda {

void rmsnorm_forward(Ctx& ctx, Buf out, Buf rstd, Buf inp, Buf weight, int64_t R, int64_t C, float eps);
void rmsnorm_backward(Ctx& ctx, Buf dinp, Buf dweight, Buf dout, Buf inp, Buf weight, Buf rstd, int64_t R,
                      int64_t C);

}  // namespace tt::cuda
