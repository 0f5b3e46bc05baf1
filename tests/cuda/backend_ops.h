// Every op of tt::Backend (src/model/backend.h: each *_impl and the identity methods), in one place. The op
// test checks that each has at least one case, and that this list matches the virtual methods parsed out of
// backend.h itself, so a new op cannot slip in without a CUDA test.
#pragma once

#include <array>
#include <string_view>

namespace tt::test {

inline constexpr auto kAllBackendOps = std::to_array<std::string_view>(
    {// identity and dtypes
     "name", "is_cuda", "act_dtype", "grad_dtype", "stat_dtype", "master_dtype",
     // memory
     "alloc", "free", "copy_from_host", "copy_to_host", "convert", "fill", "synchronize", "peak_memory_bytes",
     "available_memory_bytes",
     // ops
     "embedding_forward", "embedding_backward", "rmsnorm_forward", "rmsnorm_backward", "matmul_forward",
     "matmul_backward", "qk_norm_rope_forward", "qk_norm_rope_backward", "attention_forward",
     "attention_backward", "attention_infer", "swiglu_forward", "swiglu_backward", "lm_head_loss",
     "lm_head_logits", "sum", "grad_norm_sq", "adamw_update", "run_recorded"});

}  // namespace tt::test
