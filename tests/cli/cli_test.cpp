// End-to-end tests of the `train`, `eval` and `sample` subcommands: the real binary on a tiny model
// and synthetic data (CPU). Checks exit codes, the eval JSON line, streaming generation, outputs in
// out_dir and that bad input gives a non-zero exit with a message naming the problem.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "common/fs.h"
#include "common/sha256.h"
#include "subprocess.h"
#include "synthetic_data.h"

namespace fs = std::filesystem;

namespace {

struct CliRun {
  int rc = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

CliRun run_cli(const std::string& args) {
  static int counter = 0;
  const std::string base =
      (fs::temp_directory_path() / ("tt_cli_" + std::to_string(getpid()) + "_" + std::to_string(counter++)))
          .string();
  const fs::path out = base + ".out", err = base + ".err";
  CliRun r;
  r.rc = tt::test::Subprocess::shell(std::string(TT_BINARY_DIR) + "/tiny-transformer " + args, out, err)
             .wait(600)
             .rc;
  r.out = tt::read_file(out);
  r.err = tt::read_file(err);
  fs::remove(out);
  fs::remove(err);
  return r;
}

std::string last_line(const std::string& s) {
  std::string t = s;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  auto pos = t.rfind('\n');
  return pos == std::string::npos ? t : t.substr(pos + 1);
}

class CliTrainEvalSample : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tok_ = tt::test_data::tokenizer_dir();
    if (tok_.empty()) return;
    dir_ = tt::test_data::fresh_dir("cli");
    tt::test_data::write_synthetic_data(dir_ / "data", tt::test_data::SyntheticData{},
                                        tt::sha256_hex_file(tok_ / "tokenizer.json"));
    tt::test_data::write_tiny_config(dir_ / "tiny.json", 128);
    // One short run shared by the tests (prompts "a" and "b" are single byte tokens < 128).
    train_ = run_cli(train_args("run") +
                     " --steps 20 --eval_steps 10 --save_steps 10 --sample_steps 10"
                     " --sample_tokens 6 --sample_prompts a b");
  }
  static void TearDownTestSuite() {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  void SetUp() override {
    if (tok_.empty()) GTEST_SKIP() << "assets/qwen3-tokenizer missing (run scripts/setup.sh)";
  }
  static std::string train_args(const std::string& out, const std::string& data = "data") {
    return "train --config " + (dir_ / "tiny.json").string() + " --data_dir " + (dir_ / data).string() +
           " --out_dir " + (dir_ / out).string() + " --tokenizer " + tok_.string() +
           " --device cpu --micro_batch_size 4 --lr 3e-3 --warmup_steps 2 --logging_steps 5";
  }

  static inline fs::path tok_, dir_;
  static inline CliRun train_;
};

}  // namespace

TEST_F(CliTrainEvalSample, TrainWritesCheckpointsMetricsPlotAndSamples) {
  ASSERT_EQ(train_.rc, 0) << train_.err;
  for (const char* f :
       {"last/model.safetensors", "best/model.safetensors", "metrics.jsonl", "loss.svg", "samples.log"})
    EXPECT_TRUE(fs::exists(dir_ / "run" / f)) << f;
  EXPECT_NE(train_.out.find("[step 10 greedy ] a"), std::string::npos) << train_.out;
  EXPECT_NE(train_.out.find("[step 20 sampled] b"), std::string::npos) << train_.out;
  EXPECT_EQ(tt::read_file(dir_ / "run" / "samples.log"), train_.out);
  EXPECT_NE(train_.err.find("step 20/20"), std::string::npos) << train_.err;  // plain log lines (no tty)
  EXPECT_NE(train_.err.find("flags: "), std::string::npos);
  int train_records = 0, eval_records = 0;
  std::istringstream in(tt::read_file(dir_ / "run" / "metrics.jsonl"));
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    train_records += j["type"] == "train";
    eval_records += j["type"] == "eval";
  }
  EXPECT_EQ(train_records, 4);  // steps 5, 10, 15, 20
  EXPECT_EQ(eval_records, 2);   // steps 10, 20
}

