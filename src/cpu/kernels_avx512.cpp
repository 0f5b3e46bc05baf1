// The LM head's softmax / cross-entropy row (fast_math.h: softmax_xent_row) written with AVX-512
// intrinsics, for CPUs that have them (the project builds for baseline x86-64; each function here carries
// its own target attribute and is called only after a CPUID check). Why intrinsics rather than the
// autovectorised template every other row kernel uses (kernels_f32.cpp): the row is bound by memory traffic,
// and keeping its fp32 logits clean (read-only) needs a second exp per logit instead of a stored one, which
// pays only with an exp far cheaper than the portable one — vrndscaleps, a degree-5 polynomial and
// vscalefps, with no clamping (vscalefps takes any exponent) — and the bf16 dlogits are rounded 32 at a
// time by vcvtne2ps2bf16. GCC's autovectoriser emits neither instruction from the portable loops.
//
//   pass 1: M = max_i l[i]                                   (reads the row from memory)
//   pass 2: S = sum_i exp(l[i] - M)                          (the row is in L2 now; nothing stored)
//   pass 3: dl[i] = loss_scale * exp(l[i] - M - log S)       (again from L2; dl written once)
//           dl[tgt] -= loss_scale;  returns M + log S - l[tgt]
// exp(x) = 2^(x log2 e), 2^t = 2^f * 2^n with n = round(t), f in [-1/2, 1/2]; 2^f by a degree-5 polynomial
// (relative error 2.4e-7 in fp32 arithmetic, the portable expf's ~2 ulp). Sums: fp32 lanes over blocks of
// 4096 logits, each block's total added in double, as the portable row_sum does.
// GCC 12's AVX-512 headers trip -Wuninitialized on their own _mm512_undefined_* values when masked
// intrinsics inline (GCC bug 105593, fixed in GCC 13): silenced for this file only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cmath>

#include "cpu/fast_math.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define TT_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl")))
#define TT_AVX512_BF16 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")))

namespace tt::cpu {
namespace {

constexpr float kLog2e = 1.44269504088896341f;

// 2^t per lane; t = -inf or below -200 gives 0 (clamped to -200 first: 2^-200 is 0 in fp32, and -inf would
// make the fraction NaN); NaN stays NaN (vmaxps returns its second operand when one is NaN).
TT_AVX512 inline __m512 exp2_ps(__m512 t) {
  t = _mm512_max_ps(_mm512_set1_ps(-200.0f), t);
  const __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(t, n);
  __m512 p = _mm512_set1_ps(1.3277482414e-03f);  // a near-minimax fit of 2^f on [-1/2, 1/2]
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.6755504467e-03f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5507101565e-02f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022119497e-01f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9314696896e-01f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0000000717e+00f));
  return _mm512_scalef_ps(p, n);
}

// exp(l[i] - shift / log2 e) for the 16 logits at l, masked lanes 0: shift is the row's shift times log2 e.
TT_AVX512 inline __m512 exp_shifted(const float* l, __m512 shift, __mmask16 mask = 0xFFFF) {
  const __m512 x = _mm512_maskz_loadu_ps(mask, l);
  return _mm512_maskz_mov_ps(mask, exp2_ps(_mm512_fmsub_ps(x, _mm512_set1_ps(kLog2e), shift)));
}

inline __mmask16 tail_mask(int64_t left) {
  return __mmask16((1u << left) - 1u);
}

