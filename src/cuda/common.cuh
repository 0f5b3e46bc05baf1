// Device-side helpers shared by the op kernels: bf16 <-> fp32, warp/block reductions.
// All arithmetic happens in fp32 (or fp64 for the global reductions); bf16 is a storage format.
// With TT_CUDA_EMULATION defined (tests only) the CUDA builtins come from tests/cuda/emu/cuda_emu.h.
#pragma once

#include <cstdint>
#include <initializer_list>

#ifdef TT_CUDA_EMULATION
#include "cuda_emu.h"  // tests/cuda/emu: runs these kernels on the CPU
#define TT_DYNAMIC_SHARED(type, name) type* name = ::tt::emu::dynamic_shared<type>()
#else
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#define TT_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#endif

namespace tt::cuda {

using bf16 = __nv_bfloat16;

__device__ __forceinline__ float to_f32(bf16 x) {
  return __bfloat162float(x);
}
__device__ __forceinline__ float to_f32(float x) {
  return x;
}
__device__ __forceinline__ float to_f32(double x) {
  return float(x);
}
__device__ __forceinline__ float to_f32(int32_t x) {
  return float(x);
}

template <class T>
__device__ __forceinline__ T from_f32(float x);
template <>
__device__ __forceinline__ float from_f32<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ bf16 from_f32<bf16>(float x) {
  return __float2bfloat16_rn(x);
}

// bf16 pairs packed in a 32-bit word (element 2e in the low half: little-endian), unpacked with
// shifts rather than pointer casts (no type punning of locals).
__device__ __forceinline__ float bf16_lo(unsigned w) {
  return __uint_as_float(w << 16);
}
__device__ __forceinline__ float bf16_hi(unsigned w) {
  return __uint_as_float(w & 0xffff0000u);
}
__device__ __forceinline__ unsigned pack_bf16x2(float lo, float hi) {
  return unsigned(__bfloat16_as_ushort(__float2bfloat16_rn(lo))) |
         (unsigned(__bfloat16_as_ushort(__float2bfloat16_rn(hi))) << 16);
}

// kN consecutive values of T loaded or stored as one aligned object: with kN = 8, 16-byte accesses (one for
// a 2-byte T, two for 4 bytes, four for double: the memory-bound kernels' unit); with kN = 1, a plain
// scalar access (the path for rows whose length is not a multiple of 8, and for the tails of flat arrays).
// Element e of the object is element kN * u + e of the array read as Pack units u.
template <class T, int kN>
struct alignas(kN * sizeof(T) >= 16 ? 16 : sizeof(T)) Pack {
  T v[kN];
};
template <int kN>
using Bf16s = Pack<bf16, kN>;

inline bool aligned16(std::initializer_list<const void*> ptrs) {
  for (const void* p : ptrs)
    if (reinterpret_cast<uintptr_t>(p) % 16 != 0) return false;
  return true;
}
// Whether rows of `len` bf16 starting at each of `ptrs` may be read as 16-byte units of 8 (Bf16s<8>).
inline bool can_vec_load(int64_t len, std::initializer_list<const void*> ptrs) {
  return len % 8 == 0 && aligned16(ptrs);
}

constexpr unsigned kFullMask = 0xffffffffu;

template <class T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(kFullMask, v, off);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(kFullMask, v, off));
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, <= 1024); every thread gets the result.
// `shared` holds >= 32 values of T. Deterministic: fixed tree order.
template <class T>
__device__ __forceinline__ T block_sum(T v, T* shared) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // protect `shared` from a previous use
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < warps ? shared[lane] : T(0);
  return warp_sum(v);
}

}  // namespace tt::cuda
