// Learning-rate schedule: linear warmup, then cosine decay to min_lr_ratio * peak_lr.
//
// Same function as Hugging Face `get_cosine_with_min_lr_schedule_with_warmup` (with
// min_lr_ratio = 0 it is exactly `get_cosine_schedule_with_warmup`, num_cycles = 0.5). `step` is
// 0-based: the k-th optimizer update (k = 1, 2, ...) uses lr_at(k - 1), as in HF where the
// scheduler is stepped after each optimizer.step(). So with warmup the first update has lr 0.
//   step < W:  lr = peak * step / max(1, W)
//   else:      p = (step - W) / max(1, S - W)          (S = total steps; p may exceed 1 past S)
//              f = 0.5 * (1 + cos(pi * p))
//              lr = peak * max(0, f * (1 - m) + m)     (m = min_lr_ratio)
#pragma once

#include <cstdint>

namespace tt {

struct LrSchedule {
  double peak_lr = 1e-3;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;
  double min_lr_ratio = 0;

  double lr_at(int64_t step) const;
};

}  // namespace tt
