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
