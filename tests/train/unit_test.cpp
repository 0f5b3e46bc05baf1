// Unit tests of the pure parts of the train module: LR schedule, early stopping, data order,
// sampling filters, generation with a model vocab larger than the tokenizer's, UTF-8 streaming, the
// loss plot, flag validation, the run state file and the metrics log.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <numeric>
#include <set>

#include "common/check.h"
#include "common/fs.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "train/checkpoint.h"
#include "train/commands.h"
#include "train/data_order.h"
#include "train/early_stopping.h"
#include "train/generate.h"
#include "train/loss_plot.h"
#include "train/lr_schedule.h"
#include "train/metrics_log.h"
#include "train/rng.h"
#include "train/run_state.h"
#include "train/sampling.h"
#include "train/time_budget.h"
#include "train/train_options.h"
#include "train/utf8_stream.h"

using namespace tt;

// ---- LR schedule -------------------------------------------------------------------------------

TEST(LrSchedule, WarmupIsLinearFromZeroLikeHF) {
  LrSchedule s{1e-3, 10, 100, 0.0};
  EXPECT_DOUBLE_EQ(s.lr_at(0), 0.0);  // HF: the first update has lr 0 when warming up
  EXPECT_DOUBLE_EQ(s.lr_at(1), 1e-4);
  EXPECT_DOUBLE_EQ(s.lr_at(5), 5e-4);
  EXPECT_DOUBLE_EQ(s.lr_at(9), 9e-4);
  EXPECT_DOUBLE_EQ(s.lr_at(10), 1e-3);  // peak right after warmup
}

TEST(LrSchedule, CosineDecayMatchesClosedForm) {
  const double peak = 3e-3, m = 0.1;
  LrSchedule s{peak, 20, 220, m};
  for (int64_t step : {20, 21, 50, 120, 170, 219, 220}) {
    double p = double(step - 20) / 200.0;
    double expected = peak * (m + (1 - m) * 0.5 * (1 + std::cos(std::numbers::pi * p)));
    EXPECT_NEAR(s.lr_at(step), expected, 1e-15) << "step " << step;
  }
  EXPECT_NEAR(s.lr_at(120), peak * (1 + m) / 2, 1e-15);  // half way: mean of peak and floor
  EXPECT_NEAR(s.lr_at(220), peak * m, 1e-15);            // the floor at the last step
  for (int64_t k = 20; k < 220; ++k) EXPECT_GE(s.lr_at(k), s.lr_at(k + 1)) << k;
}

TEST(LrSchedule, NoWarmupStartsAtPeakAndZeroFloorEndsAtZero) {
  LrSchedule s{1e-3, 0, 50, 0.0};
  EXPECT_DOUBLE_EQ(s.lr_at(0), 1e-3);
  EXPECT_NEAR(s.lr_at(50), 0.0, 1e-18);
  EXPECT_GE(s.lr_at(49), 0.0);
}

// ---- early stopping ----------------------------------------------------------------------------

TEST(EarlyStopping, CountsEvaluationsWithoutImprovementBeyondThreshold) {
  EarlyStopping es(2, 0.05);
  EXPECT_TRUE(es.update(3.0));   // first always improves
  EXPECT_TRUE(es.update(2.9));   // -0.1 > 0.05
  EXPECT_TRUE(es.update(2.88));  // -0.02: the best loss (best/), but not enough for patience
  EXPECT_EQ(es.bad_evals(), 1);
  EXPECT_DOUBLE_EQ(es.baseline(), 2.88);  // HF compares with the best so far, which any lower loss moves
  EXPECT_FALSE(es.should_stop());
  EXPECT_TRUE(es.update(2.82));  // 2.88 - 2.82 = 0.06 > 0.05: resets the counter
  EXPECT_EQ(es.bad_evals(), 0);
  EXPECT_TRUE(es.update(2.81));  // -0.01 from the best so far: no improvement
  EXPECT_FALSE(es.update(3.5));
  EXPECT_TRUE(es.should_stop());
  EXPECT_DOUBLE_EQ(es.best(), 2.81);
  EXPECT_DOUBLE_EQ(es.baseline(), 2.81);
}

TEST(EarlyStopping, LossesCreepingDownByLessThanTheThresholdStopAsInHuggingFace) {
  // The review's run: eval losses 8.4126, 8.3781, 8.3572 with patience 2 and threshold 0.05. HF's
  // EarlyStoppingCallback compares each with the best before it (8.4126, then 8.3781): two misses, a stop
  // at the third. Comparing with the last loss that cleared the threshold (8.4126) would reset at the third.
  EarlyStopping es(2, 0.05);
  es.update(8.4126);
  es.update(8.3781);
  EXPECT_EQ(es.bad_evals(), 1);
  es.update(8.3572);
  EXPECT_EQ(es.bad_evals(), 2);
  EXPECT_TRUE(es.should_stop());
}

