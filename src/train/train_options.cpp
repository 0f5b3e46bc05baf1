#include "train/train_options.h"

#include <algorithm>

#include "common/check.h"
#include "train/device.h"

namespace tt {

void TrainOptions::declare(OptionSet& o) {
  o.add("--config", config,
        "model config.json (HF Qwen3 format), e.g. configs/qwen3_demo.json; with --resume "
        "the checkpoint's config is used when omitted");
  o.add("--data_dir", data_dir, "directory written by prepare-data (train.bin, val.bin, meta.json)")
      .non_empty();
  o.add("--out_dir", out_dir, "run directory: last/, best/, metrics.jsonl, loss.svg, samples.log")
      .non_empty();
  o.add("--tokenizer", tokenizer,
        "tokenizer directory (tokenizer.json, tokenizer_config.json; default: $TT_TOKENIZER_DIR or "
        "assets/qwen3-tokenizer)");
  o.add("--steps", steps, "total optimizer steps (the schedule's length; a resumed run continues to it)")
      .positive();
  o.add("--lr", lr, "peak learning rate").positive();
  o.add("--warmup_steps", warmup_steps, "linear warmup steps").at_least(0);
  o.add("--min_lr_ratio", min_lr_ratio, "cosine decay ends at min_lr_ratio * lr").in_range(0, 1);
  o.add("--weight_decay", weight_decay, "AdamW decoupled weight decay (matrices and embedding, not norms)")
      .at_least(0);
  o.add("--max_grad_norm", max_grad_norm, "global gradient-norm clipping (0 = off)").at_least(0);
  o.add("--adam_beta1", adam_beta1, "AdamW beta1").at_least(0).below(1);
  o.add("--adam_beta2", adam_beta2, "AdamW beta2").at_least(0).below(1);
  o.add("--adam_epsilon", adam_epsilon, "AdamW epsilon").positive();
  // Bounds far above any real run, so that rows and tokens per step cannot overflow.
  o.add("--micro_batch_size", micro_batch_size, "rows per forward/backward").in_range(1, int64_t(1) << 20);
  o.add("--grad_accum", grad_accum, "micro-batches per optimizer step").in_range(1, int64_t(1) << 20);
  o.add("--eval_steps", eval_steps, "evaluate every N steps (0 = only at the end)").at_least(0);
  o.add("--eval_rows", eval_rows, "validation rows per evaluation (0 = all of val.bin)").at_least(0);
  o.add("--save_steps", save_steps, "save out_dir/last every N steps (0 = only at the end)").at_least(0);
  o.add("--early_stopping_patience", early_stopping_patience,
        "stop after N evaluations without improvement (0 = never)")
      .at_least(0);
  o.add("--early_stopping_threshold", early_stopping_threshold,
        "an evaluation improves when the eval loss drops by more than this")
      .at_least(0);
  o.add("--max_train_minutes", max_train_minutes,
        "wall-time cap: stop cleanly (evaluate, save) so the run ends by then (0 = none)")
      .at_least(0);
  o.add("--stop_after_steps", stop_after_steps,
        "stop cleanly after N steps in this invocation, to continue later with --resume (0 = no limit)")
      .at_least(0);
  o.add("--logging_steps", logging_steps, "log train loss / lr / speed every N steps").positive();
  o.add("--sample_steps", sample_steps, "print generations every N steps (0 = never)").at_least(0);
  o.add("--sample_prompts", sample_prompts, "prompts for the periodic generations");
  o.add("--sample_tokens", sample_tokens, "new tokens per periodic generation").positive();
  o.add("--seed", seed, "seed for weight init, data order and sampling");
  declare_device_flags(o, device, threads, memory_check);
  o.add(
      "--bf16", bf16,
      "bf16 mixed precision: bf16 activations and GEMM inputs, fp32 master weights and optimizer state "
      "(always on CUDA; on the CPU where it has AVX512-BF16 or AMX); --bf16=false turns off a resumed run's");
  o.add("--resume", resume, "continue the run in out_dir from out_dir/last");
  o.add("--overwrite", overwrite, "start afresh even if out_dir already holds a run (deletes it)");
  o.add("--dist_timeout", dist_timeout,
        "several ranks (mpirun, srun): seconds a rank waits for the others in a collective before it ends "
        "the job (a rank that died or hangs); longer than the slowest checkpoint save or sampling")
      .positive()
      .at_most(1e7);  // ~116 days: a larger deadline would overflow the clock's nanoseconds
}

void TrainOptions::validate() const {
  check_declared_rules(*this);
  TT_CHECK(!config.empty() || resume) << "--config is required (e.g. --config configs/qwen3_demo.json)";
  TT_CHECK(!(resume && overwrite)) << "--resume and --overwrite contradict each other";
  TT_CHECK(early_stopping_patience == 0 || eval_steps > 0)
      << "--early_stopping_patience " << early_stopping_patience
      << " needs periodic evaluation, but --eval_steps is 0" << hint("set --eval_steps N");
}

bool TrainOptions::gave(std::string_view name) const {
  return !given || std::find(given->begin(), given->end(), name) != given->end();
}

bool is_session_flag(std::string_view name) {
  for (const char* session : {"config", "out_dir", "tokenizer", "max_train_minutes", "stop_after_steps",
                              "device", "threads", "memory_check", "resume", "overwrite", "dist_timeout"})
    if (name == session) return true;
  return false;
}

bool leaves_results_alone(std::string_view name) {
  for (const char* neutral :
       {"data_dir", "save_steps", "logging_steps", "sample_steps", "sample_prompts", "sample_tokens"})
    if (name == neutral) return true;
  return false;
}

}  // namespace tt
