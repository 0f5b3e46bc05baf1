#include "train/commands.h"

#include <cmath>
#include <filesystem>
#include <memory>

#include "common/check.h"
#include "common/log.h"
#include "common/sha256.h"
#include "data/dataset.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "train/checkpoint.h"
#include "train/device.h"

namespace tt {

namespace fs = std::filesystem;

void SampleOptions::declare(OptionSet& o) {
  // sample records none of its flags: a path or prompt may be any bytes (invalid UTF-8 in the prompt is
  // encoded as U+FFFD, as the tokenizer does)
  o.add("--ckpt_dir", ckpt_dir, "checkpoint directory, e.g. runs/best or runs/last").required().any_bytes();
  o.add("--prompt", prompt, "text to continue (empty: start of a document)").any_bytes();
  o.add("--max_new_tokens", max_new_tokens, "tokens to generate at most").positive();
  o.add("--temperature", temperature, "softmax temperature; 0 = greedy (deterministic)").at_least(0);
  o.add("--top_k", top_k, "sample among the k most likely tokens (0 = all)").at_least(0);
  o.add("--top_p", top_p, "nucleus sampling: smallest set with this cumulative probability (1 = all)")
      .above(0)
      .at_most(1);
  o.add("--seed", seed, "sampling seed (same seed, same text)");
  declare_device_flags(o, device, threads, memory_check);
  o.add("--tokenizer", tokenizer, "tokenizer directory (default: the checkpoint's tokenizer.json)")
      .any_bytes();
}

void SampleOptions::validate() const {
  check_declared_rules(*this);
}

GenerateResult run_sample(const SampleOptions& opts, std::FILE* out) {
  opts.validate();
  Qwen3Config cfg = load_checkpoint_config(opts.ckpt_dir);
  auto tok = Tokenizer::load(checkpoint_tokenizer_json(opts.ckpt_dir, opts.tokenizer));
  std::vector<int32_t> prompt = tok->encode(opts.prompt);
  const int64_t ctx = cfg.max_position_embeddings;
  if (const auto problem = prompt_problem(prompt, cfg.vocab_size, ctx))
    TT_FAIL() << "--prompt " << *problem
              << hint("use a shorter prompt, or the tokenizer the model was trained with");
  const int64_t prompt_len = std::max<int64_t>(1, int64_t(prompt.size()));
  int64_t max_new = opts.max_new_tokens;
  if (max_new > ctx - prompt_len) {  // not prompt_len + max_new > ctx: --max_new_tokens may be near 2^63
    max_new = ctx - prompt_len;
    log_warn("--max_new_tokens ", opts.max_new_tokens, " does not fit the context of ", ctx,
             " tokens; generating ", max_new);
  }

  auto backend = make_backend_for_device(opts.device, opts.threads);
  check_model_fits(cfg, *backend, 1, prompt_len + max_new, ModelUse::kInference,
                   {.what = "sampling " + std::to_string(prompt_len + max_new) + " tokens with this model",
                    .advice = "the model is too large for this machine",
                    .memory_check = opts.memory_check});
  Qwen3Model model(cfg, *backend, 1, prompt_len + max_new, ModelUse::kInference);
  load_checkpoint_weights(model, opts.ckpt_dir, /*with_optimizer=*/false);

  GenerateOptions g;
  g.max_new_tokens = max_new;
  g.sampling = SamplingParams{opts.temperature, opts.top_k, opts.top_p};
  g.stop_ids = generation_stop_ids(cfg, *tok);
  g.max_seq = prompt_len + max_new;
  std::mt19937_64 rng(opts.seed);

  std::fputs(opts.prompt.c_str(), out);
  std::fflush(out);
  GenerateResult res =
      generate(model, *tok, prompt, g, rng, generation_start_id(g.stop_ids), [out](std::string_view piece) {
        std::fwrite(piece.data(), 1, piece.size(), out);
        std::fflush(out);
      });
  std::fputs("\n", out);
  std::fflush(out);
  double tps = res.seconds > 0 ? double(res.tokens.size()) / res.seconds : 0;
  char stats[160];
  std::snprintf(stats, sizeof stats, "%zu tokens in %.2f s (%.1f tokens/s, %s, prompt %lld tokens)%s",
                res.tokens.size(), res.seconds, tps, backend->name().c_str(),
                static_cast<long long>(res.prompt_tokens),
                res.stopped_at_eos ? ", stopped at end-of-text" : "");
  log_info("sample: ", stats);
  return res;
}

void EvalOptions::declare(OptionSet& o) {
  o.add("--ckpt_dir", ckpt_dir, "checkpoint directory, e.g. runs/best").required();
  o.add("--data_dir", data_dir, "directory written by prepare-data").non_empty();
  o.add("--split", split, "train or val").one_of({"train", "val"});
  o.add("--max_rows", max_rows, "evaluate only the first N rows (0 = all)").at_least(0);
  o.add("--batch_size", batch_size, "rows per forward pass").positive();
  declare_device_flags(o, device, threads, memory_check);
  o.add("--tokenizer", tokenizer,
        "tokenizer directory (or tokenizer.json) the data was prepared with (default: the checkpoint's "
        "tokenizer.json)");
}

void EvalOptions::validate() const {
  check_declared_rules(*this);
}

EvalResult run_eval_command(const EvalOptions& opts) {
  opts.validate();
  Qwen3Config cfg = load_checkpoint_config(opts.ckpt_dir);
  TokenDataset data = TokenDataset::open(opts.data_dir, opts.split);
  const fs::path tokenizer = checkpoint_tokenizer_json(opts.ckpt_dir, opts.tokenizer);
  TT_CHECK(fs::is_regular_file(tokenizer)) << tokenizer.string() << ": tokenizer file not found";
  Tokenizer::load(tokenizer);  // a damaged file is named as such, not as a tokenizer the data does not match
  data.check_compatible(cfg.vocab_size, cfg.max_position_embeddings, sha256_hex_file(tokenizer));
  TT_CHECK(data.rows() > 0) << data.path().string() << ": no rows to evaluate";
  auto backend = make_backend_for_device(opts.device, opts.threads);
  const int64_t batch =
      std::min(opts.batch_size, opts.max_rows > 0 ? std::min(opts.max_rows, data.rows()) : data.rows());
  check_model_fits(cfg, *backend, batch, data.seq_len(), ModelUse::kInference,
                   {.what = "--batch_size " + std::to_string(batch) + " (rows of " +
                            std::to_string(data.seq_len()) + " tokens)",
                    .advice = "lower --batch_size",
                    .memory_check = opts.memory_check});
  Qwen3Model model(cfg, *backend, batch, data.seq_len(), ModelUse::kInference);
  load_checkpoint_weights(model, opts.ckpt_dir, /*with_optimizer=*/false);
  log_info("eval: ", opts.ckpt_dir, " on ", data.path().string(), " (", backend->name(), ")");
  EvalResult r = evaluate_split(model, data, opts.max_rows, batch);
  TT_CHECK(std::isfinite(r.loss)) << opts.ckpt_dir << ": the loss on " << data.path().string() << " is "
                                  << r.loss << ": the model's weights overflow in the forward pass"
                                  << hint("the checkpoint is damaged, or was saved by a run that diverged");
  return r;
}

}  // namespace tt
