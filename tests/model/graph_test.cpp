// The Qwen3 graph on the CPU backend: whole-model gradient check in double, KV-cache inference vs
// the training forward, loss at init, overfitting one batch with AdamW, optimizer_step semantics.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>

#include "common/check.h"
#include "gradcheck.h"
#include "model/dtype.h"
#include "model/model.h"
#include "tiny_config.h"

using tt::test::expect_grad_close;
using tt::test::random_vec;
using tt::test::tiny_config;

namespace {

std::vector<int32_t> tokens_for(int64_t n, int64_t vocab, uint64_t seed) {
  std::vector<int32_t> t(n);
  uint64_t x = seed;
  for (auto& v : t) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    v = int32_t((x >> 33) % uint64_t(vocab));
  }
  return t;
}

// Params at init, with norm weights moved away from 1 so their gradients are generic.
std::vector<double> generic_params(tt::Qwen3Model& m, uint64_t seed) {
  m.init_weights(seed);
  std::vector<double> p = m.get_params();
  const auto noise = random_vec(p.size(), seed + 1, -0.3, 0.3);
  for (const auto& info : m.table().params())
    for (size_t i = 0; i < info.numel; ++i)
      p[info.offset + i] =
          info.decay ? p[info.offset + i] * 20 : 1.0 + noise[info.offset + i];  // bigger weights
  return p;
}

}  // namespace

class ModelGrad : public ::testing::TestWithParam<std::tuple<int, int, int>> {};

TEST_P(ModelGrad, WholeModelMatchesFiniteDifferences) {
  const auto [Hq, Hkv, D] = GetParam();
  auto be = tt::make_cpu_backend(tt::DType::F64);
  const tt::Qwen3Config cfg = tiny_config(Hq, Hkv, D);
  const int64_t B = 2, T = 5;
  tt::Qwen3Model model(cfg, *be, B, T);
  std::vector<double> p = generic_params(model, 7);
  model.set_params(p);
  const auto tok = tokens_for(B * T, cfg.vocab_size, 3);
  const float scale = 1.0f / float(B * (T - 1));
  model.zero_grads();
  model.forward_backward(tok.data(), B, T, scale);
  const std::vector<double> grads = model.get_grads();
  // The numeric side goes through eval_loss_sum (same forward, no backward).
  auto f = [&] {
    model.set_params(p);
    return model.eval_loss_sum(tok.data(), B, T).first * double(scale);
  };
  // Every parameter of every tensor except the embedding, of which we check a sample of rows
  // (ones used by the batch and ones only reached through the tied LM head).
  std::vector<size_t> which;
  for (const auto& info : model.table().params()) {
    if (info.name == "model.embed_tokens.weight") {
      for (int64_t row : {int64_t(tok[0]), int64_t(tok[3]), int64_t(0), cfg.vocab_size - 1})
        for (int64_t c = 0; c < cfg.hidden_size; ++c)
          which.push_back(info.offset + size_t(row * cfg.hidden_size + c));
      continue;
    }
    for (size_t i = 0; i < info.numel; ++i) which.push_back(info.offset + i);
  }
  const auto numeric = tt::test::numeric_grad(p, f, 1e-6, which);
  for (const auto& info : model.table().params()) {
    std::vector<size_t> idx;
    for (size_t i : which)
      if (i >= info.offset && i < info.offset + info.numel) idx.push_back(i);
    expect_grad_close(grads, numeric, info.name, 1e-6, idx);
  }
  // A second forward_backward adds the same gradient again (parameter grads accumulate).
  model.set_params(p);
  model.forward_backward(tok.data(), B, T, scale);
  const auto twice = model.get_grads();
  for (size_t i = 0; i < twice.size(); i += 17)
    EXPECT_NEAR(twice[i], 2 * grads[i], 1e-12 + 1e-9 * std::abs(grads[i]));
}

