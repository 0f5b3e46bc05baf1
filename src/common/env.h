// The developer switches read from the environment (TT_REQUIRE_CUDA, TT_CUDA_GRAPHS, TT_CUDA_SYNC_CHECK,
// TT_CUDA_GEMM_LOG, TT_DIST_ONE_RANK, TT_CUDA_LM_HEAD_CHUNK_MB, TT_CUDA_ATTENTION_SCORES_MB: DESIGN.md,
// "Running on a GPU"), all parsed one way, so a mistyped value is an error naming the variable rather than
// silently the default.
#pragma once

#include <cstdint>

namespace tt {

// Unset or "" is `fallback`; "0" is off and "1" on; anything else is a tt::Error.
bool env_flag(const char* name, bool fallback);

// Unset or "" is `fallback`; else a whole number in [lo, hi], or a tt::Error naming the variable, the range
// and `meaning` (what the number is, e.g. "MiB of attention scores; 0 selects the flash kernels").
int64_t env_int(const char* name, int64_t fallback, int64_t lo, int64_t hi, const char* meaning);

}  // namespace tt
