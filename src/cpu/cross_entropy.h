// Tied LM head + next-token cross-entropy, chunked over rows.
//
//   logits[n, :] = hidden[n, :] @ table^T                 (table [V,C] = the tied embedding)
//   losses[n]    = logsumexp(logits[n]) - logits[n, targets[n]]   (targets[n] < 0: loss 0, no grad)
//   with the gradient of loss_scale * sum_n losses[n], when dhidden is not null:
//   dlogits[n,v] = loss_scale * (softmax(logits[n])[v] - [v == targets[n]])
//   dhidden[n,:] = dlogits[n,:] @ table          (OVERWRITE)
//   dtable      += dlogits^T @ hidden            (ACCUMULATES)
// Shapes: hidden [N,C], losses [N] (overwrite), targets int32 [N]. Rows are processed in chunks of
// at most `chunk_rows(V)` so the logits never exist for all N rows at once; the caller passes a
// scratch vector that grows once to chunk_rows * V and is reused by every later call (no per-step
// allocation). The three GEMMs per chunk are BLAS; the softmax rows run on all cores.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "common/check.h"
#include "cpu/fast_math.h"
#include "cpu/matmul.h"
#include "cpu/parallel.h"

namespace tt::cpu {

// Rows per chunk: ~32M logits (128 MB in fp32), at least 1 row, at most 256 rows.
inline int64_t chunk_rows(int64_t V) {
  return std::max<int64_t>(1, std::min<int64_t>(256, (1 << 25) / V));
}

template <class T>
void lm_head_loss(T* losses, T* dhidden, T* dtable, const T* hidden, const T* table, const int32_t* targets,
                  int64_t N, int64_t C, int64_t V, double loss_scale, std::vector<T>& scratch) {
  for (int64_t n = 0; n < N; ++n)
    TT_CHECK(targets[n] < V) << "target token id " << targets[n] << " at position " << n
                             << " is outside the vocabulary [0, " << V << ")";
  // equal-sized chunks of at most chunk_rows(V) rows
  const int64_t max_rows = chunk_rows(V), chunks = (N + max_rows - 1) / max_rows;
  const int64_t R = (N + chunks - 1) / std::max<int64_t>(1, chunks);
  if (scratch.size() < size_t(std::min(R, N) * V)) scratch.resize(size_t(std::min(R, N) * V));
  T* logits = scratch.data();
  for (int64_t n0 = 0; n0 < N; n0 += R) {
    const int64_t rows = std::min(R, N - n0);
    gemm<T>(false, true, rows, V, C, T(1), hidden + n0 * C, C, table, C, T(0), logits, V);
    parallel_for(rows, std::max<int64_t>(1, (1 << 16) / V), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        T* l = logits + r * V;
        const int32_t tgt = targets[n0 + r];
        if (tgt < 0) {
          losses[n0 + r] = T(0);
          if (dhidden)
            for (int64_t j = 0; j < V; ++j) l[j] = T(0);
          continue;
        }
        const T mx = row_max(l, V);
        const T target_logit = l[tgt];
        const double sum = exp_shift_sum(l, V, mx);  // one exp per logit, in place
        losses[n0 + r] = T(double(mx) + std::log(sum) - double(target_logit));
        if (dhidden) {
          const T s = T(loss_scale / sum);
          scale_inplace(l, V, s);
          l[tgt] -= T(loss_scale);
        }
      }
    });
    if (dhidden) {
      gemm<T>(false, false, rows, C, V, T(1), logits, V, table, C, T(0), dhidden + n0 * C, C);
      gemm<T>(true, false, V, C, rows, T(1), logits, V, hidden + n0 * C, C, T(1), dtable, C);
    }
  }
}

// logits [N,V] = hidden [N,C] @ table^T (overwrite).
template <class T>
void lm_head_logits(T* logits, const T* hidden, const T* table, int64_t N, int64_t C, int64_t V) {
  gemm<T>(false, true, N, V, C, T(1), hidden, C, table, C, T(0), logits, V);
}

}  // namespace tt::cpu
