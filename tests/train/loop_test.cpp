// The training loop end to end on the CPU with a tiny model and synthetic data: resume equivalence,
// wall-time cap, signals, early stopping, atomic checkpoints and the checks done before any work.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <thread>

#include "common/check.h"
#include "common/fs.h"
#include "common/sha256.h"
#include "cpu/gemm.h"
#include "model/model.h"
#include "synthetic_data.h"
#include "tiny_run_fixture.h"
#include "tokenizer/tokenizer.h"
#include "train/checkpoint.h"
#include "train/commands.h"
#include "train/trainer.h"

namespace fs = std::filesystem;
using namespace tt;

namespace {

class TrainLoop : public test_data::TinyRunFixture {
 protected:
  static nlohmann::json run_info(const fs::path& ckpt) { return load_json_file(ckpt / "run_info.json"); }

  static std::string error_of(const TrainOptions& o) {
    try {
      run_training(o);
    } catch (const tt::Error& e) {
      return e.what();
    }
    return "";
  }
};

std::vector<float> weights_of(const fs::path& ckpt) {
  Qwen3Config cfg = load_checkpoint_config(ckpt);
  auto backend = make_cpu_backend(DType::F32);
  Qwen3Model m(cfg, *backend, 1, 8);
  load_checkpoint_weights(m, ckpt, false);
  return m.get_params_f32();
}

}  // namespace

TEST_F(TrainLoop, ResumedRunEndsExactlyLikeAnUninterruptedOne) {
  TrainOptions full = base("full");
  TrainResult a = run_training(full);
  EXPECT_EQ(a.stop_reason, "completed");
  EXPECT_EQ(a.step, 12);

  // The same run stopped twice (at steps 5 and 9, between saves and evaluations) and resumed.
  TrainOptions part = base("part");
  part.stop_after_steps = 5;
  TrainResult p1 = run_training(part);
  EXPECT_EQ(p1.stop_reason, "stop_after_steps");
  EXPECT_EQ(p1.step, 5);
  EXPECT_EQ(run_info(dir_ / "part" / "last")["stop_reason"], "stop_after_steps");
  EXPECT_EQ(run_info(dir_ / "part" / "last")["step"], 5);
  part.resume = true;
  part.stop_after_steps = 4;
  TrainResult p2 = run_training(part);
  EXPECT_EQ(p2.step, 9);
  part.stop_after_steps = 0;
  part.config.clear();  // --resume takes the config from the checkpoint
  TrainResult p3 = run_training(part);
  EXPECT_EQ(p3.stop_reason, "completed");
  EXPECT_EQ(p3.step, 12);

  EXPECT_NEAR(p3.eval_loss, a.eval_loss, 1e-5 * std::abs(a.eval_loss));
  auto wa = weights_of(dir_ / "full" / "last"), wp = weights_of(dir_ / "part" / "last");
  ASSERT_EQ(wa.size(), wp.size());
  double max_diff = 0;
  for (size_t i = 0; i < wa.size(); ++i) max_diff = std::max(max_diff, double(std::abs(wa[i] - wp[i])));
  EXPECT_LT(max_diff, 1e-5);
  std::printf("resume equivalence: eval loss %.17g vs %.17g, max |weight diff| %g\n", a.eval_loss,
              p3.eval_loss, max_diff);
  auto sa = load_json_file(dir_ / "full" / "last" / "trainer_state.json");
  auto sp = load_json_file(dir_ / "part" / "last" / "trainer_state.json");
  EXPECT_EQ(sa["data_order"], sp["data_order"]);
  EXPECT_EQ(sa["tokens_seen"], sp["tokens_seen"]);
  EXPECT_EQ(sa["tokens_seen"], 12 * 2 * 4 * data_.seq_len);

  // metrics.jsonl of the resumed run holds each logged step once, in order.
  std::istringstream in(read_file(dir_ / "part" / "metrics.jsonl"));
  std::string line;
  int64_t last_train_step = 0;
  while (std::getline(in, line)) {
    auto r = nlohmann::json::parse(line);
    if (r["type"] == "train") {
      EXPECT_GT(r["step"].get<int64_t>(), last_train_step) << line;
      last_train_step = r["step"];
    }
  }
  EXPECT_EQ(last_train_step, 12);
}

TEST_F(TrainLoop, SamplingDuringTrainingDoesNotChangeTraining) {
  TrainOptions quiet = base("quiet");
  quiet.steps = 6;
  TrainOptions chatty = quiet;
  chatty.out_dir = (dir_ / "chatty").string();
  chatty.sample_steps = 2;
  chatty.sample_tokens = 5;
  chatty.sample_prompts = {"a", "b"};  // single-byte tokens inside the test vocabulary
  TrainResult q = run_training(quiet), c = run_training(chatty);
  EXPECT_EQ(q.eval_loss, c.eval_loss);
  EXPECT_EQ(weights_of(dir_ / "quiet" / "last"), weights_of(dir_ / "chatty" / "last"));
  std::string log = read_file(dir_ / "chatty" / "samples.log");
  EXPECT_NE(log.find("[step 2 greedy ] a"), std::string::npos) << log;
  EXPECT_NE(log.find("[step 6 sampled] b"), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(dir_ / "quiet" / "samples.log"));
}

