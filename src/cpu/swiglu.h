// SwiGLU gate of the Qwen3 MLP on the stacked gate|up projection: gate_up [N, 2I] holds per row the gate
// projection g (columns 0..I-1), then the up projection u (columns I..2I-1). silu(x) = x * sigmoid(x).
//
//   forward:  out[n, i] = silu(g) * u                                                     out [N, I]
//   overwrite backward: dg = dout * u * sig(g) * (1 + g * (1 - sig(g)));  du = dout * silu(g)        dgate_up
//   [N, 2I] overwrite
// Saved for backward: gate_up (the pre-activations).
#pragma once

#include <cmath>
#include <cstdint>

#include "cpu/fast_math.h"
#include "cpu/parallel.h"

namespace tt::cpu {

template <class T>
void swiglu_forward(T* out, const T* gate_up, int64_t N, int64_t I) {
  parallel_for(N, std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(1, I)), [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      const T* gate = gate_up + n * 2 * I;
      const T* up = gate + I;
      T* o = out + n * I;
      for (int64_t i = 0; i < I; ++i) {
        const T g = gate[i];
        o[i] = g / (T(1) + exp_fast(-g)) * up[i];
      }
    }
  });
}

template <class T>
void swiglu_backward(T* dgate_up, const T* dout, const T* gate_up, int64_t N, int64_t I) {
  parallel_for(N, std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(1, I)), [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      const T* gate = gate_up + n * 2 * I;
      const T* up = gate + I;
      const T* dy = dout + n * I;
      T* dgate = dgate_up + n * 2 * I;
      T* dup = dgate + I;
      for (int64_t i = 0; i < I; ++i) {
        const T g = gate[i];
        const T sig = T(1) / (T(1) + exp_fast(-g));
        dgate[i] = dy[i] * up[i] * sig * (T(1) + g * (T(1) - sig));
        dup[i] = dy[i] * g * sig;
      }
    }
  });
}

}  // namespace tt::cpu
