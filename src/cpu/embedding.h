// Token embedding lookup.
//
//   forward:  out[n, :] = table[ids[n], :]          out [N,C] overwrite; ids int32 [N]; table [V,C]
//   backward: dtable[ids[n], :] += dout[n, :]       dtable [V,C] ACCUMULATES (repeated ids add up)
// Nothing is saved beyond the ids. Ids lie in [0, V): the caller's contract (Qwen3Model checks every token on
// the host before it uploads a batch); here only asserted, as a reference that must not read out of bounds.
// A: the table's and activations' type; T: the gradient's (fp32 accumulation for bf16 activations).
#pragma once

#include <cstdint>
#include <cstring>

#include "common/check.h"

namespace tt::cpu {

inline void assert_ids(const int32_t* ids, int64_t N, int64_t V) {
  for (int64_t n = 0; n < N; ++n)
    TT_ASSERT(ids[n] >= 0 && ids[n] < V)
        << "token id " << ids[n] << " at position " << n << " is outside the vocabulary [0, " << V << ")";
}

template <class A>
void embedding_forward(A* out, const int32_t* ids, const A* table, int64_t N, int64_t C, int64_t V) {
  assert_ids(ids, N, V);
  for (int64_t n = 0; n < N; ++n) std::memcpy(out + n * C, table + int64_t(ids[n]) * C, C * sizeof(A));
}

template <class T, class A>
void embedding_backward(T* dtable, const int32_t* ids, const A* dout, int64_t N, int64_t C, int64_t V) {
  assert_ids(ids, N, V);
  for (int64_t n = 0; n < N; ++n) {
    T* row = dtable + int64_t(ids[n]) * C;
    const A* g = dout + n * C;
    for (int64_t c = 0; c < C; ++c) row[c] += g[c];
  }
}

}  // namespace tt::cpu
