// RMSNorm (HF Qwen3RMSNorm), per row of width C; also used per head for the q/k norm (R = N*H, C = D).
//
//   forward:  rstd[r] = 1 / sqrt(mean_c(x[r,c]^2) + eps);  out[r,c] = x[r,c] * rstd[r] * w[c]
//             out [R,C] overwrite; rstd [R] overwrite (saved, with the input x, for the backward)
//   backward: with g[c] = dout[r,c] * w[c] and s = sum_c g[c] x[r,c]:
//             dinp[r,c] += rstd * g[c] - rstd^3 / C * s * x[r,c]      (ACCUMULATES)
//             dw[c]     += sum_r dout[r,c] * x[r,c] * rstd[r]          (ACCUMULATES)
// The row statistics are computed in double (better than HF's fp32), whatever T is. A: the type of the
// activations and the weight; T: of rstd and dweight (float for bf16 activations).
#pragma once

#include <cmath>
#include <cstdint>

namespace tt::cpu {

template <class T, class A>
void rmsnorm_forward(A* out, T* rstd, const A* inp, const A* weight, int64_t R, int64_t C, double eps) {
  for (int64_t r = 0; r < R; ++r) {
    const A* x = inp + r * C;
    double ss = 0;
    for (int64_t c = 0; c < C; ++c) ss += double(x[c]) * double(x[c]);
    const T rs = T(1.0 / std::sqrt(ss / double(C) + eps));
    rstd[r] = rs;
    A* y = out + r * C;
    for (int64_t c = 0; c < C; ++c) y[c] = A(x[c] * rs * weight[c]);
  }
}

template <class T, class A>
void rmsnorm_backward(A* dinp, T* dweight, const A* dout, const A* inp, const A* weight, const T* rstd,
                      int64_t R, int64_t C) {
  for (int64_t r = 0; r < R; ++r) {
    const A* x = inp + r * C;
    const A* dy = dout + r * C;
    const T rs = rstd[r];
    double s = 0;
    for (int64_t c = 0; c < C; ++c) s += double(dy[c]) * double(weight[c]) * double(x[c]);
    const T k = T(double(rs) * double(rs) * double(rs) * s / double(C));
    A* dx = dinp + r * C;
    for (int64_t c = 0; c < C; ++c) {
      dx[c] = A(dx[c] + (rs * dy[c] * weight[c] - k * x[c]));
      dweight[c] += dy[c] * x[c] * rs;
    }
  }
}

}  // namespace tt::cpu
