// bench_gemm: the CPU backend's GEMM candidates side by side at the model's shapes, in one run:
//   oneDNN f32 and bf16 (bf16 inputs, fp32 accumulation) through tt::cpu::gemm — what the backend uses;
//   OpenBLAS sgemm the way the backend used it before oneDNN: one single-threaded call per core on a
//   block of the output (OpenBLAS's own threads busy-wait between calls).
// The last two rows run the LM head's vocab-wide products in slices of the vocabulary, as the bf16 backend
// does (cpu/cross_entropy.h), in f32 and bf16. The closing "peak" line is the cores' own ceiling on the
// same threads: back-to-back independent fp32 FMAs and bf16 dot products (vdpbf16ps) on registers, so each
// GEMM's figure reads as a share of what the CPU can do, and bf16's over fp32's as the most --bf16 can gain.
// Before it, the "softmax rows" line times the LM head's softmax / cross-entropy rows that run between its
// GEMMs (cpu/fast_math.h: softmax_xent_row), portable and as dispatched on this CPU.
//
//   bench_gemm [config.json] [rows = B*T] [seconds per measurement]
//   defaults: configs/qwen3_demo.json 1024 1.0
//
// OpenBLAS chooses its kernels by CPU model: the line "openblas core" names them. Run with
// OPENBLAS_CORETYPE=<name> (e.g. Prescott, SkylakeX, Cooperlake) to see what another choice gives.
#include <cblas.h>
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "cpu/cross_entropy.h"
#include "cpu/gemm.h"
#include "cpu/parallel.h"
#include "model/model.h"

extern "C" char* openblas_get_corename(void);

