// The Qwen3 model: its config, its parameter table and its graph (qwen3.cpp), on any Backend.
// Checkpoint files are read and written by checkpoint_io.h.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/backend.h"

namespace tt {

// HF `config.json` of a Qwen3ForCausalLM. Unsupported values (attention_bias true, rope_scaling,
// sliding window, untied head, other hidden_act, ...) are refused with a tt::Error naming the key.
struct Qwen3Config {
  int64_t vocab_size = 151936;
  int64_t hidden_size = 384;
  int64_t intermediate_size = 1024;
  int64_t num_hidden_layers = 8;
  int64_t num_attention_heads = 6;
  int64_t num_key_value_heads = 2;
  int64_t head_dim = 64;
  int64_t max_position_embeddings = 512;
  double rope_theta = 1e6;
  double rms_norm_eps = 1e-6;
  double initializer_range = 0.02;
  bool tie_word_embeddings = true;
  int64_t bos_token_id = 151643;
  int64_t eos_token_id = 151643;
  nlohmann::ordered_json raw;  // the file as read, written back verbatim-ish into checkpoints

  static Qwen3Config from_json(const nlohmann::json& j, const std::string& source_name);
  static Qwen3Config load(const std::filesystem::path& path);  // tt::Error names file and key
  nlohmann::ordered_json to_hf_json() const;                   // a complete HF config.json
  int64_t num_parameters() const;                              // tied head counted once
  // FLOPs of one training step (forward + backward) for B x T tokens (matmuls + attention).
  double train_flops(int64_t B, int64_t T) const;
};

// One row per tensor, HF names. Parameters, gradients and both AdamW moments use the same table
// (same offsets into four buffers of total() elements). Decayed tensors (matrices, embedding) are laid
// out first and norm weights last, so the optimizer runs as two contiguous segments.
struct ParamInfo {
  std::string name;            // e.g. "model.layers.3.self_attn.q_proj.weight"
  std::vector<int64_t> shape;  // HF shape, e.g. {out_features, in_features}
  size_t offset = 0;           // element offset
  size_t numel = 0;
  bool decay = false;  // weight decay applies (matrices + embedding, not norms)
};

class ParamTable {
 public:
  explicit ParamTable(const Qwen3Config& cfg);
  const std::vector<ParamInfo>& params() const { return params_; }
  size_t total() const { return total_; }
  size_t decay_numel() const { return decay_numel_; }   // decayed segment is [0, decay_numel)
  const ParamInfo& get(const std::string& name) const;  // tt::Error if absent
  const ParamInfo* find(const std::string& name) const;

 private:
  std::vector<ParamInfo> params_;
  size_t total_ = 0, decay_numel_ = 0;
};

struct StepStats {
  double loss = 0;       // mean next-token CE of the forward_backward calls since the loss sum was cleared
  double grad_norm = 0;  // before clipping
  double loss_sum = 0;   // the sum and count behind `loss` (a data-parallel step adds them over ranks)
  int64_t loss_count = 0;
};

// What a model is built for: training allocates gradients, AdamW's moments and the activations' gradients
// besides the weights and activations, and keeps every layer's activations; inference (eval, sample) keeps
// only the weights (master and, where the backend computes in bf16, the compute copy) and one layer's
// activations, and refuses the training calls.
enum class ModelUse { kTraining, kInference };

class Qwen3Model {
 public:
  // Allocates parameters, activations for batches up to max_batch x max_seq and, for training, gradients
  // and optimizer state on `backend` (which must outlive the model).
  Qwen3Model(const Qwen3Config& cfg, Backend& backend, int64_t max_batch, int64_t max_seq,
             ModelUse use = ModelUse::kTraining);
  ~Qwen3Model();

  // What such a model would take on `backend`, without allocating it: its tensors (weights, gradients,
  // AdamW state, activations, sampling's KV cache) and the backend's op scratch for those shapes. The sum is
  // what peak_memory_bytes() grows by over training steps, evaluation and sampling: exactly on the CPU (up to
  // its 64-byte rounding of each tensor), on CUDA up to the 256 bytes of the GEMM tuning's slot. Callers
  // compare it with available_memory_bytes() before they build a model too large for the machine.
  struct MemoryNeed {
    size_t tensors = 0, scratch = 0;
    size_t total() const { return tensors + scratch; }
  };
  static MemoryNeed memory_need(const Qwen3Config& cfg, Backend& backend, int64_t max_batch, int64_t max_seq,
                                ModelUse use = ModelUse::kTraining);

  const Qwen3Config& config() const;
  const ParamTable& table() const;
  Backend& backend();

  // HF init: normal(0, initializer_range) for matrices and the embedding, ones for norm weights.
  // Deterministic for a seed, the same on every backend (generated on the host in fp32/fp64).
  void init_weights(uint64_t seed);

  // ---- training (tt::Error on a model built for inference) ----
  // Clears the gradients and, unless `keep_loss_sum`, the loss sum (last_step_stats' loss is then the
  // step's); training keeps it over a logging window and clears it with clear_loss_sum after each read.
  void zero_grads(bool keep_loss_sum = false);
  void clear_loss_sum();
  // tokens: host int32 [B*T]. Position t predicts tokens[t+1] of the same row (HF causal LM);
  // the last position of each row has no target. Adds the gradient of
  // loss_scale * sum(CE) to the gradients; the loss sum is accumulated on the device.
  // For a mean over one batch use loss_scale = 1 / (B*(T-1)); with grad accumulation divide by
  // the micro-batch count too.
  void forward_backward(const int32_t* tokens, int64_t B, int64_t T, float loss_scale);
  // Clipping + AdamW over all parameters on the device; refreshes compute weights.
  void optimizer_step(const AdamWArgs& args);
  // Mean loss since the loss sum was cleared and the grad norm of the last step; reading them synchronises
  // (call on logging steps).
  StepStats last_step_stats();

  // ---- evaluation ----
  // Sum of next-token CE over B rows of T tokens and the number of predicted positions.
  std::pair<double, int64_t> eval_loss_sum(const int32_t* tokens, int64_t B, int64_t T);

  // ---- inference with a KV cache (batch 1) ----
  void reset_cache();
  // Appends `n` tokens at the end of the cached sequence; returns fp32 logits [V] of the last one.
  // tt::Error when the sequence would exceed max_seq.
  std::vector<float> forward_next(const int32_t* tokens, int64_t n);
  int64_t cache_length() const;

  // ---- parameters on the host (fp32 view of master weights), by table order ----
  std::vector<float> get_params_f32();
  // Raw gradient / optimizer buffers in host precision (tests, checkpoints): as double.
  std::vector<double> get_grads();
  std::vector<double> get_params();
  void set_params(const std::vector<double>& host);

  // ---- the optimizer state, for checkpoints (checkpoint_io.h) ----
  // Flat [table().total(), 1] device tensors laid out by table(): master weights, AdamW's exp_avg (m)
  // and exp_avg_sq (v). After writing master_weights(), call refresh_compute_weights().
  // grads() is the gradient buffer (grad_dtype) of the same layout, which a data-parallel step sums over
  // the ranks between its last forward_backward and optimizer_step.
  Tensor master_weights();
  Tensor grads();
  Tensor exp_avg();
  Tensor exp_avg_sq();
  void refresh_compute_weights();
  // The AdamW step count of the state (bias correction), 0 before the first step.
  int64_t optimizer_step_count() const;
  void set_optimizer_step_count(int64_t step);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Writes config.json and generation_config.json for an HF-loadable checkpoint dir.
void write_hf_config_files(const Qwen3Config& cfg, const std::filesystem::path& dir);

}  // namespace tt
