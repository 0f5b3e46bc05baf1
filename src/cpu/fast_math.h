// exp for the softmax/SiLU loops. For double it is std::exp (the gradient checks run in double).
// For float it is the Cephes expf polynomial (max relative error ~2 ulp, tested against std::exp in
// tests/model/ops_test.cpp) written branch-free so GCC vectorises the loops that call it: the LM
// head's softmax over 151,936 logits per row was ~20% of a training step with a scalar libm call.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "cpu/bf16.h"

namespace tt::cpu {

inline float exp_fast(float x) {
  x = x < -87.0f ? -87.0f : x;  // exp(-87) ~ 1.6e-38: still a normal float
  x = x > 88.0f ? 88.0f : x;
  // n = round(x / ln 2) via the 1.5 * 2^23 trick (round-to-nearest, vectorisable without SSE4.1)
  const float magic = 12582912.0f;
  const float n = (x * 1.44269504088896341f + magic) - magic;
  const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;  // ln 2 split in two for precision
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.0f;
  const int32_t bits = (int32_t(n) + 127) << 23;  // 2^n
  float scale;
  std::memcpy(&scale, &bits, 4);
  return y * scale;
}

inline double exp_fast(double x) {
  return std::exp(x);
}

// Max and sum over a row with 16 independent lanes: GCC does not vectorise a plain floating-point
// reduction without -ffast-math (it would reorder the additions), so the lanes are explicit. The
// sum adds each block of 1024 lane-sums into a double, keeping fp32 rounding error negligible.
// TT_ALWAYS_INLINE: the fp32 overloads below are these bodies compiled per ISA (kernels_f32.cpp).
// n >= 1.
template <class T>
TT_ALWAYS_INLINE T row_max(const T* x, int64_t n) {
  constexpr int W = 16;
  T lane[W];
  for (int k = 0; k < W; ++k) lane[k] = x[0];
  int64_t i = 0;
  for (; i + W <= n; i += W)
    for (int k = 0; k < W; ++k) lane[k] = lane[k] > x[i + k] ? lane[k] : x[i + k];
  T m = lane[0];
  for (int k = 1; k < W; ++k) m = m > lane[k] ? m : lane[k];
  for (; i < n; ++i) m = m > x[i] ? m : x[i];
  return m;
}

// The sum of value(i) over [0, n), in the lanes and blocks described above.
template <class T, class Value>
TT_ALWAYS_INLINE double lane_sum(int64_t n, Value&& value) {
  constexpr int W = 16;
  double total = 0;
  int64_t i = 0;
  while (i + W <= n) {
    T lane[W] = {};
    const int64_t end = std::min<int64_t>(n - (n - i) % W, i + 1024);
    for (; i < end; i += W)
      for (int k = 0; k < W; ++k) lane[k] += value(i + k);
    for (int k = 0; k < W; ++k) total += double(lane[k]);
  }
  for (; i < n; ++i) total += double(value(i));
  return total;
}

template <class T>
TT_ALWAYS_INLINE double row_sum(const T* x, int64_t n) {
  return lane_sum<T>(n, [x](int64_t i) TT_LAMBDA_INLINE { return x[i]; });
}

// x[i] = exp(x[i] - shift) in place; returns the sum, added as row_sum adds (one pass over x).
template <class T>
TT_ALWAYS_INLINE double exp_shift_sum(T* x, int64_t n, T shift) {
  return lane_sum<T>(n, [x, shift](int64_t i) TT_LAMBDA_INLINE {
    const T e = exp_fast(x[i] - shift);
    x[i] = e;
    return e;
  });
}

template <class T>
TT_ALWAYS_INLINE void scale_inplace(T* x, int64_t n, T s) {
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

// The LM head's cross-entropy on one row of logits l[0, n), target tgt >= 0: returns the row's loss
// logsumexp(l) - l[tgt] and writes dl[i] = loss_scale * (softmax(l)[i] - [i == tgt]). l is overwritten
// (with its exps); dl may be l itself (same type) or a separate row (bf16 dlogits, the GEMMs' input).
// Three passes: the max (from memory), exp in place with the sum (the row is in L2 by then), the scale.
template <class T, class D>
TT_ALWAYS_INLINE double softmax_xent_row(T* l, D* dl, int64_t n, int32_t tgt, double loss_scale) {
  const T mx = row_max(l, n);
  const T target_logit = l[tgt];
  const double sum = exp_shift_sum(l, n, mx);  // one exp per logit, in place
  const T s = T(loss_scale / sum);
  const T target_exp = l[tgt];
  for (int64_t i = 0; i < n; ++i) dl[i] = D(l[i] * s);
  dl[tgt] = D(target_exp * s - T(loss_scale));
  return double(mx) + std::log(sum) - double(target_logit);
}

// fp32 versions of the row kernels, in kernels_f32.cpp: compiled for x86-64-v4 (AVX-512), v3 (AVX2) and
// baseline x86-64 (GCC target_clones, picked at load time), since the project builds without -march.
// Non-template overloads, so float calls resolve here.
float row_max(const float* x, int64_t n);
double row_sum(const float* x, int64_t n);
double exp_shift_sum(float* x, int64_t n, float shift);
void scale_inplace(float* x, int64_t n, float s);

// softmax_xent_row for fp32 logits, dlogits fp32 (in place: dl == l) or bf16. On CPUs with AVX-512
// (AVX512-BF16 for bf16 dlogits) these run kernels_avx512.cpp: l is only read, not overwritten — the max,
// then the sum of exps without storing them, then each exp again, scaled and stored. An exp there costs
// ~9 vector operations (a degree-5 polynomial and vscalefps), so the second exp is cheaper than writing
// the exps back and dirtying the row; the row kernel is bound by memory traffic (fp32 logits read once,
// dlogits written once). It takes about a quarter less time than the portable rows (bench_gemm's softmax
// line; DESIGN.md, "CPU backend").
// Elsewhere: the portable template above, compiled per ISA.
double softmax_xent_row(float* l, float* dl, int64_t n, int32_t tgt, double loss_scale);
double softmax_xent_row(float* l, bf16* dl, int64_t n, int32_t tgt, double loss_scale);
// The portable path on every CPU (for the tests that compare the two).
double softmax_xent_row_portable(float* l, float* dl, int64_t n, int32_t tgt, double loss_scale);
double softmax_xent_row_portable(float* l, bf16* dl, int64_t n, int32_t tgt, double loss_scale);
// The AVX-512 kernels (kernels_avx512.cpp); call only where softmax_xent_row_avx512_ok(bf16 output).
bool softmax_xent_row_avx512_ok(bool bf16_out);
double softmax_xent_row_avx512(const float* l, float* dl, int64_t n, int32_t tgt, double loss_scale);
double softmax_xent_row_avx512(const float* l, bf16* dl, int64_t n, int32_t tgt, double loss_scale);

}  // namespace tt::cpu
