// matmul: a bias-free nn.Linear on cuBLASLt (bf16 operands, fp32 accumulation).
//
//   forward : out[M,N]  = inp[M,K] @ weight[N,K]^T          out bf16, overwrite (or += if accumulate)
//   backward: dinp[M,K] = dout[M,N] @ weight[N,K]           bf16, overwrite or += (accumulate_dinp)
//             dweight[N,K] += dout[M,N]^T @ inp[M,K]        fp32 (grad_dtype), always accumulate (beta=1)
//   Nothing is saved beyond the inputs.
//
// Row-major -> column-major (gemm_layout.h, unit-tested without a GPU): cuBLAS sees a row-major [r,c] matrix
// as a column-major [c,r] one (its transpose), so row-major C = op(A) op(B) is computed as column-major C^T =
// op(B)^T op(A)^T, i.e. cuBLAS "A" is our B and cuBLAS "B" is our A, with m = N, n = M. gemm_rm() does this
// mapping once; everything else speaks row-major. The accumulation (beta = 1 into C = D) is the one epilogue
// that removes a pass here (no bias, no activation in this model's linears).
#pragma once

#include <cstdint>

#include "cuda/context.h"

namespace tt::cuda {

// Row-major C[M,N] (= or +=) op(A) @ op(B). A is [M,K] ([K,M] when trans_a), B is [K,N] ([N,K] when
// trans_b); A and B bf16 with leading dimensions equal to their row lengths. C is BF16 or F32.
void gemm_rm(Ctx& ctx, void* c, DType c_dtype, const void* a, bool trans_a, const void* b, bool trans_b,
             int64_t M, int64_t N, int64_t K, bool accumulate);

void matmul_forward(Ctx& ctx, Buf out, Buf inp, Buf weight, int64_t M, int64_t K, int64_t N, bool accumulate);
void matmul_backward(Ctx& ctx, Buf dinp, Buf dweight, Buf dout, Buf inp, Buf weight, int64_t M, int64_t K,
                     int64_t N, bool accumulate_dinp);

// Destroys the cached cuBLASLt descriptors made for `ctx.lt`.
void gemm_cache_clear(Ctx& ctx);

}  // namespace tt::cuda
