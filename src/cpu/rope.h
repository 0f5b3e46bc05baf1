// Rotary position embedding, HF rotate_half convention, on a [N, H*D] tensor whose row n sits at
// position p = pos_offset + n % T. For i < D/2, f_i = theta^(-2i/D), c = cos(p f_i), s = sin(p f_i):
//
//   forward:  out[i] = x[i] c - x[i+D/2] s;   out[i+D/2] = x[i+D/2] c + x[i] s      (overwrite)
//   backward: the transpose rotation (angle -p f_i) applied to dout                  (overwrite)
// out may alias inp (each pair is read before it is written). Nothing is saved. Angles and their
// cos/sin are computed in double, then rounded to T.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace tt::cpu {

template <class T>
void rope_apply(T* out, const T* inp, int64_t N, int64_t T_, int64_t H, int64_t D, double theta,
                int64_t pos_offset, double sign) {
  const int64_t half = D / 2;
  const int64_t npos = std::min(N, T_);
  std::vector<T> cs(size_t(npos * half)), sn(size_t(npos * half));
  for (int64_t t = 0; t < npos; ++t)
    for (int64_t i = 0; i < half; ++i) {
      const double f = std::pow(theta, -2.0 * double(i) / double(D));
      const double a = double(pos_offset + t) * f;
      cs[t * half + i] = T(std::cos(a));
      sn[t * half + i] = T(sign * std::sin(a));
    }
  for (int64_t n = 0; n < N; ++n) {
    const T* c = cs.data() + (n % T_) * half;
    const T* s = sn.data() + (n % T_) * half;
    for (int64_t h = 0; h < H; ++h) {
      const T* x = inp + n * H * D + h * D;
      T* y = out + n * H * D + h * D;
      for (int64_t i = 0; i < half; ++i) {
        const T a = x[i], b = x[i + half];
        y[i] = a * c[i] - b * s[i];
        y[i + half] = b * c[i] + a * s[i];
      }
    }
  }
}

template <class T>
void rope_forward(T* out, const T* inp, int64_t N, int64_t T_, int64_t H, int64_t D, double theta,
                  int64_t pos_offset = 0) {
  rope_apply(out, inp, N, T_, H, D, theta, pos_offset, 1.0);
}

template <class T>
void rope_backward(T* dinp, const T* dout, int64_t N, int64_t T_, int64_t H, int64_t D, double theta,
                   int64_t pos_offset = 0) {
  rope_apply(dinp, dout, N, T_, H, D, theta, pos_offset, -1.0);
}

}  // namespace tt::cpu
