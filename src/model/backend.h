// The backend-neutral op interface. The Qwen3 graph (qwen3.cpp) is written once against it;
// src/cpu/ (the reference, templated on the number type) and src/cuda/ (bf16 mixed precision)
// implement it, one file per op family, forward and backward side by side.
//
// Non-virtual interface: each public op checks its contract (dtypes, shapes, which outputs may be empty)
// in backend.cpp, for every backend alike, then calls the backend's *_impl. An implementation may rely on
// the contract and never checks it again. A violated contract is a bug in the caller (TT_ASSERT: the
// message names the op, the argument, and what it expected).
//
// Conventions
// - dtypes: activations and compute weights are act_dtype(); parameter gradients (dweight, dtable)
//   are grad_dtype(); saved statistics (rstd, lse, per-row losses, scalars, RoPE tables) are stat_dtype();
//   master weights and AdamW moments are master_dtype(). CPU<T>: all T. CUDA: act BF16, others F32.
// - Shapes are the tensors' own (tensor.h): N = B*T token rows; heads side by side, [N, H*D].
// - "overwrite" outputs are fully written; "accumulate" outputs get +=. Parameter gradients ALWAYS
//   accumulate (so micro-batches add up); the graph zeroes them once per optimizer step.
// - Every op may run asynchronously (CUDA stream); only copy_to_host()/synchronize() wait.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/tensor.h"

namespace tt {

// AdamW's constants for a run: torch.optim.AdamW's betas, eps and decoupled weight decay (applied only to
// segments with decay), and HF Trainer's global gradient-norm clipping (<= 0: no clipping).
// In double, as torch takes them from Python: its fp32 update uses 1 - beta computed in double and rounded
// (1 - 0.999 = 0.001f), not 1 - float(beta) (0.00099998713f), and its bias corrections use the betas
// themselves; optimizer.bin's moments then match what torch.optim.AdamW holds.
struct AdamWConfig {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0;
  double max_grad_norm = 1.0;
};

// One optimizer step: the constants and what the schedule changes every step.
struct AdamWArgs : AdamWConfig {
  float lr = 0;
  int64_t step = 1;  // 1-based, for bias correction
};

// The shapes a backend's ops see in a Qwen3 forward of `rows` = B*T token rows (evaluation, decoding) and,
// when `backward`, its backward and the optimizer too (Backend::op_scratch_bytes).
struct OpShapes {
  int64_t rows = 0, seq_len = 0, hidden = 0, q_heads = 0, kv_heads = 0, head_dim = 0, vocab = 0;
  bool backward = true;
};

// Backend-side state of one recorded op sequence (Backend::run_recorded); the caller keeps it across calls.
class OpRecording {
 public:
  virtual ~OpRecording() = default;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;  // "cpu-f32", "cpu-f64", "cuda-bf16"
  virtual bool is_cuda() const { return false; }
  virtual DType act_dtype() const = 0;
  virtual DType grad_dtype() const = 0;
  virtual DType stat_dtype() const = 0;
  virtual DType master_dtype() const = 0;
  // The most memory this backend has held: its tensors and its ops' own scratch.
  virtual size_t peak_memory_bytes() const { return 0; }
  // The most scratch its ops take for themselves (beyond alloc()'s tensors) for ops of `shapes`: with the
  // tensors, what a run's memory estimate adds up (Qwen3Model::memory_need) before anything is allocated.
  virtual size_t op_scratch_bytes(const OpShapes& shapes) const { return 0; }
  // Why the backend's kernels cannot run a model of these shapes (a head_dim or hidden size past their
  // limits), or empty when they can. Qwen3Model asks before it allocates anything, so such a config is
  // refused at the start, not at the first op that meets it mid-run.
  virtual std::optional<std::string> unsupported(const OpShapes& shapes) const { return std::nullopt; }
  // How much more memory the backend can take (host memory for the CPU: host_memory.h; free device memory
  // for CUDA); empty when unknown.
  virtual std::optional<uint64_t> available_memory_bytes() const { return std::nullopt; }

  // ---- memory ------------------------------------------------------------------------------------
  Tensor alloc(int64_t rows, int64_t cols, DType dtype);  // zero-initialised; [n, 1] for a vector
  void free(Tensor t);                                    // a tensor alloc() returned (not a view)
  void copy_from_host(Tensor dst, const void* src);       // src holds dst.numel() values of dst.dtype
  void copy_to_host(void* dst, Tensor src);               // waits for pending work
  void convert(Tensor dst, Tensor src);                   // element-wise dtype conversion, same numel
  void fill(Tensor dst, double value);
  void synchronize();