TEST(EarlyStopping, PatienceZeroNeverStopsAndStateRoundTrips) {
  EarlyStopping es(0, 0);
  es.update(1.0);
  for (int i = 0; i < 10; ++i) es.update(2.0);
  EXPECT_FALSE(es.should_stop());
  EarlyStopping a(3, 0.0), b(3, 0.0);
  a.update(2.0);
  a.update(1.5, /*counts=*/false);
  a.update(2.5);
  b.restore(a.best(), a.baseline(), a.bad_evals(), "state.json");
  EXPECT_EQ(b.bad_evals(), 1);
  EXPECT_DOUBLE_EQ(b.best(), 1.5);
  EXPECT_DOUBLE_EQ(b.baseline(), 2.0);
  EarlyStopping fresh(3, 0.0), c(3, 0.0);
  c.restore(fresh.best(), fresh.baseline(), fresh.bad_evals(), "state.json");
  EXPECT_FALSE(c.has_best());
  try {
    c.restore(2.0, 2.0, -1, "state.json");
    ADD_FAILURE() << "a negative counter was accepted";
  } catch (const tt::Error& e) {
    EXPECT_EQ(std::string(e.what()), "state.json: early_stopping.bad_evals -1 is negative");
  }
}

TEST(EarlyStopping, TheEvaluationAtAStopMovesOnlyTheBest) {
  // A run stopped between periodic evaluations evaluates once more (counts = false): that loss may become
  // best/'s, but patience keeps comparing with the periodic evaluations, so a resumed run decides as an
  // uninterrupted one. The uninterrupted run: periodic 3.0, 2.4; the stopped one: 3.0, (2.6 at the
  // stop), 2.4.
  EarlyStopping straight(1, 0.5), stopped(1, 0.5);
  straight.update(3.0);
  EXPECT_TRUE(straight.update(2.4));
  stopped.update(3.0);
  EXPECT_TRUE(stopped.update(2.6, /*counts=*/false));
  EXPECT_EQ(stopped.bad_evals(), 0);
  EXPECT_DOUBLE_EQ(stopped.baseline(), 3.0);
  EXPECT_TRUE(stopped.update(2.4));  // 3.0 - 2.4 > 0.5: an improvement, as in the uninterrupted run
  EXPECT_FALSE(stopped.should_stop());
  EXPECT_EQ(stopped.bad_evals(), straight.bad_evals());
  EXPECT_DOUBLE_EQ(stopped.best(), straight.best());
  EXPECT_FALSE(stopped.update(3.5, /*counts=*/false));
  EXPECT_EQ(stopped.bad_evals(), 0);
}

// ---- time budget --------------------------------------------------------------------------------

TEST(TimeBudget, SamplesAreSkippedWhenTheyDoNotFitAndNeverEndTrainingEarly) {
  // 60 s cap, 0.5 s steps, evaluation and saves measured. A round of samples (not measured yet) is priced
  // by reading the 400 MB of weights per token at 2 GB/s: 40 tokens, 8 s.
  TimeBudget b({.cap_s = 60,
                .save_steps = 0,
                .rows_per_step = 8,
                .eval_rows = 8,
                .weight_bytes = 400e6,
                .tokenizer_bytes = 0,
                .sample_tokens = 40});
  b.step_took(0.5);
  b.eval_took(1.0);
  b.save_took(true, 1.0);
  b.save_took(false, 1.0);
  // the stop costs 1.25 * (0.5 + 1 + 1 + 1) + 0.1 = 4.475 s after the step
  EXPECT_FALSE(b.one_more_step_overruns(55.0, false));
  EXPECT_TRUE(b.one_more_step_overruns(56.0, false));
  EXPECT_TRUE(b.samples_fit(60 - 8 - 3.75 - 0.1 - 0.01));
  EXPECT_FALSE(b.samples_fit(60 - 8 - 3.75 - 0.1 + 0.01));
  b.samples_took(0.4);  // measured: 0.5 s with the margin
  EXPECT_TRUE(b.samples_fit(55.0));
}

// ---- data order --------------------------------------------------------------------------------

TEST(DataOrder, EachEpochIsASeededPermutation) {
  auto p0 = DataOrder::permutation(1000, 42, 0);
  auto p1 = DataOrder::permutation(1000, 42, 1);
  std::vector<int64_t> sorted = p0;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(sorted[i], i);
  EXPECT_EQ(p0, DataOrder::permutation(1000, 42, 0));
  EXPECT_NE(p0, p1);
  EXPECT_NE(p0, DataOrder::permutation(1000, 43, 0));
  int fixed = 0;
  for (int64_t i = 0; i < 1000; ++i) fixed += p0[i] == i;
  EXPECT_LT(fixed, 20);  // actually shuffled (expected ~1 fixed point)
}

TEST(DataOrder, BatchesCrossEpochsAndRestoreContinuesExactly) {
  DataOrder a(10, 5);
  std::vector<int64_t> seen;
  for (int i = 0; i < 3; ++i)
    for (int64_t r : a.next(4)) seen.push_back(r);  // 12 rows: epoch 0 whole + 2 of epoch 1
  EXPECT_EQ(a.epoch(), 1);
  EXPECT_EQ(a.position(), 2);
  std::set<int64_t> first(seen.begin(), seen.begin() + 10);
  EXPECT_EQ(first.size(), 10u);
  auto e1 = DataOrder::permutation(10, 5, 1);
  EXPECT_EQ(seen[10], e1[0]);
  EXPECT_EQ(seen[11], e1[1]);

  DataOrder b(10, 5);
  b.restore(a.epoch(), a.position());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(a.next(3), b.next(3));
  EXPECT_THROW(b.restore(0, 11), tt::Error);
  EXPECT_THROW(DataOrder(0, 1), tt::Error);
}

