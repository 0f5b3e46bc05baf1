// Element-wise utilities: dtype conversion and fill. (CPU: cpu_backend.cpp, convert_host in model/dtype.h.)
//
//   convert : dst[i] = (dst dtype) src[i] for any pair of F32, F64, BF16, I32, same numel. Floats to
//             I32 truncate toward zero (C++ static_cast), to BF16 round to nearest even.
//   fill    : dst[i] = value in dst's dtype.
// One grid-stride kernel per dtype pair; nothing saved.
#include "cuda/common.cuh"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_check.h"

namespace tt::cuda {
namespace {

// Conversions go through double for F64/I32 endpoints and through float otherwise.
template <class D>
__device__ __forceinline__ D cast_to(double x);
template <>
__device__ __forceinline__ float cast_to<float>(double x) {
  return float(x);
}
template <>
__device__ __forceinline__ double cast_to<double>(double x) {
  return x;
}
template <>
__device__ __forceinline__ int32_t cast_to<int32_t>(double x) {
  return int32_t(x);
}
template <>
__device__ __forceinline__ bf16 cast_to<bf16>(double x) {
  return __float2bfloat16_rn(float(x));
}

__device__ __forceinline__ double as_double(float x) {
  return x;
}
__device__ __forceinline__ double as_double(double x) {
  return x;
}
__device__ __forceinline__ double as_double(int32_t x) {
  return x;
}
__device__ __forceinline__ double as_double(bf16 x) {
  return __bfloat162float(x);
}

template <class D, class S>
__global__ void convert_kernel(D* dst, const S* src, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = cast_to<D>(as_double(src[i]));
}
// float <-> bf16 directly (the common case; avoids fp64 math on the hot path).
template <>
__global__ void convert_kernel<bf16, float>(bf16* dst, const float* src, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = __float2bfloat16_rn(src[i]);
}
template <>
__global__ void convert_kernel<float, bf16>(float* dst, const bf16* src, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = __bfloat162float(src[i]);
}

template <class T>
__global__ void fill_kernel(T* dst, T value, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = value;
}

constexpr int kThreads = 256;

template <class D, class S>
void launch_convert(Ctx& ctx, Tensor dst, Tensor src) {
  const int64_t n = dst.numel();
  convert_kernel<D, S>
      <<<grid_for(n, kThreads, ctx), kThreads, 0, ctx.stream>>>(dst.data<D>(), src.data<S>(), n);
  CUDA_CHECK_LAUNCH();
}

template <class D>
void convert_from(Ctx& ctx, Tensor dst, Tensor src) {
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
void launch_fill(Ctx& ctx, Tensor dst, T value) {
  const int64_t n = dst.numel();
  fill_kernel<T><<<grid_for(n, kThreads, ctx), kThreads, 0, ctx.stream>>>(dst.data<T>(), value, n);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void CudaBackend::convert_impl(Tensor dst, Tensor src) {
  OpScope scope(*this, Family::kMemory);
  if (dst.dtype == src.dtype) {
    CUDA_CHECK(cudaMemcpyAsync(dst.ptr, src.ptr, dst.bytes(), cudaMemcpyDeviceToDevice, ctx_.stream));
    return;
  }
  switch (dst.dtype) {
    case DType::F32:
      return convert_from<float>(ctx_, dst, src);
    case DType::F64:
      return convert_from<double>(ctx_, dst, src);
    case DType::BF16:
      return convert_from<bf16>(ctx_, dst, src);
    case DType::I32:
      return convert_from<int32_t>(ctx_, dst, src);
  }
}

void CudaBackend::fill_impl(Tensor dst, double value) {
  OpScope scope(*this, Family::kMemory);
  switch (dst.dtype) {
    case DType::F32:
      return launch_fill<float>(ctx_, dst, float(value));
    case DType::F64:
      return launch_fill<double>(ctx_, dst, value);
    case DType::BF16:
      return launch_fill<bf16>(ctx_, dst, __float2bfloat16_rn(float(value)));
    case DType::I32:
      return launch_fill<int32_t>(ctx_, dst, int32_t(value));
  }
}

}  // namespace tt::cuda
