#include "train/train_options.h"

#include <cmath>

#include "common/check.h"
#include "train/device.h"

namespace tt {

void TrainOptions::declare(OptionSet& o) {
  o.add("--config", config,
        "model config.json (HF Qwen3 format), e.g. configs/qwen3_demo.json; with --resume "
        "the checkpoint's config is used when omitted");
  o.add("--data_dir", data_dir, "directory written by prepare-data (train.bin, val.bin, meta.json)");
  o.add("--out_dir", out_dir, "run directory: last/, best/, metrics.jsonl, loss.svg, samples.log");
  o.add("--tokenizer", tokenizer,
        "tokenizer directory (tokenizer.json, tokenizer_config.json; default: $TT_TOKENIZER_DIR or "
        "assets/qwen3-tokenizer)");
  o.add("--steps", steps, "total optimizer steps (the schedule's length; a resumed run continues to it)");
  o.add("--lr", lr, "peak learning rate");
  o.add("--warmup_steps", warmup_steps, "linear warmup steps");
  o.add("--min_lr_ratio", min_lr_ratio, "cosine decay ends at min_lr_ratio * lr");
  o.add("--weight_decay", weight_decay, "AdamW decoupled weight decay (matrices and embedding, not norms)");
  o.add("--max_grad_norm", max_grad_norm, "global gradient-norm clipping (0 = off)");
  o.add("--adam_beta1", adam_beta1, "AdamW beta1");
  o.add("--adam_beta2", adam_beta2, "AdamW beta2");
  o.add("--adam_epsilon", adam_epsilon, "AdamW epsilon");
  o.add("--micro_batch_size", micro_batch_size, "rows per forward/backward");
  o.add("--grad_accum", grad_accum, "micro-batches per optimizer step");
  o.add("--eval_steps", eval_steps, "evaluate every N steps (0 = only at the end)");
  o.add("--eval_rows", eval_rows, "validation rows per evaluation (0 = all of val.bin)");
  o.add("--save_steps", save_steps, "save out_dir/last every N steps (0 = only at the end)");
  o.add("--early_stopping_patience", early_stopping_patience,
        "stop after N evaluations without improvement (0 = never)");
  o.add("--early_stopping_threshold", early_stopping_threshold,
        "an evaluation improves when the eval loss drops by more than this");
  o.add("--max_train_minutes", max_train_minutes,
        "wall-time cap: stop cleanly (evaluate, save) so the run ends by then (0 = none)");
  o.add("--stop_after_steps", stop_after_steps,
        "stop cleanly after N steps in this invocation, to continue later with --resume (0 = no limit)");
  o.add("--logging_steps", logging_steps, "log train loss / lr / speed every N steps");
  o.add("--sample_steps", sample_steps, "print generations every N steps (0 = never)");
  o.add("--sample_prompts", sample_prompts, "prompts for the periodic generations");
  o.add("--sample_tokens", sample_tokens, "new tokens per periodic generation");
  o.add("--seed", seed, "seed for weight init, data order and sampling");
  o.add("--device", device, "auto (cuda when available), cuda or cpu");
  o.add("--bf16", bf16, "bf16 mixed precision (the CUDA backend; the CPU backend computes in fp32)");
  o.add("--resume", resume, "continue the run in out_dir from out_dir/last");
  o.add("--overwrite", overwrite, "start afresh even if out_dir already holds a run (deletes it)");
}

void TrainOptions::validate() const {
  TT_CHECK(!config.empty() || resume) << "--config is required (e.g. --config configs/qwen3_demo.json)";
  TT_CHECK(!(resume && overwrite)) << "--resume and --overwrite contradict each other";
  TT_CHECK(steps > 0) << "--steps must be positive, got " << steps;
  TT_CHECK(std::isfinite(lr) && lr > 0) << "--lr must be positive, got " << lr;
  TT_CHECK(warmup_steps >= 0) << "--warmup_steps must be >= 0, got " << warmup_steps;
  TT_CHECK(min_lr_ratio >= 0 && min_lr_ratio <= 1)
      << "--min_lr_ratio must be in [0, 1], got " << min_lr_ratio;
  TT_CHECK(weight_decay >= 0) << "--weight_decay must be >= 0, got " << weight_decay;
  TT_CHECK(max_grad_norm >= 0) << "--max_grad_norm must be >= 0 (0 = no clipping), got " << max_grad_norm;
  TT_CHECK(adam_beta1 >= 0 && adam_beta1 < 1) << "--adam_beta1 must be in [0, 1), got " << adam_beta1;
  TT_CHECK(adam_beta2 >= 0 && adam_beta2 < 1) << "--adam_beta2 must be in [0, 1), got " << adam_beta2;
  TT_CHECK(adam_epsilon > 0) << "--adam_epsilon must be positive, got " << adam_epsilon;
  TT_CHECK(micro_batch_size > 0) << "--micro_batch_size must be positive, got " << micro_batch_size;
  TT_CHECK(grad_accum > 0) << "--grad_accum must be positive, got " << grad_accum;
  TT_CHECK(eval_steps >= 0) << "--eval_steps must be >= 0, got " << eval_steps;
  TT_CHECK(eval_rows >= 0) << "--eval_rows must be >= 0, got " << eval_rows;
  TT_CHECK(save_steps >= 0) << "--save_steps must be >= 0, got " << save_steps;
  TT_CHECK(early_stopping_patience >= 0)
      << "--early_stopping_patience must be >= 0, got " << early_stopping_patience;
  TT_CHECK(early_stopping_patience == 0 || eval_steps > 0)
      << "--early_stopping_patience " << early_stopping_patience
      << " needs periodic evaluation, but --eval_steps is 0" << hint("set --eval_steps N");
  TT_CHECK(early_stopping_threshold >= 0)
      << "--early_stopping_threshold must be >= 0, got " << early_stopping_threshold;
  TT_CHECK(std::isfinite(max_train_minutes) && max_train_minutes >= 0)
      << "--max_train_minutes must be >= 0 (0 = no cap), got " << max_train_minutes;
  TT_CHECK(stop_after_steps >= 0) << "--stop_after_steps must be >= 0, got " << stop_after_steps;
  TT_CHECK(logging_steps > 0) << "--logging_steps must be positive, got " << logging_steps;
  TT_CHECK(sample_steps >= 0) << "--sample_steps must be >= 0, got " << sample_steps;
  TT_CHECK(sample_tokens > 0) << "--sample_tokens must be positive, got " << sample_tokens;
  validate_device_flag(device);
}

}  // namespace tt
