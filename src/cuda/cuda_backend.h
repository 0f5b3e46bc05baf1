// CudaBackend: the Backend op interface (model/backend.h) on one NVIDIA GPU, bf16 mixed precision.
//
//   act_dtype BF16 (activations and the compute copy of the weights); grad/stat/master dtype F32
//   (parameter gradients, saved statistics, master weights and AdamW moments). Norms, softmax and
//   reductions accumulate in fp32 (global sums in fp64). GEMMs: cuBLASLt, fp32 accumulation.
//   Every op is enqueued on one stream; only copy_to_host() and synchronize() wait for the GPU.
//   Each Backend op validates buffer dtypes and sizes on the host (tt::Error naming op and argument).
//
// Extras beyond Backend (for the benchmark and tests; reach them with dynamic_cast):
//   set_op_timing(true) brackets every op with cudaEvents, grouped by op family; op_timings()
//   synchronises and returns the totals. Timing adds two event records per op, so time whole steps
//   with it off. set_deterministic(false) switches embedding_backward to fp32 atomics.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "model/backend.h"

namespace tt::cuda {

struct OpTiming {
  std::string family;  // "matmul", "attention", ...
  int64_t calls = 0;
  double total_ms = 0;
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

  Buf alloc(size_t numel, DType dtype) override;
  void free(Buf b) override;
  void copy_from_host(Buf dst, const void* src) override;
  void copy_to_host(void* dst, Buf src) override;
  void convert(Buf dst, Buf src) override;
  void fill(Buf dst, double value) override;
  void synchronize() override;
  size_t peak_memory_bytes() const override;

  void embedding_forward(Buf out, Buf ids, Buf table, int64_t N, int64_t C, int64_t V) override;
  void embedding_backward(Buf dtable, Buf ids, Buf dout, int64_t N, int64_t C, int64_t V) override;
  void rmsnorm_forward(Buf out, Buf rstd, Buf inp, Buf weight, int64_t R, int64_t C, float eps) override;
  void rmsnorm_backward(Buf dinp, Buf dweight, Buf dout, Buf inp, Buf weight, Buf rstd, int64_t R,
                        int64_t C) override;
  void matmul_forward(Buf out, Buf inp, Buf weight, int64_t M, int64_t K, int64_t N,
                      bool accumulate) override;
  void matmul_backward(Buf dinp, Buf dweight, Buf dout, Buf inp, Buf weight, int64_t M, int64_t K, int64_t N,
                       bool accumulate_dinp) override;
  void rope_forward(Buf out, Buf inp, int64_t N, int64_t T, int64_t H, int64_t D, double theta,
                    int64_t pos_offset) override;
  void rope_backward(Buf dinp, Buf dout, int64_t N, int64_t T, int64_t H, int64_t D, double theta,
                     int64_t pos_offset) override;
  void attention_forward(Buf out, Buf lse, Buf q, Buf k, Buf v, int64_t B, int64_t T, int64_t Hq, int64_t Hkv,
                         int64_t D) override;
  void attention_backward(Buf dq, Buf dk, Buf dv, Buf dout, Buf out, Buf lse, Buf q, Buf k, Buf v, int64_t B,
                          int64_t T, int64_t Hq, int64_t Hkv, int64_t D) override;
  void attention_infer(Buf out, Buf q, Buf k_cache, Buf v_cache, int64_t Tq, int64_t Tkv, int64_t Hq,
                       int64_t Hkv, int64_t D) override;
  void swiglu_forward(Buf out, Buf gate, Buf up, int64_t n) override;
  void swiglu_backward(Buf dgate, Buf dup, Buf dout, Buf gate, Buf up, int64_t n) override;
  void add(Buf out, Buf a, Buf b, int64_t n) override;
  void lm_head_loss(Buf losses, Buf dhidden, Buf dtable, Buf hidden, Buf table, Buf targets, int64_t N,
                    int64_t C, int64_t V, float loss_scale) override;
  void lm_head_logits(Buf logits, Buf hidden, Buf table, int64_t N, int64_t C, int64_t V) override;
  void sum(Buf out, Buf x, int64_t n) override;
  void grad_norm_sq(Buf out, Buf grads, int64_t n) override;
  void adamw_update(Buf master, Buf compute, Buf grads, Buf m, Buf v, Buf grad_norm_sq, int64_t n,
                    const AdamWArgs& args, bool decay) override;

  // ---- extras ----
  void set_op_timing(bool on);
  std::vector<OpTiming> op_timings();  // synchronises; totals since the last reset
  void reset_op_timings();
  void set_deterministic(bool on);
  std::string device_name() const;
  size_t current_memory_bytes() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tt::cuda