TEST_F(TrainLoop, SamplesFromAModelVocabBeyondTheTokenizerDoNotStopTraining) {
  // Like Qwen3 (151,936 model rows, 151,669 tokenizer ids): 384 rows, a 257-id tokenizer. The model
  // stays near its init (warmup from lr 0), so its logits are nearly flat over all 384 rows and a third
  // of them are ids the tokenizer cannot decode; sampling must never pick those.
  fs::path small_tok = test_data::write_byte_tokenizer(dir_ / "byte_tok");
  test_data::write_synthetic_data(dir_ / "byte_data", data_, sha256_hex_file(small_tok));
  test_data::write_tiny_config(dir_ / "padded.json", 384);
  nlohmann::json padded = nlohmann::json::parse(read_file(dir_ / "padded.json"));
  padded["eos_token_id"] = padded["bos_token_id"] = data_.vocab - 1;  // the data's document separator
  write_file_atomic(dir_ / "padded.json", padded.dump(2));
  TrainOptions o = base("padded");
  o.config = (dir_ / "padded.json").string();
  o.data_dir = (dir_ / "byte_data").string();
  o.tokenizer = small_tok.parent_path().string();
  o.steps = 3;
  o.warmup_steps = 1000;
  o.sample_steps = 1;
  o.sample_tokens = 16;
  o.sample_prompts = {"a", "b"};
  TrainResult r = run_training(o);
  EXPECT_EQ(r.stop_reason, "completed");
  EXPECT_EQ(r.step, 3);
  EXPECT_EQ(run_info(dir_ / "padded" / "last")["step"], 3);
  std::string log = read_file(dir_ / "padded" / "samples.log");
  for (const char* line : {"[step 1 greedy ] a", "[step 1 sampled] a", "[step 3 sampled] b"})
    EXPECT_NE(log.find(line), std::string::npos) << line << " missing in:\n" << log;
}

TEST_F(TrainLoop, ShippedConfigsEndGenerationAtTheDocumentSeparator) {
  // prepare-data ends every document with <|endoftext|>; a base model trained on it must stop there,
  // in our sampler and in HF generate (generation_config.json / config.json eos_token_id).
  auto tok = Tokenizer::load(tok_);
  ASSERT_EQ(tok->eos_id(), tok->token_id("<|endoftext|>"));
  for (const char* name : {"qwen3_demo.json", "qwen3_cpu_small.json", "qwen3_test_tiny.json"}) {
    Qwen3Config cfg = Qwen3Config::load(fs::path(TT_SOURCE_DIR) / "configs" / name);
    EXPECT_EQ(cfg.eos_token_id, tok->eos_id()) << name;
    fs::path out = dir_ / name;
    write_hf_config_files(cfg, out);
    EXPECT_EQ(load_json_file(out / "generation_config.json")["eos_token_id"], 151643) << name;
    EXPECT_EQ(load_json_file(out / "generation_config.json")["max_length"], cfg.max_position_embeddings)
        << name;
    EXPECT_EQ(load_json_file(out / "config.json")["eos_token_id"], 151643) << name;
    // AutoTokenizer's eos and length must be the model's, not those of Qwen3's chat models (<|im_end|>,
    // 131072).
    const nlohmann::json tok_config =
        nlohmann::json::parse(tokenizer_config_for(cfg, tok_ / "tokenizer_config.json"));
    EXPECT_EQ(tok_config["eos_token"], "<|endoftext|>") << name;
    EXPECT_EQ(tok_config["model_max_length"], cfg.max_position_embeddings) << name;
    EXPECT_EQ(tok_config["pad_token"], "<|endoftext|>") << name;
  }
}

TEST_F(TrainLoop, TokenizerConfigTakesTheEosTextFromTokenizerJsonAndSurvivesOddFiles) {
  // A tokenizer_config.json without added_tokens_decoder and with a null eos_token: the text of the eos id
  // comes from tokenizer.json's added_tokens; a file that has neither keeps what it says, without failing.
  Qwen3Config cfg = Qwen3Config::load(fs::path(TT_SOURCE_DIR) / "configs" / "qwen3_test_tiny.json");
  fs::create_directories(dir_ / "odd_tok");
  fs::copy_file(tok_ / "tokenizer.json", dir_ / "odd_tok" / "tokenizer.json");
  write_file_atomic(dir_ / "odd_tok" / "tokenizer_config.json", R"({"eos_token": null})");
  nlohmann::json j =
      nlohmann::json::parse(tokenizer_config_for(cfg, dir_ / "odd_tok" / "tokenizer_config.json"));
  EXPECT_EQ(j["eos_token"], "<|endoftext|>");
  EXPECT_EQ(j["model_max_length"], cfg.max_position_embeddings);
  fs::create_directories(dir_ / "bare_tok");
  write_file_atomic(dir_ / "bare_tok" / "tokenizer_config.json", R"({"eos_token": {"content": "x"}})");
  j = nlohmann::json::parse(tokenizer_config_for(cfg, dir_ / "bare_tok" / "tokenizer_config.json"));
  EXPECT_EQ(j["eos_token"]["content"], "x");
}

