// Host-side dtype helpers shared by the CPU backend and checkpoint I/O.
// bf16 conversion rounds to nearest even (as torch's .to(torch.bfloat16)); NaN stays NaN.
#pragma once

#include <cstdint>
#include <cstring>

#include "model/tensor.h"

namespace tt {

inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

inline float bf16_to_f32(uint16_t b) {
  const uint32_t u = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// dst[i] = (dst_dtype) src[i] for n elements; any pair of F32, F64, BF16, I32 (via double).
void convert_host(void* dst, DType dst_dtype, const void* src, DType src_dtype, size_t n);

}  // namespace tt
