// Reductions and the optimizer (CPU: src/cpu/adamw.h).
//
//   sum          : out[0] = sum_i x[i]          x fp32 [n]; out fp32 scalar, overwrite
//   grad_norm_sq : out[0] = sum_i g[i]^2        g fp32 [n]; out fp32 scalar, overwrite
//     Two deterministic passes, no host sync: a fixed grid of blocks writes fp64 partials
//     (per-thread fp32 over a few elements, then fp64 block trees), one block sums them in order.
//   adamw_update : torch.optim.AdamW with HF-style global clipping for one contiguous segment; this step's
//     lr and step are read from lr_step on the device
//     clip = max_grad_norm > 0 ? min(1, max_grad_norm / (sqrt(grad_norm_sq[0]) + 1e-6)) : 1
//     g = clip*grad; p -= lr*wd*p (if decay); m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2
//     (1-b formed in fp64 on the host, then rounded, as torch does)
//     p -= lr * (m / (1-b1^step)) / (sqrt(v / (1-b2^step)) + eps)
//     master, m, v fp32 (update in place); grads fp32; grad_norm_sq read on the device;
//     compute (optional) receives bf16(p). The clip factor is computed in the kernel.
#include <cmath>

#include "cuda/common.cuh"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_check.h"

namespace tt::cuda {
namespace {

constexpr int kReduceThreads = 256;
constexpr int kMaxPartials = 1024;

template <bool kSquare>
__global__ void reduce_partial_kernel(double* partial, const float* x, int64_t n) {
  __shared__ double sh[32];
  float acc = 0.0f;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float v = x[i];
    acc += kSquare ? v * v : v;
  }
  const double total = block_sum<double>(double(acc), sh);
  if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

__global__ void reduce_final_kernel(float* out, const double* partial, int count) {
  __shared__ double sh[32];
  double acc = 0.0;
  for (int i = threadIdx.x; i < count; i += blockDim.x) acc += partial[i];
  const double total = block_sum<double>(acc, sh);
  if (threadIdx.x == 0) out[0] = float(total);
}

struct AdamWParams {
  float beta1, one_minus_beta1, beta2, one_minus_beta2, eps;
  double beta1_fp64, beta2_fp64, weight_decay;
  float max_grad_norm;
  bool decay;
};

// lr_step = {lr, step} on the device (written before the update, so a replayed graph follows the schedule).
// The bias corrections 1 - beta^step are formed in fp64 from the fp64 betas, as torch does on the host.
__global__ void adamw_kernel(float* master, bf16* compute, const float* grads, float* m, float* v,
                             const float* grad_norm_sq, const float* lr_step, int64_t n, AdamWParams a) {
  float clip = 1.0f;
  if (a.max_grad_norm > 0.0f) {
    const float norm = sqrtf(grad_norm_sq[0]);
    clip = fminf(1.0f, a.max_grad_norm / (norm + 1e-6f));
  }
  const float lr = lr_step[0];
  const double step = double(lr_step[1]);
  const float bias1 = float(1.0 - pow(a.beta1_fp64, step));
  const float bias2 = float(1.0 - pow(a.beta2_fp64, step));
  const float decay_factor = a.decay ? float(1.0 - double(lr) * a.weight_decay) : 1.0f;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float g = grads[i] * clip;
    float p = master[i] * decay_factor;
    const float mi = a.beta1 * m[i] + a.one_minus_beta1 * g;
    const float vi = a.beta2 * v[i] + a.one_minus_beta2 * g * g;
    m[i] = mi;
    v[i] = vi;
    p -= lr * (mi / bias1) / (sqrtf(vi / bias2) + a.eps);
    master[i] = p;
    if (compute) compute[i] = __float2bfloat16_rn(p);
  }
}

template <bool kSquare>
void reduce(Ctx& ctx, Tensor out, Tensor x) {
  const int64_t n = x.numel();
  if (n == 0) {
    CUDA_CHECK(cudaMemsetAsync(out.ptr, 0, sizeof(float), ctx.stream));
    return;
  }
  // Enough blocks that each thread sums only a handful of values in fp32, capped for the final pass.
  int blocks = ceil_div(n, int64_t(kReduceThreads) * 8);
  blocks = blocks < kMaxPartials ? blocks : kMaxPartials;
  auto* partial = static_cast<double*>(ctx.scratch(Slot::kReducePartials, kMaxPartials * sizeof(double)));
  reduce_partial_kernel<kSquare><<<blocks, kReduceThreads, 0, ctx.stream>>>(partial, x.data<float>(), n);
  CUDA_CHECK_LAUNCH();
  reduce_final_kernel<<<1, kReduceThreads, 0, ctx.stream>>>(out.data<float>(), partial, blocks);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

SlotBytes reduce_scratch() {
  SlotBytes s{};
  s[size_t(Slot::kReducePartials)] = kMaxPartials * sizeof(double);
  return s;
}

void CudaBackend::sum_impl(Tensor out, Tensor x) {
  OpScope scope(*this, Family::kReduce);
  reduce<false>(ctx_, out, x);
}

void CudaBackend::grad_norm_sq_impl(Tensor out, Tensor grads) {
  OpScope scope(*this, Family::kReduce);
  reduce<true>(ctx_, out, grads);
}

void CudaBackend::adamw_update_impl(Tensor master, Tensor compute, Tensor grads, Tensor exp_avg,
                                    Tensor exp_avg_sq, Tensor grad_norm_sq, Tensor lr_step,
                                    const AdamWConfig& config, bool decay) {
  OpScope scope(*this, Family::kAdamw);
  const int64_t n = master.numel();
  const AdamWParams a{.beta1 = float(config.beta1),
                      .one_minus_beta1 = float(1.0 - config.beta1),
                      .beta2 = float(config.beta2),
                      .one_minus_beta2 = float(1.0 - config.beta2),
                      .eps = float(config.eps),
                      .beta1_fp64 = config.beta1,
                      .beta2_fp64 = config.beta2,
                      .weight_decay = config.weight_decay,
                      .max_grad_norm = float(config.max_grad_norm),
                      .decay = decay};
  const int threads = 256;
  adamw_kernel<<<grid_for(n, threads, ctx_), threads, 0, ctx_.stream>>>(
      master.data<float>(), compute.empty() ? nullptr : compute.data<bf16>(), grads.data<float>(),
      exp_avg.data<float>(), exp_avg_sq.data<float>(), grad_norm_sq.data<float>(), lr_step.data<float>(), n,
      a);
  CUDA_CHECK_LAUNCH();
}

}  // namespace tt::cuda