namespace {

struct Shape {
  std::string name;
  int64_t M, N, K;
  bool ta, tb;
  int64_t slice = 0;        // > 0: run as GEMMs of `slice` vocab entries, along N (the logits) or M (dtable)
  bool vocab_rows = false;  // the vocabulary is M (dtable), not N
};

double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// GFLOP/s of fn, repeated for at least `budget` seconds after one warm-up call.
template <class Fn>
double gflops(const Shape& s, double budget, Fn&& fn) {
  fn();
  int reps = 0;
  const double t0 = seconds_now();
  do {
    fn();
    ++reps;
  } while (seconds_now() - t0 < budget);
  return 2.0 * double(s.M) * double(s.N) * double(s.K) * reps / (seconds_now() - t0) / 1e9;
}

// OpenBLAS sgemm, one single-threaded call per thread on a block of C along the larger dimension.
void openblas_split(const Shape& s, const float* A, const float* B, float* C, int threads) {
  const int64_t lda = s.ta ? s.M : s.K, ldb = s.tb ? s.K : s.N, ldc = s.N;
  const bool split_m = s.M >= s.N;
  const int64_t len = split_m ? s.M : s.N, block = (len / threads + 15) / 16 * 16;
  auto run = [&](int64_t b, int64_t e) {
    const auto ta = s.ta ? CblasTrans : CblasNoTrans, tb = s.tb ? CblasTrans : CblasNoTrans;
    if (split_m)
      cblas_sgemm(CblasRowMajor, ta, tb, int(e - b), int(s.N), int(s.K), 1.0f, s.ta ? A + b : A + b * lda,
                  int(lda), B, int(ldb), 0.0f, C + b * ldc, int(ldc));
    else
      cblas_sgemm(CblasRowMajor, ta, tb, int(s.M), int(e - b), int(s.K), 1.0f, A, int(lda),
                  s.tb ? B + b * ldb : B + b, int(ldb), 0.0f, C + b, int(ldc));
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) {
    const int64_t b = t * block, e = t + 1 == threads ? len : std::min(len, b + block);
    if (b < e) pool.emplace_back(run, b, e);
  }
  run(0, std::min(len, block));
  for (auto& th : pool) th.join();
}

// Peak FLOP rate: 24 independent accumulators (enough to cover the FMA latency on two pipes) per thread.
constexpr int kAccumulators = 24;
constexpr long kPeakIters = 20000000;

__attribute__((target("avx512f,fma"))) float fma_loop_avx512() {
  __m512 acc[kAccumulators];
  for (int i = 0; i < kAccumulators; ++i) acc[i] = _mm512_set1_ps(float(i));
  __m512 a = _mm512_set1_ps(1.0f), b = _mm512_set1_ps(1e-9f);
  for (long it = 0; it < kPeakIters; ++it) {
#pragma GCC unroll 24
    for (int i = 0; i < kAccumulators; ++i) acc[i] = _mm512_fmadd_ps(a, b, acc[i]);
    asm volatile("" : "+v"(a));  // keeps the loop from being folded
  }
  float sum = 0;
  for (int i = 0; i < kAccumulators; ++i) sum += _mm512_reduce_add_ps(acc[i]);
  return sum;
}

__attribute__((target("avx512f,avx512bf16"))) float bf16_dot_loop_avx512() {
  __m512 acc[kAccumulators];
  for (int i = 0; i < kAccumulators; ++i) acc[i] = _mm512_set1_ps(float(i));
  __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3f80);
  for (long it = 0; it < kPeakIters; ++it) {
#pragma GCC unroll 24
    for (int i = 0; i < kAccumulators; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
    asm volatile("" : "+v"(a));
  }
  float sum = 0;
  for (int i = 0; i < kAccumulators; ++i) sum += _mm512_reduce_add_ps(acc[i]);
  return sum;
}

// GFLOP/s of `loop` run on `threads` threads at once, the best of three runs (a shared VM's clock and
// neighbours vary); flops_per_op: per vector instruction.
double peak_gflops(float (*loop)(), int threads, double flops_per_op) {
  double best = 0;
  for (int run = 0; run < 3; ++run) {
    std::vector<std::thread> pool;
    std::vector<float> sink(static_cast<size_t>(threads));
    const double t0 = seconds_now();
    for (int t = 0; t < threads; ++t) pool.emplace_back([&, t] { sink[size_t(t)] = loop(); });
    for (auto& th : pool) th.join();
    best = std::max(best, double(threads) * double(kPeakIters) * kAccumulators * flops_per_op /
                              (seconds_now() - t0) / 1e9);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string cfg_path = argc > 1 ? argv[1] : std::string(TT_SOURCE_DIR) + "/configs/qwen3_demo.json";
  const int64_t rows = argc > 2 ? std::atoll(argv[2]) : 1024;
  const double budget = argc > 3 ? std::atof(argv[3]) : 1.0;
  const auto cfg = tt::Qwen3Config::load(cfg_path);
  const int64_t C = cfg.hidden_size, V = cfg.vocab_size, I = cfg.intermediate_size;
  const int64_t QKV = (cfg.num_attention_heads + 2 * cfg.num_key_value_heads) * cfg.head_dim;
  const int threads = tt::cpu::num_threads();
  const bool bf16 = tt::cpu::cpu_has_bf16();
  openblas_set_num_threads(1);
  std::printf("config %s, %lld rows, %d threads\nopenblas core %s\n%s\n\n", cfg_path.c_str(), (long long)rows,
              threads, openblas_get_corename(), tt::cpu::gemm_kernel_description(bf16).c_str());
  const std::vector<Shape> shapes = {
      {"LM head logits", rows, V, C, false, true},
      {"LM head dhidden", rows, C, V, false, false},
      {"LM head dtable", V, C, rows, true, false},
      {"q|k|v projection", rows, QKV, C, false, true},
      {"gate|up projection", rows, 2 * I, C, false, true},
      {"down projection", rows, C, I, false, true},
      {"down dweight", C, I, rows, true, false},
      // as the bf16 backend runs them (cpu/cross_entropy.h): in slices of the vocabulary
      {"logits, sliced", rows, V, C, false, true, tt::cpu::kBf16VocabSlice},
      {"dtable, sliced", V, C, rows, true, false, tt::cpu::kBf16VocabSlice, true},
  };
  std::printf("%-20s %22s %12s %12s %12s\n", "GFLOP/s", "M x N x K", "OpenBLAS", "oneDNN f32", "oneDNN bf16");
  for (const Shape& s : shapes) {
    const int64_t lda = s.ta ? s.M : s.K, ldb = s.tb ? s.K : s.N;
    std::vector<float> A(size_t(s.M * s.K), 0.01f), B(size_t(s.K * s.N), 0.02f), Cm(size_t(s.M * s.N));
    std::vector<tt::cpu::bf16> A16(A.size(), tt::cpu::bf16(0.01f)), B16(B.size(), tt::cpu::bf16(0.02f));
    // The whole product, or its slices of the vocabulary: the logits' columns (rows of B, the table) or
    // dtable's rows (columns of A, the transposed dlogits).
    auto run = [&](const auto* a, const auto* b) {
      if (s.slice == 0) {
        tt::cpu::gemm(s.ta, s.tb, s.M, s.N, s.K, 1.0, a, lda, b, ldb, 0.0, Cm.data(), s.N);
        return;
      }
      for (int64_t v0 = 0; v0 < V; v0 += s.slice) {
        const int64_t w = std::min(s.slice, V - v0);
        if (s.vocab_rows)
          tt::cpu::gemm(s.ta, s.tb, w, s.N, s.K, 1.0, a + v0, lda, b, ldb, 0.0, Cm.data() + v0 * s.N, s.N);
        else
          tt::cpu::gemm(s.ta, s.tb, s.M, w, s.K, 1.0, a, lda, b + v0 * ldb, ldb, 0.0, Cm.data() + v0, s.N);
      }
    };
    const double blas =
        s.slice ? 0 : gflops(s, budget, [&] { openblas_split(s, A.data(), B.data(), Cm.data(), threads); });
    const double f32 = gflops(s, budget, [&] { run(A.data(), B.data()); });
    double b16 = 0;
    if (bf16) b16 = gflops(s, budget, [&] { run(A16.data(), B16.data()); });
    const std::string dims = std::to_string(s.M) + " x " + std::to_string(s.N) + " x " + std::to_string(s.K);
    char blas_text[32] = "-";  // OpenBLAS: the whole product only
    if (!s.slice) std::snprintf(blas_text, sizeof blas_text, "%.1f", blas);
    std::printf("%-20s %22s %12s %12.1f %12s\n", s.name.c_str(), dims.c_str(), blas_text, f32,
                bf16 ? std::to_string(int(b16 + 0.5)).c_str() : "n/a");
  }
  // The LM head's softmax rows between its GEMMs (cpu/fast_math.h: softmax_xent_row), portable and as
  // dispatched on this CPU, fp32 dlogits in place and bf16 dlogits: the best of 5, each on fresh logits.
  {
    std::vector<float> master(size_t(rows * V)), logits(master.size());
    std::vector<tt::cpu::bf16> dl16(master.size());
    for (size_t i = 0; i < master.size(); ++i)
      master[i] = float(int64_t(i * 2654435761u % 1000003)) * 8e-6f - 4;
    auto best = [&](auto&& row) {
      double t = 1e30;
      for (int rep = 0; rep < 5; ++rep) {
        std::copy(master.begin(), master.end(), logits.begin());
        const double t0 = seconds_now();
        tt::cpu::parallel_for(rows, 1, [&](int64_t r0, int64_t r1) {
          for (int64_t r = r0; r < r1; ++r)
            row(logits.data() + r * V, dl16.data() + r * V, int32_t(r * 7919 % V));
        });
        t = std::min(t, seconds_now() - t0);
      }
      return t;
    };
    using tt::cpu::bf16;
    const double p32 =
        best([&](float* l, bf16*, int32_t t) { tt::cpu::softmax_xent_row_portable(l, l, V, t, 1.0); });
    const double f32 = best([&](float* l, bf16*, int32_t t) { tt::cpu::softmax_xent_row(l, l, V, t, 1.0); });
    const double p16 =
        best([&](float* l, bf16* d, int32_t t) { tt::cpu::softmax_xent_row_portable(l, d, V, t, 1.0); });
    const double f16 =
        best([&](float* l, bf16* d, int32_t t) { tt::cpu::softmax_xent_row(l, d, V, t, 1.0); });
    std::printf(
        "\nsoftmax rows, %lld x %lld, s (portable / as dispatched%s): fp32 dlogits %.4f / %.4f, "
        "bf16 dlogits %.4f / %.4f\n",
        (long long)rows, (long long)V, tt::cpu::softmax_xent_row_avx512_ok(true) ? ": AVX-512" : "", p32, f32,
        p16, f16);
  }
  if (__builtin_cpu_supports("avx512f")) {  // 16 lanes: an FMA is 32 FLOPs, a bf16 dot product (2 pairs) 64
    const double f32 = peak_gflops(fma_loop_avx512, threads, 32);
    std::printf("\npeak on %d threads: fp32 FMA %.0f GFLOP/s", threads, f32);
    if (__builtin_cpu_supports("avx512bf16")) {
      const double b16 = peak_gflops(bf16_dot_loop_avx512, threads, 64);
      std::printf(", bf16 dot product %.0f GFLOP/s (%.2fx)", b16, b16 / f32);
    }
    std::printf("\n");
  }
  return 0;
}