TEST(Rng, UniformBelowStaysInRangeAndCoversIt) {
  std::mt19937_64 rng(1);
  std::vector<int> hist(7, 0);
  for (int i = 0; i < 7000; ++i) {
    uint64_t v = uniform_below(rng, 7);
    ASSERT_LT(v, 7u);
    hist[v]++;
  }
  for (int h : hist) EXPECT_NEAR(h, 1000, 150);
  double u = uniform_01(rng);
  EXPECT_GE(u, 0.0);
  EXPECT_LT(u, 1.0);
  EXPECT_NE(mix_seed(1, 0), mix_seed(1, 1));
}

// ---- sampling ----------------------------------------------------------------------------------

static std::vector<float> logits_of(const std::vector<double>& probs) {
  std::vector<float> l;
  for (double p : probs) l.push_back(float(std::log(p)));
  return l;
}

TEST(Sampling, ArgmaxTakesFirstOfTies) {
  std::vector<float> l = {0.5f, 2.0f, -1.0f, 2.0f};
  EXPECT_EQ(argmax_token(l.data(), 4), 1);
  std::mt19937_64 rng(0);
  SamplingParams greedy{0, 0, 1};
  EXPECT_EQ(select_token(l.data(), 4, greedy, rng), 1);
}

TEST(Sampling, ATinyTemperatureIsGreedyNotNaN) {
  // logit / 1e-310 overflows to +-inf and the probabilities to NaN, which picked the last id
  std::vector<float> l = {0.5f, 2.0f, -1.0f, 1.9f};
  for (double t : {1e-310, 1e-300, 1e-30}) {
    const auto p = filtered_probs(l.data(), 4, {t, 0, 1.0});
    EXPECT_EQ(p, (std::vector<double>{0, 1, 0, 0})) << t;
    std::mt19937_64 rng(3);
    EXPECT_EQ(select_token(l.data(), 4, {t, 0, 0.9}, rng), 1) << t;
  }
}

TEST(Sampling, TemperatureSharpensAndFlattens) {
  auto l = logits_of({0.5, 0.3, 0.2});
  auto p1 = filtered_probs(l.data(), 3, {1.0, 0, 1.0});
  EXPECT_NEAR(p1[0], 0.5, 1e-6);
  EXPECT_NEAR(p1[2], 0.2, 1e-6);
  auto p_half = filtered_probs(l.data(), 3, {0.5, 0, 1.0});  // p^2 normalised
  EXPECT_NEAR(p_half[0], 0.25 / 0.38, 1e-6);
  auto p_hot = filtered_probs(l.data(), 3, {100.0, 0, 1.0});
  EXPECT_NEAR(p_hot[0], 1.0 / 3, 0.01);
}

TEST(Sampling, TopKKeepsKLargestAndTiesAtTheKth) {
  std::vector<float> l = {1.0f, 4.0f, 3.0f, 2.0f, 3.0f};
  auto p = filtered_probs(l.data(), 5, {1.0, 2, 1.0});
  // 2nd largest value is 3.0, held by ids 2 and 4: both kept (HF masks logits < k-th value).
  EXPECT_EQ(p[0], 0.0);
  EXPECT_EQ(p[3], 0.0);
  double z = std::exp(4.0) + 2 * std::exp(3.0);
  EXPECT_NEAR(p[1], std::exp(4.0) / z, 1e-12);
  EXPECT_NEAR(p[2], std::exp(3.0) / z, 1e-12);
  EXPECT_NEAR(p[4], std::exp(3.0) / z, 1e-12);
  auto p1 = filtered_probs(l.data(), 5, {1.0, 1, 1.0});
  EXPECT_DOUBLE_EQ(p1[1], 1.0);
  auto pall = filtered_probs(l.data(), 5, {1.0, 50, 1.0});
  for (double v : pall) EXPECT_GT(v, 0.0);
}

TEST(Sampling, TopPKeepsSmallestPrefixReachingP) {
  auto l = logits_of({0.15, 0.5, 0.05, 0.3});  // sorted: id1 .5, id3 .3, id0 .15, id2 .05
  auto a = filtered_probs(l.data(), 4, {1.0, 0, 0.5});
  EXPECT_NEAR(a[1], 1.0, 1e-6);  // .5 alone reaches .5
  EXPECT_EQ(a[3], 0.0);
  auto b = filtered_probs(l.data(), 4, {1.0, 0, 0.7});  // .5 < .7 -> add .3 (crossing token kept)
  EXPECT_NEAR(b[1], 0.5 / 0.8, 1e-6);
  EXPECT_NEAR(b[3], 0.3 / 0.8, 1e-6);
  EXPECT_EQ(b[0], 0.0);
  EXPECT_EQ(b[2], 0.0);
  auto c = filtered_probs(l.data(), 4, {1.0, 0, 0.9});
  EXPECT_NEAR(c[0], 0.15 / 0.95, 1e-6);
  EXPECT_EQ(c[2], 0.0);
  auto d = filtered_probs(l.data(), 4, {1.0, 0, 0.01});  // at least one token
  EXPECT_NEAR(d[1], 1.0, 1e-6);
  // top-k first, then top-p over the renormalised survivors: k=3 -> {.5,.3,.15}/.95; p=.8 needs .5+.3.
  auto e = filtered_probs(l.data(), 4, {1.0, 3, 0.8});
  EXPECT_NEAR(e[1], 0.5 / 0.8, 1e-6);
  EXPECT_NEAR(e[3], 0.3 / 0.8, 1e-6);
  EXPECT_EQ(e[0], 0.0);
}