TEST_F(CliTrainEvalSample, EvalPrintsJsonAsLastLine) {
  ASSERT_EQ(train_.rc, 0) << train_.err;
  CliRun r = run_cli("eval --ckpt_dir " + (dir_ / "run" / "last").string() + " --data_dir " +
                     (dir_ / "data").string() + " --device cpu");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(last_line(r.out));
  EXPECT_EQ(j["rows"], 32);
  EXPECT_EQ(j["tokens"], 32 * 15);
  EXPECT_NEAR(j["ppl"].get<double>(), std::exp(j["loss"].get<double>()), 1e-9);
  auto info = nlohmann::json::parse(tt::read_file(dir_ / "run" / "last" / "run_info.json"));
  EXPECT_NEAR(j["loss"].get<double>(), info["eval_loss"].get<double>(), 1e-4);

  CliRun part = run_cli("eval --ckpt_dir " + (dir_ / "run" / "last").string() + " --data_dir " +
                        (dir_ / "data").string() + " --device cpu --split train --max_rows 8");
  ASSERT_EQ(part.rc, 0) << part.err;
  EXPECT_EQ(nlohmann::json::parse(last_line(part.out))["rows"], 8);
}

TEST_F(CliTrainEvalSample, GreedySampleIsDeterministicAndSeededSamplingRepeats) {
  ASSERT_EQ(train_.rc, 0) << train_.err;
  std::string base = "sample --ckpt_dir " + (dir_ / "run" / "last").string() +
                     " --prompt a --max_new_tokens 12 --device cpu";
  CliRun g1 = run_cli(base + " --temperature 0"), g2 = run_cli(base + " --temperature 0 --seed 5");
  ASSERT_EQ(g1.rc, 0) << g1.err;
  EXPECT_EQ(g1.out, g2.out);
  EXPECT_EQ(g1.out.rfind("a", 0), 0u);  // the prompt is echoed first
  EXPECT_NE(g1.err.find("tokens/s"), std::string::npos) << g1.err;
  CliRun s1 = run_cli(base + " --seed 3 --top_k 20 --top_p 0.9"),
         s2 = run_cli(base + " --seed 3 --top_k 20 --top_p 0.9");
  ASSERT_EQ(s1.rc, 0) << s1.err;
  EXPECT_EQ(s1.out, s2.out);
}

// The text and the JSON line sit in stdio's buffer until exit: a full disk must still fail the command.
TEST_F(CliTrainEvalSample, HugeMaxNewTokensIsClampedToTheContext) {
  ASSERT_EQ(train_.rc, 0) << train_.err;
  // prompt + 2^63-1 overflowed, skipped the clamp and failed as an internal error naming no flag
  CliRun r = run_cli("sample --ckpt_dir " + (dir_ / "run" / "last").string() +
                     " --prompt a --temperature 0 --device cpu --max_new_tokens 9223372036854775807");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("does not fit the context"), std::string::npos) << r.err;
}

TEST_F(CliTrainEvalSample, FailedWriteToStdoutIsAnError) {
  ASSERT_EQ(train_.rc, 0) << train_.err;
  const std::string ckpt = (dir_ / "run" / "last").string();
  for (const std::string args : {"sample --ckpt_dir " + ckpt + " --prompt a --max_new_tokens 4 --device cpu",
                                 "eval --ckpt_dir " + ckpt + " --data_dir " + (dir_ / "data").string() +
                                     " --device cpu --max_rows 4"}) {
    CliRun r = run_cli(args + " > /dev/full");
    EXPECT_EQ(r.rc, 1) << args << ": " << r.err;
    // sample flushes as it streams: the failure may come from an earlier write than the last flush
    EXPECT_NE(r.err.find("error: cannot write to stdout: "), std::string::npos) << args << ": " << r.err;
  }
}

