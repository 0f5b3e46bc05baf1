// The loss curve as a self-contained SVG (no plotting dependency): train loss (line) and eval loss
// (line with dots) against the optimizer step, with axes, "nice" tick labels, axis titles and a
// legend. Written to <out_dir>/loss.svg and refreshed after every evaluation.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tt {

struct LossPoint {
  int64_t step = 0;
  double loss = 0;
};

std::string loss_curve_svg(const std::vector<LossPoint>& train, const std::vector<LossPoint>& eval,
                           const std::string& title);

// Round tick positions covering [lo, hi] (about `target` of them), steps of 1, 2 or 5 x 10^k.
std::vector<double> nice_ticks(double lo, double hi, int target = 6);

}  // namespace tt
