// CudaBackend: the Backend op interface (model/backend.h) on one NVIDIA GPU, bf16 mixed precision.
//
//   act_dtype BF16 (activations and the compute copy of the weights); grad/stat/master dtype F32
//   (parameter gradients, saved statistics, master weights and AdamW moments). Norms, softmax and
//   reductions accumulate in fp32 (global sums in fp64). GEMMs: cuBLASLt, fp32 accumulation.
//   Every op is enqueued on one stream; only copy_to_host() and synchronize() wait for the GPU.
//
// Each op family lives in one file, src/cuda/<family>.cu: the math, the kernels, and the *_impl
// methods below that launch them (mirroring src/cpu/<family>.h). This file and cuda_backend.cu hold what
// all families share: memory, the stream and the op timing.
//
// Extras beyond Backend (for the benchmark and tests; reach them with dynamic_cast):
//   set_op_timing(true) brackets every op with cudaEvents, grouped by op family; op_timings()
//   synchronises and returns the totals. Timing adds two event records per op, so time whole steps
//   with it off (op timing also turns recording off: run_recorded then issues the ops one by one).
//   set_deterministic(false) switches embedding_backward to fp32 atomics.
//
// run_recorded: the first call with a key issues the ops (scratch buffers grow, GEMM plans are made), the
// second captures them into a CUDA graph, later calls launch the graph. A key change or a grown scratch
// buffer (its old address may be in the graph) records again. TT_CUDA_GRAPHS=0 in the environment turns
// recording off.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cuda/context.h"
#include "model/backend.h"

namespace tt::cuda {

struct OpTiming {
  std::string family;  // "matmul", "attention_fwd", ...
  int64_t calls = 0;
  double total_ms = 0;
};

enum class Family : int {
  kMemory,
  kEmbedding,
  kRmsnorm,
  kMatmul,
  kQkNormRope,
  kAttentionForward,  // attention_forward and attention_infer
  kAttentionBackward,
  kSwiglu,
  kLmHeadGemm,     // lm_head_loss's GEMMs and lm_head_logits
  kLmHeadSoftmax,  // lm_head_loss's softmax / cross-entropy kernel
  kReduce,
  kAdamw,
  kCount
};

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device = 0);
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  std::string name() const override { return "cuda-bf16"; }
  bool is_cuda() const override { return true; }
  DType act_dtype() const override { return DType::BF16; }
  DType grad_dtype() const override { return DType::F32; }
  DType stat_dtype() const override { return DType::F32; }
  DType master_dtype() const override { return DType::F32; }
  size_t peak_memory_bytes() const override;
  // cudaMemGetInfo's free bytes (the cuBLASLt workspace, allocated with the backend, is already taken).
  std::optional<uint64_t> available_memory_bytes() const override;
  // The largest ask of each scratch slot over the ops of a step, evaluation and sampling (context.h's
  // *_scratch functions), each rounded as Ctx::scratch rounds it.
  size_t op_scratch_bytes(const OpShapes& shapes) const override;
  // The kernels' limits (context.h's *_unsupported functions, which the ops check too).
  std::optional<std::string> unsupported(const OpShapes& shapes) const override;

  // ---- extras ----
  void set_op_timing(bool on);
  std::vector<OpTiming> op_timings();  // synchronises; totals since the last reset
  void reset_op_timings();
  void set_deterministic(bool on);
  std::string device_name() const;
  // Graph launches by run_recorded so far (the tests check that recorded steps are replayed).
  int64_t graph_launches() const;
  // The one stream every op is issued on (the NCCL collectives join it: nccl_communicator.cu).
  cudaStream_t stream() const { return ctx_.stream; }

 protected:
  // memory: cuda_backend.cu; convert, fill: elementwise.cu
  Tensor alloc_impl(int64_t rows, int64_t cols, DType dtype) override;
  void free_impl(Tensor t) override;
  void copy_from_host_impl(Tensor dst, const void* src) override;
  void copy_to_host_impl(void* dst, Tensor src) override;
  void convert_impl(Tensor dst, Tensor src) override;
  void fill_impl(Tensor dst, double value) override;
  void synchronize_impl() override;
  // embedding.cu
  void embedding_forward_impl(Tensor out, Tensor ids, Tensor table) override;
  void embedding_backward_impl(Tensor dtable, Tensor ids, Tensor dout) override;
  // rmsnorm.cu
  void rmsnorm_forward_impl(Tensor out, Tensor rstd, Tensor inp, Tensor weight, float eps) override;
  void rmsnorm_backward_impl(Tensor dinp, Tensor dweight, Tensor dout, Tensor inp, Tensor weight,
                             Tensor rstd) override;
  // matmul.cu
  void matmul_forward_impl(Tensor out, Tensor inp, Tensor weight, Tensor residual) override;
  void matmul_backward_impl(Tensor dinp, Tensor dweight, Tensor dout, Tensor inp, Tensor weight,
                            bool accumulate_dinp) override;
  // qk_norm_rope.cu
  void qk_norm_rope_forward_impl(Tensor q, Tensor k, Tensor v, Tensor q_rstd, Tensor k_rstd, Tensor qkv,
                                 Tensor q_norm, Tensor k_norm, Tensor cos, Tensor sin, int64_t seq_len,
                                 float eps) override;
  void qk_norm_rope_backward_impl(Tensor dqkv, Tensor dq_norm, Tensor dk_norm, Tensor dq, Tensor dk,
                                  Tensor dv, Tensor qkv, Tensor q_norm, Tensor k_norm, Tensor q_rstd,
                                  Tensor k_rstd, Tensor cos, Tensor sin, int64_t seq_len) override;
  // attention.cu
  void attention_forward_impl(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v,
                              int64_t head_dim) override;
  void attention_backward_impl(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor out, Tensor lse, Tensor q,
                               Tensor k, Tensor v, int64_t head_dim) override;
  void attention_infer_impl(Tensor out, Tensor q, Tensor k_cache, Tensor v_cache, int64_t head_dim) override;
  // swiglu.cu
  void swiglu_forward_impl(Tensor out, Tensor gate_up) override;
  void swiglu_backward_impl(Tensor dgate_up, Tensor dout, Tensor gate_up) override;
  // cross_entropy.cu
  void lm_head_loss_impl(Tensor losses, Tensor dhidden, Tensor dtable, Tensor hidden, Tensor table,
                         Tensor targets, float loss_scale) override;
  void lm_head_logits_impl(Tensor logits, Tensor hidden, Tensor table) override;
  // adamw.cu
  void sum_impl(Tensor out, Tensor x) override;
  void grad_norm_sq_impl(Tensor out, Tensor grads) override;
  void adamw_update_impl(Tensor master, Tensor compute, Tensor grads, Tensor exp_avg, Tensor exp_avg_sq,
                         Tensor grad_norm_sq, Tensor lr_step, const AdamWConfig& config, bool decay) override;
  // cuda_backend.cu: CUDA graphs
  void run_recorded_impl(std::unique_ptr<OpRecording>& recording, uint64_t key,
                         const std::function<void()>& ops) override;

 private:
  struct Impl;  // allocations, pinned staging buffers, timing records (cuda_backend.cu)

  // Brackets one op with timing events when set_op_timing(true); every *_impl opens one.
  class OpScope {
   public:
    OpScope(CudaBackend& be, Family family);
    ~OpScope() noexcept(false);
    OpScope(const OpScope&) = delete;
    OpScope& operator=(const OpScope&) = delete;

   private:
    CudaBackend& be_;
    Family family_;
    cudaEvent_t start_ = nullptr;
  };

  Ctx ctx_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tt::cuda