TEST_F(CliTrainEvalSample, EvalAndSampleTakeTokenizer) {
  ASSERT_EQ(train_.rc, 0) << train_.err;
  const std::string ckpt = (dir_ / "run" / "last").string();
  const std::string eval =
      "eval --ckpt_dir " + ckpt + " --data_dir " + (dir_ / "data").string() + " --device cpu";
  CliRun plain = run_cli(eval), given = run_cli(eval + " --tokenizer " + tok_.string());
  ASSERT_EQ(plain.rc, 0) << plain.err;
  ASSERT_EQ(given.rc, 0) << given.err;
  EXPECT_EQ(nlohmann::json::parse(last_line(given.out))["loss"],
            nlohmann::json::parse(last_line(plain.out))["loss"]);
  // The file itself works too; a missing one or another tokenizer than the checkpoint's is refused.
  EXPECT_EQ(run_cli(eval + " --tokenizer " + (tok_ / "tokenizer.json").string()).rc, 0);
  CliRun missing = run_cli(eval + " --tokenizer " + (dir_ / "no_tok").string());
  EXPECT_NE(missing.rc, 0);
  EXPECT_NE(missing.err.find("no_tok"), std::string::npos) << missing.err;
  tt::test_data::write_byte_tokenizer(dir_ / "other_tok");
  CliRun other = run_cli(eval + " --tokenizer " + (dir_ / "other_tok").string());
  EXPECT_NE(other.rc, 0);
  EXPECT_NE(other.err.find("not the tokenizer of the checkpoint"), std::string::npos) << other.err;

  const std::string sample =
      "sample --ckpt_dir " + ckpt + " --prompt a --max_new_tokens 8 --temperature 0 --device cpu";
  CliRun s1 = run_cli(sample), s2 = run_cli(sample + " --tokenizer " + tok_.string());
  ASSERT_EQ(s1.rc, 0) << s1.err;
  ASSERT_EQ(s2.rc, 0) << s2.err;
  EXPECT_EQ(s1.out, s2.out);

  // A checkpoint without its tokenizer.json falls back to the default one, saying so.
  fs::create_directories(dir_ / "tokless");
  for (const char* f : {"config.json", "model.safetensors"})
    fs::copy_file(dir_ / "run" / "last" / f, dir_ / "tokless" / f);
  CliRun fallback = run_cli("sample --ckpt_dir " + (dir_ / "tokless").string() +
                            " --prompt a --max_new_tokens 2 --temperature 0 --device cpu");
  ASSERT_EQ(fallback.rc, 0) << fallback.err;
  EXPECT_NE(fallback.err.find("tokenizer.json is missing: using the default tokenizer"), std::string::npos)
      << fallback.err;
}