// Over a large, nearly flat vocabulary the nucleus holds thousands of ids (more than one sorted
// prefix block) and has ties; the result must equal a plain full-sort reference exactly.
TEST(Sampling, TopPOverALargeFlatVocabularyEqualsFullSortReference) {
  const int64_t n = 20000;
  std::vector<float> l(n);
  std::mt19937_64 rng(7);
  for (int64_t i = 0; i < n; ++i) l[i] = float(int(uniform_01(rng) * 50)) * 0.01f;  // many exact ties
  for (double top_p : {0.05, 0.5, 0.93}) {
    SamplingParams sp{1.0, 0, top_p};
    auto got = filtered_probs(l.data(), n, sp);
    std::vector<double> probs(n);
    double mx = *std::max_element(l.begin(), l.end()), total = 0;
    for (int64_t i = 0; i < n; ++i) total += probs[i] = std::exp(double(l[i]) - mx);
    for (auto& v : probs) v /= total;
    std::vector<int64_t> idx(n);
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return probs[a] > probs[b]; });
    double cum = 0;
    size_t kept = 0;
    while (kept < idx.size() && (cum += probs[idx[kept++]]) < top_p) {
    }
    EXPECT_GT(kept, 256u) << "the case must need more than the first sorted block";
    double kept_total = 0;
    for (size_t r = 0; r < kept; ++r) kept_total += probs[idx[r]];
    std::vector<double> want(n, 0.0);
    for (size_t r = 0; r < kept; ++r) want[idx[r]] = probs[idx[r]] / kept_total;
    for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(got[i], want[i], 1e-12) << "id " << i << " top_p " << top_p;
  }
}

TEST(Sampling, DrawsFollowTheFilteredDistributionAndRepeatForASeed) {
  auto l = logits_of({0.6, 0.3, 0.1});
  SamplingParams p{1.0, 0, 1.0};
  std::mt19937_64 rng(123);
  std::vector<int> hist(3, 0);
  for (int i = 0; i < 20000; ++i) hist[select_token(l.data(), 3, p, rng)]++;
  EXPECT_NEAR(hist[0] / 20000.0, 0.6, 0.02);
  EXPECT_NEAR(hist[1] / 20000.0, 0.3, 0.02);
  EXPECT_NEAR(hist[2] / 20000.0, 0.1, 0.02);
  SamplingParams k1{1.0, 1, 1.0};
  for (int i = 0; i < 100; ++i) EXPECT_EQ(select_token(l.data(), 3, k1, rng), 0);
  std::mt19937_64 r1(9), r2(9);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(select_token(l.data(), 3, p, r1), select_token(l.data(), 3, p, r2));
}

// ---- generation with a padded model vocab ---------------------------------------------------------

namespace {

// A stand-in for the real tokenizer with only `n` ids: decode() refuses ids >= n exactly like
// Tokenizer::decode does for Qwen3's 151,669 ids under the model's 151,936 rows.
class SmallTokenizer : public Tokenizer {
 public:
  explicit SmallTokenizer(int32_t n) : n_(n) {}
  std::vector<int32_t> encode(std::string_view, EncodeStats* = nullptr) const override { return {}; }
  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string s;
    for (int32_t id : ids) {
      TT_CHECK(id >= 0 && id < n_) << "token id " << id << " is not in the vocabulary (ids 0.." << n_ - 1
                                   << ")";
      s += char('a' + id % 26);
    }
    return s;
  }
  std::vector<std::vector<int32_t>> encode_batch(const std::vector<std::string>&, int, EncodeStats*,
                                                 SpecialTokens) const override {
    return {};
  }
  int32_t vocab_size() const override { return n_; }
  std::string token_text(int32_t id) const override { return decode({id}); }
  int32_t token_id(std::string_view) const override { return -1; }
  int32_t eos_id() const override { return -1; }
  const std::string& sha256() const override { return sha_; }
  const std::filesystem::path& json_path() const override { return path_; }
  void encode_append(std::string_view, std::vector<int32_t>&, EncodeStats*) const override {}
  std::vector<std::vector<int32_t>> encode_batch_views(const std::vector<std::string_view>&, int,
                                                       EncodeStats*, SpecialTokens) const override {
    return {};
  }
  std::string normalize(std::string_view text) const override { return std::string(text); }
  std::string token_bytes(int32_t id) const override { return decode({id}); }
  bool is_special(int32_t) const override { return false; }
  double load_seconds() const override { return 0; }

 private:
  int32_t n_;
  std::string sha_;
  std::filesystem::path path_;
};

}  // namespace

