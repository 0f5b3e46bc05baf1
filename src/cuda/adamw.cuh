// Reductions and the optimizer.
//
//   sum          : out[0] = sum_i x[i]          x fp32 [n]; out fp32 scalar, overwrite
//   grad_norm_sq : out[0] = sum_i g[i]^2        g fp32 [n]; out fp32 scalar, overwrite
//     Two deterministic passes, no host sync: a fixed grid of blocks writes fp64 partials
//     (per-thread fp32 over a few elements, then fp64 block trees), one block sums them in order.
//   adamw_update : torch.optim.AdamW with HF-style global clipping for one contiguous segment
//     clip = max_grad_norm > 0 ? min(1, max_grad_norm / (sqrt(grad_norm_sq[0]) + 1e-6)) : 1
//     g = clip*grad; p -= lr*wd*p (if decay); m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2
//     p -= lr * (m / (1-b1^step)) / (sqrt(v / (1-b2^step)) + eps)
//     master, m, v fp32 (update in place); grads fp32; grad_norm_sq read on the device;
//     compute (optional) receives bf16(p). The clip factor is computed in the kernel.
#pragma once

#include "cuda/context.h"

namespace tt::cuda {

void sum(Ctx& ctx, Buf out, Buf x, int64_t n);
void grad_norm_sq(Ctx& ctx, Buf out, Buf grads, int64_t n);
void adamw_update(Ctx& ctx, Buf master, Buf compute, Buf grads, Buf m, Buf v, Buf grad_norm_sq, int64_t n,
                  const AdamWArgs& args, bool decay);

}  // namespace tt::cuda
