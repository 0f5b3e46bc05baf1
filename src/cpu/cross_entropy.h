// Tied LM head + next-token cross-entropy, chunked over rows.
//
//   logits[n, :] = hidden[n, :] @ table^T                 (table [V,C] = the tied embedding)
//   losses[n]    = logsumexp(logits[n]) - logits[n, targets[n]]   (targets[n] < 0: loss 0, no grad)
//   with the gradient of loss_scale * sum_n losses[n], when dhidden is not null:
//   dlogits[n,v] = loss_scale * (softmax(logits[n])[v] - [v == targets[n]])
//   dhidden[n,:] = dlogits[n,:] @ table          (OVERWRITE)
//   dtable      += dlogits^T @ hidden            (ACCUMULATES; skipped when dtable is null)
// Shapes: hidden [N,C], losses [N] (overwrite), targets int32 [N]. Rows are processed in chunks of
// lm_head_chunk(N, V) rows so the logits never exist for all N rows at once; the caller's scratch grows to
// lm_head_loss_scratch() (grow, scratch.h) and is reused by later calls. Evaluation (no gradient) runs
// per-worker vocab tiles instead. The three GEMMs per chunk use all cores; so do the softmax rows.
// A: the type of hidden, table and dhidden; T: of losses, logits and dtable. With bf16 activations the
// logits and the softmax are fp32 and dlogits is rounded to bf16 as the input of the two backward GEMMs
// (`scratch.act`), as the CUDA backend does.
// The bf16 GEMMs whose output spans the vocabulary (logits, dtable) run in slices of kBf16VocabSlice
// vocab entries, which oneDNN 2.6's bf16 matmul runs faster than one call over the vocabulary; f32 gains
// nothing from slices and runs them whole (DESIGN.md, "CPU backend"; measured with bench_gemm).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "common/check.h"
#include "cpu/bf16.h"
#include "cpu/fast_math.h"
#include "cpu/gemm.h"
#include "cpu/parallel.h"
#include "cpu/scratch.h"