INSTANTIATE_TEST_SUITE_P(Heads, ModelGrad,
                         ::testing::Values(std::make_tuple(4, 2, 6),    // GQA 2, q heads*D != hidden
                                           std::make_tuple(3, 1, 4),    // MQA, ratio 3
                                           std::make_tuple(2, 2, 8)));  // MHA, heads*D == hidden

TEST(Model, ForwardNextLogitsMatchTheTrainingForward) {
  auto be = tt::make_cpu_backend(tt::DType::F64);
  const auto cfg = tiny_config();
  const int64_t T = 9;
  tt::Qwen3Model model(cfg, *be, 1, T);
  model.set_params(generic_params(model, 11));
  const auto tok = tokens_for(T, cfg.vocab_size, 5);
  // Reference: the training forward's summed CE over the row.
  const auto [ce_sum, count] = model.eval_loss_sum(tok.data(), 1, T);
  ASSERT_EQ(count, T - 1);
  // Inference: a 3-token prompt, then one token at a time; CE from the returned logits.
  auto ce = [&](const std::vector<float>& logits, int32_t target) {
    double mx = -1e300, sum = 0;
    for (float l : logits) mx = std::max(mx, double(l));
    for (float l : logits) sum += std::exp(double(l) - mx);
    return mx + std::log(sum) - double(logits[size_t(target)]);
  };
  model.reset_cache();
  std::vector<std::vector<float>> step_logits;
  // prompt positions 0..2 all at once gives only the last logits; so feed 1 token, then 2, then singles
  step_logits.push_back(model.forward_next(tok.data(), 1));
  EXPECT_EQ(model.cache_length(), 1);
  auto after2 = model.forward_next(tok.data() + 1, 2);  // positions 1, 2 -> logits at 2
  double got = ce(step_logits[0], tok[1]) + ce(after2, tok[3]);
  // position 1's CE needs its own logits: recompute with a fresh cache token by token
  for (int64_t t = 3; t + 1 < T; ++t) got += ce(model.forward_next(tok.data() + t, 1), tok[t + 1]);
  EXPECT_EQ(model.cache_length(), T - 1);
  model.reset_cache();
  std::vector<float> l1 = model.forward_next(tok.data(), 2);  // logits at position 1
  got += ce(l1, tok[2]);
  EXPECT_NEAR(got, ce_sum, 1e-5);  // logits come back as fp32
  // Whole prompt at once equals token by token.
  model.reset_cache();
  const auto all = model.forward_next(tok.data(), T);
  model.reset_cache();
  std::vector<float> last;
  for (int64_t t = 0; t < T; ++t) last = model.forward_next(tok.data() + t, 1);
  for (size_t i = 0; i < all.size(); ++i) EXPECT_NEAR(all[i], last[i], 1e-6);
  EXPECT_THROW(model.forward_next(tok.data(), 1), tt::Error);  // cache full (max_seq = T)
}

TEST(Model, EvalLossSumEqualsTrainingLossOnTheSameBatch) {
  // eval_loss_sum takes the forward-only LM head (tiled over the vocab); forward_backward's mean loss
  // goes through the chunked path that also makes the gradient. A vocab of several tiles, 3 rows.
  nlohmann::json j = tiny_config().raw;
  j["vocab_size"] = 1500;
  const auto cfg = tt::Qwen3Config::from_json(j, "tiny_config_v1500");
  auto be = tt::make_cpu_backend(tt::DType::F64);
  const int64_t B = 3, T = 11;
  tt::Qwen3Model model(cfg, *be, B, T);
  model.set_params(generic_params(model, 13));
  const auto tok = tokens_for(B * T, cfg.vocab_size, 21);
  const auto [sum, n] = model.eval_loss_sum(tok.data(), B, T);
  EXPECT_EQ(n, B * (T - 1));
  model.zero_grads();
  model.forward_backward(tok.data(), B, T, 1.0f / float(n));
  const double train_mean = model.last_step_stats().loss;
  EXPECT_GT(train_mean, 1.0);
  EXPECT_NEAR(sum / double(n), train_mean, 1e-12 * train_mean);
  // and again after the batch's rows are evaluated one at a time (per-row sums add up)
  double rows_sum = 0;
  for (int64_t b = 0; b < B; ++b) rows_sum += model.eval_loss_sum(tok.data() + b * T, 1, T).first;
  EXPECT_NEAR(rows_sum, sum, 1e-12 * sum);
}

