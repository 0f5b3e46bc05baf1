// embedding: token-embedding lookup and its gradient.
//
//   forward : out[n, :] = table[ids[n], :]        out [N,C] bf16 overwrite; ids I32 [N]; table [V,C] bf16.
//             An id outside [0, V) gives a zero row (the model validates tokens on the host).
//   backward: dtable[ids[n], :] += dout[n, :]     dtable [V,C] fp32 accumulate; dout [N,C] bf16.
//   Nothing saved. Backward has two paths:
//   - deterministic (default): stable radix sort of (id, n) pairs (CUB), then one warp per run of
//     equal ids sums its rows in increasing n and adds once to dtable: bit-identical across runs.
//   - atomics (Ctx::deterministic = false): one fp32 atomicAdd per element; the order of additions
//     for repeated ids varies from run to run.
#pragma once

#include "cuda/context.h"

namespace tt::cuda {

void embedding_forward(Ctx& ctx, Buf out, Buf ids, Buf table, int64_t N, int64_t C, int64_t V);
void embedding_backward(Ctx& ctx, Buf dtable, Buf ids, Buf dout, int64_t N, int64_t C, int64_t V);

}  // namespace tt::cuda
