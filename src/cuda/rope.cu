// RoPE forward/backward (math: rope.cuh). One thread per rotated pair (n, h, i).
#include <cmath>

#include "cuda/common.cuh"
#include "cuda/cuda_check.h"
#include "cuda/rope.cuh"
#include "cuda/rope_kernels.cuh"

namespace tt::cuda {
using namespace rope;
namespace {

// sign = +1: forward rotation by +angle; sign = -1: the transpose (rotation by -angle).
void launch(Ctx& ctx, Buf out, Buf inp, int64_t N, int64_t T, int64_t H, int64_t D, double theta,
            int64_t pos_offset, float sign) {
  const int64_t total = N * H * (D / 2);
  if (total == 0) return;
  const int threads = 256;
  rope_kernel<<<grid_for(total, threads, ctx), threads, 0, ctx.stream>>>(
      out.as<bf16>(), inp.as<bf16>(), N, T, H, D, std::log2(theta), pos_offset, sign);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void rope_forward(Ctx& ctx, Buf out, Buf inp, int64_t N, int64_t T, int64_t H, int64_t D, double theta,
                  int64_t pos_offset) {
  launch(ctx, out, inp, N, T, H, D, theta, pos_offset, 1.0f);
}

void rope_backward(Ctx& ctx, Buf dinp, Buf dout, int64_t N, int64_t T, int64_t H, int64_t D, double theta,
                   int64_t pos_offset) {
  launch(ctx, dinp, dout, N, T, H, D, theta, pos_offset, -1.0f);
}

}  // namespace tt::cuda