namespace tt::cpu {

// Rows per chunk: up to 2^28 logits (1 GiB in fp32; 1766 rows at V = 151,936), at least 1 row. Few, large
// chunks: each chunk reads the table twice and adds into all of dtable once (233 MB each in fp32 at the
// seed shape), while a chunk's logits outgrow the caches long before 1 GiB anyway.
inline int64_t chunk_rows(int64_t V) {
  return std::max<int64_t>(1, (int64_t(1) << 28) / V);
}

constexpr int64_t kBf16VocabSlice = 8192;

// The vocab slice of a product over N rows at hidden C: kBf16VocabSlice for bf16, unless a slice would be
// too small to run on all cores (gemm.h: kParallelGemmFlops); the whole vocabulary (one GEMM) otherwise and
// for one row (decoding's GEMV). requested > 0 forces that slice on a bf16 product of several rows (tests).
template <class A>
int64_t vocab_slice(int64_t requested, int64_t N, int64_t C, int64_t V) {
  TT_ASSERT(requested >= 0) << "vocab slice " << requested;
  if (!std::is_same_v<A, bf16> || N <= 1) return V;
  if (requested > 0) return requested;
  const double slice_flops = 2.0 * double(N) * double(std::min(kBf16VocabSlice, V)) * double(C);
  return slice_flops >= kParallelGemmFlops ? kBf16VocabSlice : V;
}

// logits[:, v] = hidden @ table[v]^T for every v in [0, V) (overwrite; ldl: the logits' row stride).
template <class T, class A>
void logits_gemm(T* logits, int64_t ldl, const A* hidden, const A* table, int64_t N, int64_t C, int64_t V,
                 int64_t slice = 0) {
  slice = vocab_slice<A>(slice, N, C, V);
  for (int64_t v0 = 0; v0 < V; v0 += slice)
    gemm(false, true, N, std::min(slice, V - v0), C, 1.0, hidden, C, table + v0 * C, C, 0.0, logits + v0,
         ldl);
}

// dtable += dlogits^T @ hidden (dlogits [N, V] with row stride ldd; ACCUMULATES).
template <class T, class A>
void dtable_gemm(T* dtable, const A* dlogits, int64_t ldd, const A* hidden, int64_t N, int64_t C, int64_t V,
                 int64_t slice = 0) {
  slice = vocab_slice<A>(slice, N, C, V);
  for (int64_t v0 = 0; v0 < V; v0 += slice)
    gemm(true, false, std::min(slice, V - v0), C, N, 1.0, dlogits + v0, ldd, hidden, C, 1.0, dtable + v0 * C,
         C);
}

// Forward-only loss (evaluation): the logits are produced tile by tile, [rows <= kLossTileRows] x
// [kLossTileCols vocab entries], into a per-core scratch that stays in L2, and folded into a running
// (max, sum of exp) per row straight away (the online log-sum-exp). The vocab is split into one
// contiguous range per core, each with its own running statistics, merged at the end:
//   lse = M + log(sum_t s_t exp(m_t - M)),  M = max_t m_t.
// Why: the chunked path writes a chunk's logits (up to 1 GiB) to memory and reads them back twice (max,
// then exp); at ~12-25 GB/s that traffic, not the GEMM, would be most of the eval time. Here the table
// is re-read once per row tile instead (N / 256 times), e.g. 8 x 78 MB for 2048 rows at hidden 128.
constexpr int64_t kLossTileRows = 256, kLossTileCols = 512;

// The rows of each chunk of lm_head_loss with a gradient: N split into equal chunks of at most
// chunk_rows(V) rows (or max_chunk_rows, when given).
inline int64_t lm_head_chunk(int64_t N, int64_t V, int64_t max_chunk_rows = 0) {
  const int64_t max_rows = max_chunk_rows > 0 ? max_chunk_rows : chunk_rows(V);
  const int64_t chunks = (N + max_rows - 1) / max_rows;
  return std::min((N + chunks - 1) / std::max<int64_t>(1, chunks), N);
}

// Scratch of lm_head_loss: with a gradient, a chunk's logits [R, V] and, when `rounded` (A is not T), its
// dlogits rounded to A; without, one [min(N, kLossTileRows), kLossTileCols] tile per worker.
inline ScratchNeed lm_head_loss_scratch(int64_t N, int64_t V, bool with_gradient, bool rounded,
                                        int64_t max_chunk_rows = 0) {
  if (!with_gradient) {
    const int64_t workers = std::min<int64_t>(num_threads(), (V + kLossTileCols - 1) / kLossTileCols);
    return {size_t(std::min(N, kLossTileRows) * kLossTileCols * workers), 0};
  }
  const size_t chunk = size_t(lm_head_chunk(N, V, max_chunk_rows) * V);
  return {chunk, rounded ? chunk : 0};
}

template <class T, class A>
void lm_head_loss_forward(T* losses, const A* hidden, const A* table, const int32_t* targets, int64_t N,
                          int64_t C, int64_t V, Scratch<T, A>& scratch) {
  const int64_t tiles = (V + kLossTileCols - 1) / kLossTileCols;
  const int64_t workers = std::min<int64_t>(num_threads(), tiles);
  const int64_t rows_max = std::min(N, kLossTileRows);
  const size_t tile = size_t(rows_max * kLossTileCols);
  grow(scratch, lm_head_loss_scratch(N, V, false, false));
  // per worker: running max and sum of exp for every row; target logits (each in exactly one tile)
  std::vector<double> run_max(size_t(workers * N), -std::numeric_limits<double>::infinity());
  std::vector<double> run_sum(size_t(workers * N), 0.0), target_logit(size_t(N), 0.0);
  const int64_t per_worker = (tiles + workers - 1) / workers;
  parallel_tasks(workers, workers > 1, [&](int64_t task, int64_t worker) {
    T* S = scratch.values.data() + size_t(worker) * tile;
    double* mx = run_max.data() + task * N;
    double* sm = run_sum.data() + task * N;
    const int64_t tile_end = std::min(tiles, (task + 1) * per_worker);
    for (int64_t n0 = 0; n0 < N; n0 += rows_max) {
      const int64_t rows = std::min(rows_max, N - n0);
      for (int64_t ti = task * per_worker; ti < tile_end; ++ti) {
        const int64_t v0 = ti * kLossTileCols, cols = std::min(kLossTileCols, V - v0);
        gemm(false, true, rows, cols, C, 1.0, hidden + n0 * C, C, table + v0 * C, C, 0.0, S, cols);
        for (int64_t r = 0; r < rows; ++r) {
          const int64_t n = n0 + r;
          const int32_t tgt = targets[n];
          if (tgt < 0) continue;
          T* l = S + r * cols;
          if (tgt >= v0 && tgt < v0 + cols) target_logit[size_t(n)] = double(l[tgt - v0]);
          const double m = std::max(mx[n], double(row_max(l, cols)));
          const double s = exp_shift_sum(l, cols, T(m));  // in place, in the L2-resident tile
          sm[n] = sm[n] * std::exp(mx[n] - m) + s;
          mx[n] = m;
        }
      }
    }
  });
  for (int64_t n = 0; n < N; ++n) {
    if (targets[n] < 0) {
      losses[n] = T(0);
      continue;
    }
    double m = -std::numeric_limits<double>::infinity(), s = 0;
    for (int64_t w = 0; w < workers; ++w) m = std::max(m, run_max[size_t(w * N + n)]);
    for (int64_t w = 0; w < workers; ++w)
      s += run_sum[size_t(w * N + n)] * std::exp(run_max[size_t(w * N + n)] - m);
    losses[n] = T(m + std::log(s) - target_logit[size_t(n)]);
  }
}

template <class T, class A>
void lm_head_loss(T* losses, A* dhidden, T* dtable, const A* hidden, const A* table, const int32_t* targets,
                  int64_t N, int64_t C, int64_t V, double loss_scale, Scratch<T, A>& scratch,
                  int64_t max_chunk_rows = 0, int64_t bf16_vocab_slice = 0) {
  if (N == 0) return;
  for (int64_t n = 0; n < N; ++n)  // the caller's contract (qwen3.cpp checks the ids on the host)
    TT_ASSERT(targets[n] < V) << "target token id " << targets[n] << " at position " << n
                              << " is outside the vocabulary [0, " << V << ")";
  if (!dhidden) {
    lm_head_loss_forward(losses, hidden, table, targets, N, C, V, scratch);
    return;
  }
  const int64_t R = lm_head_chunk(N, V, max_chunk_rows);
  grow(scratch, lm_head_loss_scratch(N, V, true, !std::is_same_v<A, T>, max_chunk_rows));
  T* logits = scratch.values.data();
  // dlogits: in place over the logits, or rounded into scratch.act row by row while still in cache
  A* dlogits = nullptr;
  if constexpr (std::is_same_v<A, T>) {
    dlogits = logits;
  } else {
    dlogits = scratch.act.data();
  }
  for (int64_t n0 = 0; n0 < N; n0 += R) {
    const int64_t rows = std::min(R, N - n0);
    logits_gemm(logits, V, hidden + n0 * C, table, rows, C, V, bf16_vocab_slice);
    parallel_for(rows, std::max<int64_t>(1, (1 << 16) / V), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        T* l = logits + r * V;
        A* dl = dlogits + r * V;
        const int32_t tgt = targets[n0 + r];
        if (tgt < 0) {
          losses[n0 + r] = T(0);
          std::fill_n(dl, V, A(0.0f));
          continue;
        }
        // dlogits in place over the logits, or with bf16 rounded straight into the GEMMs' input
        losses[n0 + r] = T(softmax_xent_row(l, dl, V, tgt, loss_scale));
      }
    });
    gemm(false, false, rows, C, V, 1.0, dlogits, V, table, C, 0.0, dhidden + n0 * C, C);
    if (dtable) dtable_gemm(dtable, dlogits, V, hidden + n0 * C, rows, C, V, bf16_vocab_slice);
  }
}

// logits [N,V] = hidden [N,C] @ table^T (overwrite).
template <class T, class A>
void lm_head_logits(T* logits, const A* hidden, const A* table, int64_t N, int64_t C, int64_t V,
                    int64_t bf16_vocab_slice = 0) {
  logits_gemm(logits, V, hidden, table, N, C, V, bf16_vocab_slice);
}

}  // namespace tt::cpu