TEST(Model, LossAtInitIsLogVocab) {
  auto be = tt::make_cpu_backend(tt::DType::F32);
  const auto cfg = tiny_config();
  tt::Qwen3Model model(cfg, *be, 4, 16);
  model.init_weights(1);
  const auto tok = tokens_for(4 * 16, cfg.vocab_size, 9);
  const auto [sum, n] = model.eval_loss_sum(tok.data(), 4, 16);
  EXPECT_EQ(n, 4 * 15);
  // Slightly above ln V: the tied head gives each input token a small self-logit (C * std).
  EXPECT_NEAR(sum / double(n), std::log(double(cfg.vocab_size)), 0.05);
  model.zero_grads();
  model.forward_backward(tok.data(), 4, 16, 1.0f / float(n));
  model.optimizer_step(tt::AdamWArgs{});  // lr 0: only the stats
  const auto st = model.last_step_stats();
  EXPECT_NEAR(st.loss, sum / double(n), 1e-5);
  EXPECT_GT(st.grad_norm, 0.0);
}

TEST(Model, InitIsDeterministicAndHfLike) {
  auto be = tt::make_cpu_backend(tt::DType::F32);
  auto be64 = tt::make_cpu_backend(tt::DType::F64);
  const auto cfg = tiny_config();
  tt::Qwen3Model a(cfg, *be, 1, 4), b(cfg, *be64, 1, 4);
  a.init_weights(42);
  b.init_weights(42);
  const auto pa = a.get_params_f32(), pb = b.get_params_f32();
  EXPECT_EQ(pa, pb);  // same values on both backends
  a.init_weights(43);
  EXPECT_NE(a.get_params_f32(), pb);
  double s = 0, s2 = 0;
  size_t n = 0;
  for (const auto& info : b.table().params())
    for (size_t i = 0; i < info.numel; ++i) {
      const double x = pb[info.offset + i];
      if (!info.decay) {
        EXPECT_EQ(x, 1.0) << info.name;
        continue;
      }
      s += x;
      s2 += x * x;
      ++n;
    }
  EXPECT_NEAR(s / double(n), 0.0, 0.002);
  EXPECT_NEAR(std::sqrt(s2 / double(n)), cfg.initializer_range, 0.001);
}

TEST(Model, OverfitsOneBatchWithAdamW) {
  auto be = tt::make_cpu_backend(tt::DType::F32);
  const auto cfg = tiny_config();
  const int64_t B = 2, T = 16;
  tt::Qwen3Model model(cfg, *be, B, T);
  model.init_weights(5);
  const auto tok = tokens_for(B * T, cfg.vocab_size, 21);
  tt::AdamWArgs args;
  args.lr = 1e-2f;
  args.weight_decay = 0.01f;
  double first = 0, last = 0;
  for (int64_t step = 1; step <= 150; ++step) {
    model.zero_grads();
    model.forward_backward(tok.data(), B, T, 1.0f / float(B * (T - 1)));
    args.step = step;
    model.optimizer_step(args);
    const auto st = model.last_step_stats();
    if (step == 1) first = st.loss;
    last = st.loss;
  }
  EXPECT_GT(first, 3.5);
  EXPECT_LT(last, 0.5);
}

