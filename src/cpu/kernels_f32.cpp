// fp32 row kernels of the softmax / cross-entropy loops, compiled per ISA with GCC target_clones
// (ifunc dispatch at load time) because the project is built for baseline x86-64. See fast_math.h.
#include "cpu/fast_math.h"

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

}  // namespace tt::cpu
