// Element-wise kernels (device code), separate from the launchers so that tests/cuda/emu can run them on
// the CPU. Math: element-wise.cuh.
#pragma once

#include <cmath>
#include <cstdint>

#include "cuda/common.cuh"

namespace tt::cuda::ew {

template <class T>
__global__ void add_kernel(T* out, const T* a, const T* b, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = from_f32<T>(to_f32(a[i]) + to_f32(b[i]));
}

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
// float -> bf16 directly (the common case; avoids fp64 math on the hot path).
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

}  // namespace tt::cuda::ew
