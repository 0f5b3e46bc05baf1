// The training loop (src/train) on the CUDA backend, end to end with a tiny model and synthetic data:
// a run stopped twice and resumed ends like an uninterrupted one (the GPU path is deterministic:
// fixed-order reductions, sorted embedding backward, one cuBLASLt algorithm per shape), its checkpoint
// evaluates on the CPU to the GPU's loss within bf16 tolerance, and run_info.json names the device and
// its peak memory. The CPU twin of the resume check is tests/train/loop_test.cpp. Skips without a GPU
// (fails instead when TT_REQUIRE_CUDA is set).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "common/check.h"
#include "common/fs.h"
#include "common/sha256.h"
#include "model/backend.h"
#include "model/model.h"
#include "synthetic_data.h"
#include "train/checkpoint.h"
#include "train/commands.h"
#include "train/trainer.h"

namespace fs = std::filesystem;

namespace tt {
namespace {

class CudaTrainer : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!is_cuda_available()) {
      if (cuda_required_by_env()) FAIL() << "TT_REQUIRE_CUDA is set, but " << cuda_unavailable_reason();
      GTEST_SKIP() << "no CUDA GPU available (" << cuda_unavailable_reason()
                   << "): CUDA trainer test skipped";
    }
    tok_ = test_data::tokenizer_dir();
    if (tok_.empty()) GTEST_SKIP() << "assets/qwen3-tokenizer missing (run scripts/setup.sh)";
    dir_ = test_data::fresh_dir(std::string("cuda_") +
                                ::testing::UnitTest::GetInstance()->current_test_info()->name());
    test_data::write_synthetic_data(dir_ / "data", data_, sha256_hex_file(tok_ / "tokenizer.json"));
    test_data::write_tiny_config(dir_ / "tiny.json", data_.vocab);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  TrainOptions base(const std::string& out) const {
    TrainOptions o;
    o.config = (dir_ / "tiny.json").string();
    o.data_dir = (dir_ / "data").string();
    o.out_dir = (dir_ / out).string();
    o.tokenizer = tok_.string();
    o.device = "cuda";
    o.bf16 = true;
    o.steps = 12;
    o.lr = 3e-3;
    o.warmup_steps = 3;
    o.micro_batch_size = 4;
    o.grad_accum = 2;
    o.eval_steps = 4;
    o.save_steps = 4;
    o.logging_steps = 2;
    o.sample_steps = 0;
    o.sample_prompts = {"a"};
    o.seed = 11;
    return o;
  }

  fs::path tok_, dir_;
  test_data::SyntheticData data_;
};

TEST_F(CudaTrainer, ResumedRunEndsLikeAnUninterruptedOneAndEvaluatesOnTheCpu) {
  TrainResult full = run_training(base("full"));
  ASSERT_EQ(full.stop_reason, "completed");
  ASSERT_TRUE(std::isfinite(full.eval_loss));
  EXPECT_LT(full.eval_loss, std::log(double(data_.vocab)));  // learned something

  TrainOptions part = base("part");
  part.stop_after_steps = 5;
  EXPECT_EQ(run_training(part).step, 5);
  part.resume = true;
  part.stop_after_steps = 4;
  EXPECT_EQ(run_training(part).step, 9);
  part.stop_after_steps = 0;
  TrainResult resumed = run_training(part);
  EXPECT_EQ(resumed.stop_reason, "completed");
  EXPECT_EQ(resumed.step, 12);
  EXPECT_NEAR(resumed.eval_loss, full.eval_loss, 1e-5 * std::abs(full.eval_loss));
  std::printf("GPU resume: eval loss %.9g uninterrupted, %.9g resumed\n", full.eval_loss, resumed.eval_loss);

  // The GPU's checkpoint, evaluated by the CPU reference (fp32) and by the GPU (bf16).
  EvalOptions ev;
  ev.ckpt_dir = (dir_ / "full" / "last").string();
  ev.data_dir = (dir_ / "data").string();
  ev.tokenizer = tok_.string();
  ev.device = "cpu";
  const double cpu_loss = run_eval_command(ev).loss;
  ev.device = "cuda";
  const double gpu_loss = run_eval_command(ev).loss;
  // Not bit-equal: `eval` batches 16 rows where training evaluated 4 at a time (other GEMM shapes).
  EXPECT_NEAR(gpu_loss, full.eval_loss, 1e-3 * std::abs(full.eval_loss));
  EXPECT_NEAR(cpu_loss, gpu_loss, 2e-2);
  std::printf("GPU checkpoint: eval loss %.6f on the CPU, %.6f on the GPU\n", cpu_loss, gpu_loss);

  const auto info = load_json_file(dir_ / "full" / "last" / "run_info.json");
  EXPECT_NE(info["device"].get<std::string>().find("cuda"), std::string::npos) << info["device"];
  EXPECT_GT(info["peak_device_memory_bytes"].get<int64_t>(), 0);
}

}  // namespace
}  // namespace tt
