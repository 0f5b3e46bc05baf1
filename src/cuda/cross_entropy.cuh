// LM head + cross-entropy, chunked over rows (tied embedding table [V,C] as the head).
//
//   For rows n of a chunk:  logits = hidden[n,:] @ table^T                 (cuBLASLt, bf16 [rows,V])
//     losses[n] = logsumexp(logits[n]) - logits[n, t_n]     (t_n = targets[n] >= 0; else 0, no grad)
//     A target >= V is also treated as "no target" here, where the CPU reference throws: the targets are
//     on the device and checking them would cost a sync; Qwen3Model checks every token id (0 <= id < V)
//     on the host before it uploads a batch (qwen3.cpp), so none reaches this.
//     dlogits[n,:] = loss_scale * (softmax(logits[n]) - onehot(t_n))    written over the logits (bf16)
//     dhidden[n,:] = dlogits[n,:] @ table                                 (bf16, overwrite)
//     dtable     += dlogits^T @ hidden                                    (fp32, accumulate: beta = 1)
//   losses fp32 [N] overwrite. Softmax statistics in fp32 (online max/sum, one block per row).
//   Extra memory: one bf16 chunk [rows, V] in scratch, rows = 1.75 GiB / (2 V) rounded down to a
//   multiple of 128 (6144 at V = 151936, i.e. 1.87 GB; 3 chunks at N = 16384) -- within the 2 GB
//   budget. Fewer chunks = fewer fp32 read-modify-write passes over dtable. Override the budget with the
//   environment variable TT_CUDA_LM_HEAD_CHUNK_MB.
//   lm_head_logits: logits fp32 [N,V] = hidden @ table^T (one GEMM, fp32 output), for sampling.
#pragma once

#include "cuda/context.h"

namespace tt::cuda {

void lm_head_loss(Ctx& ctx, Buf losses, Buf dhidden, Buf dtable, Buf hidden, Buf table, Buf targets,
                  int64_t N, int64_t C, int64_t V, float loss_scale);
void lm_head_logits(Ctx& ctx, Buf logits, Buf hidden, Buf table, int64_t N, int64_t C, int64_t V);

// Rows per chunk for a given vocabulary (exposed for the tests and the design notes).
int64_t lm_head_chunk_rows(int64_t N, int64_t V);

}  // namespace tt::cuda
