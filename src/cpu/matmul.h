// Matmul (a bias-free nn.Linear) on the CPU, through gemm.h.
//
//   forward:  out[M,N]  = inp[M,K] @ weight[N,K]^T          (overwrite, or += when accumulate)
//   backward: dinp[M,K] = dout[M,N] @ weight[N,K]           (overwrite, or += when accumulate_dinp)
//             dweight[N,K] += dout[M,N]^T @ inp[M,K]        (ALWAYS accumulates)
// Saved for backward: the input `inp` (the caller keeps it). Either backward output may be null.
// All matrices row-major and contiguous. A: the activations' and weights' type (float, double, bf16);
// G: the weight gradient's (float or double; fp32 accumulation for bf16).
#pragma once

#include <cstdint>

#include "cpu/gemm.h"

namespace tt::cpu {

template <class A>
void matmul_forward(A* out, const A* inp, const A* weight, int64_t M, int64_t K, int64_t N,
                    bool accumulate = false) {
  gemm(false, true, M, N, K, 1.0f, inp, K, weight, K, accumulate ? 1.0f : 0.0f, out, N);
}

template <class A, class G>
void matmul_backward(A* dinp, G* dweight, const A* dout, const A* inp, const A* weight, int64_t M, int64_t K,
                     int64_t N, bool accumulate_dinp) {
  if (dinp) gemm(false, false, M, K, N, 1.0f, dout, N, weight, K, accumulate_dinp ? 1.0f : 0.0f, dinp, K);
  if (dweight) gemm(true, false, N, K, M, 1.0f, dout, N, inp, K, 1.0f, dweight, K);
}

}  // namespace tt::cpu
