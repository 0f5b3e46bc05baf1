// End-to-end: the same tiny Qwen3 trained for 20 steps on the CUDA backend (bf16 mixed precision)
// and on the CPU reference (fp32) from the same init and data; the losses must agree within bf16
// tolerance. Checkpoints written by one backend load on the other with identical fp32 weights.
// Skips when no GPU is present.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <vector>

#include "../model/tiny_config.h"
#include "common/check.h"
#include "model/backend.h"
#include "model/checkpoint_io.h"
#include "model/model.h"
#include "require_cuda.h"

namespace tt::test {
namespace {

Qwen3Config tiny_cuda_config() {
  TinySizes z;
  z.vocab = 1000;
  z.hidden = 128;
  z.intermediate = 256;
  z.head_dim = 64;
  return tiny_config(z);
}

// Learnable synthetic data: each row repeats one of 8 fixed motifs (drawn once from `motif_rng`),
// so next-token statistics are learnable within a few steps.
std::vector<int32_t> make_batch(std::mt19937_64& rng, int64_t B, int64_t T, int64_t V) {
  std::mt19937_64 motif_rng(2024);
  std::vector<std::vector<int32_t>> motifs(8);
  for (auto& m : motifs) {
    m.resize(3 + motif_rng() % 5);
    for (auto& x : m) x = int32_t(motif_rng() % uint64_t(V));
  }
  std::vector<int32_t> tokens(size_t(B * T));
  for (int64_t b = 0; b < B; ++b) {
    const auto& m = motifs[rng() % motifs.size()];
    const size_t phase = rng() % m.size();
    for (int64_t t = 0; t < T; ++t) tokens[size_t(b * T + t)] = m[(phase + size_t(t)) % m.size()];
  }
  return tokens;
}

class CudaTrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TT_SKIP_WITHOUT_CUDA("CUDA training test");
    dir_ = std::filesystem::temp_directory_path() /
           ("tt_cuda_train_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
            std::to_string(reinterpret_cast<uintptr_t>(this)));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  std::filesystem::path dir_;
};

constexpr int64_t kB = 4, kT = 32, kSteps = 20;

std::vector<double> train(Qwen3Model& model, std::vector<std::vector<int32_t>>& batches) {
  AdamWArgs args;
  args.lr = 3e-3f;
  args.weight_decay = 0.1f;
  args.beta2 = 0.95f;
  args.max_grad_norm = 1.0f;
  std::vector<double> losses;
  for (int64_t step = 1; step <= kSteps; ++step) {
    model.zero_grads();
    model.forward_backward(batches[size_t(step - 1)].data(), kB, kT, 1.0f / float(kB * (kT - 1)));
    args.step = step;
    model.optimizer_step(args);
    losses.push_back(model.last_step_stats().loss);
  }
  return losses;
}

TEST_F(CudaTrainTest, TwentyStepsMatchCpuAndCheckpointsCrossLoad) {
  const Qwen3Config cfg = tiny_cuda_config();
  std::mt19937_64 rng(1234);
  std::vector<std::vector<int32_t>> batches;
  for (int64_t i = 0; i < kSteps; ++i) batches.push_back(make_batch(rng, kB, kT, cfg.vocab_size));

  auto cpu_be = make_cpu_backend(DType::F32);
  auto gpu_be = make_cuda_backend(0);
  Qwen3Model cpu(cfg, *cpu_be, kB, kT);
  Qwen3Model gpu(cfg, *gpu_be, kB, kT);
  cpu.init_weights(42);
  gpu.init_weights(42);
  ASSERT_EQ(cpu.get_params_f32(), gpu.get_params_f32()) << "same seed must give the same fp32 init";

  const std::vector<double> lc = train(cpu, batches);
  const std::vector<double> lg = train(gpu, batches);
  for (int64_t i = 0; i < kSteps; ++i) {
    SCOPED_TRACE("step " + std::to_string(i + 1));
    EXPECT_TRUE(std::isfinite(lg[size_t(i)]));
    EXPECT_NEAR(lg[size_t(i)], lc[size_t(i)], 0.02 + 0.02 * lc[size_t(i)])
        << "cpu " << lc[size_t(i)] << " gpu " << lg[size_t(i)];
  }
  EXPECT_LT(lg.back(), lg.front()) << "the GPU run's loss did not decrease";

  // GPU checkpoint -> CPU model: identical fp32 master weights, and the same eval loss.
  const auto gpu_file = dir_ / "gpu.safetensors";
  tt::save_safetensors(gpu, gpu_file, DType::F32);
  Qwen3Model cpu_loaded(cfg, *cpu_be, kB, kT);
  tt::load_safetensors(cpu_loaded, gpu_file);
  EXPECT_EQ(cpu_loaded.get_params_f32(), gpu.get_params_f32());
  const auto eval_batch = make_batch(rng, kB, kT, cfg.vocab_size);
  const auto [sum_g, n_g] = gpu.eval_loss_sum(eval_batch.data(), kB, kT);
  const auto [sum_c, n_c] = cpu_loaded.eval_loss_sum(eval_batch.data(), kB, kT);
  EXPECT_EQ(n_g, n_c);
  EXPECT_NEAR(sum_g / double(n_g), sum_c / double(n_c), 0.02 + 0.02 * sum_c / double(n_c));

  // CPU checkpoint -> GPU model.
  const auto cpu_file = dir_ / "cpu.safetensors";
  tt::save_safetensors(cpu, cpu_file, DType::F32);
  Qwen3Model gpu_loaded(cfg, *gpu_be, kB, kT);
  tt::load_safetensors(gpu_loaded, cpu_file);
  EXPECT_EQ(gpu_loaded.get_params_f32(), cpu.get_params_f32());
  const auto [sum_g2, n_g2] = gpu_loaded.eval_loss_sum(eval_batch.data(), kB, kT);
  const auto [sum_c2, n_c2] = cpu.eval_loss_sum(eval_batch.data(), kB, kT);
  EXPECT_NEAR(sum_g2 / double(n_g2), sum_c2 / double(n_c2), 0.02 + 0.02 * sum_c2 / double(n_c2));

  // BF16 checkpoints too (the GPU's compute precision).
  const auto bf16_file = dir_ / "gpu_bf16.safetensors";
  tt::save_safetensors(gpu, bf16_file, DType::BF16);
  Qwen3Model cpu_bf16(cfg, *cpu_be, kB, kT);
  tt::load_safetensors(cpu_bf16, bf16_file);
  const auto [sum_b, n_b] = cpu_bf16.eval_loss_sum(eval_batch.data(), kB, kT);
  EXPECT_NEAR(sum_b / double(n_b), sum_g / double(n_g), 0.05 + 0.02 * sum_g / double(n_g));
}

TEST_F(CudaTrainTest, KvCacheDecodingMatchesCpu) {
  const Qwen3Config cfg = tiny_cuda_config();
  auto cpu_be = make_cpu_backend(DType::F32);
  auto gpu_be = make_cuda_backend(0);
  Qwen3Model cpu(cfg, *cpu_be, 1, kT);
  Qwen3Model gpu(cfg, *gpu_be, 1, kT);
  cpu.init_weights(7);
  gpu.init_weights(7);
  std::mt19937_64 rng(99);
  std::vector<int32_t> prompt = make_batch(rng, 1, 9, cfg.vocab_size);
  cpu.reset_cache();
  gpu.reset_cache();
  std::vector<float> lc = cpu.forward_next(prompt.data(), int64_t(prompt.size()));
  std::vector<float> lg = gpu.forward_next(prompt.data(), int64_t(prompt.size()));
  for (int step = 0; step < 5; ++step) {
    ASSERT_EQ(lc.size(), lg.size());
    double err = 0, norm = 0;
    for (size_t i = 0; i < lc.size(); ++i) {
      err += (double(lg[i]) - lc[i]) * (double(lg[i]) - lc[i]);
      norm += double(lc[i]) * lc[i];
    }
    EXPECT_LE(std::sqrt(err), 2e-2 * std::sqrt(norm) + 1e-6) << "decode step " << step;
    const int32_t next = int32_t(std::max_element(lc.begin(), lc.end()) - lc.begin());
    lc = cpu.forward_next(&next, 1);
    lg = gpu.forward_next(&next, 1);
  }
  EXPECT_EQ(cpu.cache_length(), gpu.cache_length());
}

TEST_F(CudaTrainTest, MemoryNeedIsWhatTheBackendTakesForAStepEvalAndDecoding) {
  // memory_need counts the model's tensors and every scratch slot's largest ask (op_scratch_bytes); the
  // slots only grow, each freeing its old buffer first, so after a training step, an evaluation and decoding
  // the backend holds exactly that beyond what it held before the model (the cuBLASLt workspace). For
  // training and for inference, with attention on its scores path and on the flash kernels (no score budget).
  const Qwen3Config cfg = tiny_cuda_config();
  for (const char* scores_mb : {"", "0"})
    for (ModelUse use : {ModelUse::kTraining, ModelUse::kInference}) {
      ::setenv("TT_CUDA_ATTENTION_SCORES_MB", scores_mb, 1);
      auto be = make_cuda_backend(0);
      const size_t before = be->peak_memory_bytes();
      const int64_t B = 3, T = 48;
      const Qwen3Model::MemoryNeed need = Qwen3Model::memory_need(cfg, *be, B, T, use);
      Qwen3Model m(cfg, *be, B, T, use);
      m.init_weights(5);
      std::mt19937_64 rng(3);
      const std::vector<int32_t> tok = make_batch(rng, B, T, cfg.vocab_size);
      if (use == ModelUse::kTraining) {
        m.zero_grads();
        m.forward_backward(tok.data(), B, T, 1.0f / float(B * (T - 1)));
        AdamWArgs args;
        args.lr = 1e-3f;
        m.optimizer_step(args);
        m.last_step_stats();
      }
      m.eval_loss_sum(tok.data(), B, T);
      m.reset_cache();
      m.forward_next(tok.data(), 7);
      be->synchronize();
      // the GEMM tuning's 256 bytes are counted whether or not a GEMM had several algorithms to compare
      const size_t held = be->peak_memory_bytes() - before;
      const std::string what = std::string(use == ModelUse::kTraining ? "training" : "inference") +
                               ", TT_CUDA_ATTENTION_SCORES_MB=\"" + scores_mb + "\"";
      EXPECT_GE(need.total(), held) << what;
      EXPECT_LE(need.total(), held + 256) << what;
      ::unsetenv("TT_CUDA_ATTENTION_SCORES_MB");
    }
}

TEST_F(CudaTrainTest, MemoryNeedCoversAnEvaluationsLastPartialBatch) {
  // With a 1 MiB LM-head budget (524 rows at V = 1000), 16 rows of 48 tokens are cut into two chunks of 384
  // rows, while a last batch of 10 rows is one chunk of 480: the estimate must hold for every batch up to
  // the model's largest (it once sized the slot for the full batch only).
  ::setenv("TT_CUDA_LM_HEAD_CHUNK_MB", "1", 1);
  const Qwen3Config cfg = tiny_cuda_config();
  auto be = make_cuda_backend(0);
  const size_t before = be->peak_memory_bytes();
  const int64_t B = 16, T = 48;
  const Qwen3Model::MemoryNeed need = Qwen3Model::memory_need(cfg, *be, B, T, ModelUse::kInference);
  Qwen3Model m(cfg, *be, B, T, ModelUse::kInference);
  m.init_weights(5);
  std::mt19937_64 rng(4);
  const std::vector<int32_t> tok = make_batch(rng, B, T, cfg.vocab_size);
  m.eval_loss_sum(tok.data(), B, T);
  m.eval_loss_sum(tok.data(), 10, T);
  be->synchronize();
  ::unsetenv("TT_CUDA_LM_HEAD_CHUNK_MB");
  EXPECT_GE(need.total(), be->peak_memory_bytes() - before);
}

TEST_F(CudaTrainTest, ShapesPastTheKernelsLimitsAreRefusedBeforeAnythingIsAllocated) {
  // head_dim 512: the attention kernels take it, the q/k-norm and RoPE kernels stop at 256. It used to fail
  // at the first forward, after the model was built; now the config is refused when the model is.
  TinySizes z;
  z.vocab = 100;
  z.hidden = 64;
  z.intermediate = 64;
  z.heads = 2;
  z.kv_heads = 1;
  z.head_dim = 512;
  const Qwen3Config cfg = tiny_config(z);
  auto be = make_cuda_backend(0);
  const size_t before = be->peak_memory_bytes();
  std::string e;
  try {
    Qwen3Model m(cfg, *be, 1, 8);
  } catch (const Error& err) {
    e = err.what();
  }
  EXPECT_TRUE(e.find("cuda-bf16 backend cannot run this model") != std::string::npos &&
              e.find("head_dim 512") != std::string::npos)
      << e;
  EXPECT_EQ(be->peak_memory_bytes(), before);
  // the same shape on the CPU reference builds, and a head_dim within the limits on CUDA
  auto cpu = make_cpu_backend(DType::F32, 1);
  EXPECT_NO_THROW(Qwen3Model(cfg, *cpu, 1, 8));
  z.head_dim = 256;
  EXPECT_NO_THROW(Qwen3Model(tiny_config(z), *be, 1, 8));
}

}  // namespace
}  // namespace tt::test