TEST_F(TrainLoop, AResumedRunWhoseEosIsNotTheDataSeparatorIsWarnedNotStranded) {
  TrainOptions o = base("old_eos");
  o.stop_after_steps = 2;
  run_training(o);
  // As a run started before the check could be: its checkpoint's config names another eos.
  nlohmann::json cfg = nlohmann::json::parse(read_file(dir_ / "old_eos" / "last" / "config.json"));
  cfg["eos_token_id"] = 5;
  write_file_atomic(dir_ / "old_eos" / "last" / "config.json", cfg.dump(2));
  o.config.clear();
  o.resume = true;
  o.stop_after_steps = 0;
  EXPECT_EQ(run_training(o).step, o.steps);
}

TEST_F(TrainLoop, AConfigWhoseEosIsNotTheDataSeparatorIsRefused) {
  nlohmann::json cfg = nlohmann::json::parse(read_file(dir_ / "tiny.json"));
  cfg["eos_token_id"] = 5;  // the data ends documents with vocab - 1
  write_file_atomic(dir_ / "eos5.json", cfg.dump(2));
  TrainOptions o = base("eos5");
  o.config = (dir_ / "eos5.json").string();
  try {
    run_training(o);
    ADD_FAILURE() << "a config whose eos is not the data's document separator was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("eos_token_id 5 is not the token that ends each document"),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(fs::exists(dir_ / "eos5"));
}

TEST_F(TrainLoop, CheckpointHoldsEverythingForHfAndResume) {
  TrainOptions o = base("run");
  o.steps = 4;
  run_training(o);
  for (const char* f : {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json",
                        "tokenizer_config.json", "run_info.json", "trainer_state.json", "optimizer.bin"})
    EXPECT_TRUE(fs::exists(dir_ / "run" / "last" / f)) << f;
  EXPECT_TRUE(fs::exists(dir_ / "run" / "best" / "model.safetensors"));
  EXPECT_FALSE(fs::exists(dir_ / "run" / "best" / "optimizer.bin"));
  auto info = run_info(dir_ / "run" / "last");
  for (const char* k : {"config", "flags", "git_commit", "device", "step", "tokens_seen", "last_train_loss",
                        "eval_loss", "best_eval_loss", "tokens_per_s", "step_time_s", "wall_time_s",
                        "peak_host_memory_bytes", "stop_reason"})
    EXPECT_TRUE(info.contains(k)) << k;
  EXPECT_EQ(info["flags"]["micro_batch_size"], 4);
  EXPECT_EQ(info["stop_reason"], "completed");
  EXPECT_GT(info["tokens_per_s"].get<double>(), 0);
  EXPECT_TRUE(fs::exists(dir_ / "run" / "loss.svg"));
  EXPECT_TRUE(fs::exists(dir_ / "run" / "metrics.jsonl"));
  EXPECT_EQ(read_file(dir_ / "run" / "last" / "tokenizer.json"), read_file(tok_ / "tokenizer.json"));

  // A second run into the same out_dir needs --resume or --overwrite.
  EXPECT_NE(error_of(o).find("already holds a run"), std::string::npos);
  o.overwrite = true;
  EXPECT_EQ(run_training(o).stop_reason, "completed");
}

TEST_F(TrainLoop, LossFallsOnLearnableData) {
  TrainOptions o = base("learn");
  o.steps = 40;
  o.eval_steps = 20;
  o.save_steps = 0;
  run_training(o);
  std::istringstream in(read_file(dir_ / "learn" / "metrics.jsonl"));
  std::string line;
  std::vector<double> evals;
  while (std::getline(in, line)) {
    auto r = nlohmann::json::parse(line);
    if (r["type"] == "eval") evals.push_back(r["eval_loss"]);
  }
  ASSERT_EQ(evals.size(), 2u);
  EXPECT_LT(evals[1], evals[0]);
  EXPECT_LT(evals[1], std::log(double(data_.vocab)));  // better than uniform
}

// The logged train loss is the mean over the logging window's steps, as HF logs it, not the latest step's.
TEST_F(TrainLoop, LoggedLossIsTheMeanOverTheLoggingWindow) {
  auto train_losses = [&](const std::string& out, int64_t logging_steps) {
    TrainOptions o = base(out);
    o.steps = 6;
    o.eval_steps = 0;
    o.save_steps = 0;
    o.logging_steps = logging_steps;
    run_training(o);
    std::map<int64_t, double> losses;
    std::istringstream in(read_file(dir_ / out / "metrics.jsonl"));
    for (std::string line; std::getline(in, line);) {
      const auto r = nlohmann::json::parse(line);
      if (r["type"] == "train") losses[r["step"].get<int64_t>()] = r["loss"].get<double>();
    }
    return losses;
  };
  const std::map<int64_t, double> each = train_losses("each", 1), windows = train_losses("windows", 3);
  ASSERT_EQ(each.size(), 6u);
  ASSERT_EQ(windows.size(), 2u);
  // Logging does not change the training: every step has as many tokens, so a window's mean is the mean of
  // its steps' means (up to the rounding of the fp32 sums).
  EXPECT_NEAR(windows.at(3), (each.at(1) + each.at(2) + each.at(3)) / 3, 1e-5);
  EXPECT_NEAR(windows.at(6), (each.at(4) + each.at(5) + each.at(6)) / 3, 1e-5);
  EXPECT_GT(std::abs(windows.at(6) - each.at(6)), 1e-4);  // the latest step alone differs
}

TEST_F(TrainLoop, Bf16OnTheCpuTrainsResumesExactlyAndSaysSo) {
  // --bf16 on the CPU: bf16 activations and GEMM inputs, fp32 master weights and optimizer state, where
  // the CPU has native bf16 dot products; elsewhere a refusal that says why, before any work.
  TrainOptions o = base("bf16");
  o.bf16 = true;
  o.threads = 1;
  o.steps = 8;
  if (!cpu::cpu_has_bf16()) {
    const std::string err = error_of(o);
    EXPECT_NE(err.find("AVX512-BF16 or AMX"), std::string::npos) << err;
    EXPECT_NE(err.find("without --bf16"), std::string::npos) << err;
    EXPECT_FALSE(fs::exists(dir_ / "bf16" / "last"));
    return;
  }
  const TrainResult full = run_training(o);
  EXPECT_EQ(full.stop_reason, "completed");
  const auto info = run_info(dir_ / "bf16" / "last");
  EXPECT_EQ(info["device"], "cpu-bf16");
  EXPECT_EQ(info["precision"], "bf16 mixed (fp32 master weights)");
  EXPECT_EQ(info["flags"]["threads"], 1);
  EXPECT_EQ(info["flags"]["bf16"], true);

  // Stopped after 3 steps and resumed: the bf16 compute copy is rebuilt from the fp32 master weights,
  // so the run ends exactly where the uninterrupted one did.
  TrainOptions part = base("bf16_part");
  part.bf16 = true;
  part.threads = 1;
  part.steps = 8;
  part.stop_after_steps = 3;
  run_training(part);
  part.resume = true;
  part.stop_after_steps = 0;
  const TrainResult resumed = run_training(part);
  EXPECT_EQ(resumed.step, 8);
  EXPECT_EQ(resumed.eval_loss, full.eval_loss);
  EXPECT_EQ(weights_of(dir_ / "bf16_part" / "last"), weights_of(dir_ / "bf16" / "last"));
}

TEST_F(TrainLoop, WallTimeCapStopsCleanlyWithEvalAndSave) {
  TrainOptions o = base("cap");
  o.steps = 1000000;
  o.max_train_minutes = 0.03;  // 1.8 s, setup (tokenizer load), final evaluation and saves included
  o.eval_steps = 0;
  o.save_steps = 0;
  auto t0 = std::chrono::steady_clock::now();
  TrainResult r = run_training(o);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.stop_reason, "max_train_minutes");
  EXPECT_GT(r.step, 0);
  EXPECT_LT(r.step, 1000000);
  EXPECT_LT(s, 1.8 + 0.5);
  auto info = run_info(dir_ / "cap" / "last");
  EXPECT_EQ(info["stop_reason"], "max_train_minutes");
  EXPECT_EQ(info["step"], r.step);
  EXPECT_TRUE(info["eval_loss"].is_number());
}

