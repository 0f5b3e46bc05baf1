// The backend-neutral op interface. The Qwen3 graph (model.cpp) is written once against it;
// src/cpu/ (reference, templated on the number type) and src/cuda/ (bf16 mixed precision)
// implement it, one file per op family, forward and backward side by side.
//
// Conventions
// - Buffers are flat, device-resident views (Buf); shapes come from explicit int arguments.
//   N = B*T rows; row-major [N, C] activations; heads laid out as [N, H*D] (head h at columns h*D..).
// - dtypes: activations and compute weights are act_dtype(); parameter gradients (dweight, dtable)
//   are grad_dtype(); saved statistics (rstd, lse, per-row losses, scalars) are stat_dtype();
//   master weights and AdamW moments are master_dtype(). CPU<T>: all T. CUDA: act BF16, others F32.
// - "overwrite" outputs are fully written; "accumulate" outputs get +=. Parameter gradients
//   ALWAYS accumulate (so micro-batches add up); the graph zeroes them once per optimizer step.
// - Every op may run asynchronously (CUDA stream); only copy_to_host()/synchronize() wait.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace tt {

enum class DType : uint8_t { F32, F64, BF16, I32 };
size_t dtype_size(DType d);
const char* dtype_name(DType d);  // "F32", "F64", "BF16", "I32" (safetensors spelling)

struct Buf {
  void* ptr = nullptr;
  DType dtype = DType::F32;
  size_t numel = 0;
  bool empty() const { return ptr == nullptr; }
  size_t bytes() const { return numel * dtype_size(dtype); }
  // Sub-view of `n` elements starting at element `offset`.
  Buf at(size_t offset, size_t n) const;
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr);
  }
};

struct AdamWArgs {
  float lr = 0;
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  float weight_decay = 0;      // decoupled: p -= lr*wd*p (applied only to segments with decay)
  int64_t step = 1;            // 1-based, for bias correction
  float max_grad_norm = 1.0f;  // <= 0: no clipping
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

  // ---- memory --------------------------------------------------------------------------
  virtual Buf alloc(size_t numel, DType dtype) = 0;  // zero-initialised
  virtual void free(Buf b) = 0;
  virtual void copy_from_host(Buf dst, const void* src) = 0;  // src has dst.dtype, dst.numel elements
  virtual void copy_to_host(void* dst, Buf src) = 0;          // waits for pending work
  virtual void convert(Buf dst, Buf src) = 0;  // element-wise dtype conversion, same numel (any pair)
  virtual void fill(Buf dst, double value) = 0;
  virtual void synchronize() = 0;
  virtual size_t peak_memory_bytes() const { return 0; }

  // ---- embedding (embedding.*) -------------------------------------------------------------
  // out[n, :] = table[ids[n], :]                 out [N,C] overwrite; ids I32 [N]; table [V,C]
  virtual void embedding_forward(Buf out, Buf ids, Buf table, int64_t N, int64_t C, int64_t V) = 0;
  // dtable[ids[n], :] += dout[n, :]              dtable [V,C] grad_dtype, accumulate
  virtual void embedding_backward(Buf dtable, Buf ids, Buf dout, int64_t N, int64_t C, int64_t V) = 0;

  // ---- RMSNorm (rmsnorm.*) --------------------------------------------------------------------
  // out = inp * rsqrt(mean(inp^2) + eps) * weight, per row of width C (HF Qwen3RMSNorm; stats in
  // fp32 or better). Saves rstd [R] (stat_dtype). Also used per head for q/k-norm (R = N*H, C = D).
  virtual void rmsnorm_forward(Buf out, Buf rstd, Buf inp, Buf weight, int64_t R, int64_t C, float eps) = 0;
  // dinp ACCUMULATE [R,C]; dweight ACCUMULATE [C] (grad_dtype).
  virtual void rmsnorm_backward(Buf dinp, Buf dweight, Buf dout, Buf inp, Buf weight, Buf rstd, int64_t R,
                                int64_t C) = 0;

  // ---- matmul (matmul.*): a bias-free nn.Linear ---------------------------------------------------
  // out[M,N] = inp[M,K] @ weight[N,K]^T        overwrite, or += when accumulate
  virtual void matmul_forward(Buf out, Buf inp, Buf weight, int64_t M, int64_t K, int64_t N,
                              bool accumulate = false) = 0;
  // dinp[M,K] (= or +=, per accumulate_dinp) = dout @ weight; dweight[N,K] += dout^T @ inp (grad_dtype).
  // Either output may be empty() to skip it.
  virtual void matmul_backward(Buf dinp, Buf dweight, Buf dout, Buf inp, Buf weight, int64_t M, int64_t K,
                               int64_t N, bool accumulate_dinp) = 0;

  // ---- RoPE (rope.*), rotate_half convention ------------------------------------------------------
  // Row n of a [N, H*D] tensor is at position pos_offset + n % T. For i < D/2:
  //   f_i = theta^(-2i/D); c = cos(p f_i), s = sin(p f_i)
  //   out[i] = x[i] c - x[i+D/2] s;  out[i+D/2] = x[i+D/2] c + x[i] s.   out may alias inp.
  virtual void rope_forward(Buf out, Buf inp, int64_t N, int64_t T, int64_t H, int64_t D, double theta,
                            int64_t pos_offset = 0) = 0;
  // dinp = R^T dout (overwrite; may alias dout).
  virtual void rope_backward(Buf dinp, Buf dout, int64_t N, int64_t T, int64_t H, int64_t D, double theta,
                             int64_t pos_offset = 0) = 0;

