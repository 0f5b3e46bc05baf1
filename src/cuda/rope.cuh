// RoPE, rotate_half convention (HF Llama/Qwen3), in place allowed.
//
//   Row n of x [N, H*D] sits at position p = pos_offset + n % T. For head h and i < D/2:
//     f_i = theta^(-2i/D);  c = cos(p f_i), s = sin(p f_i)
//     forward : out[i] = x[i] c - x[i+D/2] s;      out[i+D/2] = x[i+D/2] c + x[i] s
//     backward: dinp[i] = dy[i] c + dy[i+D/2] s;   dinp[i+D/2] = dy[i+D/2] c - dy[i] s     (R^T)
//   bf16 in/out, overwrite; nothing saved. The angle p*f_i is formed in fp64 and reduced mod 2pi
//   before the fp32 sincos, so positions in the thousands keep full bf16 accuracy.
#pragma once

#include "cuda/context.h"

namespace tt::cuda {

void rope_forward(Ctx& ctx, Buf out, Buf inp, int64_t N, int64_t T, int64_t H, int64_t D, double theta,
                  int64_t pos_offset);
void rope_backward(Ctx& ctx, Buf dinp, Buf dout, int64_t N, int64_t T, int64_t H, int64_t D, double theta,
                   int64_t pos_offset);

}  // namespace tt::cuda
