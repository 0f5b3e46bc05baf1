// SwiGLU gate of the Qwen3 MLP: out = silu(gate) * up, silu(x) = x * sigmoid(x). All [n].
//
//   forward:  out = silu(g) * u                                             (overwrite)
//   backward: dg = dout * u * sig(g) * (1 + g * (1 - sig(g)));  du = dout * silu(g)   (overwrite)
// Saved for backward: gate and up (the pre-activations).
#pragma once

#include <cmath>
#include <cstdint>

#include "cpu/fast_math.h"
#include "cpu/parallel.h"

namespace tt::cpu {

template <class T>
void swiglu_forward(T* out, const T* gate, const T* up, int64_t n) {
  parallel_for(n, 1 << 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const T g = gate[i];
      out[i] = g / (T(1) + exp_fast(-g)) * up[i];
    }
  });
}

template <class T>
void swiglu_backward(T* dgate, T* dup, const T* dout, const T* gate, const T* up, int64_t n) {
  parallel_for(n, 1 << 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const T g = gate[i];
      const T sig = T(1) / (T(1) + exp_fast(-g));
      const T dy = dout[i];
      dgate[i] = dy * up[i] * sig * (T(1) + g * (T(1) - sig));
      dup[i] = dy * g * sig;
    }
  });
}

}  // namespace tt::cpu
