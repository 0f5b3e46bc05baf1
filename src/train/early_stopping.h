// Early stopping with Hugging Face EarlyStoppingCallback semantics, for a loss (lower is better):
//   an evaluation "improves" when best - loss > threshold (the first evaluation always improves);
//   otherwise the counter of evaluations without improvement grows; training stops once the
//   counter reaches `patience`. patience = 0 disables stopping (best is still tracked).
// This is the run's one improvement rule: the best loss is also the eval loss of best/.
#pragma once

#include <cstdint>
#include <limits>

namespace tt {

class EarlyStopping {
 public:
  EarlyStopping(int64_t patience = 0, double threshold = 0) : patience_(patience), threshold_(threshold) {}

  // Records one evaluation; returns true when it improved on the best so far. `counts`: whether an
  // evaluation without improvement counts towards patience (the periodic ones do; the final evaluation
  // at a stop does not).
  bool update(double loss, bool counts = true);
  bool should_stop() const { return patience_ > 0 && bad_evals_ >= patience_; }
  double best() const { return best_; }  // +inf before the first evaluation
  bool has_best() const { return best_ < std::numeric_limits<double>::infinity(); }
  int64_t bad_evals() const { return bad_evals_; }
  int64_t patience() const { return patience_; }

  // The resumable state (best, counter); patience and threshold come from the flags.
  void restore(double best, int64_t bad_evals);

 private:
  int64_t patience_;
  double threshold_;
  double best_ = std::numeric_limits<double>::infinity();
  int64_t bad_evals_ = 0;
};

}  // namespace tt
