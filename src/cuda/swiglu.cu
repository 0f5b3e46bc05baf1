// SwiGLU on the stacked gate|up projection: gate_up [N, 2I] bf16 holds per row the gate g (columns 0..I-1)
// and the up projection u (I..2I-1); out [N, I] = silu(g) * u, silu(x) = x * sigmoid(x); math in fp32.
// CPU: src/cpu/swiglu.h.
//
//   forward : out = silu(g) u                                                        overwrite
//   backward: dg = dout u sigmoid(g) (1 + g (1 - sigmoid(g))),  du = dout silu(g)     dgate_up overwrite
//   Nothing saved (gate_up is the graph's saved activation). Grid-stride over the outputs in units of 8 bf16
//   (16-byte accesses) when I % 8 == 0, else one element at a time; each thread reads its gate and up units
//   from the two halves of its row.
#include <cstdint>

#include "cuda/common.cuh"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_check.h"

namespace tt::cuda {
namespace {

__device__ __forceinline__ float sigmoid(float x) {
  return 1.0f / (1.0f + __expf(-x));
}

// Grid-stride over the N * I / kN output units of kN bf16 (kN = 8: I % 8 == 0 and 16-byte aligned tensors).
template <int kN>
__global__ void swiglu_forward_kernel(bf16* out, const bf16* gate_up, int64_t N, int64_t I) {
  using U = Bf16s<kN>;
  const int64_t Iu = I / kN;
  const U* gu = reinterpret_cast<const U*>(gate_up);
  U* o = reinterpret_cast<U*>(out);
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < N * Iu;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = idx / Iu, i = idx - n * Iu;
    const U gv = gu[n * 2 * Iu + i], uv = gu[n * 2 * Iu + Iu + i];
    U r;
#pragma unroll
    for (int e = 0; e < kN; ++e) {
      const float g = to_f32(gv.v[e]);
      r.v[e] = __float2bfloat16_rn(g * sigmoid(g) * to_f32(uv.v[e]));
    }
    o[idx] = r;
  }
}

template <int kN>
__global__ void swiglu_backward_kernel(bf16* dgate_up, const bf16* dout, const bf16* gate_up, int64_t N,
                                       int64_t I) {
  using U = Bf16s<kN>;
  const int64_t Iu = I / kN;
  const U* gu = reinterpret_cast<const U*>(gate_up);
  const U* dy = reinterpret_cast<const U*>(dout);
  U* dgu = reinterpret_cast<U*>(dgate_up);
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < N * Iu;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = idx / Iu, i = idx - n * Iu;
    const U gv = gu[n * 2 * Iu + i], uv = gu[n * 2 * Iu + Iu + i], dyv = dy[idx];
    U dg, du;
#pragma unroll
    for (int e = 0; e < kN; ++e) {
      const float g = to_f32(gv.v[e]), u = to_f32(uv.v[e]), d = to_f32(dyv.v[e]);
      const float sg = sigmoid(g);
      dg.v[e] = __float2bfloat16_rn(d * u * sg * (1.0f + g * (1.0f - sg)));
      du.v[e] = __float2bfloat16_rn(d * g * sg);
    }
    dgu[n * 2 * Iu + i] = dg;
    dgu[n * 2 * Iu + Iu + i] = du;
  }
}

constexpr int kThreads = 256;

}  // namespace

void CudaBackend::swiglu_forward_impl(Tensor out, Tensor gate_up) {
  OpScope scope(*this, Family::kSwiglu);
  const int64_t N = gate_up.rows, I = gate_up.cols / 2;
  const bool vec = can_vec_load(I, {out.ptr, gate_up.ptr});
  const auto kernel = vec ? swiglu_forward_kernel<8> : swiglu_forward_kernel<1>;
  kernel<<<grid_for(N * I / (vec ? 8 : 1), kThreads, ctx_), kThreads, 0, ctx_.stream>>>(
      out.data<bf16>(), gate_up.data<bf16>(), N, I);
  CUDA_CHECK_LAUNCH();
}

void CudaBackend::swiglu_backward_impl(Tensor dgate_up, Tensor dout, Tensor gate_up) {
  OpScope scope(*this, Family::kSwiglu);
  const int64_t N = gate_up.rows, I = gate_up.cols / 2;
  const bool vec = can_vec_load(I, {dgate_up.ptr, dout.ptr, gate_up.ptr});
  const auto kernel = vec ? swiglu_backward_kernel<8> : swiglu_backward_kernel<1>;
  kernel<<<grid_for(N * I / (vec ? 8 : 1), kThreads, ctx_), kThreads, 0, ctx_.stream>>>(
      dgate_up.data<bf16>(), dout.data<bf16>(), gate_up.data<bf16>(), N, I);
  CUDA_CHECK_LAUNCH();
}

}  // namespace tt::cuda
