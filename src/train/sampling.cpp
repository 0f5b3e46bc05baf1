#include "train/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/check.h"
#include "train/rng.h"

namespace tt {

int32_t argmax_token(const float* logits, int64_t n) {
  TT_ASSERT(n > 0) << "empty logits";
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (logits[i] > logits[best]) best = i;
  return static_cast<int32_t>(best);
}

std::vector<double> filtered_probs(const float* logits, int64_t n, const SamplingParams& p) {
  TT_ASSERT(n > 0 && p.temperature > 0) << "filtered_probs needs logits and a positive temperature";
  // (logit - max) / temperature: the same softmax as logit / temperature, but a tiny temperature sends the
  // others to -inf (probability 0) instead of every value to +-inf and the probabilities to NaN.
  const double top = *std::max_element(logits, logits + n);
  std::vector<double> scaled(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) scaled[i] = (double(logits[i]) - top) / p.temperature;
  std::vector<char> keep(static_cast<size_t>(n), 1);

  if (p.top_k > 0 && p.top_k < n) {
    std::vector<double> tmp = scaled;
    std::nth_element(tmp.begin(), tmp.begin() + (p.top_k - 1), tmp.end(), std::greater<double>());
    const double kth = tmp[static_cast<size_t>(p.top_k - 1)];
    for (int64_t i = 0; i < n; ++i) keep[i] = scaled[i] >= kth;
  }

  double mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i)
    if (keep[i]) mx = std::max(mx, scaled[i]);
  std::vector<double> probs(static_cast<size_t>(n), 0.0);
  double total = 0;
  for (int64_t i = 0; i < n; ++i)
    if (keep[i]) total += probs[i] = std::exp(scaled[i] - mx);
  for (auto& v : probs) v /= total;

  if (p.top_p < 1) {
    std::vector<int64_t> idx;
    for (int64_t i = 0; i < n; ++i)
      if (keep[i]) idx.push_back(i);
    // Only the head of the descending order matters: sort a growing prefix (256, 1024, ... entries)
    // until it holds top_p of the mass, instead of sorting all ~150k entries per token. Ties break by
    // id, so the order (and the result) is exactly that of a full stable sort.
    auto before = [&](int64_t a, int64_t b) {
      return probs[a] > probs[b] || (probs[a] == probs[b] && a < b);
    };
    double cum = 0;
    size_t kept = 0, sorted = 0;
    while (kept < idx.size()) {
      if (kept == sorted) {
        size_t next = std::min(idx.size(), std::max<size_t>(256, sorted * 4));
        std::partial_sort(idx.begin() + sorted, idx.begin() + next, idx.end(), before);
        sorted = next;
      }
      cum += probs[idx[kept++]];
      if (cum >= p.top_p) break;
    }
    double kept_total = 0;
    for (size_t r = 0; r < idx.size(); ++r) {
      if (r < kept)
        kept_total += probs[idx[r]];
      else
        probs[idx[r]] = 0;
    }
    for (auto& v : probs) v /= kept_total;
  }
  return probs;
}

int32_t select_token(const float* logits, int64_t n, const SamplingParams& p, std::mt19937_64& rng) {
  if (p.greedy()) return argmax_token(logits, n);
  std::vector<double> probs = filtered_probs(logits, n, p);
  double u = uniform_01(rng);
  double cum = 0;
  int64_t last_kept = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (probs[i] <= 0) continue;
    last_kept = i;
    cum += probs[i];
    if (u < cum) return static_cast<int32_t>(i);
  }
  return static_cast<int32_t>(last_kept);  // rounding: u landed above the final cumulative sum
}

}  // namespace tt