TEST_F(CliTrainEvalSample, WallTimeCapCoversTheWholeCommand) {
  ASSERT_EQ(train_.rc, 0) << train_.err;
  // The shipped tiny config widened to 9.8M parameters (151,936-row vocab): the final evaluation and
  // the two saves (best/, last/ with AdamW state: ~180 MB) take about a second, which the cap has to
  // leave room for, like process start-up and the tokenizer load.
  nlohmann::json wide =
      nlohmann::json::parse(tt::read_file(std::string(TT_SOURCE_DIR) + "/configs/qwen3_test_tiny.json"));
  wide["hidden_size"] = 64;
  wide["head_dim"] = 16;
  wide["intermediate_size"] = 128;
  wide["eos_token_id"] = wide["bos_token_id"] = 127;  // the synthetic data's document separator
  tt::write_file_atomic(dir_ / "wide.json", wide.dump(2));
  const double cap_s = 5.0;
  std::string args = "train --config " + (dir_ / "wide.json").string() + " --data_dir " +
                     (dir_ / "data").string() + " --out_dir " + (dir_ / "capped").string() + " --tokenizer " +
                     tok_.string() +
                     " --device cpu --micro_batch_size 4 --steps 1000000 --eval_steps 0 --save_steps 0"
                     " --sample_steps 0 --max_train_minutes " +
                     std::to_string(cap_s / 60.0);
  auto t0 = std::chrono::steady_clock::now();
  CliRun r = run_cli(args);
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_LE(wall_s, cap_s + 0.5) << r.err;
  auto info = nlohmann::json::parse(tt::read_file(dir_ / "capped" / "last" / "run_info.json"));
  EXPECT_EQ(info["stop_reason"], "max_train_minutes");
  EXPECT_GT(info["step"].get<int64_t>(), 0);
  EXPECT_TRUE(info["eval_loss"].is_number());
  EXPECT_TRUE(fs::exists(dir_ / "capped" / "best" / "model.safetensors"));
  std::printf("--max_train_minutes %.3f: command wall %.2f s, %lld steps\n", cap_s / 60.0, wall_s,
              static_cast<long long>(info["step"].get<int64_t>()));
  EXPECT_EQ(r.err.find("past --max_train_minutes"), std::string::npos) << r.err;

  // A cap shorter than the start-up: the run stops before its first step, still evaluates and saves, and
  // says by how much it overran.
  CliRun tight = run_cli(train_args("tight") +
                         " --steps 100 --eval_steps 0 --sample_steps 0 --max_train_minutes 0.0001");
  ASSERT_EQ(tight.rc, 0) << tight.err;
  EXPECT_NE(tight.err.find("s past --max_train_minutes 0.0001"), std::string::npos) << tight.err;
  EXPECT_EQ(nlohmann::json::parse(tt::read_file(dir_ / "tight" / "last" / "run_info.json"))["stop_reason"],
            "max_train_minutes");
}

TEST_F(CliTrainEvalSample, BadInputGivesNonZeroExitAndNamesTheProblem) {
  ASSERT_EQ(train_.rc, 0) << train_.err;
  auto expect_fail = [](const std::string& args, const std::string& needle) {
    CliRun r = run_cli(args);
    EXPECT_NE(r.rc, 0) << args;
    EXPECT_NE(r.err.find(needle), std::string::npos) << args << "\nstderr: " << r.err;
  };
  expect_fail(train_args("bad1") + " --steps -3", "--steps");
  expect_fail(train_args("bad2") + " --micro_batch_size 0", "--micro_batch_size");
  expect_fail(train_args("bad3") + " --early_stopping_patience 2 --eval_steps 0", "--eval_steps");
  expect_fail(train_args("bad4", "missing"), "meta.json");
  expect_fail(train_args("run"), "already holds a run");
  EXPECT_FALSE(fs::exists(dir_ / "bad1"));

  // Corrupt checkpoints.
  fs::create_directories(dir_ / "broken");
  fs::copy(dir_ / "run" / "last", dir_ / "broken" / "cfg", fs::copy_options::recursive);
  tt::write_file_atomic(dir_ / "broken" / "cfg" / "config.json", "{not json");
  fs::copy(dir_ / "run" / "last", dir_ / "broken" / "weights", fs::copy_options::recursive);
  std::string w = tt::read_file(dir_ / "broken" / "weights" / "model.safetensors");
  tt::write_file_atomic(dir_ / "broken" / "weights" / "model.safetensors", w.substr(0, w.size() / 2));
  const std::string data = " --data_dir " + (dir_ / "data").string() + " --device cpu";
  expect_fail("eval --ckpt_dir " + (dir_ / "broken" / "cfg").string() + data, "config.json");
  expect_fail("eval --ckpt_dir " + (dir_ / "broken" / "weights").string() + data, "model.safetensors");
  expect_fail("eval --ckpt_dir " + (dir_ / "nowhere").string() + data, "nowhere");
  expect_fail("sample --ckpt_dir " + (dir_ / "broken" / "weights").string() + " --prompt a --device cpu",
              "model.safetensors");
  expect_fail("sample --ckpt_dir " + (dir_ / "run" / "last").string() + " --prompt a --top_p 0", "--top_p");
  expect_fail("eval --ckpt_dir " + (dir_ / "run" / "last").string() + data + " --split test", "--split");
  expect_fail("sample --ckpt_dir " + (dir_ / "run" / "last" / "config.json").string() + " --prompt a",
              "is a file, not a checkpoint directory");

  // Data that does not fit the checkpoint's config (vocab larger than the model's).
  tt::test_data::SyntheticData big;
  big.vocab = 4096;
  tt::test_data::write_synthetic_data(dir_ / "bigvocab", big, tt::sha256_hex_file(tok_ / "tokenizer.json"));
  expect_fail("eval --ckpt_dir " + (dir_ / "run" / "last").string() + " --data_dir " +
                  (dir_ / "bigvocab").string() + " --device cpu",
              "vocab_size");
}

