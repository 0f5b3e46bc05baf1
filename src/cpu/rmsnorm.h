// RMSNorm (HF Qwen3RMSNorm), per row of width C; also used per head for the q/k norm (R = N*H, C = D).
//
//   forward:  rstd[r] = 1 / sqrt(mean_c(x[r,c]^2) + eps);  out[r,c] = x[r,c] * rstd[r] * w[c]
//             out [R,C] overwrite; rstd [R] overwrite (saved, with the input x, for the backward)
//   backward: with g[c] = dout[r,c] * w[c] and s = sum_c g[c] x[r,c]:
//             dinp[r,c] += rstd * g[c] - rstd^3 / C * s * x[r,c]      (ACCUMULATES)
//             dw[c]     += sum_r dout[r,c] * x[r,c] * rstd[r]          (ACCUMULATES)
// The row statistics are computed in double (better than HF's fp32), whatever T is.
#pragma once

#include <cmath>
#include <cstdint>

namespace tt::cpu {

template <class T>
void rmsnorm_forward(T* out, T* rstd, const T* inp, const T* weight, int64_t R, int64_t C, double eps) {
  for (int64_t r = 0; r < R; ++r) {
    const T* x = inp + r * C;
    double ss = 0;
    for (int64_t c = 0; c < C; ++c) ss += double(x[c]) * double(x[c]);
    const T rs = T(1.0 / std::sqrt(ss / double(C) + eps));
    rstd[r] = rs;
    T* y = out + r * C;
    for (int64_t c = 0; c < C; ++c) y[c] = x[c] * rs * weight[c];
  }
}

template <class T>
void rmsnorm_backward(T* dinp, T* dweight, const T* dout, const T* inp, const T* weight, const T* rstd,
                      int64_t R, int64_t C) {
  for (int64_t r = 0; r < R; ++r) {
    const T* x = inp + r * C;
    const T* dy = dout + r * C;
    const T rs = rstd[r];
    double s = 0;
    for (int64_t c = 0; c < C; ++c) s += double(dy[c]) * double(weight[c]) * double(x[c]);
    const T k = T(double(rs) * double(rs) * double(rs) * s / double(C));
    T* dx = dinp + r * C;
    for (int64_t c = 0; c < C; ++c) {
      dx[c] += rs * dy[c] * weight[c] - k * x[c];
      dweight[c] += dy[c] * x[c] * rs;
    }
  }
}

}  // namespace tt::cpu
