// Reductions and the AdamW update (torch.optim.AdamW + HF Trainer's global-norm clipping).
//
//   sum:          out = sum_i x[i]                     (accumulated in double; overwrite)
//   grad_norm_sq: out = sum_i g[i]^2                   (accumulated in double; overwrite)
//   adamw_update, for one contiguous segment of n parameters, all in place:
//     clip = max_grad_norm > 0 ? min(1, max_grad_norm / (sqrt(grad_norm_sq) + 1e-6)) : 1
//     g = clip * grad
//     p *= 1 - lr * wd                                  (only when `decay`; decoupled)
//     m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
//     p -= (lr / (1 - b1^step)) * m / (sqrt(v) / sqrt(1 - b2^step) + eps)   (torch's op order)
// grads are read, never modified (the graph zeroes them once per step).
#pragma once

#include <cmath>
#include <cstdint>

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
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += double(g[i]) * double(g[i]);
  return s;
}

inline double clip_coefficient(double grad_norm_sq, double max_grad_norm) {
  if (max_grad_norm <= 0) return 1.0;
  return std::min(1.0, max_grad_norm / (std::sqrt(grad_norm_sq) + 1e-6));
}

template <class T>
void adamw_update(T* p, const T* grad, T* m, T* v, double grad_norm_sq, int64_t n, const AdamWArgs& a,
                  bool decay) {
  const T clip = T(clip_coefficient(grad_norm_sq, a.max_grad_norm));
  const T b1 = T(a.beta1), b2 = T(a.beta2), eps = T(a.eps), lr = T(a.lr);
  const double bc1 = 1.0 - std::pow(double(a.beta1), double(a.step));
  const double bc2 = 1.0 - std::pow(double(a.beta2), double(a.step));
  const T step_size = T(double(a.lr) / bc1);
  const T bc2_sqrt = T(std::sqrt(bc2));
  const T decay_mul = T(1) - lr * T(a.weight_decay);
  for (int64_t i = 0; i < n; ++i) {
    const T g = grad[i] * clip;
    if (decay) p[i] *= decay_mul;
    m[i] = b1 * m[i] + (T(1) - b1) * g;
    v[i] = b2 * v[i] + (T(1) - b2) * g * g;
    p[i] -= step_size * m[i] / (std::sqrt(v[i]) / bc2_sqrt + eps);
  }
}

}  // namespace tt::cpu
