// Checkpoint directories (runs/last, runs/best), loadable by Hugging Face `from_pretrained` for both
// the model and the tokenizer:
// - model.safetensors: weights, HF names, F32 (the exact fp32 master weights; DESIGN.md, "File formats");
// - config.json, generation_config.json (write_hf_config_files);
// - tokenizer.json, copied from the tokenizer directory, and its tokenizer_config.json with the model's eos
//   token and context (tokenizer_config_for);
// - run_info.json: what produced it (config, flags, commit, device, step, losses, speed, ...);
// - trainer_state.json: step, data order (seed, epoch, position), early-stopping state, the run's flags, ...;
// - optimizer.bin: AdamW moments (only in checkpoints meant for --resume, i.e. runs/last).
// Saving is atomic: everything is written into a temporary sibling directory (make_temp_dir_beside),
// then swapped in with replace_dir_atomic. Any failure before the swap removes the temporary
// directory and leaves the previous checkpoint untouched; a kill leaves at worst a stale
// ".<name>.tmp.<pid>.<n>.<host>" directory, which remove_stale_checkpoint_temps() cleans up later.
#pragma once

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "model/model.h"

namespace tt {

struct CheckpointContent {
  nlohmann::ordered_json run_info;
  nlohmann::ordered_json trainer_state;
  std::filesystem::path tokenizer_dir;
  bool with_optimizer = true;
  // Called with the temporary directory after all files are written and before the swap (tests use
  // it to simulate a failure mid-save).
  std::function<void(const std::filesystem::path&)> before_commit;
};

void save_checkpoint(Qwen3Model& model, const std::filesystem::path& dir, const CheckpointContent& content);

// The text of `file` (a tokenizer_config.json) for a checkpoint of `cfg`: eos_token the added token of
// cfg.eos_token_id (Qwen3's own file names the chat models' <|im_end|>; a model trained here ends documents
// with <|endoftext|>) and model_max_length its context, so that HF's AutoTokenizer agrees with the model.
std::string tokenizer_config_for(const Qwen3Config& cfg, const std::filesystem::path& file);

// Reads and validates dir/config.json (tt::Error naming the directory when it is not a checkpoint).
Qwen3Config load_checkpoint_config(const std::filesystem::path& dir);
// Weights (model.safetensors) and, when `with_optimizer`, optimizer.bin into an existing model.
void load_checkpoint_weights(Qwen3Model& model, const std::filesystem::path& dir, bool with_optimizer);
nlohmann::json load_json_file(const std::filesystem::path& file);
// The tokenizer.json to read a checkpoint's ids with (sample, eval, train --resume): its own copy, else the
// default one; a --tokenizer given (tokenizer_json_file) must be the checkpoint's own tokenizer when the
// checkpoint carries one, since the model's ids mean that tokenizer's tokens (tt::Error naming both
// files otherwise, or the given one when it does not exist).
std::filesystem::path checkpoint_tokenizer_json(const std::filesystem::path& dir,
                                                const std::string& tokenizer_flag);

// Removes ".<name>.tmp.<pid>.<n>.<host>" directories in `parent` made on this host whose process is gone.
void remove_stale_checkpoint_temps(const std::filesystem::path& parent);

}  // namespace tt
