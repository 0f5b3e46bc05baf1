// SwiGLU: out = silu(gate) * up, silu(x) = x * sigmoid(x). All bf16, math in fp32. CPU: src/cpu/swiglu.h.
//
//   forward : out = silu(g) u                                                          overwrite
//   backward: dgate = dout u sigmoid(g) (1 + g (1 - sigmoid(g))),  dup = dout silu(g)   overwrite
//   Nothing saved (gate and up are the graph's saved activations). The forward reads bf16x2 pairs when
//   n is even and all pointers are 4-byte aligned, else it uses the scalar loop.
#include <cstdint>

#include "cuda/common.cuh"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_check.h"

namespace tt::cuda {
namespace {

__device__ __forceinline__ float sigmoid(float x) {
  return 1.0f / (1.0f + __expf(-x));
}

__global__ void swiglu_forward_kernel(bf16* out, const bf16* gate, const bf16* up, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float g = to_f32(gate[i]);
    out[i] = __float2bfloat16_rn(g * sigmoid(g) * to_f32(up[i]));
  }
}

__global__ void swiglu_forward_kernel2(__nv_bfloat162* out, const __nv_bfloat162* gate,
                                       const __nv_bfloat162* up, int64_t n2) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n2;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float2 g = __bfloat1622float2(gate[i]);
    const float2 u = __bfloat1622float2(up[i]);
    out[i] = __floats2bfloat162_rn(g.x * sigmoid(g.x) * u.x, g.y * sigmoid(g.y) * u.y);
  }
}

__global__ void swiglu_backward_kernel(bf16* dgate, bf16* dup, const bf16* dout, const bf16* gate,
                                       const bf16* up, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float g = to_f32(gate[i]), u = to_f32(up[i]), dy = to_f32(dout[i]);
    const float sg = sigmoid(g);
    const float silu = g * sg;
    dgate[i] = __float2bfloat16_rn(dy * u * sg * (1.0f + g * (1.0f - sg)));
    dup[i] = __float2bfloat16_rn(dy * silu);
  }
}

bool aligned4(const void* p) {
  return (reinterpret_cast<uintptr_t>(p) & 3u) == 0;
}

constexpr int kThreads = 256;

}  // namespace

void CudaBackend::swiglu_forward_impl(Tensor out, Tensor gate, Tensor up) {
  OpScope scope(*this, Family::kSwiglu);
  const int64_t n = gate.numel();
  if (n % 2 == 0 && aligned4(out.ptr) && aligned4(gate.ptr) && aligned4(up.ptr)) {
    swiglu_forward_kernel2<<<grid_for(n / 2, kThreads, ctx_), kThreads, 0, ctx_.stream>>>(
        static_cast<__nv_bfloat162*>(out.ptr), static_cast<const __nv_bfloat162*>(gate.ptr),
        static_cast<const __nv_bfloat162*>(up.ptr), n / 2);
  } else {
    swiglu_forward_kernel<<<grid_for(n, kThreads, ctx_), kThreads, 0, ctx_.stream>>>(
        out.data<bf16>(), gate.data<bf16>(), up.data<bf16>(), n);
  }
  CUDA_CHECK_LAUNCH();
}

void CudaBackend::swiglu_backward_impl(Tensor dgate, Tensor dup, Tensor dout, Tensor gate, Tensor up) {
  OpScope scope(*this, Family::kSwiglu);
  const int64_t n = gate.numel();
  swiglu_backward_kernel<<<grid_for(n, kThreads, ctx_), kThreads, 0, ctx_.stream>>>(
      dgate.data<bf16>(), dup.data<bf16>(), dout.data<bf16>(), gate.data<bf16>(), up.data<bf16>(), n);
  CUDA_CHECK_LAUNCH();
}

}  // namespace tt::cuda
