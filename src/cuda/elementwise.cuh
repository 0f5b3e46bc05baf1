// Element-wise utilities: add, dtype conversion, fill.
//
//   add     : out = a + b over n elements, BF16 or F32 (all three the same dtype; out may alias).
//   convert : dst[i] = (dst dtype) src[i] for any pair of F32, F64, BF16, I32, same numel. Floats to
//             I32 truncate toward zero (C++ static_cast), to BF16 round to nearest even.
//   fill    : dst[i] = value in dst's dtype.
#pragma once

#include "cuda/context.h"

namespace tt::cuda {

void add(Ctx& ctx, Buf out, Buf a, Buf b, int64_t n);
void convert(Ctx& ctx, Buf dst, Buf src);
void fill(Ctx& ctx, Buf dst, double value);

}  // namespace tt::cuda
