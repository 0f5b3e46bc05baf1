// SwiGLU on the stacked gate|up projection: gate_up [N, 2I] bf16 holds per row the gate g (columns 0..I-1)
// and the up projection u (I..2I-1); out [N, I] = silu(g) * u, silu(x) = x * sigmoid(x); math in fp32.
// CPU: src/cpu/swiglu.h.
//
//   forward : out = silu(g) u                                                        overwrite
//   backward: dg = dout u sigmoid(g) (1 + g (1 - sigmoid(g))),  du = dout silu(g)     dgate_up overwrite
//   Nothing saved (gate_up is the graph's saved activation). Grid-stride over the N * I outputs; each
//   thread reads its gate and up from the two halves of its row.
#include <cstdint>

#include "cuda/common.cuh"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_check.h"

namespace tt::cuda {
namespace {

__device__ __forceinline__ float sigmoid(float x) {
  return 1.0f / (1.0f + __expf(-x));
}

__global__ void swiglu_forward_kernel(bf16* out, const bf16* gate_up, int64_t N, int64_t I) {
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < N * I;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = idx / I, i = idx - n * I;
    const float g = to_f32(gate_up[n * 2 * I + i]), u = to_f32(gate_up[n * 2 * I + I + i]);
    out[idx] = __float2bfloat16_rn(g * sigmoid(g) * u);
  }
}

__global__ void swiglu_backward_kernel(bf16* dgate_up, const bf16* dout, const bf16* gate_up, int64_t N,
                                       int64_t I) {
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < N * I;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = idx / I, i = idx - n * I;
    const float g = to_f32(gate_up[n * 2 * I + i]), u = to_f32(gate_up[n * 2 * I + I + i]),
                dy = to_f32(dout[idx]);
    const float sg = sigmoid(g);
    dgate_up[n * 2 * I + i] = __float2bfloat16_rn(dy * u * sg * (1.0f + g * (1.0f - sg)));
    dgate_up[n * 2 * I + I + i] = __float2bfloat16_rn(dy * g * sg);
  }
}

constexpr int kThreads = 256;

}  // namespace

void CudaBackend::swiglu_forward_impl(Tensor out, Tensor gate_up) {
  OpScope scope(*this, Family::kSwiglu);
  const int64_t N = gate_up.rows, I = gate_up.cols / 2;
  swiglu_forward_kernel<<<grid_for(N * I, kThreads, ctx_), kThreads, 0, ctx_.stream>>>(
      out.data<bf16>(), gate_up.data<bf16>(), N, I);
  CUDA_CHECK_LAUNCH();
}

void CudaBackend::swiglu_backward_impl(Tensor dgate_up, Tensor dout, Tensor gate_up) {
  OpScope scope(*this, Family::kSwiglu);
  const int64_t N = gate_up.rows, I = gate_up.cols / 2;
  swiglu_backward_kernel<<<grid_for(N * I, kThreads, ctx_), kThreads, 0, ctx_.stream>>>(
      dgate_up.data<bf16>(), dout.data<bf16>(), gate_up.data<bf16>(), N, I);
  CUDA_CHECK_LAUNCH();
}

}  // namespace tt::cuda
