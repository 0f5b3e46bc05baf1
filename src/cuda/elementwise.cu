// Element-wise utilities: dtype conversion and fill. (CPU: cpu_backend.cpp; convert_host, model/dtype.h.)
//
//   convert : dst[i] = (dst dtype) src[i] for any pair of F32, F64, BF16, I32, same numel. Floats to
//             I32 truncate toward zero (C++ static_cast), to BF16 round to nearest even.
//   fill    : dst[i] = value in dst's dtype.
// One grid-stride kernel per dtype pair, 16-byte accesses over the aligned body and scalar ones for the
// tail (n not a multiple of the unit); nothing saved.
#include <type_traits>

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

// Float <-> bf16 directly (the common case; no fp64 math on the hot path), everything else through double.
template <class D, class S>
__device__ __forceinline__ D convert_value(S x) {
  if constexpr (std::is_same_v<D, bf16> && std::is_same_v<S, float>)
    return __float2bfloat16_rn(x);
  else if constexpr (std::is_same_v<D, float> && std::is_same_v<S, bf16>)
    return __bfloat162float(x);
  else
    return cast_to<D>(as_double(x));
}

// The first `units` * 8 elements as Pack units of 8 (16-byte accesses; the launcher sets units = 0 unless
// both pointers are 16-byte aligned), the rest one element at a time.
template <class D, class S>
__global__ void convert_kernel(D* dst, const S* src, int64_t n, int64_t units) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x,
                first = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  const Pack<S, 8>* s8 = reinterpret_cast<const Pack<S, 8>*>(src);
  Pack<D, 8>* d8 = reinterpret_cast<Pack<D, 8>*>(dst);
  for (int64_t u = first; u < units; u += stride) {
    const Pack<S, 8> x = s8[u];
    Pack<D, 8> y;
#pragma unroll
    for (int e = 0; e < 8; ++e) y.v[e] = convert_value<D>(x.v[e]);
    d8[u] = y;
  }
  for (int64_t i = units * 8 + first; i < n; i += stride) dst[i] = convert_value<D>(src[i]);
}

// As convert_kernel: `units` 16-byte words of the repeated value, then the tail.
template <class T>
__global__ void fill_kernel(T* dst, T value, int64_t n, int64_t units) {
  constexpr int kN = 16 / sizeof(T);
  const int64_t stride = int64_t(gridDim.x) * blockDim.x,
                first = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  Pack<T, kN> word;
#pragma unroll
  for (int e = 0; e < kN; ++e) word.v[e] = value;
  Pack<T, kN>* d = reinterpret_cast<Pack<T, kN>*>(dst);
  for (int64_t u = first; u < units; u += stride) d[u] = word;
  for (int64_t i = units * kN + first; i < n; i += stride) dst[i] = value;
}

constexpr int kThreads = 256;

// Whole units of per_unit elements only when every pointer is 16-byte aligned.
int64_t aligned_units(int64_t n, int64_t per_unit, std::initializer_list<const void*> ptrs) {
  return aligned16(ptrs) ? n / per_unit : 0;
}

template <class D, class S>
void launch_convert(Ctx& ctx, Tensor dst, Tensor src) {
  const int64_t n = dst.numel(), units = aligned_units(n, 8, {dst.ptr, src.ptr});
  convert_kernel<D, S><<<grid_for(units > 0 ? units : n, kThreads, ctx), kThreads, 0, ctx.stream>>>(
      dst.data<D>(), src.data<S>(), n, units);
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
  const int64_t n = dst.numel(), units = aligned_units(n, 16 / int64_t(sizeof(T)), {dst.ptr});
  fill_kernel<T><<<grid_for(units > 0 ? units : n, kThreads, ctx), kThreads, 0, ctx.stream>>>(
      dst.data<T>(), value, n, units);
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