TEST_F(CliTrainEvalSample, ResumeContinuesToTheTargetStep) {
  ASSERT_EQ(train_.rc, 0) << train_.err;
  CliRun a = run_cli(train_args("resume") +
                     " --steps 8 --eval_steps 4 --save_steps 4 --sample_steps 0 --stop_after_steps 3");
  ASSERT_EQ(a.rc, 0) << a.err;
  CliRun b =
      run_cli(train_args("resume") + " --steps 8 --eval_steps 4 --save_steps 4 --sample_steps 0 --resume");
  ASSERT_EQ(b.rc, 0) << b.err;
  EXPECT_NE(b.err.find("resumed"), std::string::npos) << b.err;
  auto info = nlohmann::json::parse(tt::read_file(dir_ / "resume" / "last" / "run_info.json"));
  EXPECT_EQ(info["step"], 8);
  EXPECT_EQ(info["stop_reason"], "completed");
}

TEST_F(CliTrainEvalSample, BareResumeTakesTheRunsFlagsAndEndsAsAnUninterruptedRun) {
  // The run's flags differ from the defaults (--lr 3e-3 --warmup_steps 2 --micro_batch_size 4, --steps 8...);
  // `train --resume --out_dir D` alone must continue that run, not one with the default flags.
  const std::string flags = " --steps 8 --eval_steps 4 --save_steps 4 --sample_steps 0";
  CliRun whole = run_cli(train_args("flags_whole") + flags);
  ASSERT_EQ(whole.rc, 0) << whole.err;
  CliRun first = run_cli(train_args("flags_resumed") + flags + " --stop_after_steps 3");
  ASSERT_EQ(first.rc, 0) << first.err;
  CliRun rest = run_cli("train --resume --out_dir " + (dir_ / "flags_resumed").string() + " --device cpu");
  ASSERT_EQ(rest.rc, 0) << rest.err;
  EXPECT_NE(rest.err.find("the run's flags from"), std::string::npos) << rest.err;
  EXPECT_EQ(rest.err.find("instead of the run's"), std::string::npos) << rest.err;
  EXPECT_EQ(tt::sha256_hex_file(dir_ / "flags_resumed" / "last" / "model.safetensors"),
            tt::sha256_hex_file(dir_ / "flags_whole" / "last" / "model.safetensors"));
  const auto info = nlohmann::json::parse(tt::read_file(dir_ / "flags_resumed" / "last" / "run_info.json"));
  EXPECT_EQ(info["flags"]["lr"], 3e-3);
  EXPECT_EQ(info["flags"]["micro_batch_size"], 4);
  EXPECT_EQ(info["step"], 8);
  EXPECT_TRUE(info["flag_changes"].empty()) << info["flag_changes"].dump();
}

