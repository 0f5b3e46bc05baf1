// A gtest fixture for training-loop tests: a fresh directory with synthetic data (synthetic_data.h),
// the tiny Qwen3 config shrunk to its vocabulary, and the real Qwen3 tokenizer; base() gives the
// options of a 12-step run (evaluation and saves every 4 steps, 2 micro-batches of 4 rows per step)
// on `device_`. Used by tests/train/loop_test.cpp (CPU) and tests/cuda/cuda_trainer_test.cpp (GPU).
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "common/sha256.h"
#include "synthetic_data.h"
#include "train/train_options.h"

namespace tt::test_data {

class TinyRunFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    tok_ = tokenizer_dir();
    if (tok_.empty()) GTEST_SKIP() << "assets/qwen3-tokenizer missing (run scripts/setup.sh)";
    dir_ = fresh_dir(device_ + "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    sha_ = sha256_hex_file(tok_ / "tokenizer.json");
    write_synthetic_data(dir_ / "data", data_, sha_);
    write_tiny_config(dir_ / "tiny.json", data_.vocab);
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  TrainOptions base(const std::string& out) const {
    TrainOptions o;
    o.config = (dir_ / "tiny.json").string();
    o.data_dir = (dir_ / "data").string();
    o.out_dir = (dir_ / out).string();
    o.tokenizer = tok_.string();
    o.device = device_;
    o.bf16 = device_ == "cuda";
    o.steps = 12;
    o.lr = 3e-3;
    o.warmup_steps = 3;
    o.micro_batch_size = 4;
    o.grad_accum = 2;
    o.eval_steps = 4;
    o.save_steps = 4;
    o.logging_steps = 2;
    o.sample_steps = 0;
    o.sample_prompts = {"a"};  // the default English prompts do not fit the 128-token test vocabulary
    o.seed = 11;
    return o;
  }

  std::string device_ = "cpu";
  std::filesystem::path tok_, dir_;
  std::string sha_;
  SyntheticData data_;
};

}  // namespace tt::test_data
