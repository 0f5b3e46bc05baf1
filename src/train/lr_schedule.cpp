#include "train/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace tt {

double LrSchedule::lr_at(int64_t step) const {
  if (step < warmup_steps) return peak_lr * double(step) / double(std::max<int64_t>(1, warmup_steps));
  double progress = double(step - warmup_steps) / double(std::max<int64_t>(1, total_steps - warmup_steps));
  double factor = 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
  factor = factor * (1.0 - min_lr_ratio) + min_lr_ratio;
  return peak_lr * std::max(0.0, factor);
}

}  // namespace tt
