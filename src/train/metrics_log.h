// <out_dir>/metrics.jsonl: one JSON object per line, appended as the run goes,
//   {"type": "train", "step", "loss", "lr", "grad_norm", "tokens_seen", "tokens_per_s", "step_time_s",
//    "elapsed_s"} every --logging_steps, and
//   {"type": "eval", "step", "eval_loss", "eval_ppl", "eval_rows", "eval_tokens", "eval_time_s",
//    "best_eval_loss", "elapsed_s"} after each evaluation.
// The log also keeps the two loss curves (for loss.svg). A resumed run first drops what a killed
// session logged after the checkpoint it resumes from, so each step is logged once, in order.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "train/loss_plot.h"

namespace tt {

class MetricsLog {
 public:
  explicit MetricsLog(std::filesystem::path file) : file_(std::move(file)) {}

  // Appends one record and adds it to its curve. A write that fails (a full disk) is undone, so the file
  // never holds half a line, and logged as a warning naming the record's step and the reason: a run is not
  // ended for its log, but the gap is never silent. Returns whether the record reached the file.
  bool append(const nlohmann::ordered_json& record);
  // Keeps the records up to `step` (rewriting the file atomically) and reads the curves back from them.
  // Lines that are not JSON objects (a line cut short by a kill) are dropped too.
  void keep_up_to(int64_t step);

  const std::vector<LossPoint>& train_curve() const { return train_; }
  const std::vector<LossPoint>& eval_curve() const { return eval_; }

 private:
  std::filesystem::path file_;
  std::vector<LossPoint> train_, eval_;
};

}  // namespace tt
