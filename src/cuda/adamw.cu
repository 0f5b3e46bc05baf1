// Deterministic reductions and the fused AdamW update (math: adamw.cuh).
#include <cmath>

#include "cuda/adamw.cuh"
#include "cuda/adamw_kernels.cuh"
#include "cuda/common.cuh"
#include "cuda/cuda_check.h"

namespace tt::cuda {
using namespace opt;
namespace {

template <bool kSquare>
void reduce(Ctx& ctx, Buf out, Buf x, int64_t n) {
  if (n == 0) {
    CUDA_CHECK(cudaMemsetAsync(out.ptr, 0, sizeof(float), ctx.stream));
    return;
  }
  // Enough blocks that each thread sums only a handful of values in fp32, capped for the final pass.
  int blocks = ceil_div(n, int64_t(kReduceThreads) * 8);
  blocks = blocks < kMaxPartials ? blocks : kMaxPartials;
  auto* partial = static_cast<double*>(ctx.scratch(Slot::kReducePartials, kMaxPartials * sizeof(double)));
  reduce_partial_kernel<kSquare><<<blocks, kReduceThreads, 0, ctx.stream>>>(partial, x.as<float>(), n);
  CUDA_CHECK_LAUNCH();
  reduce_final_kernel<<<1, kReduceThreads, 0, ctx.stream>>>(out.as<float>(), partial, blocks);
  CUDA_CHECK_LAUNCH();
}

struct AdamWParams {
  float lr, beta1, beta2, eps, decay_factor;  // decay_factor = 1 - lr*wd (or 1)
  float bias1, bias2;                         // 1 - beta^step
  float max_grad_norm;
};

__global__ void adamw_kernel(float* master, bf16* compute, const float* grads, float* m, float* v,
                             const float* grad_norm_sq, int64_t n, AdamWParams a) {
  float clip = 1.0f;
  if (a.max_grad_norm > 0.0f) {
    const float norm = sqrtf(grad_norm_sq[0]);
    clip = fminf(1.0f, a.max_grad_norm / (norm + 1e-6f));
  }
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float g = grads[i] * clip;
    float p = master[i] * a.decay_factor;
    const float mi = a.beta1 * m[i] + (1.0f - a.beta1) * g;
    const float vi = a.beta2 * v[i] + (1.0f - a.beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    p -= a.lr * (mi / a.bias1) / (sqrtf(vi / a.bias2) + a.eps);
    master[i] = p;
    if (compute) compute[i] = __float2bfloat16_rn(p);
  }
}

}  // namespace

void sum(Ctx& ctx, Buf out, Buf x, int64_t n) {
  reduce<false>(ctx, out, x, n);
}

void grad_norm_sq(Ctx& ctx, Buf out, Buf grads, int64_t n) {
  reduce<true>(ctx, out, grads, n);
}

void adamw_update(Ctx& ctx, Buf master, Buf compute, Buf grads, Buf m, Buf v, Buf grad_norm_sq, int64_t n,
                  const AdamWArgs& args, bool decay) {
  if (n == 0) return;
  AdamWParams a;
  a.lr = args.lr;
  a.beta1 = args.beta1;
  a.beta2 = args.beta2;
  a.eps = args.eps;
  a.decay_factor = decay ? float(1.0 - double(args.lr) * double(args.weight_decay)) : 1.0f;
  a.bias1 = float(1.0 - std::pow(double(args.beta1), double(args.step)));
  a.bias2 = float(1.0 - std::pow(double(args.beta2), double(args.step)));
  a.max_grad_norm = args.max_grad_norm;
  const int threads = 256;
  adamw_kernel<<<grid_for(n, threads, ctx), threads, 0, ctx.stream>>>(
      master.as<float>(), compute.empty() ? nullptr : compute.as<bf16>(), grads.as<float>(), m.as<float>(),
      v.as<float>(), grad_norm_sq.as<float>(), n, a);
  CUDA_CHECK_LAUNCH();
}

}  // namespace tt::cuda
