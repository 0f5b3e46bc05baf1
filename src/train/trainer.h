// The training loop behind `tiny-transformer train` (see DESIGN.md), in trainer.cpp from top to bottom:
//   setup: every check before any work (flags, config, tokenizer, data vs config vs tokenizer, device,
//     the saved state when resuming), then out_dir (--overwrite deletes) and init or resume;
//   the loop: one optimizer step (grad_accum micro-batches + AdamW on the warmup+cosine schedule), then
//     once in a while a log line (metrics.jsonl, progress), an evaluation (best/, early stopping,
//     loss.svg), samples (stdout + samples.log) and a save of last/;
//   the stop (steps done, early stopping, --max_train_minutes, a signal, --stop_after_steps): a final
//     evaluation and the save of last/.
// The wall-time cap covers all of it: the loop stops early enough that setup, the final evaluation and
// both final saves end within --max_train_minutes (time_budget.h). A failing periodic sample is a
// warning only. Files: run_state.h (trainer_state.json, run_info.json), metrics_log.h (metrics.jsonl).
// Data-parallel (launched as several ranks, src/dist): rank 0 alone writes; an error on any rank ends every
// rank at once, with that rank's message.
#pragma once

#include <cstdint>
#include <string>

#include "train/train_options.h"

namespace tt {

struct TrainResult {
  int64_t step = 0;
  std::string stop_reason;
  double eval_loss = 0;       // final evaluation
  double best_eval_loss = 0;  // best evaluation of the run (all sessions)
};

// `already_elapsed_s`: wall time the caller spent before (the CLI passes the process's age, see
// process_clock.h); --max_train_minutes budgets the whole run including it.
TrainResult run_training(const TrainOptions& opts, double already_elapsed_s = 0);

}  // namespace tt