TEST(Sampling, GenerationNeverPicksIdsTheTokenizerCannotDecode) {
  // configs/qwen3_test_tiny.json with 128 model rows; the tokenizer knows ids 0..99 only. A fresh
  // model's logits are nearly flat, so without the mask 28 of 128 ids are as likely as any other.
  nlohmann::json j =
      nlohmann::json::parse(read_file(std::string(TT_SOURCE_DIR) + "/configs/qwen3_test_tiny.json"));
  j["vocab_size"] = 128;
  j["bos_token_id"] = 0;
  j["eos_token_id"] = 0;
  Qwen3Config cfg = Qwen3Config::from_json(j, "tiny");
  auto backend = make_cpu_backend(DType::F32);
  Qwen3Model model(cfg, *backend, 1, cfg.max_position_embeddings);
  model.init_weights(5);
  SmallTokenizer tok(100);

  int64_t generated = 0;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    for (SamplingParams p : {SamplingParams{1.0, 0, 1.0}, SamplingParams{0, 0, 1.0}}) {  // sampled, greedy
      GenerateOptions g;
      g.max_new_tokens = 24;
      g.sampling = p;
      std::mt19937_64 rng(seed);
      GenerateResult r;
      ASSERT_NO_THROW(r = generate(model, tok, {int32_t(seed)}, g, rng, 0)) << "seed " << seed;
      for (int32_t id : r.tokens) EXPECT_LT(id, 100) << "seed " << seed;
      EXPECT_EQ(r.text, tok.decode(r.tokens));
      generated += int64_t(r.tokens.size());
    }
  }
  EXPECT_EQ(generated, 20 * 2 * 24);  // no stop ids: every run generates all its tokens
}

// ---- UTF-8 streaming ---------------------------------------------------------------------------

TEST(Utf8Stream, CompletePrefixStopsBeforePartialCharacters) {
  EXPECT_EQ(complete_utf8_prefix("abc"), 3u);
  EXPECT_EQ(complete_utf8_prefix("a\xC3"), 1u);
  EXPECT_EQ(complete_utf8_prefix("a\xC3\xA9"), 3u);
  EXPECT_EQ(complete_utf8_prefix("x\xF0\x9F\x98"), 1u);  // 3 of 4 bytes of an emoji
  EXPECT_EQ(complete_utf8_prefix("x\xF0\x9F\x98\x80"), 5u);
  EXPECT_EQ(complete_utf8_prefix("\xE2\x82"), 0u);
  EXPECT_EQ(complete_utf8_prefix(""), 0u);
}

TEST(Utf8Stream, EmitsOnlyWholeCharactersAndFlushesAtTheEnd) {
  Utf8Streamer s;
  std::string printed;
  printed += s.push("Caf");
  EXPECT_EQ(printed, "Caf");
  printed += s.push("Caf\xC3");  // first byte of é
  EXPECT_EQ(printed, "Caf");
  printed += s.push("Caf\xC3\xA9 ");
  EXPECT_EQ(printed, "Caf\xC3\xA9 ");
  // A decoder that replaces partial bytes with U+FFFD: held back until resolved.
  printed += s.push("Caf\xC3\xA9 \xEF\xBF\xBD");
  EXPECT_EQ(printed, "Caf\xC3\xA9 ");
  printed += s.push("Caf\xC3\xA9 \xE2\x82\xAC!");
  EXPECT_EQ(printed, "Caf\xC3\xA9 \xE2\x82\xAC!");
  printed += s.finish("Caf\xC3\xA9 \xE2\x82\xAC!\xC3");
  EXPECT_EQ(printed, "Caf\xC3\xA9 \xE2\x82\xAC!\xC3");
}

// ---- loss plot ---------------------------------------------------------------------------------

TEST(LossPlot, NiceTicksAreRoundAndCoverTheRange) {
  auto t = nice_ticks(0, 2000);
  ASSERT_GE(t.size(), 3u);
  EXPECT_DOUBLE_EQ(t.front(), 0);
  EXPECT_GE(t.back(), 2000 - 1e-9);
  double step = t[1] - t[0];
  for (size_t i = 1; i < t.size(); ++i) EXPECT_NEAR(t[i] - t[i - 1], step, 1e-9);
  auto u = nice_ticks(2.37, 7.91);
  EXPECT_NEAR(u.front(), 3.0, 1e-9);
  EXPECT_NEAR(u[1] - u[0], 1.0, 1e-9);
}

TEST(LossPlot, SvgHasBothSeriesAxesAndLabels) {
  std::vector<LossPoint> train = {{10, 9.5}, {20, 7.25}, {30, 6.0}}, eval = {{20, 7.5}, {30, 6.5}};
  std::string svg = loss_curve_svg(train, eval, "run <a&b>");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(std::count(svg.begin(), svg.end(), '\n') > 10, true);
  size_t polylines = 0;
  for (size_t pos = 0; (pos = svg.find("<polyline", pos)) != std::string::npos; ++pos) ++polylines;
  EXPECT_EQ(polylines, 2u);
  EXPECT_NE(svg.find("optimizer step"), std::string::npos);
  EXPECT_NE(svg.find("loss (cross-entropy"), std::string::npos);
  EXPECT_NE(svg.find("train loss"), std::string::npos);
  EXPECT_NE(svg.find("eval loss"), std::string::npos);
  EXPECT_NE(svg.find("run &lt;a&amp;b&gt;"), std::string::npos);
  EXPECT_NO_THROW(loss_curve_svg({}, {}, "empty"));
}

// ---- flags -------------------------------------------------------------------------------------

static std::string validation_error(const TrainOptions& o) {
  try {
    o.validate();
  } catch (const tt::Error& e) {
    return e.what();
  }
  return "";
}

