// Next-token selection from logits: greedy, or sampling after the Hugging Face logits warpers in
// HF's order — temperature, then top-k, then top-p:
//   temperature t > 0: logits / t; t == 0 means greedy (argmax; the lowest id wins ties).
//   top_k k > 0: keep tokens whose (scaled) logit is >= the k-th largest (ties at the k-th value are
//       kept, like HF's `logits < topk.values[-1]` mask); k = 0 or k >= V keeps all.
//   top_p p in (0, 1): softmax over the kept tokens, sort by probability (descending, lower id first on
//       ties), keep the shortest prefix whose cumulative probability reaches p (the token that crosses p
//       is kept, at least one token always); p >= 1 keeps all.
// The kept probabilities are renormalised and a token is drawn with one uniform_01() from the RNG,
// so a (seed, logits) pair always gives the same token.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace tt {

struct SamplingParams {
  double temperature = 1.0;
  int64_t top_k = 0;
  double top_p = 1.0;
  bool greedy() const { return temperature <= 0; }
};

// What `sample` draws with unless told otherwise, and what training's periodic samples draw with.
constexpr SamplingParams kDefaultSampling{.temperature = 0.8, .top_k = 50, .top_p = 0.95};
constexpr SamplingParams kGreedy{.temperature = 0, .top_k = 0, .top_p = 1};

// Index of the largest logit (first one on ties).
int32_t argmax_token(const float* logits, int64_t n);

// Probabilities after temperature / top-k / top-p (removed tokens are exactly 0; sums to 1).
// temperature must be > 0.
std::vector<double> filtered_probs(const float* logits, int64_t n, const SamplingParams& p);

// Greedy when p.greedy(), else one draw from filtered_probs.
int32_t select_token(const float* logits, int64_t n, const SamplingParams& p, std::mt19937_64& rng);

}  // namespace tt
