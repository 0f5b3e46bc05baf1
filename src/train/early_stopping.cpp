#include "train/early_stopping.h"

#include "common/check.h"

namespace tt {

bool EarlyStopping::update(double loss, bool counts) {
  if (!has_best() || best_ - loss > threshold_) {
    best_ = loss;
    bad_evals_ = 0;
    return true;
  }
  if (counts) ++bad_evals_;
  return false;
}

void EarlyStopping::restore(double best, int64_t bad_evals) {
  TT_CHECK(bad_evals >= 0) << "early-stopping state: bad_evals " << bad_evals << " is negative";
  best_ = best;
  bad_evals_ = bad_evals;
}

}  // namespace tt
