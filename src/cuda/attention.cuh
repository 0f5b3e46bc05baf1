// Causal grouped-query attention, flash-style (no T x T matrix in HBM). Own kernels; design notes
// in DESIGN.md.
//
//   q [B*T, Hq*D], k, v [B*T, Hkv*D] bf16; query head h reads kv head h / (Hq/Hkv); scale 1/sqrt(D).
//   forward : S = scale Q K^T (causal), lse_i = log sum_j exp(S_ij), O = softmax(S) V
//             out bf16 overwrite; lse fp32 [B*Hq*T] at (b*Hq + h)*T + i (saved for backward).
//   backward: P recomputed from q, k and lse; D_i = dO_i . O_i; dS = P (dP - D); dP = dO V^T
//             dq = scale dS K;  dk = scale dS^T Q;  dv = P^T dO          (all bf16 overwrite)
//             dk/dv sum over the query heads of their group inside one block: no atomics.
//   infer   : batch 1, q = the last Tq of Tkv positions (query i at position Tkv-Tq+i), lse not kept.
//
// Work split: a block (128 threads) owns 128 / G "rows" (queries for forward/dq, keys for dk/dv) of one (b,
// head) and streams the other side through shared-memory tiles (fp32). Each row is held by G threads (G a
// power of two, 16 head dims per thread, G = 4 for D = 64, 8 for D = 128), so dot products are
// 16 FMAs + log2(G) shuffles. Any D <= 512 works (dims past D are zero padding). Online softmax
// over chunks of 8 keys in base 2 (exp2f). Any T works: tiles loop to T.
#pragma once

#include "cuda/context.h"

namespace tt::cuda {

void attention_forward(Ctx& ctx, Buf out, Buf lse, Buf q, Buf k, Buf v, int64_t B, int64_t T, int64_t Hq,
                       int64_t Hkv, int64_t D);
void attention_backward(Ctx& ctx, Buf dq, Buf dk, Buf dv, Buf dout, Buf out, Buf lse, Buf q, Buf k, Buf v,
                        int64_t B, int64_t T, int64_t Hq, int64_t Hkv, int64_t D);
void attention_infer(Ctx& ctx, Buf out, Buf q, Buf k_cache, Buf v_cache, int64_t Tq, int64_t Tkv, int64_t Hq,
                     int64_t Hkv, int64_t D);

}  // namespace tt::cuda
