// SwiGLU gate of the Qwen3 MLP on the stacked gate|up projection: gate_up [N, 2I] holds per row the gate
// projection g (columns 0..I-1), then the up projection u (columns I..2I-1). silu(x) = x * sigmoid(x).
//
//   forward:  out[n, i] = silu(g) * u                                     out [N, I] overwrite
//   backward: dg = dout * u * sig(g) * (1 + g * (1 - sig(g)));  du = dout * silu(g)
//             dgate_up [N, 2I] overwrite
// Saved for backward: gate_up (the pre-activations). A: the activations' type; the arithmetic is in
// compute_t<A> (float for bf16).
#pragma once

#include <cmath>
#include <cstdint>

#include "cpu/bf16.h"
#include "cpu/fast_math.h"
#include "cpu/parallel.h"

namespace tt::cpu {

// Rows [b, e) of the forward and the backward; per ISA for float and bf16 (kernels_f32.cpp).
template <class A>
TT_ALWAYS_INLINE void swiglu_forward_rows(A* out, const A* gate_up, int64_t b, int64_t e, int64_t I) {
  using T = compute_t<A>;
  for (int64_t n = b; n < e; ++n) {
    const A* gate = gate_up + n * 2 * I;
    const A* up = gate + I;
    A* o = out + n * I;
    for (int64_t i = 0; i < I; ++i) {
      const T g = gate[i];
      o[i] = A(g / (T(1) + exp_fast(-g)) * up[i]);
    }
  }
}

template <class A>
TT_ALWAYS_INLINE void swiglu_backward_rows(A* dgate_up, const A* dout, const A* gate_up, int64_t b, int64_t e,
                                           int64_t I) {
  using T = compute_t<A>;
  for (int64_t n = b; n < e; ++n) {
    const A* gate = gate_up + n * 2 * I;
    const A* up = gate + I;
    const A* dy = dout + n * I;
    A* dgate = dgate_up + n * 2 * I;
    A* dup = dgate + I;
    // element i reads only index i of each input and writes only index i of each output
#pragma GCC ivdep
    for (int64_t i = 0; i < I; ++i) {
      const T g = gate[i], dyi = dy[i];
      const T sig = T(1) / (T(1) + exp_fast(-g));
      dgate[i] = A(dyi * T(up[i]) * sig * (T(1) + g * (T(1) - sig)));
      dup[i] = A(dyi * g * sig);
    }
  }
}

void swiglu_forward_rows(float* out, const float* gate_up, int64_t b, int64_t e, int64_t I);
void swiglu_forward_rows(bf16* out, const bf16* gate_up, int64_t b, int64_t e, int64_t I);
void swiglu_backward_rows(float* dgate_up, const float* dout, const float* gate_up, int64_t b, int64_t e,
                          int64_t I);
void swiglu_backward_rows(bf16* dgate_up, const bf16* dout, const bf16* gate_up, int64_t b, int64_t e,
                          int64_t I);

template <class A>
void swiglu_forward(A* out, const A* gate_up, int64_t N, int64_t I) {
  parallel_for(N, std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(1, I)),
               [&](int64_t b, int64_t e) { swiglu_forward_rows(out, gate_up, b, e, I); });
}

template <class A>
void swiglu_backward(A* dgate_up, const A* dout, const A* gate_up, int64_t N, int64_t I) {
  parallel_for(N, std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(1, I)),
               [&](int64_t b, int64_t e) { swiglu_backward_rows(dgate_up, dout, gate_up, b, e, I); });
}

}  // namespace tt::cpu
