// fp32 row kernels of the softmax / cross-entropy loops, compiled per ISA with GCC target_clones
// (ifunc dispatch at load time) because the project is built for baseline x86-64. See fast_math.h.
#include "cpu/bf16.h"
#include "cpu/fast_math.h"
#include "cpu/gemm.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define TT_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define TT_CLONES
#endif

namespace tt::cpu {

namespace {
constexpr int W = 16;         // lanes
constexpr int kBlock = 1024;  // lane sums are folded into double every kBlock elements
}  // namespace

TT_CLONES float row_max(const float* x, int64_t n) {
  float lane[W];
  for (int k = 0; k < W; ++k) lane[k] = x[0];
  int64_t i = 0;
  for (; i + W <= n; i += W)
    for (int k = 0; k < W; ++k) lane[k] = lane[k] > x[i + k] ? lane[k] : x[i + k];
  float m = lane[0];
  for (int k = 1; k < W; ++k) m = m > lane[k] ? m : lane[k];
  for (; i < n; ++i) m = m > x[i] ? m : x[i];
  return m;
}

TT_CLONES double row_sum(const float* x, int64_t n) {
  double total = 0;
  int64_t i = 0;
  while (i + W <= n) {
    float lane[W] = {};
    const int64_t end = std::min<int64_t>(n - (n - i) % W, i + kBlock);
    for (; i < end; i += W)
      for (int k = 0; k < W; ++k) lane[k] += x[i + k];
    for (int k = 0; k < W; ++k) total += double(lane[k]);
  }
  for (; i < n; ++i) total += double(x[i]);
  return total;
}

TT_CLONES double exp_shift_sum(float* x, int64_t n, float shift) {
  double total = 0;
  int64_t i = 0;
  while (i + W <= n) {
    float lane[W] = {};
    const int64_t end = std::min<int64_t>(n - (n - i) % W, i + kBlock);
    for (; i < end; i += W)
      for (int k = 0; k < W; ++k) {
        const float e = exp_fast(x[i + k] - shift);
        x[i + k] = e;
        lane[k] += e;
      }
    for (int k = 0; k < W; ++k) total += double(lane[k]);
  }
  for (; i < n; ++i) {
    x[i] = exp_fast(x[i] - shift);
    total += double(x[i]);
  }
  return total;
}

TT_CLONES void scale_inplace(float* x, int64_t n, float s) {
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

namespace {
// y[n] = alpha * dot(x, rows[n, :]) + beta * y[n] for n in [n0, n1): rows row-major [N, K] with leading
// dimension ldw; 16 fp32 lanes per dot product.
template <class In, class Out>
inline void gemv_rows_impl(int64_t n0, int64_t n1, int64_t K, float alpha, const In* x, const In* rows,
                           int64_t ldw, float beta, Out* y) {
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

TT_CLONES void gemv_rows(int64_t n0, int64_t n1, int64_t K, float alpha, const float* x, const float* W,
                         int64_t ldw, float beta, float* y) {
  gemv_rows_impl(n0, n1, K, alpha, x, W, ldw, beta, y);
}
TT_CLONES void gemv_rows(int64_t n0, int64_t n1, int64_t K, float alpha, const bf16* x, const bf16* W,
                         int64_t ldw, float beta, float* y) {
  gemv_rows_impl(n0, n1, K, alpha, x, W, ldw, beta, y);
}
TT_CLONES void gemv_rows(int64_t n0, int64_t n1, int64_t K, float alpha, const bf16* x, const bf16* W,
                         int64_t ldw, float beta, bf16* y) {
  gemv_rows_impl(n0, n1, K, alpha, x, W, ldw, beta, y);
}

}  // namespace tt::cpu