  // ---- embedding (embedding.*) --------------------------------------------------------------------
  // out[n, :] = table[ids[n], :]          out [N,C] act, overwrite; ids [N] I32; table [V,C] act
  void embedding_forward(Tensor out, Tensor ids, Tensor table);
  // dtable[ids[n], :] += dout[n, :]       dtable [V,C] grad, accumulate; dout [N,C] act
  void embedding_backward(Tensor dtable, Tensor ids, Tensor dout);

  // ---- RMSNorm (rmsnorm.*) ------------------------------------------------------------------------
  // out = inp * rsqrt(mean(inp^2) + eps) * weight over each row of inp [R,C] (HF Qwen3RMSNorm; stats in
  // fp32 or better); weight [C]. Saves rstd [R] (stat).
  void rmsnorm_forward(Tensor out, Tensor rstd, Tensor inp, Tensor weight, float eps);
  // dinp [R,C] act ACCUMULATE; dweight [C] grad ACCUMULATE.
  void rmsnorm_backward(Tensor dinp, Tensor dweight, Tensor dout, Tensor inp, Tensor weight, Tensor rstd);

  // ---- matmul (matmul.*): a bias-free nn.Linear -----------------------------------------------------
  // out [M,N] = inp [M,K] @ weight [N,K]^T (+ residual [M,N] when given: the residual add happens in the
  // GEMM's epilogue; residual may be out itself, i.e. +=). overwrite.
  void matmul_forward(Tensor out, Tensor inp, Tensor weight, Tensor residual = {});
  // dinp [M,K] (= or +=, per accumulate_dinp) = dout [M,N] @ weight; dweight [N,K] grad += dout^T @ inp.
  // Either output may be empty() to skip it.
  void matmul_backward(Tensor dinp, Tensor dweight, Tensor dout, Tensor inp, Tensor weight,
                       bool accumulate_dinp);

  // ---- q/k norm + RoPE (qk_norm_rope.*): the attention inputs from the fused q|k|v projection ---------
  // qkv [N, (Hq + 2 Hkv) D] act holds per row the Hq query heads, then the Hkv key heads, then the Hkv value
  // heads (the projection by q_proj, k_proj, v_proj stacked). Per q and k head: RMSNorm over its D values
  // with q_norm / k_norm [D] (rstd saved: q_rstd [N*Hq], k_rstd [N*Hkv], stat), then RoPE, rotate_half
  // convention, with row n % seq_len of cos, sin [P, D/2] (stat; cos(p f_i), sin(p f_i), f_i =
  // theta^(-2i/D): rope_tables(); seq_len <= P):
  //   out[i] = x[i] c - x[i+D/2] s;  out[i+D/2] = x[i+D/2] c + x[i] s.
  // Writes q [N, Hq*D], k [N, Hkv*D] and v [N, Hkv*D] (the value heads as they are), all overwrite.
  // D = 2 * cos.cols, Hq = q.cols / D, Hkv = k.cols / D.
  void qk_norm_rope_forward(Tensor q, Tensor k, Tensor v, Tensor q_rstd, Tensor k_rstd, Tensor qkv,
                            Tensor q_norm, Tensor k_norm, Tensor cos, Tensor sin, int64_t seq_len, float eps);
  // dqkv [N, (Hq + 2 Hkv) D] overwrite: dq, dk back through RoPE and the norms, the value part = dv.
  // dq_norm, dk_norm [D] grad ACCUMULATE.
  void qk_norm_rope_backward(Tensor dqkv, Tensor dq_norm, Tensor dk_norm, Tensor dq, Tensor dk, Tensor dv,
                             Tensor qkv, Tensor q_norm, Tensor k_norm, Tensor q_rstd, Tensor k_rstd,
                             Tensor cos, Tensor sin, int64_t seq_len);

  // ---- causal GQA attention (attention.*) -------------------------------------------------------------
  // q [B*T, Hq*D], k,v [B*T, Hkv*D] act; query head h uses kv head h / (Hq/Hkv); scale 1/sqrt(D).
  // out [B*T, Hq*D] overwrite; lse [B*Hq, T] (stat) = log-sum-exp of each row of scaled scores (row
  // b*Hq + h), saved for the backward (flash-style: no T x T matrix needs to be kept). B and T come from
  // lse's shape, the head counts from the column counts and head_dim.
  void attention_forward(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, int64_t head_dim);
  // dq, dk, dv overwrite.
  void attention_backward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor out, Tensor lse, Tensor q,
                          Tensor k, Tensor v, int64_t head_dim);
  // Decoding with a KV cache, batch 1: q [Tq, Hq*D] are the LAST Tq positions of a sequence whose keys
  // and values are k_cache, v_cache [Tkv, Hkv*D] (Tq <= Tkv); query i sits at position Tkv-Tq+i and
  // attends to keys 0..Tkv-Tq+i. out [Tq, Hq*D] overwrite.
  void attention_infer(Tensor out, Tensor q, Tensor k_cache, Tensor v_cache, int64_t head_dim);

