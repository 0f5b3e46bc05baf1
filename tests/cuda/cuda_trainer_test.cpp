// The training loop (src/train) on the CUDA backend, end to end with a tiny model and synthetic data:
// a run stopped twice and resumed ends bit for bit like an uninterrupted one (the GPU path is deterministic:
// fixed-order reductions, sorted embedding backward, cuBLASLt algorithms that agree bit for bit with the
// heuristic's first whichever the timing picks: matmul.cu), its checkpoint
// evaluates on the CPU to the GPU's loss within bf16 tolerance, and run_info.json names the device and
// its peak memory. The CPU twin of the resume check is tests/train/loop_test.cpp. Skips without a GPU
// (fails instead when TT_REQUIRE_CUDA is set).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "../train/tiny_run_fixture.h"
#include "common/check.h"
#include "common/fs.h"
#include "common/sha256.h"
#include "model/backend.h"
#include "model/model.h"
#include "require_cuda.h"
#include "train/checkpoint.h"
#include "train/commands.h"
#include "train/trainer.h"

namespace fs = std::filesystem;

namespace tt {
namespace {

class CudaTrainer : public test_data::TinyRunFixture {
 protected:
  void SetUp() override {
    TT_SKIP_WITHOUT_CUDA("CUDA trainer test");
    device_ = "cuda";
    TinyRunFixture::SetUp();
  }
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
  // Bit for bit: the same ops in the same order on the same data, each deterministic.
  EXPECT_EQ(resumed.eval_loss, full.eval_loss);
  for (const char* file : {"model.safetensors", "optimizer.bin"})
    EXPECT_EQ(sha256_hex_file(dir_ / "full" / "last" / file), sha256_hex_file(dir_ / "part" / "last" / file))
        << file << " of the resumed run differs from the uninterrupted run's";
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
