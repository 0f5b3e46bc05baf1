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
// composed ops need (grown to qk_norm_rope_*_scratch()). A: the activations' and norm weights' type; T: of
// the statistics, the tables and the weight gradients.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <vector>

#include "cpu/bf16.h"
#include "cpu/rmsnorm.h"
#include "cpu/rope.h"
#include "cpu/scratch.h"

namespace tt::cpu {

// narrow [N, width] <- columns [col, col + width) of wide [N, W], converted to the narrow type.
template <class To, class From>
void gather_columns(To* narrow, const From* wide, int64_t N, int64_t W, int64_t col, int64_t width) {
  for (int64_t n = 0; n < N; ++n) convert_n(narrow + n * width, wide + n * W + col, width);
}

// Columns [col, col + width) of wide [N, W] <- narrow [N, width], converted to the wide type.
template <class To, class From>
void scatter_columns(To* wide, const From* narrow, int64_t N, int64_t W, int64_t col, int64_t width) {
  for (int64_t n = 0; n < N; ++n) convert_n(wide + n * W + col, narrow + n * width, width);
}

// The norm and RoPE run on T copies of the heads (`scratch`), so bf16 activations are rounded once,
// when the result is stored, as in the CUDA kernel that fuses the two.
// Scratch: the forward's raw and normed copies of the query heads [N, Hq*D] (the key heads reuse them) and
// a weight [D]; the backward's raw, rotated and d(pre-RoPE) copies.
inline ScratchNeed qk_norm_rope_forward_scratch(int64_t N, int64_t Hq, int64_t D) {
  return {size_t(2 * N * Hq * D + D), 0};
}
inline ScratchNeed qk_norm_rope_backward_scratch(int64_t N, int64_t Hq, int64_t D) {
  return {size_t(3 * N * Hq * D + D), 0};
}

template <class T, class A>
void qk_norm_rope_forward(A* q, A* k, A* v, T* q_rstd, T* k_rstd, const A* qkv, const A* q_norm,
                          const A* k_norm, const T* cos, const T* sin, int64_t N, int64_t T_, int64_t Hq,
                          int64_t Hkv, int64_t D, double eps, Scratch<T, A>& scratch) {
  const int64_t W = (Hq + 2 * Hkv) * D;
  grow(scratch, qk_norm_rope_forward_scratch(N, Hq, D));
  T* raw = scratch.values.data();
  T* normed = raw + N * Hq * D;
  T* w = normed + N * Hq * D;
  for (auto [out, rstd, weight, col, H] :
       {std::tuple{q, q_rstd, q_norm, int64_t(0), Hq}, std::tuple{k, k_rstd, k_norm, Hq * D, Hkv}}) {
    gather_columns(raw, qkv, N, W, col, H * D);
    convert_n(w, weight, D);
    rmsnorm_forward(normed, rstd, raw, w, N * H, D, eps);
    rope_forward(normed, normed, cos, sin, N, T_, H, D);
    convert_n(out, normed, N * H * D);
  }
  gather_columns(v, qkv, N, W, (Hq + Hkv) * D, Hkv * D);
}

template <class T, class A>
void qk_norm_rope_backward(A* dqkv, T* dq_norm, T* dk_norm, const A* dq, const A* dk, const A* dv,
                           const A* qkv, const A* q_norm, const A* k_norm, const T* q_rstd, const T* k_rstd,
                           const T* cos, const T* sin, int64_t N, int64_t T_, int64_t Hq, int64_t Hkv,
                           int64_t D, Scratch<T, A>& scratch) {
  const int64_t W = (Hq + 2 * Hkv) * D;
  grow(scratch, qk_norm_rope_backward_scratch(N, Hq, D));
  T* raw = scratch.values.data();
  T* rotated = raw + N * Hq * D;
  T* dpre = rotated + N * Hq * D;
  T* w = dpre + N * Hq * D;
  for (auto [dout, dweight, weight, rstd, col, H] : {std::tuple{dq, dq_norm, q_norm, q_rstd, int64_t(0), Hq},
                                                     std::tuple{dk, dk_norm, k_norm, k_rstd, Hq * D, Hkv}}) {
    const int64_t n_el = N * H * D;
    gather_columns(raw, qkv, N, W, col, H * D);
    convert_n(rotated, dout, n_el);
    convert_n(w, weight, D);
    rope_backward(rotated, rotated, cos, sin, N, T_, H, D);
    std::fill_n(dpre, n_el, T(0));
    rmsnorm_backward(dpre, dweight, rotated, raw, w, rstd, N * H, D);
    scatter_columns(dqkv, dpre, N, W, col, H * D);
  }
  scatter_columns(dqkv, dv, N, W, (Hq + Hkv) * D, Hkv * D);
}

}  // namespace tt::cpu