TEST(TrainOptions, OutOfRangeFlagsNameTheFlag) {
  TrainOptions ok;
  ok.config = "c.json";
  EXPECT_EQ(validation_error(ok), "");
  auto with = [&](auto f) {
    TrainOptions o = ok;
    f(o);
    return validation_error(o);
  };
  EXPECT_NE(with([](TrainOptions& o) { o.steps = -5; }).find("--steps"), std::string::npos);
  EXPECT_NE(with([](TrainOptions& o) { o.micro_batch_size = 0; }).find("--micro_batch_size"),
            std::string::npos);
  EXPECT_NE(with([](TrainOptions& o) { o.grad_accum = 0; }).find("--grad_accum"), std::string::npos);
  EXPECT_NE(with([](TrainOptions& o) { o.lr = 0; }).find("--lr"), std::string::npos);
  EXPECT_NE(
      with([](TrainOptions& o) { o.early_stopping_patience = 2, o.eval_steps = 0; }).find("--eval_steps"),
      std::string::npos);
  EXPECT_NE(with([](TrainOptions& o) { o.device = "tpu"; }).find("--device"), std::string::npos);
  EXPECT_NE(with([](TrainOptions& o) { o.max_train_minutes = -1; }).find("--max_train_minutes"),
            std::string::npos);
  EXPECT_NE(with([](TrainOptions& o) { o.config = ""; }).find("--config"), std::string::npos);
  EXPECT_NE(with([](TrainOptions& o) { o.resume = o.overwrite = true; }).find("--resume"), std::string::npos);
}

TEST(TrainOptions, DeclarationDrivesJsonAndSummary) {
  TrainOptions o;
  CLI::App app;
  OptionSet os(&app);
  o.declare(os);
  app.parse(std::vector<std::string>{"--lr=0.002", "--steps=7", "--config=x.json"});  // reversed argv order
  auto j = os.to_json();
  EXPECT_EQ(j["steps"], 7);
  EXPECT_DOUBLE_EQ(j["lr"].get<double>(), 0.002);
  EXPECT_EQ(j["warmup_steps"], 200);
  EXPECT_TRUE(j.contains("max_train_minutes"));
  EXPECT_NE(os.summary().find("steps=7"), std::string::npos);
}

