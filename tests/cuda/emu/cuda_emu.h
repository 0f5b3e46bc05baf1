// A small CUDA execution emulator for tests without a GPU: runs the kernels of src/cuda/*.cu on the CPU
// (their launches rewritten by rewrite_launches.pl). Every thread of a block is a fiber on one OS thread;
// blocks run one after another. __syncthreads() is a block barrier, __syncwarp() a warp barrier and
// __shfl_xor_sync a warp exchange with warp barriers, so the kernels' indexing, masking, shuffles and
// shared-memory staging are exercised as written.
// __shared__ variables become function statics (one block at a time, so that is their CUDA meaning);
// dynamic shared memory is one buffer sized per launch, poisoned with NaN before each block (static
// __shared__ arrays are not: they keep the previous block's values). Blocks and the threads of a block run
// in alternating forward and reverse orders (cuda_emu.cpp), so an order the kernel silently relies on
// shows up. Only what our kernels use is provided.
// Not emulated: concurrency between blocks, memory-model races, performance.
#pragma once

#include <math.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __restrict__

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(8) float2 {
  float x, y;
};
struct alignas(8) uint2 {
  unsigned x, y;
};
struct alignas(16) uint4 {
  unsigned x, y, z, w;
};

struct __nv_bfloat16 {
  uint16_t bits;
};
struct alignas(4) __nv_bfloat162 {
  __nv_bfloat16 x, y;
};
inline __nv_bfloat16 __float2bfloat16_rn(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return {uint16_t(0x7fff)};  // CUDA's canonical NaN (cuda_bf16.hpp)
  u += 0x7fffu + ((u >> 16) & 1u);
  return {uint16_t(u >> 16)};
}
inline float __bfloat162float(__nv_bfloat16 b) {
  const uint32_t u = uint32_t(b.bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline float2 __bfloat1622float2(__nv_bfloat162 h) {
  return {__bfloat162float(h.x), __bfloat162float(h.y)};
}
inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) {
  return {__float2bfloat16_rn(a), __float2bfloat16_rn(b)};
}

inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float __uint_as_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 b) {
  return b.bits;
}
inline float4 make_float4(float x, float y, float z, float w) {
  return {x, y, z, w};
}
inline uint2 make_uint2(unsigned x, unsigned y) {
  return {x, y};
}
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) {
  return {x, y, z, w};
}

inline float atomicAdd(float* p, float v) {  // blocks and threads never run concurrently here
  const float old = *p;
  *p = old + v;
  return old;
}

inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
  const unsigned long long old = *p;
  *p = old + v;
  return old;
}

inline float __expf(float x) {
  return expf(x);
}
inline float rsqrtf(float x) {
  return 1.0f / sqrtf(x);
}
using std::max;
using std::min;

namespace tt::emu {

extern dim3 g_thread_idx, g_block_idx, g_block_dim, g_grid_dim;

void syncthreads();
void warp_barrier();
int linear_tid();
void* exchange_slot(int tid);
void* dynamic_shared_base();
template <class T>
T* dynamic_shared() {
  return static_cast<T*>(dynamic_shared_base());
}

// Runs kernel() for every thread of every block of the grid.
void launch(dim3 grid, dim3 block, size_t dynamic_smem_bytes, const std::function<void()>& kernel);

template <class T>
T shfl_xor(T v, int lane_mask) {
  static_assert(sizeof(T) <= 8, "shuffle of a type wider than 8 bytes");
  const int tid = linear_tid();
  std::memcpy(exchange_slot(tid), &v, sizeof(T));
  warp_barrier();
  T r;
  std::memcpy(&r, exchange_slot((tid & ~31) | ((tid & 31) ^ lane_mask)), sizeof(T));
  warp_barrier();
  return r;
}

}  // namespace tt::emu

#define threadIdx (::tt::emu::g_thread_idx)
#define blockIdx (::tt::emu::g_block_idx)
#define blockDim (::tt::emu::g_block_dim)
#define gridDim (::tt::emu::g_grid_dim)

inline void __syncthreads() {
  ::tt::emu::syncthreads();
}
inline void __syncwarp(unsigned = 0xffffffffu) {
  ::tt::emu::warp_barrier();
}
template <class T>
T __shfl_xor_sync(unsigned, T v, int lane_mask, int = 32) {
  return ::tt::emu::shfl_xor(v, lane_mask);
}
// Only the full mask: every lane of the warp waits for all the others.
