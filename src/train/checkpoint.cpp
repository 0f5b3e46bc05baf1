#include "train/checkpoint.h"

#include <optional>
#include <utility>

#include "common/check.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/paths.h"
#include "common/sha256.h"
#include "model/checkpoint_io.h"

namespace tt {

namespace {

void copy_file_into(const std::filesystem::path& src, const std::filesystem::path& dst) {
  write_file_atomic(dst, read_file(src));
}

}  // namespace

std::string tokenizer_config_for(const Qwen3Config& cfg, const std::filesystem::path& file) {
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(read_file(file), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    log_warn(file.string(), ": not a JSON object; copied into the checkpoint as it is");
    return read_file(file);
  }
  // The eos token's text: tokenizer_config.json's added_tokens_decoder, else tokenizer.json's added_tokens.
  const std::string eos_key = std::to_string(cfg.eos_token_id);
  std::optional<std::string> eos;
  if (j.contains("added_tokens_decoder") && j["added_tokens_decoder"].is_object() &&
      j["added_tokens_decoder"].contains(eos_key) && j["added_tokens_decoder"][eos_key].is_object() &&
      j["added_tokens_decoder"][eos_key].value("content", nlohmann::ordered_json()).is_string())
    eos = j["added_tokens_decoder"][eos_key]["content"].get<std::string>();
  const std::filesystem::path tokenizer_json = file.parent_path() / "tokenizer.json";
  if (!eos && std::filesystem::is_regular_file(tokenizer_json)) {
    const nlohmann::json t = nlohmann::json::parse(read_file(tokenizer_json), nullptr, false);
    if (t.is_object() && t.contains("added_tokens") && t["added_tokens"].is_array())
      for (const auto& token : t["added_tokens"])
        if (token.is_object() && token.value("id", int64_t(-1)) == cfg.eos_token_id &&
            token.value("content", nlohmann::json()).is_string())
          eos = token["content"].get<std::string>();
  }
  if (eos) {
    j["eos_token"] = *eos;
  } else {
    // Once per process: a run saves many checkpoints.
    static bool said = false;
    if (!std::exchange(said, true))
      log_warn(file.string(), ": no added token ", eos_key,
               " (the config's eos_token_id) in it or its tokenizer.json: "
               "its eos_token ",
               j.value("eos_token", nlohmann::ordered_json()).dump(), " is kept in checkpoints");
  }
  j["model_max_length"] = cfg.max_position_embeddings;
  return j.dump(2) + "\n";
}

void save_checkpoint(Qwen3Model& model, const std::filesystem::path& dir, const CheckpointContent& c) {
  // A diverged run (its loss is checked only on logging steps) must not replace a good checkpoint.
  const HostWeights weights = download_master_weights(model);
  if (const auto bad = first_non_finite_weight(model.table(), weights))
    TT_FAIL() << "refusing to save " << dir.string() << ": weight \"" << bad->tensor
              << "\" holds a NaN or infinity at element " << bad->element << ", so training diverged"
              << hint("lower --lr or raise --warmup_steps; " + dir.string() + " keeps what it held");
  TempDirGuard tmp(make_temp_dir_beside(dir));
  save_safetensors(model.table(), weights, tmp.dir() / "model.safetensors", DType::F32);
  if (c.with_optimizer) save_optimizer_state(model, tmp.dir() / "optimizer.bin");
  write_hf_config_files(model.config(), tmp.dir());
  TT_CHECK(std::filesystem::exists(c.tokenizer_dir / "tokenizer.json"))
      << (c.tokenizer_dir / "tokenizer.json").string() << ": not found; cannot copy the tokenizer into "
      << dir.string();
  copy_file_into(c.tokenizer_dir / "tokenizer.json", tmp.dir() / "tokenizer.json");
  if (std::filesystem::exists(c.tokenizer_dir / "tokenizer_config.json"))
    write_file_atomic(tmp.dir() / "tokenizer_config.json",
                      tokenizer_config_for(model.config(), c.tokenizer_dir / "tokenizer_config.json"));
  else
    log_warn(c.tokenizer_dir.string(), " has no tokenizer_config.json; the checkpoint will lack it");
  write_file_atomic(tmp.dir() / "trainer_state.json", c.trainer_state.dump(2) + "\n");
  write_file_atomic(tmp.dir() / "run_info.json", c.run_info.dump(2) + "\n");
  if (c.before_commit) c.before_commit(tmp.dir());
  replace_dir_atomic(tmp.dir(), dir);
  tmp.release();
}

nlohmann::json load_json_file(const std::filesystem::path& file) {
  std::string text = read_file(file);
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  TT_CHECK(!j.is_discarded() && j.is_object()) << file.string() << ": not a valid JSON object";
  return j;
}

Qwen3Config load_checkpoint_config(const std::filesystem::path& dir) {
  TT_CHECK(!std::filesystem::exists(dir) || std::filesystem::is_directory(dir))
      << dir.string() << ": is a file, not a checkpoint directory"
      << hint("pass a directory such as runs/last or runs/best");
  TT_CHECK(std::filesystem::is_directory(dir)) << dir.string() << ": checkpoint directory not found"
                                               << hint("pass a directory such as runs/last or runs/best");
  TT_CHECK(std::filesystem::exists(dir / "config.json"))
      << dir.string() << ": not a checkpoint (no config.json)" << hint("pass a directory such as runs/last");
  TT_CHECK(std::filesystem::exists(dir / "model.safetensors"))
      << dir.string() << ": not a checkpoint (no model.safetensors)";
  Qwen3Config cfg = Qwen3Config::load(dir / "config.json");
  check_safetensors_tensors(cfg, dir / "model.safetensors");
  return cfg;
}

void load_checkpoint_weights(Qwen3Model& model, const std::filesystem::path& dir, bool with_optimizer) {
  if (!with_optimizer) {
    load_safetensors(model, dir / "model.safetensors");
    return;
  }
  TT_CHECK(std::filesystem::exists(dir / "optimizer.bin"))
      << dir.string() << ": no optimizer.bin, cannot resume training from it"
      << hint("resume from the run's `last` checkpoint");
  check_safetensors_tensors(model.config(), dir / "model.safetensors");
  load_optimizer_state(model, dir / "optimizer.bin");
  // The run continues from optimizer.bin's master weights; model.safetensors must be the same weights
  // (rounded to its dtype), or the checkpoint was mixed from two runs or edited. It is read once, for this.
  if (const auto diff = first_difference_from_file(model, dir / "model.safetensors"))
    TT_FAIL() << dir.string() << ": model.safetensors and optimizer.bin hold different weights (" << *diff
              << "), so they are not from the same save"
              << hint("resume from an unmodified checkpoint directory");
}

void remove_stale_checkpoint_temps(const std::filesystem::path& parent) {
  remove_stale_temp_dirs(parent);
}

std::filesystem::path checkpoint_tokenizer_json(const std::filesystem::path& dir,
                                                const std::string& tokenizer_flag) {
  const std::filesystem::path own = dir / "tokenizer.json";
  const bool has_own = std::filesystem::exists(own);
  TT_CHECK(!has_own || std::filesystem::is_regular_file(own))
      << own.string() << ": not a file; the checkpoint's tokenizer must be its tokenizer.json";
  if (tokenizer_flag.empty()) {
    if (has_own) return own;
    const std::filesystem::path fallback = tokenizer_json_file("");
    TT_CHECK(std::filesystem::is_regular_file(fallback))
        << own.string() << " is missing, and so is the default tokenizer, " << fallback.string()
        << hint("pass --tokenizer DIR: the tokenizer the model was trained with");
    log_warn(own.string(), " is missing: using the default tokenizer, ", fallback.string(),
             ", which may not be the one the model was trained with (--tokenizer DIR names it)");
    return fallback;
  }
  const std::filesystem::path given = tokenizer_json_file(tokenizer_flag);
  TT_CHECK(std::filesystem::is_regular_file(given))
      << "--tokenizer: " << given.string() << ": tokenizer file not found";
  if (has_own) {
    const std::string given_sha = sha256_hex_file(given), own_sha = sha256_hex_file(own);
    TT_CHECK(given_sha == own_sha) << "--tokenizer: " << given.string() << " (sha256 " << given_sha
                                   << ") is not the tokenizer of the checkpoint, " << own.string()
                                   << " (sha256 " << own_sha << ")"
                                   << hint("use the tokenizer the model was trained with (omit --tokenizer)");
  }
  return given;
}

}  // namespace tt