  // ---- SwiGLU (swiglu.*) ---------------------------------------------------------------------------------
  // gate_up [N, 2I] act holds per row the gate projection, then the up projection (gate_proj and up_proj
  // stacked). out [N, I] = silu(gate) * up, silu(x) = x / (1 + exp(-x)); overwrite.
  void swiglu_forward(Tensor out, Tensor gate_up);
  // dgate_up [N, 2I] overwrite (d gate, then d up per row); dout [N, I].
  void swiglu_backward(Tensor dgate_up, Tensor dout, Tensor gate_up);

  // ---- LM head + cross-entropy (cross_entropy.*) ----------------------------------------------------------
  // logits[n, :] = hidden[n, :] @ table^T (hidden [N,C] act, table [V,C] act: the tied embedding); for
  // each row with targets[n] >= 0 (targets [N] I32): losses[n] = logsumexp(logits[n]) -
  // logits[n, targets[n]]; rows with target < 0 give loss 0 and no gradient. losses [N] stat, overwrite.
  // If dhidden is not empty: dhidden [N,C] act overwrite and dtable [V,C] grad accumulate (may be empty)
  // receive the gradient of loss_scale * sum_n losses[n]. Never holds logits for all N rows at once
  // beyond a bounded chunk (the CUDA target: <= 2 GB extra at N = 16384, V = 151936).
  void lm_head_loss(Tensor losses, Tensor dhidden, Tensor dtable, Tensor hidden, Tensor table, Tensor targets,
                    float loss_scale);
  // logits [N,V] (stat) overwrite, for sampling.
  void lm_head_logits(Tensor logits, Tensor hidden, Tensor table);

  // ---- reductions and the optimizer (adamw.*) ---------------------------------------------------------
  // out [1] = sum(x) (stat, overwrite); x [n] stat.
  void sum(Tensor out, Tensor x);
  // out [1] = sum(g^2) over all gradient elements (stat, overwrite); grads [n] grad.
  void grad_norm_sq(Tensor out, Tensor grads);
  // AdamW as torch.optim.AdamW with HF-style global clipping, for one contiguous segment of n parameters:
  //   clip = max_grad_norm > 0 ? min(1, max_grad_norm / (sqrt(grad_norm_sq[0]) + 1e-6)) : 1
  //   g = clip*grad; p -= lr*wd*p (if decay); m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2
  //   p -= lr * (m / (1-b1^step)) / (sqrt(v / (1-b2^step)) + eps)
  // master, exp_avg (m), exp_avg_sq (v): [n] master; grads [n] grad; grad_norm_sq [1] stat. This step's
  // learning rate and 1-based step count are lr_step [2] (stat: {lr, step}), read on the device like
  // grad_norm_sq, so that a recorded optimizer step (run_recorded) follows the schedule without a host sync.
  // If `compute` [n] (act) is not empty it receives the updated weights.
  void adamw_update(Tensor master, Tensor compute, Tensor grads, Tensor exp_avg, Tensor exp_avg_sq,
                    Tensor grad_norm_sq, Tensor lr_step, const AdamWConfig& config, bool decay);

  // ---- recorded op sequences ---------------------------------------------------------------------------
  // Runs `ops`, a sequence of calls to this backend's ops. A backend that can record (CUDA: a graph) records
  // the sequence into `recording` and, on later calls with the same `key`, replays it as one launch instead
  // of issuing the ops one by one. So `ops` must not copy to or from the host nor synchronise, and whatever
  // changes between calls must be part of `key` (shapes, scalars passed by value) or be device memory the
  // ops read (token ids, lr_step). The CPU backend runs `ops`.
  void run_recorded(std::unique_ptr<OpRecording>& recording, uint64_t key, const std::function<void()>& ops);

