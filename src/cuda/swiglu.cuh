// SwiGLU: out = silu(gate) * up, silu(x) = x * sigmoid(x). All bf16 [n], math in fp32.
//
//   forward : out = silu(g) u                                              overwrite
//   backward: dgate = dout u sigmoid(g) (1 + g (1 - sigmoid(g))),  dup = dout silu(g)   overwrite
//   Nothing saved (gate and up are the graph's saved activations). Out may alias gate or up.
#pragma once

#include "cuda/context.h"

namespace tt::cuda {

void swiglu_forward(Ctx& ctx, Buf out, Buf gate, Buf up, int64_t n);
void swiglu_backward(Ctx& ctx, Buf dgate, Buf dup, Buf dout, Buf gate, Buf up, int64_t n);

}  // namespace tt::cuda
