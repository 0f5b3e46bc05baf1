// RoPE, rotate_half convention (HF Llama/Qwen3), in place allowed. CPU: src/cpu/rope.h.
//
//   Row n of x [N, H*D] uses row n % T of the fp32 tables cos, sin [P, D/2] (cos(p f_i), sin(p f_i),
//   f_i = theta^(-2i/D), made once on the host in fp64 by rope_tables(), so every backend rotates by
//   the same angles and no kernel needs fp64). For head h and i < D/2:
//     forward : out[i] = x[i] c - x[i+D/2] s;      out[i+D/2] = x[i+D/2] c + x[i] s
//     backward: dinp[i] = dy[i] c + dy[i+D/2] s;   dinp[i+D/2] = dy[i+D/2] c - dy[i] s     (R^T)
//   bf16 in/out, overwrite; nothing saved. One thread per rotated pair (n, h, i).
#include "cuda/common.cuh"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_check.h"

namespace tt::cuda {
namespace {

__global__ void rope_kernel(bf16* out, const bf16* inp, const float* cos, const float* sin, int64_t N,
                            int64_t T, int64_t H, int64_t half, float sign) {
  const int64_t total = N * H * half;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = idx % half;
    const int64_t nh = idx / half;  // n * H + h
    const int64_t pos = (nh / H) % T;
    const float c = cos[pos * half + i], s = sign * sin[pos * half + i];
    const int64_t base = nh * 2 * half;
    const float x1 = to_f32(inp[base + i]);
    const float x2 = to_f32(inp[base + i + half]);
    out[base + i] = __float2bfloat16_rn(x1 * c - x2 * s);
    out[base + i + half] = __float2bfloat16_rn(x2 * c + x1 * s);
  }
}

// sign = +1: forward rotation by +angle; sign = -1: the transpose (rotation by -angle).
void launch(Ctx& ctx, Tensor out, Tensor inp, Tensor cos, Tensor sin, int64_t T, float sign) {
  const int64_t half = cos.cols, H = inp.cols / (2 * half);
  const int64_t total = inp.rows * H * half;
  const int threads = 256;
  rope_kernel<<<grid_for(total, threads, ctx), threads, 0, ctx.stream>>>(
      out.data<bf16>(), inp.data<bf16>(), cos.data<float>(), sin.data<float>(), inp.rows, T, H, half, sign);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void CudaBackend::rope_forward_impl(Tensor out, Tensor inp, Tensor cos, Tensor sin, int64_t seq_len) {
  OpScope scope(*this, Family::kRope);
  launch(ctx_, out, inp, cos, sin, seq_len, 1.0f);
}

void CudaBackend::rope_backward_impl(Tensor dinp, Tensor dout, Tensor cos, Tensor sin, int64_t seq_len) {
  OpScope scope(*this, Family::kRope);
  launch(ctx_, dinp, dout, cos, sin, seq_len, -1.0f);
}

}  // namespace tt::cuda