  // ---- causal GQA attention (attention.*) ----------------------------------------------------------
  // q [B*T, Hq*D], k,v [B*T, Hkv*D]; query head h uses kv head h / (Hq/Hkv). Scale 1/sqrt(D).
  // out [B*T, Hq*D] overwrite; lse [B*Hq*T] (stat_dtype) = log-sum-exp of each row of scaled scores,
  // saved for the backward (flash-style: no T x T matrix needs to be kept).
  virtual void attention_forward(Buf out, Buf lse, Buf q, Buf k, Buf v, int64_t B, int64_t T, int64_t Hq,
                                 int64_t Hkv, int64_t D) = 0;
  // dq, dk, dv overwrite.
  virtual void attention_backward(Buf dq, Buf dk, Buf dv, Buf dout, Buf out, Buf lse, Buf q, Buf k, Buf v,
                                  int64_t B, int64_t T, int64_t Hq, int64_t Hkv, int64_t D) = 0;
  // Inference with a KV cache, batch 1: q [Tq, Hq*D] are the LAST Tq positions of a sequence whose keys
  // and values are k_cache/v_cache [Tkv, Hkv*D] (Tq <= Tkv); query i sits at position Tkv-Tq+i and
  // attends to keys 0..Tkv-Tq+i. out [Tq, Hq*D] overwrite.
  virtual void attention_infer(Buf out, Buf q, Buf k_cache, Buf v_cache, int64_t Tq, int64_t Tkv, int64_t Hq,
                               int64_t Hkv, int64_t D) = 0;

  // ---- SwiGLU (swiglu.*) ----------------------------------------------------------------------------
  // out = silu(gate) * up, silu(x) = x / (1 + exp(-x)); all [n], out overwrite.
  virtual void swiglu_forward(Buf out, Buf gate, Buf up, int64_t n) = 0;
  // dgate, dup overwrite.
  virtual void swiglu_backward(Buf dgate, Buf dup, Buf dout, Buf gate, Buf up, int64_t n) = 0;

  // ---- element-wise ----------------------------------------------------------------------------------
  // out = a + b (out may alias a or b).
  virtual void add(Buf out, Buf a, Buf b, int64_t n) = 0;

  // ---- LM head + cross-entropy (cross_entropy.*) -------------------------------------------------------
  // logits[n, :] = hidden[n, :] @ table^T (table [V,C], the tied embedding); for each row with
  // targets[n] >= 0: losses[n] = logsumexp(logits[n]) - logits[n, targets[n]]; rows with target < 0
  // give loss 0 and no gradient. losses [N] stat_dtype, overwrite.
  // If dhidden is not empty: dhidden [N,C] overwrite and dtable [V,C] accumulate receive the gradient of
  // loss_scale * sum_n losses[n]. Must never hold logits for all N rows at once in fp32 beyond a
  // bounded chunk (the CUDA target: <= 2 GB extra at N = 16384, V = 151936).
  virtual void lm_head_loss(Buf losses, Buf dhidden, Buf dtable, Buf hidden, Buf table, Buf targets,
                            int64_t N, int64_t C, int64_t V, float loss_scale) = 0;
  // logits [N,V] (stat_dtype) overwrite, for sampling.
  virtual void lm_head_logits(Buf logits, Buf hidden, Buf table, int64_t N, int64_t C, int64_t V) = 0;

  // ---- reductions and the optimizer (adamw.*) -----------------------------------------------------------
  // out[0] = sum(x) (stat_dtype scalar, overwrite). x stat_dtype.
  virtual void sum(Buf out, Buf x, int64_t n) = 0;
  // out[0] = sum(g^2) over all n gradient elements (stat_dtype scalar, overwrite).
  virtual void grad_norm_sq(Buf out, Buf grads, int64_t n) = 0;
  // AdamW as torch.optim.AdamW with HF-style global clipping, for one contiguous segment:
  //   clip = max_grad_norm > 0 ? min(1, max_grad_norm / (sqrt(grad_norm_sq[0]) + 1e-6)) : 1
  //   g = clip*grad; p -= lr*wd*p (if decay); m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2
  //   p -= lr * (m / (1-b1^step)) / (sqrt(v / (1-b2^step)) + eps)
  // master, m, v: master_dtype; grads: grad_dtype; grad_norm_sq: stat_dtype scalar read on the device
  // (no host sync). If `compute` is not empty it receives the updated weights in act_dtype.
  virtual void adamw_update(Buf master, Buf compute, Buf grads, Buf m, Buf v, Buf grad_norm_sq, int64_t n,
                            const AdamWArgs& args, bool decay) = 0;
};

// Factories. make_cpu_backend(DType::F32 | DType::F64). make_cuda_backend() throws tt::Error when
// the binary has no CUDA backend or no GPU is present (is_cuda_available() tells without throwing).
std::unique_ptr<Backend> make_cpu_backend(DType dtype = DType::F32);
bool is_cuda_available();
// Why is_cuda_available() is false ("" when it is true): no CUDA backend in this build, or the CUDA
// runtime's error (e.g. cudaErrorInsufficientDriver), or no device. The GPU tests print it when they skip.
std::string cuda_unavailable_reason();
// True when the environment variable TT_REQUIRE_CUDA is set (non-empty, not "0"): the GPU tests and the
// CUDA benchmark then fail instead of skipping, so a GPU session cannot pass by skipping everything.
bool cuda_required_by_env();
std::unique_ptr<Backend> make_cuda_backend(int device = 0);

}  // namespace tt
