// The training loop behind `tiny-transformer train` (see DESIGN.md):
//   setup (every check before any work: flags, out_dir state, config, tokenizer, data vs config vs
//   tokenizer, device) -> init or resume -> steps of grad_accum micro-batches + AdamW with the
//   warmup+cosine schedule -> periodic logging (metrics.jsonl, progress), evaluation (+ runs/best,
//   early stopping, loss.svg), samples (stdout + samples.log) and saves (runs/last) -> a clean stop
//   (steps done, early stopping, wall-time cap, signal, --stop_after_steps) with a final evaluation
//   and save. The wall-time cap covers all of it: the loop stops early enough that setup, the final
//   evaluation and both final saves end within --max_train_minutes (estimates from this run's own
//   measurements; see check_stop in trainer.cpp). A failing periodic sample is a warning only.
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