TEST(Model, OptimizerStepClipsAndSkipsDecayOnNorms) {
  auto be = tt::make_cpu_backend(tt::DType::F64);
  const auto cfg = tiny_config();
  tt::Qwen3Model model(cfg, *be, 2, 5);
  model.set_params(generic_params(model, 3));
  const auto tok = tokens_for(10, cfg.vocab_size, 4);
  model.zero_grads();
  model.forward_backward(tok.data(), 2, 5, 1.0f);  // sum, not mean: norm well above 1 -> clipped
  const auto g = model.get_grads();
  const auto p0 = model.get_params();
  double gn2 = 0;
  for (double x : g) gn2 += x * x;
  ASSERT_GT(std::sqrt(gn2), 1.0);
  tt::AdamWArgs a;
  a.lr = 1e-3f;
  a.weight_decay = 0.1f;
  a.step = 1;
  model.optimizer_step(a);
  const auto p1 = model.get_params();
  EXPECT_NEAR(model.last_step_stats().grad_norm, std::sqrt(gn2), 1e-9 * std::sqrt(gn2));
  const double clip = 1.0 / (std::sqrt(gn2) + 1e-6);
  for (const auto& info : model.table().params())
    for (size_t i = info.offset; i < info.offset + info.numel; i += 7) {
      const double gi = g[i] * clip;
      double p = p0[i];
      if (info.decay) p *= 1 - double(a.lr) * double(a.weight_decay);
      const double m = (1 - double(a.beta1)) * gi, v = (1 - double(a.beta2)) * gi * gi;
      p -=
          double(a.lr) * (m / (1 - double(a.beta1))) / (std::sqrt(v / (1 - double(a.beta2))) + double(a.eps));
      ASSERT_NEAR(p1[i], p, 1e-12) << info.name << " element " << i - info.offset;
    }
}

TEST(Model, RejectsBadInputs) {
  auto be = tt::make_cpu_backend(tt::DType::F32);
  const auto cfg = tiny_config();
  tt::Qwen3Model model(cfg, *be, 2, 8);
  std::vector<int32_t> tok(16, 1);
  EXPECT_THROW(model.forward_backward(tok.data(), 3, 8, 1.0f), tt::Error);  // batch too large
  EXPECT_THROW(model.forward_backward(tok.data(), 1, 9, 1.0f), tt::Error);  // seq too long
  tok[5] = 50;
  EXPECT_THROW(model.forward_backward(tok.data(), 2, 8, 1.0f), tt::Error);  // id >= vocab
  EXPECT_THROW(tt::Qwen3Model(cfg, *be, 1, 65), tt::Error);                 // > max_position_embeddings
}

TEST(Model, Fp32BackendAgreesWithFp64) {
  // The whole step in fp32 (fast exp, ISA kernels, threaded GEMMs) against the fp64 reference.
  auto be32 = tt::make_cpu_backend(tt::DType::F32);
  auto be64 = tt::make_cpu_backend(tt::DType::F64);
  const auto cfg = tiny_config();
  const int64_t B = 3, T = 12;
  tt::Qwen3Model a(cfg, *be32, B, T), b(cfg, *be64, B, T);
  a.init_weights(17);
  b.init_weights(17);
  const auto p = generic_params(b, 17);
  b.set_params(p);
  a.set_params(p);
  const auto tok = tokens_for(B * T, cfg.vocab_size, 8);
  for (auto* m : {&a, &b}) {
    m->zero_grads();
    m->forward_backward(tok.data(), B, T, 1.0f / float(B * (T - 1)));
  }
  const auto ga = a.get_grads(), gb = b.get_grads();
  double diff2 = 0, norm2 = 0;
  for (size_t i = 0; i < ga.size(); ++i) {
    diff2 += (ga[i] - gb[i]) * (ga[i] - gb[i]);
    norm2 += gb[i] * gb[i];
  }
  EXPECT_LT(std::sqrt(diff2 / norm2), 1e-4);
  tt::AdamWArgs args;
  a.optimizer_step(args);
  b.optimizer_step(args);
  EXPECT_NEAR(a.last_step_stats().loss, b.last_step_stats().loss, 1e-5);
  EXPECT_NEAR(a.last_step_stats().grad_norm, b.last_step_stats().grad_norm,
              1e-4 * b.last_step_stats().grad_norm);
}

