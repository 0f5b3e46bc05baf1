// Flash-style causal GQA attention kernels (math and work split: attention.cuh).
//
// Thread layout: blockDim = g.rows * G. Thread (row = tid / G, t = tid % G) owns the float4 chunks
// t, t + G, t + 2G, t + 3G of its row (dims 4*(c*G + t) .. +3), so for a fixed chunk the G threads
// of a row read consecutive float4s of a shared-memory row (no bank conflicts), and the 32 / G rows
// of a warp read the same address (broadcast). Partial dot products are summed across the G lanes
// with xor shuffles (G divides 32, so groups never straddle warps and every lane participates).
#include <cmath>

#include "common/check.h"
#include "cuda/attention.cuh"
#include "cuda/attention_kernels.cuh"
#include "cuda/common.cuh"
#include "cuda/cuda_check.h"

namespace tt::cuda {
using namespace attn;
namespace {

// Dynamic shared memory of one attention block. Without opting in through cudaFuncSetAttribute a launch may
// use 48 KiB; head_dim 128 uses exactly that (and no static shared memory), so anything larger would fail
// at launch as a bare "invalid argument": name the cause here instead.
size_t launch_smem(const Geom& g, int extra_per_row) {
  const size_t bytes = smem_bytes(g, extra_per_row);
  TT_CHECK(bytes <= 48 * 1024) << "CUDA attention: head_dim " << g.D << " needs " << bytes
                               << " bytes of shared memory per block, over the 48 KiB default";
  return bytes;
}

void launch_forward(Ctx& ctx, bf16* out, float* lse, const bf16* q, const bf16* k, const bf16* v, int64_t B,
                    const Geom& g) {
  if (B * g.Tq == 0) return;
  const dim3 grid(unsigned(B * g.Hq), unsigned(ceil_div(g.Tq, g.rows)));
  attention_forward_kernel<<<grid, kThreads, launch_smem(g, 0), ctx.stream>>>(out, lse, q, k, v, g);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void attention_forward(Ctx& ctx, Buf out, Buf lse, Buf q, Buf k, Buf v, int64_t B, int64_t T, int64_t Hq,
                       int64_t Hkv, int64_t D) {
  Geom g = make_geom(Hq, Hkv, D, T, T, 0, 0);
  g.vec_loads = can_vec_load(D, {q.ptr, k.ptr, v.ptr});
  launch_forward(ctx, out.as<bf16>(), lse.empty() ? nullptr : lse.as<float>(), q.as<bf16>(), k.as<bf16>(),
                 v.as<bf16>(), B, g);
}

void attention_backward(Ctx& ctx, Buf dq, Buf dk, Buf dv, Buf dout, Buf out, Buf lse, Buf q, Buf k, Buf v,
                        int64_t B, int64_t T, int64_t Hq, int64_t Hkv, int64_t D) {
  if (B * T == 0) return;
  auto* delta = static_cast<float*>(ctx.scratch(Slot::kAttnDelta, size_t(B * Hq * T) * sizeof(float)));
  {
    const int64_t threads = B * T * Hq * 32;
    attention_delta_kernel<<<ceil_div(threads, 256), 256, 0, ctx.stream>>>(delta, dout.as<bf16>(),
                                                                           out.as<bf16>(), B * T, T, Hq, D);
    CUDA_CHECK_LAUNCH();
  }
  {
    Geom g = make_geom(Hq, Hkv, D, T, T, 0, 0);
    g.vec_loads = can_vec_load(D, {k.ptr, v.ptr});
    const dim3 grid(unsigned(B * Hq), unsigned(ceil_div(T, g.rows)));
    attention_backward_dq_kernel<<<grid, kThreads, launch_smem(g, 0), ctx.stream>>>(
        dq.as<bf16>(), delta, lse.as<float>(), dout.as<bf16>(), q.as<bf16>(), k.as<bf16>(), v.as<bf16>(), g);
    CUDA_CHECK_LAUNCH();
  }
  {
    Geom g = make_geom(Hq, Hkv, D, T, T, 0, 2);
    g.vec_loads = can_vec_load(D, {q.ptr, dout.ptr});
    const dim3 grid(unsigned(B * Hkv), unsigned(ceil_div(T, g.rows)));
    attention_backward_dkdv_kernel<<<grid, kThreads, launch_smem(g, 2), ctx.stream>>>(
        dk.as<bf16>(), dv.as<bf16>(), delta, lse.as<float>(), dout.as<bf16>(), q.as<bf16>(), k.as<bf16>(),
        v.as<bf16>(), g);
    CUDA_CHECK_LAUNCH();
  }
}

void attention_infer(Ctx& ctx, Buf out, Buf q, Buf k_cache, Buf v_cache, int64_t Tq, int64_t Tkv, int64_t Hq,
                     int64_t Hkv, int64_t D) {
  TT_CHECK(Tq <= Tkv) << "attention_infer: Tq (" << Tq << ") > Tkv (" << Tkv << ")";
  Geom g = make_geom(Hq, Hkv, D, Tq, Tkv, Tkv - Tq, 0);
  g.vec_loads = can_vec_load(D, {k_cache.ptr, v_cache.ptr});
  launch_forward(ctx, out.as<bf16>(), nullptr, q.as<bf16>(), k_cache.as<bf16>(), v_cache.as<bf16>(), 1, g);
}

}  // namespace tt::cuda
