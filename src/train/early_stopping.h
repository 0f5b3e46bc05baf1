// Early stopping with Hugging Face EarlyStoppingCallback semantics, for a loss (lower is better), and the
// run's best loss (best/'s).
// - Patience: a periodic ("counting") evaluation improves when baseline - loss > threshold, baseline being
//   the lowest loss of the counting evaluations before it (the first always improves); otherwise the
//   counter of evaluations without improvement grows, and training stops once it reaches `patience`.
//   patience = 0 disables stopping. As in HF, the baseline follows every lower loss, also one that missed
//   the threshold: losses creeping down by less than it each time count as no improvement. Only counting
//   evaluations move the baseline, so the extra evaluation a stopped run makes at its stop does not change
//   what a resumed run decides: it decides as an uninterrupted one.
// - Best: any evaluation with a lower loss than every one before it replaces best/ (HF's best model: no
//   threshold), the evaluation at a stop included.
#pragma once

#include <cstdint>
#include <limits>
#include <string>

namespace tt {

class EarlyStopping {
 public:
  EarlyStopping(int64_t patience = 0, double threshold = 0) : patience_(patience), threshold_(threshold) {}

  // Records one evaluation; returns true when its loss is the best so far (best/ is to be replaced).
  // `counts`: a periodic evaluation (patience and baseline), not the one at a stop.
  bool update(double loss, bool counts = true);
  bool should_stop() const { return patience_ > 0 && bad_evals_ >= patience_; }
  double best() const { return best_; }  // +inf before the first evaluation
  bool has_best() const { return best_ < kNone; }
  double baseline() const { return baseline_; }  // the lowest counting loss; +inf before the first
  int64_t bad_evals() const { return bad_evals_; }
  int64_t patience() const { return patience_; }

  // The resumable state; patience and threshold come from the flags. tt::Error (naming `file`) for a
  // negative counter.
  void restore(double best, double baseline, int64_t bad_evals, const std::string& file);

 private:
  static constexpr double kNone = std::numeric_limits<double>::infinity();
  int64_t patience_;
  double threshold_;
  double best_ = kNone, baseline_ = kNone;
  int64_t bad_evals_ = 0;
};

}  // namespace tt