TEST(Model, Bf16BackendTracksFp32InTraining) {
  // bf16 activations and GEMM inputs, fp32 gradients, master weights and AdamW moments (the CUDA
  // policy, on the CPU): a short run that overfits one batch keeps its losses within bf16 tolerance of
  // the fp32 run's, step by step: 1.5% of the loss, 0.015 absolute below a loss of 1 (measured on an
  // AVX512-BF16 CPU: at most 0.84%), and the master weights stay fp32.
  std::unique_ptr<tt::Backend> be16;
  try {
    be16 = tt::make_cpu_backend(tt::DType::BF16);
  } catch (const tt::Error& e) {
    GTEST_SKIP() << e.what();
  }
  EXPECT_EQ(be16->name(), "cpu-bf16");
  EXPECT_EQ(be16->act_dtype(), tt::DType::BF16);
  for (tt::DType d : {be16->grad_dtype(), be16->stat_dtype(), be16->master_dtype()})
    EXPECT_EQ(d, tt::DType::F32);
  auto be32 = tt::make_cpu_backend(tt::DType::F32);
  tt::test::TinySizes z;
  z.vocab = 64;
  z.hidden = 32;
  z.intermediate = 48;
  z.heads = 4;
  z.kv_heads = 2;
  z.head_dim = 8;
  const auto cfg = tiny_config(z);
  const int64_t B = 4, T = 16;
  tt::Qwen3Model m16(cfg, *be16, B, T), m32(cfg, *be32, B, T);
  m16.init_weights(5);
  m32.init_weights(5);
  const auto tok = tokens_for(B * T, cfg.vocab_size, 9);
  tt::AdamWArgs args;
  args.lr = 1e-2f;
  double first = 0, last16 = 0, last32 = 0, worst = 0;
  for (int64_t step = 1; step <= 30; ++step) {
    args.step = step;
    for (auto* m : {&m16, &m32}) {
      m->zero_grads();
      m->forward_backward(tok.data(), B, T, 1.0f / float(B * (T - 1)));
      m->optimizer_step(args);
    }
    last16 = m16.last_step_stats().loss;
    last32 = m32.last_step_stats().loss;
    if (step == 1) first = last32;
    worst = std::max(worst, std::fabs(last16 - last32) / std::max(1.0, last32));
  }
  EXPECT_LT(last32, 0.5 * first) << "the fp32 run did not learn the batch";
  EXPECT_LT(worst, 0.015) << "bf16 loss left the fp32 run's by " << worst << " (relative); last " << last16
                          << " vs " << last32;
  // The checkpointed weights are the fp32 master weights, not their bf16 copies.
  const std::vector<float> p = m16.get_params_f32();
  size_t off_grid = 0;
  for (float x : p) off_grid += tt::bf16_to_f32(tt::f32_to_bf16(x)) != x;
  EXPECT_GT(off_grid, p.size() / 2) << "master weights look rounded to bf16";
}

