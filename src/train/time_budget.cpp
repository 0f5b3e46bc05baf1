#include "train/time_budget.h"

#include <algorithm>

namespace tt {

namespace {

constexpr double kMargin = 1.25;          // measured durations vary; err on stopping early
constexpr double kSlackS = 0.1;           // process exit, plot, logging
constexpr double kSaveBytesPerS = 100e6;  // a slow, busy disk (fsync), until a save has been measured
constexpr double kSaveFixedS = 0.05;      // directory, rename, json files
constexpr double kSampleBytesPerS = 2e9;  // weights read per generated token: a slow, busy memory bus

}  // namespace

SpeedWindow::Speed SpeedWindow::close() {
  const double dt = std::chrono::duration<double>(Clock::now() - start_).count();
  Speed s;
  s.tokens_per_s = dt > 0 ? double(tokens_) / dt : 0;
  s.step_time_s = steps_ > 0 ? dt / double(steps_) : 0;
  start_ = Clock::now();
  tokens_ = steps_ = 0;
  return s;
}

void TimeBudget::step_took(double seconds) {
  step_ema_s_ = step_ema_s_ == 0 ? seconds : 0.7 * step_ema_s_ + 0.3 * seconds;
}

void TimeBudget::window_speed(double step_time_s) {
  window_step_s_ = step_time_s;
}

double TimeBudget::step_s() const {
  // The logging window's average is synchronised, so right on a GPU too; the moving average of each
  // step's wall time covers the first window and reacts to a slowdown without letting one slow step
  // stop the run.
  return kMargin * std::max(window_step_s_, step_ema_s_);
}

double TimeBudget::eval_s() const {
  if (eval_s_ > 0) return kMargin * eval_s_;
  // Not evaluated yet: a forward pass over the rows costs a third to a half of a training step over as many
  // rows (forward + backward + optimizer: 0.26-0.30 measured at qwen3_cpu_small, BENCHMARKS.md "eval vs
  // train"; 0.42-0.44 at the tiny config with Qwen3's vocabulary, whose LM head is nearly all of it). The
  // half: an overrun is worse than a stop one step early.
  return step_s() * double(work_.eval_rows) / double(work_.rows_per_step) / 2.0;
}

double TimeBudget::save_s(bool with_optimizer) const {
  const double measured = with_optimizer ? last_save_s_ : best_save_s_;
  if (measured > 0) return kMargin * measured;
  // Not saved yet: fp32 weights (+ AdamW m and v for last/) and the tokenizer.json copy on a slow disk.
  const double bytes = work_.weight_bytes * (with_optimizer ? 3.0 : 1.0) + work_.tokenizer_bytes;
  return kSaveFixedS + bytes / kSaveBytesPerS;
}

double TimeBudget::samples_s() const {
  if (work_.sample_tokens == 0) return 0;
  if (samples_s_ > 0) return kMargin * samples_s_;
  // Not sampled yet: a generated token reads every weight once (the KV cache spares the rest), priced at a
  // slow kSampleBytesPerS. A wrong guess costs at most one round of samples skipped (samples_fit).
  return double(work_.sample_tokens) * work_.weight_bytes / kSampleBytesPerS;
}

bool TimeBudget::one_more_step_overruns(double elapsed_s, bool save_due) const {
  double t = elapsed_s;
  if (save_due) t += save_s(true);
  t += step_s();
  // The stop after that step: one evaluation (scheduled then, or the final one) that may save best/, then
  // the save of last/.
  t += eval_s() + save_s(false) + save_s(true) + kSlackS;
  return t >= work_.cap_s;
}

bool TimeBudget::samples_fit(double elapsed_s) const {
  return elapsed_s + samples_s() + eval_s() + save_s(false) + save_s(true) + kSlackS < work_.cap_s;
}

}  // namespace tt
