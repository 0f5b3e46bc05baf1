// add / convert / fill kernels (math: elementwise.cuh). One tiny templated kernel per dtype pair.
#include "common/check.h"
#include "cuda/common.cuh"
#include "cuda/cuda_check.h"
#include "cuda/elementwise.cuh"
#include "cuda/elementwise_kernels.cuh"

namespace tt::cuda {
using namespace ew;
namespace {

template <class D, class S>
void launch_convert(Ctx& ctx, Buf dst, Buf src) {
  const int threads = 256;
  const int64_t n = int64_t(dst.numel);
  convert_kernel<D, S><<<grid_for(n, threads, ctx), threads, 0, ctx.stream>>>(dst.as<D>(), src.as<S>(), n);
  CUDA_CHECK_LAUNCH();
}

template <class D>
void convert_from(Ctx& ctx, Buf dst, Buf src) {
  switch (src.dtype) {
    case DType::F32:
      return launch_convert<D, float>(ctx, dst, src);
    case DType::F64:
      return launch_convert<D, double>(ctx, dst, src);
    case DType::BF16:
      return launch_convert<D, bf16>(ctx, dst, src);
    case DType::I32:
      return launch_convert<D, int32_t>(ctx, dst, src);
  }
}

template <class T>
void launch_fill(Ctx& ctx, Buf dst, T value) {
  const int threads = 256;
  const int64_t n = int64_t(dst.numel);
  fill_kernel<T><<<grid_for(n, threads, ctx), threads, 0, ctx.stream>>>(dst.as<T>(), value, n);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void add(Ctx& ctx, Buf out, Buf a, Buf b, int64_t n) {
  if (n == 0) return;
  const int threads = 256;
  if (out.dtype == DType::BF16)
    add_kernel<bf16><<<grid_for(n, threads, ctx), threads, 0, ctx.stream>>>(out.as<bf16>(), a.as<bf16>(),
                                                                            b.as<bf16>(), n);
  else
    add_kernel<float><<<grid_for(n, threads, ctx), threads, 0, ctx.stream>>>(out.as<float>(), a.as<float>(),
                                                                             b.as<float>(), n);
  CUDA_CHECK_LAUNCH();
}

void convert(Ctx& ctx, Buf dst, Buf src) {
  if (dst.numel == 0) return;
  if (dst.dtype == src.dtype) {
    CUDA_CHECK(cudaMemcpyAsync(dst.ptr, src.ptr, dst.bytes(), cudaMemcpyDeviceToDevice, ctx.stream));
    return;
  }
  switch (dst.dtype) {
    case DType::F32:
      return convert_from<float>(ctx, dst, src);
    case DType::F64:
      return convert_from<double>(ctx, dst, src);
    case DType::BF16:
      return convert_from<bf16>(ctx, dst, src);
    case DType::I32:
      return convert_from<int32_t>(ctx, dst, src);
  }
}

void fill(Ctx& ctx, Buf dst, double value) {
  if (dst.numel == 0) return;
  switch (dst.dtype) {
    case DType::F32:
      return launch_fill<float>(ctx, dst, float(value));
    case DType::F64:
      return launch_fill<double>(ctx, dst, value);
    case DType::BF16:
      return launch_fill<bf16>(ctx, dst, __float2bfloat16_rn(float(value)));
    case DType::I32:
      return launch_fill<int32_t>(ctx, dst, int32_t(value));
  }
}

}  // namespace tt::cuda