TEST(Model, MemoryNeedIsWhatTheCpuBackendHoldsAfterTrainingEvalAndSampling) {
  // memory_need adds up the model's tensors without allocating them and asks the backend for its ops'
  // scratch; after a training step, an evaluation and sampling the backend's peak must be exactly that,
  // up to its 64-byte rounding of each tensor. Shapes where each op's scratch is the largest in turn: the
  // LM head's logits (a real vocabulary), q/k norm + RoPE's head copies (many short rows), attention's
  // [T, T] scores per worker (one long row).
  struct Case {
    int64_t vocab, B, T;
  };
  for (tt::DType dtype : {tt::DType::F32, tt::DType::F64, tt::DType::BF16}) {
    for (const Case c : {Case{151936, 2, 32}, Case{50, 32, 4}, Case{50, 1, 64}}) {
      std::unique_ptr<tt::Backend> be;
      try {
        be = tt::make_cpu_backend(dtype);
      } catch (const tt::Error& e) {
        continue;  // no native bf16 on this CPU (Bf16BackendTracksFp32InTraining says so)
      }
      tt::test::TinySizes z;
      z.vocab = c.vocab;
      const auto cfg = tiny_config(z);
      SCOPED_TRACE(be->name() + " vocab " + std::to_string(c.vocab) + " B " + std::to_string(c.B) + " T " +
                   std::to_string(c.T));
      const tt::Qwen3Model::MemoryNeed need = tt::Qwen3Model::memory_need(cfg, *be, c.B, c.T);
      EXPECT_EQ(be->peak_memory_bytes(), 0u);  // nothing was allocated
      EXPECT_GT(need.tensors, 0u);
      EXPECT_GT(need.scratch, 0u);
      tt::Qwen3Model model(cfg, *be, c.B, c.T);
      model.init_weights(3);
      const auto tok = tokens_for(c.B * c.T, cfg.vocab_size, 7);
      model.zero_grads();
      model.forward_backward(tok.data(), c.B, c.T, 1.0f);
      tt::AdamWArgs args;
      args.lr = 1e-3f;
      model.optimizer_step(args);
      model.eval_loss_sum(tok.data(), c.B, c.T);
      model.reset_cache();
      model.forward_next(tok.data(), c.T);
      const size_t rounding =
          64 * (8 + 25 * size_t(cfg.num_hidden_layers) + 2 * size_t(cfg.num_hidden_layers));
      EXPECT_GE(be->peak_memory_bytes(), need.total());
      EXPECT_LE(be->peak_memory_bytes(), need.total() + rounding);
    }
  }
}

TEST(Model, AnInferenceModelGivesTheSameLossesAndLogitsInLessMemory) {
  // Built for inference: no gradients, AdamW moments or activation gradients; one layer's activations
  // shared by all layers and two residual buffers. Same eval loss and decoding logits as a training
  // model with the same weights; its peak is its memory_need; the training calls are refused.
  tt::test::TinySizes z;
  z.vocab = 300;
  z.layers = 3;
  const auto cfg = tiny_config(z);
  const int64_t B = 3, T = 12;
  auto be_train = tt::make_cpu_backend(tt::DType::F64);
  auto be_infer = tt::make_cpu_backend(tt::DType::F64);
  tt::Qwen3Model train(cfg, *be_train, B, T);
  tt::Qwen3Model infer(cfg, *be_infer, B, T, tt::ModelUse::kInference);
  train.set_params(generic_params(train, 17));
  infer.set_params(train.get_params());
  const auto tok = tokens_for(B * T, cfg.vocab_size, 9);
  EXPECT_EQ(infer.eval_loss_sum(tok.data(), B, T), train.eval_loss_sum(tok.data(), B, T));
  train.reset_cache();
  infer.reset_cache();
  EXPECT_EQ(infer.forward_next(tok.data(), 5), train.forward_next(tok.data(), 5));
  EXPECT_EQ(infer.forward_next(tok.data() + 5, 1), train.forward_next(tok.data() + 5, 1));

  const auto need_train = tt::Qwen3Model::memory_need(cfg, *be_train, B, T);
  const auto need_infer = tt::Qwen3Model::memory_need(cfg, *be_infer, B, T, tt::ModelUse::kInference);
  EXPECT_LT(need_infer.tensors * 2, need_train.tensors);
  EXPECT_GE(be_infer->peak_memory_bytes(), need_infer.total());
  EXPECT_LE(be_infer->peak_memory_bytes(), need_infer.total() + 64 * 40);

  for (const auto& call : std::vector<std::function<void()>>{
           [&] { infer.zero_grads(); }, [&] { infer.forward_backward(tok.data(), B, T, 1.0f); },
           [&] { infer.optimizer_step(tt::AdamWArgs{}); }, [&] { infer.get_grads(); },
           [&] { infer.exp_avg(); }}) {
    try {
      call();
      ADD_FAILURE() << "a training call on an inference model was accepted";
    } catch (const tt::Error& e) {
      EXPECT_NE(std::string(e.what()).find("built for inference"), std::string::npos) << e.what();
    }
  }
}
