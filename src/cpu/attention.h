// Causal grouped-query attention (GQA) on the CPU.
//
// Layout: q [B*T, Hq*D], k, v [B*T, Hkv*D] (head h at columns h*D..), query head h reads kv head
// h / (Hq/Hkv). Scale = 1/sqrt(D). For one (batch b, head h), with Q, K, V the [T, D] head slices:
//
//   forward:  S = scale Q K^T;  lse[i] = log sum_{j<=i} exp(S_ij);  P_ij = exp(S_ij - lse_i) (j <= i,
//             else 0);  O = P V.     out [B*T, Hq*D] overwrite; lse [B*Hq*T] overwrite, index
//             (b*Hq + h)*T + i. Saved for backward: q, k, v, out, lse (no T x T matrix is kept).
//   backward: P is recomputed from q, k and lse;  dP = dO V^T;  Di = sum_d dO_id O_id;
//             dS = P * (dP - Di);  dQ = scale dS K;  dK = scale dS^T Q;  dV = P^T dO.
//             dq, dk, dv OVERWRITE (dk/dv sum over the Hq/Hkv query heads of their group).
//   infer:    q [Tq, Hq*D] are the last Tq positions of a sequence with k/v caches [Tkv, Hkv*D];
//             query i is at position Tkv-Tq+i and attends to keys 0..Tkv-Tq+i. out overwrite.
//
// Each (b, h) is done with strided single-threaded BLAS GEMMs on a [T, T] scratch (computing the
// masked upper triangle too: 2x the causal FLOPs, but at BLAS speed, far faster than scalar loops),
// with the (b, h) pairs — (b, kv head) groups in the backward — spread over the cores. Scratch (one
// slice per worker) is owned by the caller and only grows (no per-call allocations).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "cpu/fast_math.h"
#include "cpu/matmul.h"
#include "cpu/parallel.h"

