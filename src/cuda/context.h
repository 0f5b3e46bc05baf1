// The state every CUDA op family needs: the one stream, device facts, grow-only scratch buffers
// and the cuBLASLt handle + workspace. Owned by CudaBackend (cuda_backend.h); the op files use it.
//
// Scratch: one grow-only device buffer per Slot. Everything runs on one stream, so a slot can be
// reused by the next op without synchronisation; two slots used inside the same op must differ.
// Growing frees the old buffer (cudaFree waits for the device, so in-flight users are done).
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "cuda/cuda_check.h"
#include "model/tensor.h"

namespace tt::cuda {

enum class Slot : int {
  kReducePartials,  // sum / grad_norm_sq block partials
  kNormPartials,    // norm weight-gradient column partials (rmsnorm, qk_norm_rope)
  kAttnDelta,       // attention backward D_i = dO_i . O_i
  kAttnHeads,       // attention q, k, v, out and their gradients regrouped per kv head
  // The step's largest transients, never live at once, share one buffer: the lm_head chunk's logits /
  // dlogits, and attention's scores S (fp32, then P in bf16 over them) with, in the backward, dP (then dS)
  // after them.
  kBulk,
  kGemmTuning,  // matmul.cu: the output hash of a candidate algorithm
  kSortKeysIn,  // embedding backward (deterministic path)
  kSortKeysOut,
  kSortValsIn,
  kSortValsOut,
  kSortTemp,
  kCount
};

class Ctx;

// Bytes an op family asks of each scratch slot at the shapes of a Qwen3 step (before Ctx::scratch's
// 256-byte rounding), computed beside each op from the sizing the op itself uses; the backend's memory
// estimate (CudaBackend::op_scratch_bytes) takes the largest per slot.
using SlotBytes = std::array<size_t, size_t(Slot::kCount)>;
// cross_entropy.cu (with or without the gradient), for any batch of up to N rows
SlotBytes lm_head_scratch(int64_t N, int64_t V);
// attention.cu: the forward's and, when `backward`, the backward's
SlotBytes attention_scratch(int64_t B, int64_t T, int64_t Hq, int64_t Hkv, int64_t D, bool backward);
SlotBytes embedding_scratch(const Ctx& ctx, int64_t N, int64_t V);     // embedding.cu
SlotBytes rmsnorm_scratch(const Ctx& ctx, int64_t R, int64_t C);       // rmsnorm.cu
SlotBytes qk_norm_rope_scratch(const Ctx& ctx, int64_t N, int64_t D);  // qk_norm_rope.cu
SlotBytes reduce_scratch();                                            // adamw.cu
SlotBytes gemm_scratch();                                              // matmul.cu

// Why an op family's kernels cannot take a shape, or empty: checked by the op, and by the backend before
// a model is built (CudaBackend::unsupported).
std::optional<std::string> qk_norm_rope_unsupported(int64_t head_dim);                     // qk_norm_rope.cu
std::optional<std::string> attention_unsupported(int64_t head_dim);                        // attention.cu
std::optional<std::string> rmsnorm_backward_unsupported(const Ctx& ctx, int64_t columns);  // rmsnorm.cu

class Ctx {
 public:
  cudaStream_t stream = nullptr;
  int device = 0;
  int sm_count = 1;
  size_t max_smem_per_block = 48 * 1024;
  bool deterministic = true;  // embedding backward: sorted segments instead of atomics

  cublasLtHandle_t lt = nullptr;
  cublasHandle_t blas = nullptr;  // fallback for shapes cuBLASLt's heuristic has no algorithm for
  void* lt_workspace = nullptr;
  size_t lt_workspace_bytes = 0;

  // Grow-only scratch; returns a pointer to at least `bytes` (256-byte aligned) device memory.
  void* scratch(Slot slot, size_t bytes);
  void release_scratch();

  // Memory accounting shared with CudaBackend::alloc (bytes currently held, high-water mark).
  void note_alloc(size_t bytes);
  void note_free(size_t bytes);
  size_t current_bytes() const { return current_bytes_; }
  size_t peak_bytes() const { return peak_bytes_; }
  // Incremented whenever a scratch buffer moves (grows): recorded graphs that hold old addresses are stale.
  uint64_t scratch_generation() const { return scratch_generation_; }

 private:
  std::array<void*, size_t(Slot::kCount)> scratch_ptr_{};
  std::array<size_t, size_t(Slot::kCount)> scratch_bytes_{};
  size_t current_bytes_ = 0, peak_bytes_ = 0;
  uint64_t scratch_generation_ = 0;
};

// Row-major C[M,N] (= or +=) op(A) @ op(B) on cuBLASLt (matmul.cu, which has the row-major to column-major
// mapping). A is [M,K] ([K,M] when trans_a), B is [K,N] ([N,K] when trans_b); A and B bf16 with leading
// dimensions equal to their row lengths. C is BF16 or F32. With accumulate, C = op(A) op(B) + C_in where C_in
// is c_in (the same shape and dtype as C, e.g. a residual) or, when c_in is null, C itself (+=).
void gemm_rm(Ctx& ctx, void* c, DType c_dtype, const void* a, bool trans_a, const void* b, bool trans_b,
             int64_t M, int64_t N, int64_t K, bool accumulate, const void* c_in = nullptr);
// One operand of a strided-batched GEMM: row-major, element (i, j) of batch entry e at
// ptr + e * stride + i * ld + j (in elements).
struct StridedOperand {
  const void* ptr;
  int64_t ld, stride;
};
// Row-major C_e[M,N] = alpha op(A_e) op(B_e) for e < batch (overwrite), C_e at c + e * stride_c with leading
// dimension ldc; A_e is [M,K] ([K,M] when trans_a), B_e is [K,N] ([N,K] when trans_b), both bf16; C BF16
// or F32. One cuBLASLt call (matmul.cu); with operands (bases, leading dimensions, strides) less than 16-byte
// aligned cuBLASLt may offer no algorithm, which is an error.
void gemm_batched_rm(Ctx& ctx, void* c, DType c_dtype, int64_t ldc, int64_t stride_c, StridedOperand a,
                     bool trans_a, StridedOperand b, bool trans_b, int64_t M, int64_t N, int64_t K,
                     int64_t batch, float alpha);
// Destroys the cached cuBLASLt plans made for `ctx.lt`.
void gemm_cache_clear(Ctx& ctx);

// The dynamic shared memory `kernel` may launch with so far on the current device (cuda_backend.cu; 0 until
// raised).
size_t& dynamic_smem_allowed(const void* kernel);
// Lets `kernel` launch with `bytes` of dynamic shared memory (above 48 KiB needs the opt-in), calling
// cudaFuncSetAttribute only when the limit must grow: run_recorded's eager warm-up makes the call, and a
// stream capture of the same ops makes none.
template <class Kernel>
void allow_dynamic_smem(Kernel* kernel, size_t bytes) {
  size_t& allowed = dynamic_smem_allowed(reinterpret_cast<const void*>(kernel));
  if (bytes <= allowed) return;
  CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
  allowed = bytes;
}

// Kernel launch helpers.
inline int ceil_div(int64_t a, int64_t b) {
  return int((a + b - 1) / b);
}
// Grid for a grid-stride loop over n items: enough blocks to fill the GPU, never more than needed.
inline int grid_for(int64_t n, int threads, const Ctx& ctx) {
  const int64_t want = (n + threads - 1) / threads;
  const int64_t cap = int64_t(ctx.sm_count) * 16;
  return int(want < 1 ? 1 : (want < cap ? want : cap));
}

}  // namespace tt::cuda
