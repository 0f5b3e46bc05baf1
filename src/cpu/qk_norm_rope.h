// The attention inputs from the stacked q|k|v projection: per-head RMSNorm of q and k (HF Qwen3's q_norm,
// k_norm) followed by RoPE, the value heads passed through. Composed from rmsnorm.h and rope.h, so the
// reference is the same arithmetic as the two ops applied one after the other.
//
// qkv [N, (Hq + 2 Hkv) D]: per row Hq query heads, Hkv key heads, Hkv value heads.
//   forward:  q = RoPE(RMSNorm_head(qkv q part, q_norm)), k likewise with k_norm, v = the value part
//             q [N, Hq*D], k, v [N, Hkv*D] overwrite; q_rstd [N*Hq], k_rstd [N*Hkv] overwrite (saved).
//   backward: d(pre-norm q) = RMSNorm_head^T(RoPE^T(dq)), likewise for k; dv copied:
//             dqkv [N, (Hq + 2 Hkv) D] overwrite; dq_norm, dk_norm [D] ACCUMULATE.
// RoPE uses table row n % T of cos, sin [P, D/2]. `scratch` holds the contiguous per-head copies the
// composed ops need (grows once).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <vector>

#include "cpu/rmsnorm.h"
#include "cpu/rope.h"

namespace tt::cpu {

// narrow [N, width] <- columns [col, col + width) of wide [N, W].
template <class T>
void gather_columns(T* narrow, const T* wide, int64_t N, int64_t W, int64_t col, int64_t width) {
  for (int64_t n = 0; n < N; ++n)
    std::memcpy(narrow + n * width, wide + n * W + col, size_t(width) * sizeof(T));
}

// Columns [col, col + width) of wide [N, W] <- narrow [N, width].
template <class T>
void scatter_columns(T* wide, const T* narrow, int64_t N, int64_t W, int64_t col, int64_t width) {
  for (int64_t n = 0; n < N; ++n)
    std::memcpy(wide + n * W + col, narrow + n * width, size_t(width) * sizeof(T));
}

template <class T>
void qk_norm_rope_forward(T* q, T* k, T* v, T* q_rstd, T* k_rstd, const T* qkv, const T* q_norm,
                          const T* k_norm, const T* cos, const T* sin, int64_t N, int64_t T_, int64_t Hq,
                          int64_t Hkv, int64_t D, double eps, std::vector<T>& scratch) {
  const int64_t W = (Hq + 2 * Hkv) * D;
  if (scratch.size() < size_t(N * Hq * D)) scratch.resize(size_t(N * Hq * D));
  T* raw = scratch.data();
  for (auto [out, rstd, w, col, H] :
       {std::tuple{q, q_rstd, q_norm, int64_t(0), Hq}, std::tuple{k, k_rstd, k_norm, Hq * D, Hkv}}) {
    gather_columns(raw, qkv, N, W, col, H * D);
    rmsnorm_forward(out, rstd, raw, w, N * H, D, eps);
    rope_forward(out, out, cos, sin, N, T_, H, D);
  }
  gather_columns(v, qkv, N, W, (Hq + Hkv) * D, Hkv * D);
}

template <class T>
void qk_norm_rope_backward(T* dqkv, T* dq_norm, T* dk_norm, const T* dq, const T* dk, const T* dv,
                           const T* qkv, const T* q_norm, const T* k_norm, const T* q_rstd, const T* k_rstd,
                           const T* cos, const T* sin, int64_t N, int64_t T_, int64_t Hq, int64_t Hkv,
                           int64_t D, std::vector<T>& scratch) {
  const int64_t W = (Hq + 2 * Hkv) * D;
  if (scratch.size() < size_t(3 * N * Hq * D)) scratch.resize(size_t(3 * N * Hq * D));
  T* raw = scratch.data();
  T* rotated = raw + N * Hq * D;
  T* dpre = rotated + N * Hq * D;
  for (auto [dout, drstd_w, w, rstd, col, H] : {std::tuple{dq, dq_norm, q_norm, q_rstd, int64_t(0), Hq},
                                                std::tuple{dk, dk_norm, k_norm, k_rstd, Hq * D, Hkv}}) {
    const int64_t n_el = N * H * D;
    gather_columns(raw, qkv, N, W, col, H * D);
    rope_backward(rotated, dout, cos, sin, N, T_, H, D);
    std::fill_n(dpre, n_el, T(0));
    rmsnorm_backward(dpre, drstd_w, rotated, raw, w, rstd, N * H, D);
    scatter_columns(dqkv, dpre, N, W, col, H * D);
  }
  scatter_columns(dqkv, dv, N, W, (Hq + Hkv) * D, Hkv * D);
}

}  // namespace tt::cpu
