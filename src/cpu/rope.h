// Rotary position embedding, HF rotate_half convention, on a [N, H*D] tensor whose row n uses position
// row n % T of the tables cos, sin [P, D/2] (cos(p f_i), sin(p f_i) with f_i = theta^(-2i/D), made once by
// rope_tables() in double and rounded to T):
//
//   forward:  out[i] = x[i] c - x[i+D/2] s;   out[i+D/2] = x[i+D/2] c + x[i] s      (overwrite)
//   backward: the transpose rotation (s -> -s) applied to dout                        (overwrite)
// out may alias inp (each pair is read before it is written). Nothing is saved.
#pragma once

#include <cstdint>

namespace tt::cpu {

template <class T>
void rope_apply(T* out, const T* inp, const T* cos, const T* sin, int64_t N, int64_t T_, int64_t H, int64_t D,
                bool transpose) {
  const int64_t half = D / 2;
  for (int64_t n = 0; n < N; ++n) {
    const T* c = cos + (n % T_) * half;
    const T* s = sin + (n % T_) * half;
    for (int64_t h = 0; h < H; ++h) {
      const T* x = inp + n * H * D + h * D;
      T* y = out + n * H * D + h * D;
      for (int64_t i = 0; i < half; ++i) {
        const T a = x[i], b = x[i + half], si = transpose ? -s[i] : s[i];
        y[i] = a * c[i] - b * si;
        y[i + half] = b * c[i] + a * si;
      }
    }
  }
}

template <class T>
void rope_forward(T* out, const T* inp, const T* cos, const T* sin, int64_t N, int64_t T_, int64_t H,
                  int64_t D) {
  rope_apply(out, inp, cos, sin, N, T_, H, D, false);
}

template <class T>
void rope_backward(T* dinp, const T* dout, const T* cos, const T* sin, int64_t N, int64_t T_, int64_t H,
                   int64_t D) {
  rope_apply(dinp, dout, cos, sin, N, T_, H, D, true);
}

}  // namespace tt::cpu
