// The CPU backend's hot loops on fp32 and bf16 storage, compiled per ISA with GCC target_clones (ifunc
// dispatch at load time) because the project is built for baseline x86-64: the softmax / cross-entropy
// rows (fast_math.h) and attention's backward rows, decoding's GEMV (gemm.h), float <-> bf16 conversion
// (bf16.h), AdamW (adamw.h) and SwiGLU (swiglu.h). Each is the op header's TT_ALWAYS_INLINE template, inlined
// into each ISA's copy here, so the reference and the fast path are the same source. The AVX2 and AVX-512
// copies may fuse multiplies and adds (GCC contracts them by default), so fp32 results can differ in the
// last bits between CPUs, as oneDNN's GEMM kernels do; never between runs on one CPU. The LM head's
// softmax row is the one exception to "same source": with AVX-512 it dispatches to kernels_avx512.cpp.
#include "cpu/adamw.h"
#include "cpu/attention.h"
#include "cpu/bf16.h"
#include "cpu/fast_math.h"
#include "cpu/gemm.h"
#include "cpu/swiglu.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define TT_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TT_CLONES
#endif

namespace tt::cpu {

TT_CLONES float row_max(const float* x, int64_t n) {
  return row_max<float>(x, n);
}
TT_CLONES double row_sum(const float* x, int64_t n) {
  return row_sum<float>(x, n);
}
TT_CLONES double exp_shift_sum(float* x, int64_t n, float shift) {
  return exp_shift_sum<float>(x, n, shift);
}
TT_CLONES void scale_inplace(float* x, int64_t n, float s) {
  scale_inplace<float>(x, n, s);
}

namespace {
constexpr int W = 16;  // lanes

// y[n] = alpha * dot(x, rows[n, :]) + beta * y[n] for n in [n0, n1): rows row-major [N, K] with leading
// dimension ldw; 16 fp32 lanes per dot product.
template <class In, class Out>
TT_ALWAYS_INLINE void gemv_rows_impl(int64_t n0, int64_t n1, int64_t K, float alpha, const In* x,
                                     const In* rows, int64_t ldw, float beta, Out* y) {
  for (int64_t n = n0; n < n1; ++n) {
    const In* w = rows + n * ldw;
    float lane[W] = {};
    int64_t k = 0;
    for (; k + W <= K; k += W)
      for (int l = 0; l < W; ++l) lane[l] += float(x[k + l]) * float(w[k + l]);
    float dot = 0;
    for (int l = 0; l < W; ++l) dot += lane[l];
    for (; k < K; ++k) dot += float(x[k]) * float(w[k]);
    const float prior = beta == 0.0f ? 0.0f : beta * float(y[n]);
    y[n] = Out(alpha * dot + prior);
  }
}
}  // namespace

TT_CLONES void gemv_rows(int64_t n0, int64_t n1, int64_t K, float alpha, const float* x, const float* rows,
                         int64_t ldw, float beta, float* y) {
  gemv_rows_impl(n0, n1, K, alpha, x, rows, ldw, beta, y);
}
TT_CLONES void gemv_rows(int64_t n0, int64_t n1, int64_t K, float alpha, const bf16* x, const bf16* rows,
                         int64_t ldw, float beta, float* y) {
  gemv_rows_impl(n0, n1, K, alpha, x, rows, ldw, beta, y);
}
TT_CLONES void gemv_rows(int64_t n0, int64_t n1, int64_t K, float alpha, const bf16* x, const bf16* rows,
                         int64_t ldw, float beta, bf16* y) {
  gemv_rows_impl(n0, n1, K, alpha, x, rows, ldw, beta, y);
}

TT_CLONES void softmax_backward_row(float* p, float* dp, int64_t n, float lse, float D) {
  softmax_backward_row<float>(p, dp, n, lse, D);
}

TT_CLONES double softmax_xent_row_portable(float* l, float* dl, int64_t n, int32_t tgt, double loss_scale) {
  return softmax_xent_row<float, float>(l, dl, n, tgt, loss_scale);
}
TT_CLONES double softmax_xent_row_portable(float* l, bf16* dl, int64_t n, int32_t tgt, double loss_scale) {
  return softmax_xent_row<float, bf16>(l, dl, n, tgt, loss_scale);
}
double softmax_xent_row(float* l, float* dl, int64_t n, int32_t tgt, double loss_scale) {
  static const bool fast = softmax_xent_row_avx512_ok(false);
  return fast ? softmax_xent_row_avx512(l, dl, n, tgt, loss_scale)
              : softmax_xent_row_portable(l, dl, n, tgt, loss_scale);
}
double softmax_xent_row(float* l, bf16* dl, int64_t n, int32_t tgt, double loss_scale) {
  static const bool fast = softmax_xent_row_avx512_ok(true);
  return fast ? softmax_xent_row_avx512(l, dl, n, tgt, loss_scale)
              : softmax_xent_row_portable(l, dl, n, tgt, loss_scale);
}

TT_CLONES void convert_n(bf16* dst, const float* src, int64_t n) {
  convert_n<bf16, float>(dst, src, n);
}
TT_CLONES void convert_n(float* dst, const bf16* src, int64_t n) {
  convert_n<float, bf16>(dst, src, n);
}

TT_CLONES void adamw_range(float* p, const float* grad, float* m, float* v, float* compute, int64_t b,
                           int64_t e, float clip, float b1, float c1, float b2, float c2, float step_size,
                           float bc2_sqrt, float eps, float wd_mul) {
  adamw_range<float, float>(p, grad, m, v, compute, b, e, clip, b1, c1, b2, c2, step_size, bc2_sqrt, eps,
                            wd_mul);
}
TT_CLONES void adamw_range(float* p, const float* grad, float* m, float* v, bf16* compute, int64_t b,
                           int64_t e, float clip, float b1, float c1, float b2, float c2, float step_size,
                           float bc2_sqrt, float eps, float wd_mul) {
  adamw_range<float, bf16>(p, grad, m, v, compute, b, e, clip, b1, c1, b2, c2, step_size, bc2_sqrt, eps,
                           wd_mul);
}

TT_CLONES void swiglu_forward_rows(float* out, const float* gate_up, int64_t b, int64_t e, int64_t I) {
  swiglu_forward_rows<float>(out, gate_up, b, e, I);
}
TT_CLONES void swiglu_forward_rows(bf16* out, const bf16* gate_up, int64_t b, int64_t e, int64_t I) {
  swiglu_forward_rows<bf16>(out, gate_up, b, e, I);
}
TT_CLONES void swiglu_backward_rows(float* dgate_up, const float* dout, const float* gate_up, int64_t b,
                                    int64_t e, int64_t I) {
  swiglu_backward_rows<float>(dgate_up, dout, gate_up, b, e, I);
}
TT_CLONES void swiglu_backward_rows(bf16* dgate_up, const bf16* dout, const bf16* gate_up, int64_t b,
                                    int64_t e, int64_t I) {
  swiglu_backward_rows<bf16>(dgate_up, dout, gate_up, b, e, I);
}

}  // namespace tt::cpu