// Passes 1 and 2: the row's log-sum-exp, in double.
TT_AVX512 double row_logsumexp(const float* l, int64_t n) {
  __m512 m0 = _mm512_set1_ps(-INFINITY), m1 = m0, m2 = m0, m3 = m0;
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    m0 = _mm512_max_ps(m0, _mm512_loadu_ps(l + i));
    m1 = _mm512_max_ps(m1, _mm512_loadu_ps(l + i + 16));
    m2 = _mm512_max_ps(m2, _mm512_loadu_ps(l + i + 32));
    m3 = _mm512_max_ps(m3, _mm512_loadu_ps(l + i + 48));
  }
  for (; i < n; i += 16) {
    const __mmask16 m = tail_mask(std::min<int64_t>(16, n - i));
    m0 = _mm512_mask_max_ps(m0, m, m0, _mm512_maskz_loadu_ps(m, l + i));
  }
  const float M = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(m0, m1), _mm512_max_ps(m2, m3)));
  const __m512 shift = _mm512_set1_ps(M * kLog2e);
  double sum = 0;
  i = 0;
  while (i + 64 <= n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (const int64_t end = std::min(n - n % 64, i + 4096); i < end; i += 64) {
      s0 = _mm512_add_ps(s0, exp_shifted(l + i, shift));
      s1 = _mm512_add_ps(s1, exp_shifted(l + i + 16, shift));
      s2 = _mm512_add_ps(s2, exp_shifted(l + i + 32, shift));
      s3 = _mm512_add_ps(s3, exp_shifted(l + i + 48, shift));
    }
    sum += double(_mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3))));
  }
  __m512 s0 = _mm512_setzero_ps();
  for (; i < n; i += 16)
    s0 = _mm512_add_ps(s0, exp_shifted(l + i, shift, tail_mask(std::min<int64_t>(16, n - i))));
  sum += double(_mm512_reduce_add_ps(s0));
  return double(M) + std::log(sum);
}

// dl[tgt] after pass 3 (which wrote it as if tgt were not the target), from the target's logit.
template <class D>
double finish_target(D* dl, float target_logit, int32_t tgt, double lse, double loss_scale) {
  dl[tgt] = D(float((std::exp(double(target_logit) - lse) - 1.0) * loss_scale));
  return lse - double(target_logit);
}

}  // namespace

bool softmax_xent_row_avx512_ok(bool bf16_out) {
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  return avx512 && (!bf16_out || __builtin_cpu_supports("avx512bf16"));
}

TT_AVX512 double softmax_xent_row_avx512(const float* l, float* dl, int64_t n, int32_t tgt,
                                         double loss_scale) {
  const float target_logit = l[tgt];  // dl may be l
  const double lse = row_logsumexp(l, n);
  const __m512 shift = _mm512_set1_ps(float(lse * kLog2e)), scale = _mm512_set1_ps(float(loss_scale));
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dl + i, _mm512_mul_ps(exp_shifted(l + i, shift), scale));
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    _mm512_mask_storeu_ps(dl + i, m, _mm512_mul_ps(exp_shifted(l + i, shift, m), scale));
  }
  return finish_target(dl, target_logit, tgt, lse, loss_scale);
}

TT_AVX512_BF16 double softmax_xent_row_avx512(const float* l, bf16* dl, int64_t n, int32_t tgt,
                                              double loss_scale) {
  const float target_logit = l[tgt];
  const double lse = row_logsumexp(l, n);
  const __m512 shift = _mm512_set1_ps(float(lse * kLog2e)), scale = _mm512_set1_ps(float(loss_scale));
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 lo = _mm512_mul_ps(exp_shifted(l + i, shift), scale);
    const __m512 hi = _mm512_mul_ps(exp_shifted(l + i + 16, shift), scale);
    _mm512_storeu_si512(dl + i, __m512i(_mm512_cvtne2ps_pbh(hi, lo)));  // rounds to nearest even
  }
  for (; i < n; i += 16) {
    const __mmask16 m = tail_mask(std::min<int64_t>(16, n - i));
    const __m256bh r = _mm512_cvtneps_pbh(_mm512_mul_ps(exp_shifted(l + i, shift, m), scale));
    _mm256_mask_storeu_epi16(dl + i, m, __m256i(r));
  }
  return finish_target(dl, target_logit, tgt, lse, loss_scale);
}

}  // namespace tt::cpu

#else  // not x86-64 GCC/clang: no AVX-512 path

namespace tt::cpu {
bool softmax_xent_row_avx512_ok(bool) {
  return false;
}
double softmax_xent_row_avx512(const float*, float*, int64_t, int32_t, double) {
  return 0;
}
double softmax_xent_row_avx512(const float*, bf16*, int64_t, int32_t, double) {
  return 0;
}
}  // namespace tt::cpu
#endif
