// Reductions and the AdamW update (torch.optim.AdamW + HF Trainer's global-norm clipping).
//
//   sum:          out = sum_i x[i]                     (accumulated in double; overwrite)
//   grad_norm_sq: out = sum_i g[i]^2                   (accumulated in double; overwrite)
//   adamw_update, for one contiguous segment of n parameters, all in place:
//     clip = max_grad_norm > 0 ? min(1, max_grad_norm / (sqrt(grad_norm_sq) + 1e-6)) : 1
//     g = clip * grad
//     p *= 1 - lr * wd                                  (only when `decay`; decoupled)
//     m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2    (1 - b formed in double, then rounded: torch's)
//     p -= (lr / (1 - b1^step)) * m / (sqrt(v) / sqrt(1 - b2^step) + eps)   (torch's op order)
// grads are read, never modified (the graph zeroes them once per step). When `compute` is not null (bf16
// activations: A is the compute weights' type) it receives the updated weights, rounded, in the same pass.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "cpu/bf16.h"
#include "cpu/parallel.h"
#include "model/backend.h"

namespace tt::cpu {

template <class T>
double sum(const T* x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += double(x[i]);
  return s;
}

template <class T>
double grad_norm_sq(const T* g, int64_t n) {
  // per-block partial sums over 16 lanes of T, folded into double (see fast_math.h)
  constexpr int64_t kBlock = 1024;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(size_t(blocks), 0.0);  // one per block, summed in order: deterministic
  parallel_for(blocks, 64, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      double s = 0;
      const int64_t i0 = b * kBlock, i1 = std::min(n, i0 + kBlock);
      T lane[16] = {};
      int64_t i = i0;
      for (; i + 16 <= i1; i += 16)
        for (int k = 0; k < 16; ++k) lane[k] += g[i + k] * g[i + k];
      for (int k = 0; k < 16; ++k) s += double(lane[k]);
      for (; i < i1; ++i) s += double(g[i]) * double(g[i]);
      partial[size_t(b)] = s;
    }
  });
  double total = 0;
  for (double s : partial) total += s;
  return total;
}

inline double clip_coefficient(double grad_norm_sq, double max_grad_norm) {
  if (max_grad_norm <= 0) return 1.0;
  return std::min(1.0, max_grad_norm / (std::sqrt(grad_norm_sq) + 1e-6));
}

// Elements [b, e) of the update below. A function of its own, so the pointers and constants are locals and
// the loops vectorise (through a lambda's captured references GCC must reload them after every store);
// per ISA for float (kernels_f32.cpp).
template <class T, class A>
TT_ALWAYS_INLINE void adamw_range(T* p, const T* grad, T* m, T* v, A* compute, int64_t b, int64_t e, T clip,
                                  T b1, T c1, T b2, T c2, T step_size, T bc2_sqrt, T eps, T wd_mul) {
  auto update = [=](int64_t i) {
    const T g = grad[i] * clip;
    const T mi = b1 * m[i] + c1 * g;
    const T vi = b2 * v[i] + c2 * g * g;
    m[i] = mi;
    v[i] = vi;
    return p[i] = p[i] * wd_mul - step_size * mi / (std::sqrt(vi) / bc2_sqrt + eps);
  };
  if (compute) {
    for (int64_t i = b; i < e; ++i) compute[i] = A(update(i));
  } else {
    for (int64_t i = b; i < e; ++i) update(i);
  }
}

void adamw_range(float* p, const float* grad, float* m, float* v, float* compute, int64_t b, int64_t e,
                 float clip, float b1, float c1, float b2, float c2, float step_size, float bc2_sqrt,
                 float eps, float wd_mul);
void adamw_range(float* p, const float* grad, float* m, float* v, bf16* compute, int64_t b, int64_t e,
                 float clip, float b1, float c1, float b2, float c2, float step_size, float bc2_sqrt,
                 float eps, float wd_mul);

template <class T, class A = T>
void adamw_update(T* p, const T* grad, T* m, T* v, double grad_norm_sq, int64_t n, const AdamWArgs& a,
                  bool decay, A* compute = nullptr) {
  const T clip = T(clip_coefficient(grad_norm_sq, a.max_grad_norm));
  const T b1 = T(a.beta1), b2 = T(a.beta2), eps = T(a.eps), lr = T(a.lr);
  const T c1 = T(1.0 - a.beta1), c2 = T(1.0 - a.beta2);
  const double bc1 = 1.0 - std::pow(a.beta1, double(a.step));
  const double bc2 = 1.0 - std::pow(a.beta2, double(a.step));
  const T step_size = T(double(a.lr) / bc1);
  const T bc2_sqrt = T(std::sqrt(bc2));
  const T decay_mul = T(1) - lr * T(a.weight_decay);
  const T wd_mul = decay ? decay_mul : T(1);
  parallel_for(n, 1 << 16, [&](int64_t b, int64_t e) {
    adamw_range(p, grad, m, v, compute, b, e, clip, b1, c1, b2, c2, step_size, bc2_sqrt, eps, wd_mul);
  });
}

}  // namespace tt::cpu
