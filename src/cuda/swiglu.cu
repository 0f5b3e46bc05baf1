// SwiGLU forward/backward (math: swiglu.cuh). Grid-stride loops; the forward reads bf16x2 pairs
// when n is even and all pointers are 4-byte aligned, else it uses the scalar loop.
#include <cstdint>

#include "cuda/common.cuh"
#include "cuda/cuda_check.h"
#include "cuda/swiglu.cuh"
#include "cuda/swiglu_kernels.cuh"

namespace tt::cuda {
using namespace swi;
namespace {

bool aligned4(const void* p) {
  return (reinterpret_cast<uintptr_t>(p) & 3u) == 0;
}

}  // namespace

void swiglu_forward(Ctx& ctx, Buf out, Buf gate, Buf up, int64_t n) {
  if (n == 0) return;
  const int threads = 256;
  if (n % 2 == 0 && aligned4(out.ptr) && aligned4(gate.ptr) && aligned4(up.ptr)) {
    swiglu_forward_kernel2<<<grid_for(n / 2, threads, ctx), threads, 0, ctx.stream>>>(
        static_cast<__nv_bfloat162*>(out.ptr), static_cast<const __nv_bfloat162*>(gate.ptr),
        static_cast<const __nv_bfloat162*>(up.ptr), n / 2);
  } else {
    swiglu_forward_kernel<<<grid_for(n, threads, ctx), threads, 0, ctx.stream>>>(
        out.as<bf16>(), gate.as<bf16>(), up.as<bf16>(), n);
  }
  CUDA_CHECK_LAUNCH();
}

void swiglu_backward(Ctx& ctx, Buf dgate, Buf dup, Buf dout, Buf gate, Buf up, int64_t n) {
  if (n == 0) return;
  const int threads = 256;
  swiglu_backward_kernel<<<grid_for(n, threads, ctx), threads, 0, ctx.stream>>>(
      dgate.as<bf16>(), dup.as<bf16>(), dout.as<bf16>(), gate.as<bf16>(), up.as<bf16>(), n);
  CUDA_CHECK_LAUNCH();
}

}  // namespace tt::cuda