TEST_F(TrainLoop, SignalStopsCleanlyAndCanResume) {
  TrainOptions o = base("sig");
  o.steps = 1000000;
  o.eval_steps = 0;
  o.save_steps = 0;
  const fs::path metrics = dir_ / "sig" / "metrics.jsonl";
  std::thread killer([metrics] {
    // Signal once training is under way (the first log line is written at step 2).
    for (int i = 0; i < 600 && !fs::exists(metrics); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    kill(getpid(), SIGTERM);
  });
  TrainResult r = run_training(o);
  killer.join();
  EXPECT_EQ(r.stop_reason, "signal_sigterm");
  EXPECT_EQ(run_info(dir_ / "sig" / "last")["stop_reason"], "signal_sigterm");
  o.resume = true;
  o.steps = r.step + 2;
  TrainResult r2 = run_training(o);
  EXPECT_EQ(r2.stop_reason, "completed");
  EXPECT_EQ(r2.step, r.step + 2);
}

TEST_F(TrainLoop, EarlyStoppingAfterPatienceEvaluationsWithoutImprovement) {
  TrainOptions o = base("early");
  o.steps = 100;
  o.lr = 1e-9;  // nothing learns, so no evaluation improves by the threshold
  o.warmup_steps = 0;
  o.eval_steps = 2;
  o.early_stopping_patience = 2;
  o.early_stopping_threshold = 0.01;
  TrainResult r = run_training(o);
  EXPECT_EQ(r.stop_reason, "early_stopping");
  EXPECT_EQ(r.step, 6);  // eval 2 = best, evals 4 and 6 without improvement
  auto info = run_info(dir_ / "early" / "last");
  EXPECT_EQ(info["stop_reason"], "early_stopping");
  EXPECT_EQ(run_info(dir_ / "early" / "best")["step"], 2);
}

TEST_F(TrainLoop, AStoppedAndResumedRunStopsEarlyExactlyAsAnUninterruptedOne) {
  // Losses at steps 4, 6 and 8 first (evaluations every 4 steps; a stop at 6 evaluates once more), then a
  // threshold between L6 - L8 and L4 - L8: the periodic evaluation at 8 improves on the one at 4 by more
  // than it, but not on the stop's at 6. Patience must compare with the periodic evaluations only.
  TrainOptions probe = base("probe");
  probe.stop_after_steps = 6;
  run_training(probe);
  probe.resume = true;
  probe.stop_after_steps = 0;
  run_training(probe);
  std::map<int64_t, double> loss;
  std::istringstream records(read_file(dir_ / "probe" / "metrics.jsonl"));
  for (std::string line; std::getline(records, line);) {
    const auto r = nlohmann::json::parse(line);
    if (r["type"] == "eval") loss[r["step"].get<int64_t>()] = r["eval_loss"].get<double>();
  }
  ASSERT_TRUE(loss.count(4) && loss.count(6) && loss.count(8));
  ASSERT_GT(loss[4], loss[6]);
  ASSERT_GT(loss[6], loss[8]);
  const double threshold = ((loss[4] - loss[8]) + (loss[6] - loss[8])) / 2;

  TrainOptions straight = base("straight");
  straight.early_stopping_patience = 1;
  straight.early_stopping_threshold = threshold;
  const TrainResult a = run_training(straight);
  TrainOptions stopped = straight;
  stopped.out_dir = (dir_ / "stopped").string();
  stopped.stop_after_steps = 6;
  run_training(stopped);
  stopped.resume = true;
  stopped.stop_after_steps = 0;
  const TrainResult b = run_training(stopped);
  EXPECT_EQ(b.stop_reason, a.stop_reason);
  EXPECT_EQ(b.step, a.step);
  EXPECT_GT(a.step, 8);  // the evaluation at 8 improved on the one at 4
  EXPECT_EQ(run_info(dir_ / "stopped" / "best")["step"], run_info(dir_ / "straight" / "best")["step"]);
}

TEST_F(TrainLoop, FailedSaveLeavesThePreviousCheckpointIntact) {
  TrainOptions o = base("atomic");
  o.steps = 4;
  run_training(o);
  const fs::path last = dir_ / "atomic" / "last";
  const std::string weights_before = read_file(last / "model.safetensors");

  Qwen3Config cfg = load_checkpoint_config(last);
  auto backend = make_cpu_backend(DType::F32);
  Qwen3Model m(cfg, *backend, 1, 8);
  m.init_weights(999);  // different weights
  CheckpointContent c;
  c.run_info = {{"step", 999}};
  c.trainer_state = {{"step", 999}};
  c.tokenizer_dir = tok_;
  c.before_commit = [](const fs::path& tmp) {
    EXPECT_TRUE(fs::exists(tmp / "model.safetensors"));
    TT_FAIL() << "simulated failure (disk full) before the swap";
  };
  EXPECT_THROW(save_checkpoint(m, last, c), tt::Error);
  EXPECT_EQ(read_file(last / "model.safetensors"), weights_before);
  EXPECT_EQ(run_info(last)["step"], 4);
  for (const auto& e : fs::directory_iterator(dir_ / "atomic"))
    EXPECT_EQ(e.path().filename().string().find(".last.tmp"), std::string::npos) << e.path();

  // A temp dir left by a killed process (dead pid) is removed; one of a live process is kept.
  fs::create_directories(dir_ / "atomic" / ".last.tmp.999999999.1");
  fs::create_directories(dir_ / "atomic" / (".best.tmp." + std::to_string(getpid()) + ".2"));
  remove_stale_checkpoint_temps(dir_ / "atomic");
  EXPECT_FALSE(fs::exists(dir_ / "atomic" / ".last.tmp.999999999.1"));
  EXPECT_TRUE(fs::exists(dir_ / "atomic" / (".best.tmp." + std::to_string(getpid()) + ".2")));

  // Without a failure the new weights replace the old ones.
  c.before_commit = nullptr;
  save_checkpoint(m, last, c);
  EXPECT_NE(read_file(last / "model.safetensors"), weights_before);
  EXPECT_EQ(run_info(last)["step"], 999);
}

TEST_F(TrainLoop, ADivergedModelNeverReplacesAGoodCheckpoint) {
  // lr 1e4 diverges within a few steps; the loss is checked only every 10 steps, but last/ is due every
  // step: the saves must stop at the last finite weights, and the run must end with the reason.
  TrainOptions o = base("diverge");
  o.steps = 20;
  o.lr = 1e4;
  o.warmup_steps = 0;
  o.logging_steps = 10;
  o.save_steps = 1;
  o.eval_steps = 0;
  const std::string e = error_of(o);
  EXPECT_NE(e.find("NaN or infinity"), std::string::npos) << e;
  EXPECT_NE(e.find("lower --lr"), std::string::npos) << e;
  const fs::path last = dir_ / "diverge" / "last";
  ASSERT_TRUE(fs::exists(last / "model.safetensors")) << "lr 1e4 should take a few steps to overflow";
  const int64_t saved = run_info(last)["step"];
  EXPECT_LT(saved, 10);
  EXPECT_FALSE(weights_of(last).empty());  // loads, so finite (loading refuses NaN and infinity)
}

TEST_F(TrainLoop, ResumeRefusesACheckpointMixedFromTwoSaves) {
  TrainOptions o = base("mixed");
  o.steps = 8;
  run_training(o);
  const fs::path last = dir_ / "mixed" / "last", step4 = dir_ / "at4" / "last";
  fs::copy(dir_ / "mixed", dir_ / "mixed_kept", fs::copy_options::recursive);
  auto o4 = base("at4");
  o4.steps = 4;
  run_training(o4);
  o.resume = true;
  o.steps = 10;
  auto from_step4 = [&](std::initializer_list<std::string> files) {
    fs::remove_all(dir_ / "mixed");
    fs::copy(dir_ / "mixed_kept", dir_ / "mixed", fs::copy_options::recursive);
    for (const std::string& f : files)
      fs::copy_file(step4 / f, last / f, fs::copy_options::overwrite_existing);
  };
  // model.safetensors of step 4 beside the rest of step 8 (resuming ignored it before), or optimizer.bin
  for (const std::string& f : {"model.safetensors", "optimizer.bin"}) {
    from_step4({f});
    const std::string e = error_of(o);
    EXPECT_NE(e.find("model.safetensors and optimizer.bin hold different weights"), std::string::npos) << e;
  }
  // both weight files of step 4 beside trainer_state.json of step 8
  from_step4({"model.safetensors", "optimizer.bin"});
  const std::string e = error_of(o);
  EXPECT_NE(e.find("holds the optimizer state of step 4, but"), std::string::npos) << e;
  // the untouched checkpoint resumes
  from_step4({});
  EXPECT_EQ(run_training(o).step, 10);
}

TEST_F(TrainLoop, SampleAndEvalNameWhatIsWrongWithACheckpoint) {
  TrainOptions o = base("ck");
  o.steps = 4;
  run_training(o);
  const fs::path good = dir_ / "ck" / "last";
  auto copy_of = [&](const std::string& name) {
    const fs::path d = dir_ / name;
    fs::copy(good, d);
    return d;
  };
  auto eval_error = [&](const fs::path& ckpt) {
    EvalOptions e;
    e.ckpt_dir = ckpt.string();
    e.data_dir = (dir_ / "data").string();
    e.device = "cpu";
    try {
      run_eval_command(e);
    } catch (const tt::Error& err) {
      return std::string(err.what());
    }
    return std::string("(no error)");
  };
  auto sample_error = [&](const fs::path& ckpt) {
    SampleOptions s;
    s.ckpt_dir = ckpt.string();
    s.prompt = "a";
    s.max_new_tokens = 3;
    s.device = "cpu";
    std::FILE* sink = std::fopen("/dev/null", "w");
    std::string what = "(no error)";
    try {
      run_sample(s, sink);
    } catch (const tt::Error& err) {
      what = err.what();
    }
    std::fclose(sink);
    return what;
  };
  EXPECT_EQ(eval_error(good), "(no error)");
  EXPECT_EQ(sample_error(good), "(no error)");

  // config.json of 4000 layers beside weights of 2: refused from the header, before a model that large
  const fs::path layers = copy_of("layers");
  auto cfg = load_json_file(layers / "config.json");
  cfg["num_hidden_layers"] = 4000;
  write_file_atomic(layers / "config.json", cfg.dump());
  for (const std::string& e : {eval_error(layers), sample_error(layers)})
    EXPECT_NE(e.find("model.safetensors: tensor \"model.layers.2.self_attn.q_proj.weight\" is missing"),
              std::string::npos)
        << e;

  // finite weights whose forward pass overflows: eval printed a null loss, sample garbage, both exit 0
  const fs::path overflow = copy_of("overflow");
  std::string bytes = read_file(overflow / "model.safetensors");
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  const auto entry = nlohmann::json::parse(bytes.substr(8, header_len))["model.norm.weight"]["data_offsets"];
  const float huge = 3e38f;
  for (size_t at = 8 + header_len + entry[0].get<size_t>(); at < 8 + header_len + entry[1].get<size_t>();
       at += 4)
    bytes.replace(at, 4, std::string(reinterpret_cast<const char*>(&huge), 4));
  write_file_atomic(overflow / "model.safetensors", bytes);
  EXPECT_NE(eval_error(overflow).find("the model's weights overflow in the forward pass"), std::string::npos)
      << eval_error(overflow);
  EXPECT_NE(sample_error(overflow).find("its weights overflow in the forward pass"), std::string::npos)
      << sample_error(overflow);

  // a damaged tokenizer.json is named as such, not as "data tokenized with another tokenizer"
  const fs::path tok = copy_of("tok");
  write_file_atomic(tok / "tokenizer.json", "{\"model\": {");
  const std::string e = eval_error(tok);
  EXPECT_NE(e.find("tok/tokenizer.json"), std::string::npos) << e;
  EXPECT_EQ(e.find("sha256"), std::string::npos) << e;
}

TEST_F(TrainLoop, ResumeLogsEachSampleOnceAndAFinishedRunIsLeftAlone) {
  TrainOptions o = base("samples");
  o.steps = 6;
  o.save_steps = 2;
  o.sample_steps = 1;
  o.sample_tokens = 2;
  o.stop_after_steps = 2;
  run_training(o);
  const fs::path out = dir_ / "samples";
  fs::copy(out / "last", dir_ / "last_at_2", fs::copy_options::recursive);
  o.resume = true;
  o.stop_after_steps = 0;
  run_training(o);
  // as if the session had been killed after its samples of steps 3..6 but before any later save
  fs::remove_all(out / "last");
  fs::copy(dir_ / "last_at_2", out / "last", fs::copy_options::recursive);
  run_training(o);
  const std::string log = read_file(out / "samples.log");
  for (int step = 1; step <= 6; ++step) {
    const std::string tag = "[step " + std::to_string(step) + " greedy ]";
    const size_t first = log.find(tag);
    EXPECT_NE(first, std::string::npos) << tag;
    EXPECT_EQ(log.find(tag, first + 1), std::string::npos) << tag << " twice in:\n" << log;
  }
  // The finished run resumed: no step, and last/ keeps the facts of the session that made it.
  const std::string info = read_file(out / "last" / "run_info.json");
  EXPECT_EQ(run_training(o).step, 6);
  EXPECT_EQ(read_file(out / "last" / "run_info.json"), info);
}

TEST_F(TrainLoop, AResumedSessionThatOnlyEvaluatesSavesWhatItLearned) {
  // last/ of step 6 whose latest evaluation was at step 4 (a session killed after the periodic save of step
  // 6), resumed with --steps 6: no step, but the final evaluation at 6, which last/ must then record, once.
  TrainOptions o = base("evalonly");
  o.steps = 6;
  run_training(o);
  const fs::path last = dir_ / "evalonly" / "last";
  auto state = load_json_file(last / "trainer_state.json");
  state["eval_step"] = 4;
  state["best_eval_loss"] = 99.0;  // worse than anything: the evaluation at 6 is the new best
  state["early_stopping"]["baseline_loss"] = 99.0;
  write_file_atomic(last / "trainer_state.json", state.dump());
  o.resume = true;
  const TrainResult r = run_training(o);
  EXPECT_EQ(r.step, 6);
  state = load_json_file(last / "trainer_state.json");
  EXPECT_EQ(state["eval_step"], 6);
  EXPECT_LT(state["best_eval_loss"].get<double>(), 99.0);
  EXPECT_NE(run_info(last)["tokens_per_s"].get<double>(), 0.0);  // the checkpoint's speed, not zeros
  const std::string metrics = read_file(dir_ / "evalonly" / "metrics.jsonl");
  run_training(o);  // nothing left to do: no evaluation, no new record
  EXPECT_EQ(read_file(dir_ / "evalonly" / "metrics.jsonl"), metrics);
}

TEST_F(TrainLoop, ARunThatLeftOnlySamplesOrNoCheckpointIsNotTakenForAFreshDirectory) {
  TrainOptions o = base("early_kill");
  fs::create_directories(o.out_dir);
  write_file_atomic(fs::path(o.out_dir) / "samples.log", "[step 1 greedy ] a\n");
  std::string e = error_of(o);
  EXPECT_NE(e.find("already holds a run"), std::string::npos) << e;
  o.resume = true;  // nothing to resume: the hint says what does work
  e = error_of(o);
  EXPECT_NE(e.find("pass --overwrite instead of --resume"), std::string::npos) << e;
  o.resume = false;
  o.overwrite = true;
  o.steps = 2;
  EXPECT_EQ(run_training(o).step, 2);
}

TEST_F(TrainLoop, BadInputIsRefusedBeforeAnyWork) {
  auto expect_error = [&](TrainOptions o, const std::string& needle) {
    std::string e = error_of(o);
    EXPECT_NE(e.find(needle), std::string::npos) << "expected \"" << needle << "\" in: " << e;
    EXPECT_FALSE(fs::exists(fs::path(o.out_dir) / "last")) << o.out_dir;
  };
  TrainOptions o = base("bad");
  {
    auto x = o;
    x.data_dir = (dir_ / "nope").string();
    expect_error(x, "meta.json");
  }
  {
    fs::copy(dir_ / "data", dir_ / "corrupt_meta");
    write_file_atomic(dir_ / "corrupt_meta" / "meta.json", "{\"seq_len\": 16,");
    auto x = o;
    x.data_dir = (dir_ / "corrupt_meta").string();
    expect_error(x, "meta.json");
  }
  {
    fs::copy(dir_ / "data", dir_ / "short_bin");
    std::string bin = read_file(dir_ / "short_bin" / "train.bin");
    write_file_atomic(dir_ / "short_bin" / "train.bin", bin.substr(0, bin.size() - 4));
    auto x = o;
    x.data_dir = (dir_ / "short_bin").string();
    expect_error(x, "train.bin");
  }
  {
    test_data::write_tiny_config(dir_ / "small_vocab.json", 64);
    auto x = o;
    x.config = (dir_ / "small_vocab.json").string();
    expect_error(x, "vocab_size");
  }
  {
    test_data::write_tiny_config(dir_ / "short_ctx.json", data_.vocab, 8);
    auto x = o;
    x.config = (dir_ / "short_ctx.json").string();
    expect_error(x, "max_position_embeddings");
  }
  {
    fs::copy(dir_ / "data", dir_ / "other_tok");
    auto meta = load_json_file(dir_ / "other_tok" / "meta.json");
    meta["tokenizer"]["sha256"] = std::string(64, '0');
    write_file_atomic(dir_ / "other_tok" / "meta.json", meta.dump());
    auto x = o;
    x.data_dir = (dir_ / "other_tok").string();
    expect_error(x, "sha256");
  }
  {
    auto x = o;
    x.config = (dir_ / "missing.json").string();
    expect_error(x, "missing.json");
  }
  {
    auto x = o;
    x.resume = true;
    expect_error(x, "resume");
  }
  {
    auto x = o;
    x.steps = -1;
    expect_error(x, "--steps");
  }
  {
    auto x = o;
    x.micro_batch_size = 0;
    expect_error(x, "--micro_batch_size");
  }
  {
    auto x = o;
    x.early_stopping_patience = 3;
    x.eval_steps = 0;
    expect_error(x, "--eval_steps");
  }
  {
    auto x = o;
    x.tokenizer = (dir_ / "no_tokenizer").string();
    expect_error(x, "no_tokenizer");
  }
  {
    // A model too large for any machine this runs on (hidden 8192, 64 layers: ~52e9 parameters, ~1 TB of
    // weights and AdamW state alone) is refused from its estimate, before anything is allocated.
    test_data::write_tiny_config(dir_ / "huge.json", data_.vocab);
    auto huge = load_json_file(dir_ / "huge.json");
    huge["hidden_size"] = 8192;
    huge["intermediate_size"] = 32768;
    huge["num_hidden_layers"] = 64;
    write_file_atomic(dir_ / "huge.json", huge.dump());
    auto x = o;
    x.config = (dir_ / "huge.json").string();
    expect_error(x, "needs about");
    expect_error(x, "lower --micro_batch_size");
    // --memory_check warn goes on, to the first tensor that cannot be had (never an OOM kill)
    x.memory_check = "warn";
    expect_error(x, "out of host memory allocating");
  }
  {
    // A failing --overwrite run leaves the previous run alone.
    auto good = o;
    good.out_dir = (dir_ / "kept").string();
    good.steps = 2;
    run_training(good);
    auto x = good;
    x.overwrite = true;
    x.config = (dir_ / "short_ctx.json").string();
    EXPECT_NE(error_of(x).find("max_position_embeddings"), std::string::npos);
    EXPECT_TRUE(fs::exists(dir_ / "kept" / "last" / "model.safetensors"));
    EXPECT_TRUE(fs::exists(dir_ / "kept" / "metrics.jsonl"));
    x.config = (dir_ / "huge.json").string();
    EXPECT_NE(error_of(x).find("needs about"), std::string::npos);
    EXPECT_TRUE(fs::exists(dir_ / "kept" / "last" / "model.safetensors"));
  }
}
