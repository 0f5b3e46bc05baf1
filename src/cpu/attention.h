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
// Each (b, h) is done with strided GEMMs on a [T, T] scratch, block-causal: queries in blocks of
// `block` rows (kAttentionBlock), each against the keys up to its last row only, so of the masked upper
// triangle only the diagonal blocks' halves are computed (at T = 512, 62.5 % of the square's FLOPs instead of
// all of it; GEMMs at full speed, far faster than scalar loops over the exact triangle). The (b, h) pairs —
// (b, kv head) groups in the backward — are spread over the cores, one GEMM per call on its task's thread.
// The backward's dk, dv take key blocks as column strips of dS and P, each over the query rows from its
// own first row on.
// A: the type of q, k, v, out and the GEMM inputs; T: of lse and the scores (float for bf16). With bf16
// activations the softmax runs in fp32 and P and dS are rounded to bf16 as GEMM inputs, and dk/dv sum
// their group's heads in fp32 before one rounding (as the CUDA kernels do). Scratch (one slice per
// worker) is owned by the caller and only grows.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "cpu/bf16.h"
#include "cpu/fast_math.h"
#include "cpu/gemm.h"
#include "cpu/parallel.h"
#include "cpu/scratch.h"

namespace tt::cpu {

// Work below this many multiply-adds per call runs on one thread (thread start ~20-50 us).
constexpr double kAttentionParallelWork = 1e6;
// Query (and key) rows per block of the block-causal GEMMs (the ops' last argument; tests pass others):
// smaller blocks skip more of the masked triangle but make smaller GEMMs. 64 ran no faster than 128 at
// T = 512; T or more is the whole square (BENCHMARKS.md, Zen 4 table).
constexpr int64_t kAttentionBlock = 128;

// Scratch of one worker: the forward's scores [T, T] (and their rounded copy when `rounded`, i.e. A is not
// T); the backward's P, dP [T, T] and a kv group's dk, dv sums [T, D] (and rounded P, dS [T, T]). An op
// takes this times the workers; each worker's part starts at worker * per-worker size.
inline ScratchNeed attention_forward_worker_scratch(int64_t T_, bool rounded) {
  return {size_t(T_ * T_), rounded ? size_t(T_ * T_) : 0};
}
inline ScratchNeed attention_backward_worker_scratch(int64_t T_, int64_t D, bool rounded) {
  return {size_t(2 * T_ * T_ + 2 * T_ * D), rounded ? size_t(2 * T_ * T_) : 0};
}
inline ScratchNeed for_every_worker(ScratchNeed per_worker) {
  const size_t workers = size_t(max_workers());
  return {per_worker.values * workers, per_worker.act * workers};
}
inline ScratchNeed attention_forward_scratch(int64_t T_, bool rounded) {
  return for_every_worker(attention_forward_worker_scratch(T_, rounded));
}
inline ScratchNeed attention_backward_scratch(int64_t T_, int64_t D, bool rounded) {
  return for_every_worker(attention_backward_worker_scratch(T_, D, rounded));
}

// One row of the backward: p[j] = exp(s[j] - lse) recomputed over the scores s (in p), then
// dS[j] = p[j] (dP[j] - D) stored over dP, for j < n; per ISA for float (kernels_f32.cpp).
template <class T>
TT_ALWAYS_INLINE void softmax_backward_row(T* p, T* dp, int64_t n, T lse, T D) {
  for (int64_t j = 0; j < n; ++j) {
    p[j] = exp_fast(p[j] - lse);
    dp[j] = p[j] * (dp[j] - D);
  }
}
void softmax_backward_row(float* p, float* dp, int64_t n, float lse, float D);

template <class T, class A>
void attention_forward(A* out, T* lse, const A* q, const A* k, const A* v, int64_t B, int64_t T_, int64_t Hq,
                       int64_t Hkv, int64_t D, Scratch<T, A>& scratch, int64_t block = kAttentionBlock) {
  const int64_t group = Hq / Hkv;
  const double scale = 1.0 / std::sqrt(double(D));
  const int64_t ldq = Hq * D, ldk = Hkv * D;
  const ScratchNeed per_worker = attention_forward_worker_scratch(T_, !std::is_same_v<A, T>);
  grow(scratch, for_every_worker(per_worker));
  // one task per (batch, query head); each worker has its own [T, T] scratch
  const bool parallel = double(B * Hq) * double(T_ * T_ * D) > kAttentionParallelWork;
  parallel_tasks(B * Hq, parallel, [&](int64_t task, int64_t worker) {
    const int64_t b = task / Hq, h = task % Hq;
    T* S = scratch.values.data() + size_t(worker) * per_worker.values;
    const A* Q = q + b * T_ * ldq + h * D;
    const A* K = k + b * T_ * ldk + (h / group) * D;
    const A* V = v + b * T_ * ldk + (h / group) * D;
    T* L = lse + (b * Hq + h) * T_;
    A* P_act = scratch.act.data() + size_t(worker) * per_worker.act;
    for (int64_t r0 = 0; r0 < T_; r0 += block) {
      const int64_t r1 = std::min(T_, r0 + block);  // rows r0..r1 attend to keys 0..r1
      gemm(false, true, r1 - r0, r1, D, scale, Q + r0 * ldq, ldq, K, ldk, 0.0, S + r0 * T_, T_);
      for (int64_t i = r0; i < r1; ++i) {
        T* s = S + i * T_;
        const T mx = row_max(s, i + 1);
        const double sum = exp_shift_sum(s, i + 1, mx);
        scale_inplace(s, i + 1, T(1.0 / sum));
        for (int64_t j = i + 1; j < r1; ++j) s[j] = T(0);
        L[i] = T(double(mx) + std::log(sum));
      }
      const A* P = rows_as_gemm_input(S, P_act, r0, r1, r1, T_);
      gemm(false, false, r1 - r0, D, r1, 1.0, P + r0 * T_, T_, V, ldk, 0.0, out + (b * T_ + r0) * ldq + h * D,
           ldq);
    }
  });
}

template <class T, class A>
void attention_backward(A* dq, A* dk, A* dv, const A* dout, const A* out, const T* lse, const A* q,
                        const A* k, const A* v, int64_t B, int64_t T_, int64_t Hq, int64_t Hkv, int64_t D,
                        Scratch<T, A>& scratch, int64_t block = kAttentionBlock) {
  const int64_t group = Hq / Hkv;
  const double scale = 1.0 / std::sqrt(double(D));
  const int64_t ldq = Hq * D, ldk = Hkv * D;
  const ScratchNeed per_worker = attention_backward_worker_scratch(T_, D, !std::is_same_v<A, T>);
  grow(scratch, for_every_worker(per_worker));
  // one task per (batch, kv head): dk/dv of a kv head sum over its query heads, so no two
  // workers ever write the same rows
  const bool parallel = double(B * Hq) * double(T_ * T_ * D) > kAttentionParallelWork;
  parallel_tasks(B * Hkv, parallel, [&](int64_t task, int64_t worker) {
    const int64_t b = task / Hkv, g = task % Hkv;
    T* P = scratch.values.data() + size_t(worker) * per_worker.values;
    T* dP = P + T_ * T_;
    T* dK = dP + T_ * T_;
    T* dV = dK + T_ * D;
    A* P_act = scratch.act.data() + size_t(worker) * per_worker.act;
    A* dS_act = P_act + (per_worker.act ? T_ * T_ : 0);
    const A* K = k + b * T_ * ldk + g * D;
    const A* V = v + b * T_ * ldk + g * D;
    std::fill_n(dK, 2 * T_ * D, T(0));
    for (int64_t h = g * group; h < (g + 1) * group; ++h) {
      const A* Q = q + b * T_ * ldq + h * D;
      const A* O = out + b * T_ * ldq + h * D;
      const A* dO = dout + b * T_ * ldq + h * D;
      const T* L = lse + (b * Hq + h) * T_;
      const A* dS = nullptr;
      const A* Pa = nullptr;
      for (int64_t r0 = 0; r0 < T_; r0 += block) {  // query rows r0..r1 against keys 0..r1
        const int64_t r1 = std::min(T_, r0 + block);
        gemm(false, true, r1 - r0, r1, D, scale, Q + r0 * ldq, ldq, K, ldk, 0.0, P + r0 * T_, T_);
        gemm(false, true, r1 - r0, r1, D, 1.0, dO + r0 * ldq, ldq, V, ldk, 0.0, dP + r0 * T_, T_);
        for (int64_t i = r0; i < r1; ++i) {
          T Di = 0;
          for (int64_t d = 0; d < D; ++d) Di += T(dO[i * ldq + d]) * T(O[i * ldq + d]);
          T* p = P + i * T_;
          T* dp = dP + i * T_;
          softmax_backward_row(p, dp, i + 1, L[i], Di);
          for (int64_t j = i + 1; j < r1; ++j) p[j] = dp[j] = T(0);
        }
        dS = rows_as_gemm_input(dP, dS_act, r0, r1, r1, T_);
        Pa = rows_as_gemm_input(P, P_act, r0, r1, r1, T_);
        gemm(false, false, r1 - r0, D, r1, scale, dS + r0 * T_, T_, K, ldk, 0.0,
             dq + (b * T_ + r0) * ldq + h * D, ldq);
      }
      for (int64_t c0 = 0; c0 < T_; c0 += block) {  // keys c0..c1 from query rows c0..T on
        const int64_t c1 = std::min(T_, c0 + block);
        gemm(true, false, c1 - c0, D, T_ - c0, scale, dS + c0 * T_ + c0, T_, Q + c0 * ldq, ldq, 1.0,
             dK + c0 * D, D);
        gemm(true, false, c1 - c0, D, T_ - c0, 1.0, Pa + c0 * T_ + c0, T_, dO + c0 * ldq, ldq, 1.0,
             dV + c0 * D, D);
      }
    }
    for (int64_t i = 0; i < T_; ++i) {
      convert_n(dk + b * T_ * ldk + i * ldk + g * D, dK + i * D, D);
      convert_n(dv + b * T_ * ldk + i * ldk + g * D, dV + i * D, D);
    }
  });
}

template <class A>
void attention_infer(A* out, const A* q, const A* k_cache, const A* v_cache, int64_t Tq, int64_t Tkv,
                     int64_t Hq, int64_t Hkv, int64_t D) {
  using T = compute_t<A>;
  const int64_t group = Hq / Hkv;
  const double scale = 1.0 / std::sqrt(double(D));
  const int64_t ldq = Hq * D, ldk = Hkv * D;
  parallel_for(Tq * Hq, 8, [&](int64_t r0, int64_t r1) {
    std::vector<double> s(static_cast<size_t>(Tkv)), acc(static_cast<size_t>(D));
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t i = r / Hq, h = r % Hq, g = h / group;
      const int64_t last = Tkv - Tq + i;  // attends to keys 0..last
      const A* qi = q + i * ldq + h * D;
      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t j = 0; j <= last; ++j) {
        const A* kj = k_cache + j * ldk + g * D;
        T dot = 0;
        for (int64_t d = 0; d < D; ++d) dot += T(qi[d]) * T(kj[d]);
        s[j] = double(dot) * scale;
        mx = std::max(mx, s[j]);
      }
      double sum = 0;
      for (int64_t j = 0; j <= last; ++j) sum += (s[j] = std::exp(s[j] - mx));
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t j = 0; j <= last; ++j) {
        const A* vj = v_cache + j * ldk + g * D;
        const double p = s[j] / sum;
        for (int64_t d = 0; d < D; ++d) acc[d] += p * double(vj[d]);
      }
      A* o = out + i * ldq + h * D;
      for (int64_t d = 0; d < D; ++d) o[d] = A(T(acc[d]));
    }
  });
}

}  // namespace tt::cpu