TEST_F(CliTrainEvalSample, BareResumeOfACheckpointFromBeforeFlagsWereSavedTakesRunInfosFlags) {
  const std::string flags = " --steps 8 --eval_steps 4 --save_steps 4 --sample_steps 0";
  CliRun first = run_cli(train_args("older") + flags + " --stop_after_steps 3");
  ASSERT_EQ(first.rc, 0) << first.err;
  const fs::path state_file = dir_ / "older" / "last" / "trainer_state.json";
  nlohmann::json state = nlohmann::json::parse(tt::read_file(state_file));
  for (const char* key : {"flags", "flag_changes", "data_sha256"}) state.erase(key);
  tt::write_file_atomic(state_file, state.dump(2));
  CliRun rest = run_cli("train --resume --out_dir " + (dir_ / "older").string() + " --device cpu");
  ASSERT_EQ(rest.rc, 0) << rest.err;
  EXPECT_NE(rest.err.find("run_info.json: --data_dir="), std::string::npos) << rest.err;
  const auto info = nlohmann::json::parse(tt::read_file(dir_ / "older" / "last" / "run_info.json"));
  EXPECT_EQ(info["flags"]["lr"], 3e-3);
  EXPECT_EQ(info["step"], 8);
}

TEST_F(CliTrainEvalSample, ResumeWithOtherFlagsOrOtherDataSaysSoAndRecordsTheChanges) {
  const std::string flags = " --steps 8 --eval_steps 4 --save_steps 4 --sample_steps 0";
  CliRun first = run_cli(train_args("changed") + flags + " --stop_after_steps 3");
  ASSERT_EQ(first.rc, 0) << first.err;
  // The same shapes, other rows: another seed of the synthetic data.
  tt::test_data::write_synthetic_data(dir_ / "other_data", tt::test_data::SyntheticData{.seed = 99},
                                      tt::sha256_hex_file(tok_ / "tokenizer.json"));
  CliRun rest = run_cli("train --resume --out_dir " + (dir_ / "changed").string() +
                        " --device cpu --lr 1e-3" + " --data_dir " + (dir_ / "other_data").string());
  ASSERT_EQ(rest.rc, 0) << rest.err;
  EXPECT_NE(rest.err.find("--resume with --lr=0.001 instead of the run's 0.003"), std::string::npos)
      << rest.err;
  EXPECT_NE(rest.err.find("is not the training split this run has read so far"), std::string::npos)
      << rest.err;
  EXPECT_NE(rest.err.find("evaluations before and after this resume are not comparable"), std::string::npos)
      << rest.err;
  const auto state = nlohmann::json::parse(tt::read_file(dir_ / "changed" / "last" / "trainer_state.json"));
  ASSERT_EQ(state["flag_changes"].size(), 2u) << state["flag_changes"].dump();
  EXPECT_EQ(state["flag_changes"][1]["flag"], "lr");
  EXPECT_EQ(state["flag_changes"][1]["from"], 3e-3);
  EXPECT_EQ(state["flag_changes"][1]["to"], 1e-3);
  EXPECT_EQ(state["flag_changes"][1]["step"], 3);
  EXPECT_EQ(state["flags"]["lr"], 1e-3);
  EXPECT_EQ(state["data_sha256"]["train"], tt::sha256_hex_file(dir_ / "other_data" / "train.bin"));
}

TEST_F(CliTrainEvalSample, WarnsAboutFlagsThatCannotDoWhatTheySeem) {
  // 256 training rows, 4 x 75 = 300 per step; patience that needs step 1000 in a run of 4 steps.
  CliRun r = run_cli(train_args("pointless") +
                     " --steps 4 --grad_accum 75 --eval_steps 500 --early_stopping_patience 1"
                     " --sample_steps 0 --eval_rows 4");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("the training split has 256 rows, fewer than the 300 of one step"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("cannot stop a run of --steps 4: the earliest stop is at step 1000"),
            std::string::npos)
      << r.err;
}

