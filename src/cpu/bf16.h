// bf16, the storage type of the CPU backend's mixed-precision path (make_cpu_backend(DType::BF16)):
// activations and the compute copy of the weights are bf16, everything else fp32 — the CUDA backend's
// policy. A value is read as float (exact: bf16 is the top half of an fp32) and every store rounds to
// nearest even, so the ops compute in fp32 exactly as for float storage and round once per output.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "model/dtype.h"

namespace tt::cpu {

struct bf16 {
  uint16_t bits;
  bf16() = default;
  explicit bf16(float x) : bits(f32_to_bf16(x)) {}
  operator float() const { return bf16_to_f32(bits); }
};
static_assert(sizeof(bf16) == 2);

// For the per-ISA kernels (kernels_f32.cpp): a template body marked so is compiled into each ISA's copy
// of the non-template function that calls it, instead of once for baseline x86-64.
#define TT_ALWAYS_INLINE inline __attribute__((always_inline))
#define TT_LAMBDA_INLINE __attribute__((always_inline))  // after a lambda's parameter list

// The type an op computes in for values stored as A: float for bf16, else A itself.
template <class A>
using compute_t = std::conditional_t<std::is_same_v<A, bf16>, float, A>;

// dst[i] = To(src[i]) for n elements (a plain copy when the types agree); float <-> bf16 per ISA.
void convert_n(bf16* dst, const float* src, int64_t n);
void convert_n(float* dst, const bf16* src, int64_t n);
template <class To, class From>
TT_ALWAYS_INLINE void convert_n(To* dst, const From* src, int64_t n) {
  if constexpr (std::is_same_v<To, From>) {
    std::copy_n(src, n, dst);
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = To(src[i]);
  }
}

// What a GEMM with A inputs reads of rows r0..r1 (columns 0..cols, leading dimension ld) of `values`:
// `values` itself when A is T, else their rounded copy, written to `act` in the same layout.
template <class T, class A>
const A* rows_as_gemm_input(T* values, A* act, int64_t r0, int64_t r1, int64_t cols, int64_t ld) {
  if constexpr (std::is_same_v<A, T>) {
    return values;
  } else {
    for (int64_t i = r0; i < r1; ++i) convert_n(act + i * ld, values + i * ld, cols);
    return act;
  }
}

}  // namespace tt::cpu