namespace tt::cpu {

// Work below this many multiply-adds per call runs on one thread (thread start ~20-50 us).
constexpr double kAttentionParallelWork = 1e6;

template <class T>
void attention_forward(T* out, T* lse, const T* q, const T* k, const T* v, int64_t B, int64_t T_, int64_t Hq,
                       int64_t Hkv, int64_t D, std::vector<T>& scratch) {
  const int64_t group = Hq / Hkv;
  const T scale = T(1.0 / std::sqrt(double(D)));
  const int64_t ldq = Hq * D, ldk = Hkv * D;
  const size_t per_worker = size_t(T_ * T_);
  if (scratch.size() < per_worker * size_t(max_workers())) scratch.resize(per_worker * size_t(max_workers()));
  // one task per (batch, query head); each worker has its own [T, T] scratch
  const bool parallel = double(B * Hq) * double(T_ * T_ * D) > kAttentionParallelWork;
  parallel_tasks(B * Hq, parallel, [&](int64_t task, int64_t worker) {
    const int64_t b = task / Hq, h = task % Hq;
    T* S = scratch.data() + size_t(worker) * per_worker;
    const T* Q = q + b * T_ * ldq + h * D;
    const T* K = k + b * T_ * ldk + (h / group) * D;
    const T* V = v + b * T_ * ldk + (h / group) * D;
    T* L = lse + (b * Hq + h) * T_;
    gemm_blas<T>(false, true, T_, T_, D, scale, Q, ldq, K, ldk, T(0), S, T_);
    for (int64_t i = 0; i < T_; ++i) {
      T* s = S + i * T_;
      const T mx = row_max(s, i + 1);
      const double sum = exp_shift_sum(s, i + 1, mx);
      scale_inplace(s, i + 1, T(1.0 / sum));
      for (int64_t j = i + 1; j < T_; ++j) s[j] = T(0);
      L[i] = T(double(mx) + std::log(sum));
    }
    gemm_blas<T>(false, false, T_, D, T_, T(1), S, T_, V, ldk, T(0), out + b * T_ * ldq + h * D, ldq);
  });
}

template <class T>
void attention_backward(T* dq, T* dk, T* dv, const T* dout, const T* out, const T* lse, const T* q,
                        const T* k, const T* v, int64_t B, int64_t T_, int64_t Hq, int64_t Hkv, int64_t D,
                        std::vector<T>& scratch) {
  const int64_t group = Hq / Hkv;
  const T scale = T(1.0 / std::sqrt(double(D)));
  const int64_t ldq = Hq * D, ldk = Hkv * D;
  const size_t per_worker = size_t(2 * T_ * T_ + T_);
  if (scratch.size() < per_worker * size_t(max_workers())) scratch.resize(per_worker * size_t(max_workers()));
  // one task per (batch, kv head): dk/dv of a kv head sum over its query heads, so no two
  // workers ever write the same rows
  const bool parallel = double(B * Hq) * double(T_ * T_ * D) > kAttentionParallelWork;
  parallel_tasks(B * Hkv, parallel, [&](int64_t task, int64_t worker) {
    const int64_t b = task / Hkv, g = task % Hkv;
    T* P = scratch.data() + size_t(worker) * per_worker;
    T* dP = P + T_ * T_;
    const T* K = k + b * T_ * ldk + g * D;
    const T* V = v + b * T_ * ldk + g * D;
    T* dK = dk + b * T_ * ldk + g * D;
    T* dV = dv + b * T_ * ldk + g * D;
    for (int64_t i = 0; i < T_; ++i)
      for (int64_t d = 0; d < D; ++d) dK[i * ldk + d] = dV[i * ldk + d] = T(0);
    for (int64_t h = g * group; h < (g + 1) * group; ++h) {
      const T* Q = q + b * T_ * ldq + h * D;
      const T* O = out + b * T_ * ldq + h * D;
      const T* dO = dout + b * T_ * ldq + h * D;
      const T* L = lse + (b * Hq + h) * T_;
      gemm_blas<T>(false, true, T_, T_, D, scale, Q, ldq, K, ldk, T(0), P, T_);
      gemm_blas<T>(false, true, T_, T_, D, T(1), dO, ldq, V, ldk, T(0), dP, T_);
      for (int64_t i = 0; i < T_; ++i) {
        T Di = 0;
        for (int64_t d = 0; d < D; ++d) Di += dO[i * ldq + d] * O[i * ldq + d];
        T* p = P + i * T_;
        T* dp = dP + i * T_;
        const T Li = L[i];
        for (int64_t j = 0; j <= i; ++j) {
          p[j] = exp_fast(p[j] - Li);
          dp[j] = p[j] * (dp[j] - Di);  // dS, stored over dP
        }
        for (int64_t j = i + 1; j < T_; ++j) p[j] = dp[j] = T(0);
      }
      gemm_blas<T>(false, false, T_, D, T_, scale, dP, T_, K, ldk, T(0), dq + b * T_ * ldq + h * D, ldq);
      gemm_blas<T>(true, false, T_, D, T_, scale, dP, T_, Q, ldq, T(1), dK, ldk);
      gemm_blas<T>(true, false, T_, D, T_, T(1), P, T_, dO, ldq, T(1), dV, ldk);
    }
  });
}

template <class T>
void attention_infer(T* out, const T* q, const T* k_cache, const T* v_cache, int64_t Tq, int64_t Tkv,
                     int64_t Hq, int64_t Hkv, int64_t D) {
  const int64_t group = Hq / Hkv;
  const double scale = 1.0 / std::sqrt(double(D));
  const int64_t ldq = Hq * D, ldk = Hkv * D;
  parallel_for(Tq * Hq, 8, [&](int64_t r0, int64_t r1) {
    std::vector<double> s(static_cast<size_t>(Tkv)), acc(static_cast<size_t>(D));
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t i = r / Hq, h = r % Hq, g = h / group;
      const int64_t last = Tkv - Tq + i;  // attends to keys 0..last
      const T* qi = q + i * ldq + h * D;
      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t j = 0; j <= last; ++j) {
        const T* kj = k_cache + j * ldk + g * D;
        T dot = 0;
        for (int64_t d = 0; d < D; ++d) dot += qi[d] * kj[d];
        s[j] = double(dot) * scale;
        mx = std::max(mx, s[j]);
      }
      double sum = 0;
      for (int64_t j = 0; j <= last; ++j) sum += (s[j] = std::exp(s[j] - mx));
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t j = 0; j <= last; ++j) {
        const T* vj = v_cache + j * ldk + g * D;
        const double p = s[j] / sum;
        for (int64_t d = 0; d < D; ++d) acc[d] += p * double(vj[d]);
      }
      T* o = out + i * ldq + h * D;
      for (int64_t d = 0; d < D; ++d) o[d] = T(acc[d]);
    }
  });
}

}  // namespace tt::cpu
