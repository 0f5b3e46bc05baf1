// RMSNorm (HF Qwen3RMSNorm), per row of width C; also used per head for the q/k norm (R = N*H, C = D).
//
//   forward:  rstd[r] = 1 / sqrt(mean_c(x[r,c]^2) + eps);  out[r,c] = x[r,c] * rstd[r] * w[c]
//             out [R,C] overwrite; rstd [R] overwrite (saved, with the input x, for the backward)
//   backward: with g[c] = dout[r,c] * w[c] and s = sum_c g[c] x[r,c]:
//             dinp[r,c] += rstd * g[c] - rstd^3 / C * s * x[r,c]      (ACCUMULATES)
//             dw[c]     += sum_r dout[r,c] * x[r,c] * rstd[r]          (ACCUMULATES)
// The row statistics are computed in double (better than HF's fp32), whatever T is; rows run on all cores. A:
// the type of the activations and the weight; T: of rstd and dweight (float for bf16 activations).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "cpu/parallel.h"

namespace tt::cpu {

// Rows per thread at least (thread wake-up costs ~µs; a row is a few hundred multiply-adds).
inline int64_t rmsnorm_rows_per_thread(int64_t C) {
  return std::max<int64_t>(1, (int64_t(1) << 15) / std::max<int64_t>(1, C));
}

template <class T, class A>
void rmsnorm_forward(A* out, T* rstd, const A* inp, const A* weight, int64_t R, int64_t C, double eps) {
  parallel_for(R, rmsnorm_rows_per_thread(C), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const A* x = inp + r * C;
      double ss = 0;
      for (int64_t c = 0; c < C; ++c) ss += double(x[c]) * double(x[c]);
      const T rs = T(1.0 / std::sqrt(ss / double(C) + eps));
      rstd[r] = rs;
      A* y = out + r * C;
      for (int64_t c = 0; c < C; ++c) y[c] = A(x[c] * rs * weight[c]);
    }
  });
}

// Rows are split over the threads; each sums its rows' dweight terms into a partial of its own, and the
// partials are added to dweight in thread order (deterministic for a given thread count).
template <class T, class A>
void rmsnorm_backward(A* dinp, T* dweight, const A* dout, const A* inp, const A* weight, const T* rstd,
                      int64_t R, int64_t C) {
  const int64_t per_thread = rmsnorm_rows_per_thread(C);
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(num_threads(), R / per_thread));
  const int64_t rows = (R + parts - 1) / parts;
  std::vector<T> partial(size_t(parts * C), T(0));
  parallel_for(parts, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      T* dw = partial.data() + p * C;
      for (int64_t r = p * rows; r < std::min(R, (p + 1) * rows); ++r) {
        const A* x = inp + r * C;
        const A* dy = dout + r * C;
        const T rs = rstd[r];
        double s = 0;
        for (int64_t c = 0; c < C; ++c) s += double(dy[c]) * double(weight[c]) * double(x[c]);
        const T k = T(double(rs) * double(rs) * double(rs) * s / double(C));
        A* dx = dinp + r * C;
        for (int64_t c = 0; c < C; ++c) {
          dx[c] = A(dx[c] + (rs * dy[c] * weight[c] - k * x[c]));
          dw[c] += dy[c] * x[c] * rs;
        }
      }
    }
  });
  for (int64_t p = 0; p < parts; ++p)
    for (int64_t c = 0; c < C; ++c) dweight[c] += partial[size_t(p * C + c)];
}

}  // namespace tt::cpu