 protected:
  // The implementations, called only after the contract above was checked. A backend overrides each.
  virtual Tensor alloc_impl(int64_t rows, int64_t cols, DType dtype) = 0;
  virtual void free_impl(Tensor t) = 0;
  virtual void copy_from_host_impl(Tensor dst, const void* src) = 0;
  virtual void copy_to_host_impl(void* dst, Tensor src) = 0;
  virtual void convert_impl(Tensor dst, Tensor src) = 0;
  virtual void fill_impl(Tensor dst, double value) = 0;
  virtual void synchronize_impl() = 0;
  virtual void embedding_forward_impl(Tensor out, Tensor ids, Tensor table) = 0;
  virtual void embedding_backward_impl(Tensor dtable, Tensor ids, Tensor dout) = 0;
  virtual void rmsnorm_forward_impl(Tensor out, Tensor rstd, Tensor inp, Tensor weight, float eps) = 0;
  virtual void rmsnorm_backward_impl(Tensor dinp, Tensor dweight, Tensor dout, Tensor inp, Tensor weight,
                                     Tensor rstd) = 0;
  virtual void matmul_forward_impl(Tensor out, Tensor inp, Tensor weight, Tensor residual) = 0;
  virtual void matmul_backward_impl(Tensor dinp, Tensor dweight, Tensor dout, Tensor inp, Tensor weight,
                                    bool accumulate_dinp) = 0;
  virtual void qk_norm_rope_forward_impl(Tensor q, Tensor k, Tensor v, Tensor q_rstd, Tensor k_rstd,
                                         Tensor qkv, Tensor q_norm, Tensor k_norm, Tensor cos, Tensor sin,
                                         int64_t seq_len, float eps) = 0;
  virtual void qk_norm_rope_backward_impl(Tensor dqkv, Tensor dq_norm, Tensor dk_norm, Tensor dq, Tensor dk,
                                          Tensor dv, Tensor qkv, Tensor q_norm, Tensor k_norm, Tensor q_rstd,
                                          Tensor k_rstd, Tensor cos, Tensor sin, int64_t seq_len) = 0;
  virtual void attention_forward_impl(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v,
                                      int64_t head_dim) = 0;
  virtual void attention_backward_impl(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor out, Tensor lse,
                                       Tensor q, Tensor k, Tensor v, int64_t head_dim) = 0;
  virtual void attention_infer_impl(Tensor out, Tensor q, Tensor k_cache, Tensor v_cache,
                                    int64_t head_dim) = 0;
  virtual void swiglu_forward_impl(Tensor out, Tensor gate_up) = 0;
  virtual void swiglu_backward_impl(Tensor dgate_up, Tensor dout, Tensor gate_up) = 0;
  virtual void lm_head_loss_impl(Tensor losses, Tensor dhidden, Tensor dtable, Tensor hidden, Tensor table,
                                 Tensor targets, float loss_scale) = 0;
  virtual void lm_head_logits_impl(Tensor logits, Tensor hidden, Tensor table) = 0;
  virtual void sum_impl(Tensor out, Tensor x) = 0;
  virtual void grad_norm_sq_impl(Tensor out, Tensor grads) = 0;
  virtual void adamw_update_impl(Tensor master, Tensor compute, Tensor grads, Tensor exp_avg,
                                 Tensor exp_avg_sq, Tensor grad_norm_sq, Tensor lr_step,
                                 const AdamWConfig& config, bool decay) = 0;
  virtual void run_recorded_impl(std::unique_ptr<OpRecording>& recording, uint64_t key,
                                 const std::function<void()>& ops) {
    ops();
  }
};

// cos/sin tables [positions, head_dim/2] of the RoPE angles p * theta^(-2i/head_dim), in double on the
// host; the graph rounds them to stat_dtype() and uploads them once, so every backend rotates by the
// same values.
struct RopeTables {
  std::vector<double> cos, sin;  // row-major [positions, head_dim/2]
};
RopeTables rope_tables(int64_t positions, int64_t head_dim, double theta);

// Factories. make_cpu_backend(act, threads): F32 or F64 (every dtype that one), or BF16 (bf16 activations,
// fp32 otherwise: the CUDA policy; throws tt::Error on a CPU without native bf16); threads sets the CPU
// backend's thread count for the process, 0 the cores it may run on. A debug-level log line
// names the GEMM kernels in use. make_cuda_backend() throws tt::Error when
// the binary has no CUDA backend or no GPU is present (is_cuda_available() tells without throwing).
std::unique_ptr<Backend> make_cpu_backend(DType act = DType::F32, int threads = 0);
bool is_cuda_available();
// Why is_cuda_available() is false ("" when it is true): no CUDA backend in this build, or the CUDA
// runtime's error (e.g. cudaErrorInsufficientDriver), or no device. The GPU tests print it when they skip.
std::string cuda_unavailable_reason();
// True when the environment variable TT_REQUIRE_CUDA is 1 (common/env.h: 0 or 1): the GPU tests and the
// CUDA benchmark then fail instead of skipping, so a run on a GPU machine cannot pass by skipping everything.
bool cuda_required_by_env();
std::unique_ptr<Backend> make_cuda_backend(int device = 0);

}  // namespace tt
