#include "train/early_stopping.h"

#include <algorithm>

#include "common/check.h"

namespace tt {

bool EarlyStopping::update(double loss, bool counts) {
  if (counts) {
    if (baseline_ == kNone || baseline_ - loss > threshold_)
      bad_evals_ = 0;
    else
      ++bad_evals_;
    baseline_ = std::min(baseline_, loss);
  }
  if (loss < best_) {
    best_ = loss;
    return true;
  }
  return false;
}

void EarlyStopping::restore(double best, double baseline, int64_t bad_evals, const std::string& file) {
  TT_CHECK(bad_evals >= 0) << file << ": early_stopping.bad_evals " << bad_evals << " is negative";
  best_ = best;
  baseline_ = baseline;
  bad_evals_ = bad_evals;
}

}  // namespace tt