TEST(SampleOptions, ValidationNamesTheFlag) {
  auto msg = [](double temperature, int64_t top_k, double top_p) {
    SampleOptions o;
    o.ckpt_dir = "runs/best";
    o.temperature = temperature;
    o.top_k = top_k;
    o.top_p = top_p;
    try {
      o.validate();
    } catch (const tt::Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(msg(-1, 0, 1).find("--temperature"), std::string::npos);
  EXPECT_NE(msg(1, -2, 1).find("--top_k"), std::string::npos);
  EXPECT_NE(msg(1, 0, 0).find("--top_p"), std::string::npos);
  EXPECT_NE(msg(1, 0, 1.5).find("--top_p"), std::string::npos);
  EXPECT_EQ(msg(1, 0, 1.5), "--top_p must be in (0, 1], got 1.5");
  EXPECT_EQ(msg(0, 0, 1), "");
}

TEST(TrainOptions, RangeMessagesNameFlagBoundsAndValue) {
  TrainOptions o;
  o.config = "c.json";
  o.steps = 0;
  EXPECT_EQ(validation_error(o), "--steps must be positive, got 0");
  o.steps = 10;
  o.adam_beta1 = 1;
  EXPECT_EQ(validation_error(o), "--adam_beta1 must be in [0, 1), got 1");
  o.adam_beta1 = 0.9;
  o.lr = std::numeric_limits<double>::infinity();
  EXPECT_EQ(validation_error(o), "--lr must be finite and positive, got inf");
  o.lr = 1e-3;
  o.warmup_steps = -1;
  EXPECT_EQ(validation_error(o), "--warmup_steps must be >= 0, got -1");
  o.warmup_steps = 0;
  o.device = "tpu";
  EXPECT_EQ(validation_error(o), "--device must be auto, cpu or cuda, got \"tpu\"");
  o.device = "cpu";
  o.grad_accum = std::numeric_limits<int64_t>::max();  // rows and tokens per step overflowed
  EXPECT_EQ(validation_error(o), "--grad_accum must be in [1, 1048576], got 9223372036854775807");
}

TEST(TrainOptions, TheCommandLineRefusesOutOfRangeValuesWhenParsed) {
  TrainOptions o;
  CLI::App app;
  OptionSet os(&app);
  o.declare(os);
  try {
    app.parse(std::vector<std::string>{"--micro_batch_size=0", "--config=x.json"});
    ADD_FAILURE() << "parsed --micro_batch_size 0";
  } catch (const tt::Error& e) {
    EXPECT_EQ(std::string(e.what()), "--micro_batch_size must be in [1, 1048576], got 0");
  }
  TrainOptions fine;
  CLI::App app2;
  OptionSet os2(&app2);
  fine.declare(os2);
  app2.parse(std::vector<std::string>{"--micro_batch_size=3", "--config=x.json"});
  EXPECT_EQ(fine.micro_batch_size, 3);
}

// ---- run state and metrics log -------------------------------------------------------------------

TEST(RunState, TrainerStateRoundTripsAndRunInfoRepeatsItsProgress) {
  RunState run{.steps = 100,
               .seq_len = 16,
               .micro_batch_size = 4,
               .grad_accum = 2,
               .data_order = DataOrder(50, 7),
               .early_stopping = EarlyStopping(3, 0.01)};
  run.data_order.next(60);  // into the second epoch
  run.step = 7;
  run.tokens_seen = 7 * 4 * 2 * 16;
  run.last_train_loss = 2.5;
  EXPECT_TRUE(run.record_eval(3.0, /*scheduled=*/true));
  EXPECT_FALSE(run.record_eval(3.1, /*scheduled=*/true));
  EXPECT_TRUE(run.record_eval(2.995, /*scheduled=*/false));  // best/'s, but not the patience baseline
  run.wall_time_s = 12.5;
  const nlohmann::ordered_json saved = run.to_json();
  EXPECT_EQ(saved["format"], "tiny-transformer-trainer-state/1");
  EXPECT_EQ(saved["data_order"]["epoch"], 1);
  EXPECT_EQ(saved["data_order"]["position"], 10);
  EXPECT_EQ(saved["best_eval_loss"], 2.995);
  EXPECT_EQ(saved["early_stopping"]["baseline_loss"], 3.0);
  EXPECT_EQ(saved["eval_loss"], 2.995);

  RunState back =
      RunState::from_json(nlohmann::json::parse(saved.dump()), "state.json", EarlyStopping(3, 0.01));
  EXPECT_EQ(back.to_json(), saved);
  EXPECT_EQ(back.data_order.next(5), run.data_order.next(5));  // the data order continues exactly
  EXPECT_EQ(back.early_stopping.bad_evals(), 1);
  EXPECT_EQ(back.early_stopping.baseline(), 3.0);

  // Before any measurement: the losses are null, and they read back as "none".
  RunState fresh{
      .steps = 1, .seq_len = 2, .micro_batch_size = 1, .grad_accum = 1, .data_order = DataOrder(3, 1)};
  EXPECT_TRUE(fresh.to_json()["eval_loss"].is_null());
  EXPECT_TRUE(fresh.to_json()["best_eval_loss"].is_null());
  RunState fresh_back =
      RunState::from_json(nlohmann::json::parse(fresh.to_json().dump()), "s", EarlyStopping());
  EXPECT_TRUE(std::isnan(fresh_back.eval_loss));
  EXPECT_EQ(fresh_back.early_stopping.best(), std::numeric_limits<double>::infinity());

  RunFacts facts;
  facts.device = "cpu-f32";
  SessionReport session;
  session.stop_reason = "completed";
  const auto info = run_info_json(facts, run, session);
  for (const char* k : {"step", "steps", "tokens_seen", "last_train_loss", "eval_loss", "eval_step",
                        "best_eval_loss", "wall_time_s"})
    EXPECT_EQ(info[k], saved[k]) << k;
  EXPECT_EQ(info["epoch"], 1);
  EXPECT_EQ(info["best_eval_loss"], 2.995);
  EXPECT_EQ(info["stop_reason"], "completed");

  // A resumed session carries the recorded lr and speed; what a file lacks reads as 0 (and is warned of).
  const fs::path dir = fs::temp_directory_path() / ("tt_run_info_" + std::to_string(getpid()));
  fs::create_directories(dir);
  session.lr = 3e-4;
  session.tokens_per_s = 1234.5;
  session.step_time_s = 0.25;
  write_file_atomic(dir / "run_info.json", run_info_json(facts, run, session).dump());
  const SessionReport carried = recorded_session_report(dir / "run_info.json");
  EXPECT_EQ(carried.lr, 3e-4);
  EXPECT_EQ(carried.tokens_per_s, 1234.5);
  EXPECT_EQ(carried.step_time_s, 0.25);
  write_file_atomic(dir / "edited.json", R"({"lr": "fast", "tokens_per_s": 10})");
  const SessionReport partial = recorded_session_report(dir / "edited.json");
  EXPECT_EQ(partial.lr, 0);
  EXPECT_EQ(partial.tokens_per_s, 10);
  EXPECT_EQ(recorded_session_report(dir / "missing.json").step_time_s, 0);
  fs::remove_all(dir);

  // Another format or a missing field is refused, naming the file.
  auto error_of = [](nlohmann::json j) {
    try {
      RunState::from_json(j, "runs/last/trainer_state.json", EarlyStopping());
    } catch (const tt::Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  nlohmann::json other = nlohmann::json::parse(saved.dump());
  other["format"] = "something-else/2";
  EXPECT_NE(error_of(other).find("unknown format"), std::string::npos);
  nlohmann::json missing = nlohmann::json::parse(saved.dump());
  missing.erase("tokens_seen");
  EXPECT_NE(error_of(missing).find("runs/last/trainer_state.json: missing or malformed field"),
            std::string::npos);
  // Values no run writes are refused, naming the file (a step of -5 resumed and "diverged").
  const auto with = [&](const char* key, nlohmann::json value) {
    nlohmann::json j = nlohmann::json::parse(saved.dump());
    j[key] = value;
    return error_of(j);
  };
  EXPECT_NE(with("step", -5).find("trainer_state.json: step -5 is outside [0, steps = "), std::string::npos);
  EXPECT_NE(with("step", saved["steps"].get<int64_t>() + 1).find("is outside"), std::string::npos);
  EXPECT_NE(with("grad_accum", 0).find("trainer_state.json: steps, seq_len"), std::string::npos);
  EXPECT_NE(with("tokens_seen", -1).find("trainer_state.json: tokens_seen -1"), std::string::npos);
  nlohmann::json order = nlohmann::json::parse(saved.dump());
  order["data_order"]["epoch"] = -1;
  EXPECT_NE(error_of(order).find("trainer_state.json: data_order epoch -1"), std::string::npos);
  order["data_order"]["epoch"] = 0;
  order["data_order"]["position"] = 51;  // beyond its own 50 rows: the file, not the data, is wrong
  EXPECT_NE(error_of(order).find("trainer_state.json: data_order epoch 0 and position 51 must be >= 0, the "
                                 "position at most its rows (50)"),
            std::string::npos);
  // a count written as a fraction was read as its integer part
  EXPECT_NE(with("step", 5.7).find("trainer_state.json: \"step\" must be an integer, got 5.7"),
            std::string::npos);
  nlohmann::json early = nlohmann::json::parse(saved.dump());
  early["early_stopping"]["bad_evals"] = -1;
  EXPECT_NE(error_of(early).find("runs/last/trainer_state.json: early_stopping.bad_evals -1 is negative"),
            std::string::npos);

  // A trainer_state.json from before the best loss had one name (best_saved_loss, and a second copy in
  // early_stopping) reads the same.
  nlohmann::json legacy = nlohmann::json::parse(saved.dump());
  legacy["best_saved_loss"] = legacy["best_eval_loss"];
  legacy.erase("best_eval_loss");
  legacy["early_stopping"]["best"] = 3.1;
  legacy["early_stopping"].erase(
      "baseline_loss");  // nor had the baseline a place of its own: it was the best
  nlohmann::ordered_json expected = saved;
  expected["early_stopping"]["baseline_loss"] = saved["best_eval_loss"];
  EXPECT_EQ(RunState::from_json(legacy, "s", EarlyStopping(3, 0.01)).to_json(), expected);
}

TEST(MetricsLog, AFailedWriteIsAWarningNamingTheRecordNotASilentGap) {
  // /dev/full takes the open and refuses the write (ENOSPC), as a full disk does.
  MetricsLog log("/dev/full");
  testing::internal::CaptureStderr();
  const bool written = log.append({{"type", "train"}, {"step", 20}, {"loss", 1.5}});
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_FALSE(written);
  EXPECT_NE(err.find("/dev/full: the train record of step 20 could not be written (No space left on device)"),
            std::string::npos)
      << err;
  ASSERT_EQ(log.train_curve().size(), 1u);  // the curve (loss.svg) still has it
}

TEST(MetricsLog, ResumeKeepsRecordsUpToTheCheckpointAndReadsTheCurvesBack) {
  const auto dir = std::filesystem::temp_directory_path() / ("tt_metrics_log_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / "metrics.jsonl";
  {
    MetricsLog log(file);
    for (int64_t step : {2, 4, 6})
      log.append({{"type", "train"}, {"step", step}, {"loss", 10.0 - double(step)}});
    log.append({{"type", "eval"}, {"step", 4}, {"eval_loss", 5.5}});
    ASSERT_EQ(log.train_curve().size(), 3u);
    ASSERT_EQ(log.eval_curve().size(), 1u);
  }
  write_file_atomic(file, read_file(file) + "{\"type\": \"tr");  // a line cut short by a kill
  MetricsLog resumed(file);
  resumed.keep_up_to(4);
  ASSERT_EQ(resumed.train_curve().size(), 2u);
  EXPECT_EQ(resumed.train_curve()[1].step, 4);
  EXPECT_EQ(resumed.train_curve()[1].loss, 6.0);
  ASSERT_EQ(resumed.eval_curve().size(), 1u);
  EXPECT_EQ(resumed.eval_curve()[0].loss, 5.5);
  const std::string kept = read_file(file);
  EXPECT_EQ(std::count(kept.begin(), kept.end(), '\n'), 3);
  EXPECT_EQ(kept.find("\"step\":6"), std::string::npos) << kept;
  std::filesystem::remove_all(dir);
}

// A checkpoint without its tokenizer.json, and no default tokenizer either: the checkpoint's missing file is
// named (the message named only the default's path).
TEST(CheckpointTokenizer, MissingOwnAndDefaultNamesTheCheckpointsFile) {
  const auto dir = std::filesystem::temp_directory_path() / ("tt_ckpt_tok_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const char* saved = std::getenv("TT_TOKENIZER_DIR");
  const std::string keep = saved ? saved : "";
  ::setenv("TT_TOKENIZER_DIR", (dir / "no_such_tokenizer").c_str(), 1);
  std::string e;
  try {
    tt::checkpoint_tokenizer_json(dir, "");
  } catch (const tt::Error& err) {
    e = err.what();
  }
  if (saved)
    ::setenv("TT_TOKENIZER_DIR", keep.c_str(), 1);
  else
    ::unsetenv("TT_TOKENIZER_DIR");
  EXPECT_NE(e.find((dir / "tokenizer.json").string() + " is missing, and so is the default tokenizer"),
            std::string::npos)
      << e;
  tt::write_file_atomic(dir / "tokenizer.json", "{}");  // its own copy wins, whatever the default
  EXPECT_EQ(tt::checkpoint_tokenizer_json(dir, ""), dir / "tokenizer.json");
  std::filesystem::remove_all(dir);
}