TEST_F(CliTrainEvalSample, APlotThatCannotBeWrittenCostsNoCheckpoint) {
  const std::string flags = " --steps 4 --eval_steps 2 --save_steps 0 --sample_steps 0 --eval_rows 4";
  CliRun first = run_cli(train_args("plotless") + flags + " --stop_after_steps 1");
  ASSERT_EQ(first.rc, 0) << first.err;
  fs::remove(dir_ / "plotless" / "loss.svg");
  fs::create_directories(dir_ / "plotless" / "loss.svg" / "in_the_way");  // a directory where the plot goes
  CliRun r = run_cli(train_args("plotless") + flags + " --resume");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("loss.svg not updated"), std::string::npos) << r.err;
  const auto info = nlohmann::json::parse(tt::read_file(dir_ / "plotless" / "last" / "run_info.json"));
  EXPECT_EQ(info["step"], 4);
}

TEST_F(CliTrainEvalSample, SigintStopsCleanlyWithExitCode130AndASavedCheckpoint) {
  ASSERT_EQ(train_.rc, 0) << train_.err;
  const fs::path out = dir_ / "sigint";
  tt::test::Subprocess train =
      tt::test::Subprocess::shell(std::string(TT_BINARY_DIR) + "/tiny-transformer " + train_args("sigint") +
                                      " --steps 1000000 --eval_steps 0 --save_steps 0 --sample_steps 0",
                                  "/dev/null");
  // Wait until training is under way (first metrics line), then interrupt once.
  for (int i = 0; i < 600 && !fs::exists(out / "metrics.jsonl"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  // The signal will be handled on a thread of its own, never on the main thread (which runs GEMMs):
  // common/stop_signal.h.
  for (const tt::test::ThreadInfo& t : tt::test::threads_of(train.pid()))
    if (t.tid == train.pid()) EXPECT_TRUE(t.blocks(SIGINT) && t.blocks(SIGTERM)) << "the main thread";
  EXPECT_EQ(tt::test::stop_signal_takers(train.pid()), 1);
  kill(train.pid(), SIGINT);
  const tt::test::Exit e = train.wait(600);
  ASSERT_FALSE(e.signalled);
  EXPECT_EQ(e.rc, 130);
  auto info = nlohmann::json::parse(tt::read_file(out / "last" / "run_info.json"));
  EXPECT_EQ(info["stop_reason"], "signal_sigint");
  EXPECT_TRUE(info["eval_loss"].is_number());
  EXPECT_GT(info["step"].get<int64_t>(), 0);
}

TEST_F(CliTrainEvalSample, SecondSignalExitsAtOnceWithoutFinishing) {
  ASSERT_EQ(train_.rc, 0) << train_.err;
  // A large validation split makes the final evaluation take ~1 s, so the second signal lands in it.
  tt::test_data::SyntheticData big_val;
  big_val.val_rows = 40000;
  tt::test_data::write_synthetic_data(dir_ / "bigval", big_val, tt::sha256_hex_file(tok_ / "tokenizer.json"));
  const fs::path out = dir_ / "twice", err = dir_ / "twice.err";
  tt::test::Subprocess train = tt::test::Subprocess::shell(
      std::string(TT_BINARY_DIR) + "/tiny-transformer " + train_args("twice", "bigval") +
          " --steps 1000000 --eval_steps 0 --save_steps 0 --sample_steps 0",
      "/dev/null", err);
  for (int i = 0; i < 600 && !fs::exists(out / "metrics.jsonl"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  kill(train.pid(), SIGINT);
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  kill(train.pid(), SIGINT);
  const tt::test::Exit e = train.wait(600);
  std::string log = tt::read_file(err);
  ASSERT_FALSE(e.signalled) << "ended by signal " << e.rc - 128 << " after " << e.seconds << " s:\n" << log;
  EXPECT_EQ(e.rc, 130);
  EXPECT_NE(log.find("stop requested"), std::string::npos) << log;
  EXPECT_EQ(log.find("done: step"), std::string::npos) << log;  // exited before the clean stop finished
  EXPECT_FALSE(fs::exists(out / "last"));
}
