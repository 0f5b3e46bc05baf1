// Data-parallel training on the CPU: the real binary under `mpirun --oversubscribe -np 2` (Open MPI) on a
// tiny model and synthetic data, against one process with the whole batch. Checks the equivalence the
// batch semantics promise (same rows per step, same losses), that rank 0 alone writes, resume at the same
// and at another world size, that ranks started differently are refused, that a signal to one rank stops
// all, and that a rank that fails, dies or hangs ends the job with a message in bounded time. The launch
// environment is checked without MPI. Each rank runs one thread (--threads 1): the ranks are not bound to
// cores, and an OpenMP team per rank over all cores would oversubscribe them.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/check.h"
#include "common/fs.h"
#include "common/sha256.h"
#include "dist/launch.h"
#include "subprocess.h"
#include "synthetic_data.h"

namespace tt::dist {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// ---- the launch environment ------------------------------------------------------------------------

Launch launch_of(const std::map<std::string, std::string>& env) {
  return launch_from_environment([&](const char* name) -> const char* {
    const auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

TEST(Launch, ReadsTheLaunchersVariables) {
  EXPECT_FALSE(launch_of({}).as_ranks);
  const Launch ompi = launch_of(
      {{"OMPI_COMM_WORLD_RANK", "3"}, {"OMPI_COMM_WORLD_SIZE", "4"}, {"OMPI_COMM_WORLD_LOCAL_RANK", "1"}});
  EXPECT_TRUE(ompi.as_ranks);
  EXPECT_EQ(ompi.rank, 3);
  EXPECT_EQ(ompi.size, 4);
  EXPECT_EQ(ompi.local_rank, 1);
  const Launch hydra = launch_of({{"PMI_RANK", "1"}, {"PMI_SIZE", "2"}});
  EXPECT_EQ(hydra.rank, 1);
  EXPECT_EQ(hydra.local_rank, -1);  // not told: MPI's
  const Launch srun =
      launch_of({{"SLURM_PROCID", "5"}, {"SLURM_STEP_NUM_TASKS", "8"}, {"SLURM_LOCALID", "1"}});
  EXPECT_EQ(srun.size, 8);
  EXPECT_EQ(srun.local_rank, 1);
  // A batch script outside srun has the job's variables but no step: one process.
  EXPECT_FALSE(launch_of({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "8"}}).as_ranks);
  const Launch pmix = launch_of({{"PMIX_RANK", "2"}});
  EXPECT_TRUE(pmix.as_ranks);
  EXPECT_EQ(pmix.size, 0);  // MPI's count
  // Open MPI's variables win over Slurm's (mpirun inside an allocation).
  EXPECT_EQ(launch_of({{"OMPI_COMM_WORLD_RANK", "1"},
                       {"OMPI_COMM_WORLD_SIZE", "2"},
                       {"SLURM_PROCID", "0"},
                       {"SLURM_STEP_NUM_TASKS", "1"}})
                .rank,
            1);
}

TEST(Launch, RefusesValuesThatAreNoRank) {
  for (const auto& env : std::vector<std::map<std::string, std::string>>{
           {{"OMPI_COMM_WORLD_RANK", "x"}, {"OMPI_COMM_WORLD_SIZE", "2"}},
           {{"OMPI_COMM_WORLD_RANK", "2"}, {"OMPI_COMM_WORLD_SIZE", "2"}},
           {{"PMI_RANK", "0"}, {"PMI_SIZE", "-1"}}}) {
    try {
      launch_of(env);
      ADD_FAILURE() << "accepted " << env.begin()->first << "=" << env.begin()->second;
    } catch (const tt::Error& e) {
      EXPECT_NE(std::string(e.what()).find("environment"), std::string::npos) << e.what();
    }
  }
}

// ---- the binary under mpirun -------------------------------------------------------------------------

// mpirun as root (CI) on a machine with fewer cores than ranks, ranks not bound to cores.
std::string mpirun(int ranks) {
  return "env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
         "OMPI_MCA_btl_vader_single_copy_mechanism=none "
         "mpirun --oversubscribe --bind-to none -np " +
         std::to_string(ranks) + " ";
}

struct Finished {
  int rc = -1;      // -1: it did not end within the timeout (it was killed then)
  std::string log;  // stdout and stderr
  double seconds = 0;
};

// `cmd` (a shell command line) to its end, at most `timeout_s`; its output in `log`.
Finished run(const std::string& cmd, const fs::path& log, double timeout_s) {
  const test::Exit e = test::Subprocess::shell(cmd, log).wait(timeout_s);
  return {e.rc, read_file(log), e.seconds};
}

// The process below `root` whose environment says OMPI_COMM_WORLD_RANK=<rank>; 0 if none yet.
pid_t rank_process(pid_t root, int rank) {
  for (pid_t pid : test::descendants(root)) {
    std::ifstream env("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
    for (std::string var; std::getline(env, var, '\0');)
      if (var == "OMPI_COMM_WORLD_RANK=" + std::to_string(rank)) return pid;
  }
  return 0;
}

nlohmann::json json_file(const fs::path& f) {
  return nlohmann::json::parse(read_file(f));
}

std::vector<nlohmann::json> metrics(const fs::path& run) {
  std::vector<nlohmann::json> records;
  std::istringstream in(read_file(run / "metrics.jsonl"));
  for (std::string line; std::getline(in, line);) records.push_back(nlohmann::json::parse(line));
  return records;
}

std::vector<std::string> tree(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    names.push_back(fs::relative(e.path(), dir).string());
  std::sort(names.begin(), names.end());
  return names;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

class TwoRanks : public ::testing::Test {
 protected:
  static constexpr const char* kSchedule =
      " --steps 12 --eval_steps 6 --save_steps 6 --sample_steps 6 --sample_tokens 4 --sample_prompts a "
      "--device cpu";
  static constexpr const char* kBinary = TT_BINARY_DIR "/tiny-transformer";
  static constexpr const char* kEndless =
      " --steps 100000 --eval_steps 0 --sample_steps 0 --save_steps 0 --device cpu";

  static void SetUpTestSuite() {
    tok_ = test_data::tokenizer_dir();
    if (tok_.empty() || std::system("command -v mpirun > /dev/null") != 0) return;
    dir_ = test_data::fresh_dir("dist");
    test_data::write_synthetic_data(dir_ / "data", test_data::SyntheticData{},
                                    sha256_hex_file(tok_ / "tokenizer.json"));
    test_data::write_tiny_config(dir_ / "tiny.json", 128);
    // The same 12 steps of 8 rows: one process with the whole batch, and two ranks with half each; rank 1
    // is given an out_dir of its own (paths may differ between ranks), which it must leave alone.
    one_ = train(1, "one", " --micro_batch_size 8");
    two_ = run(mpmd(train_cmd(1, "two", " --micro_batch_size 4"),
                    train_cmd(1, "two_rank1", " --micro_batch_size 4")),
               dir_ / "two.log", 300);
  }
  static void TearDownTestSuite() {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  void SetUp() override {
    if (tok_.empty()) GTEST_SKIP() << "assets/qwen3-tokenizer missing (run scripts/setup.sh)";
    if (dir_.empty()) GTEST_SKIP() << "mpirun not found (scripts/setup.sh installs openmpi-bin)";
  }

  // The run's flags; `schedule` is the length and what happens once in a while.
  static std::string train_cmd(int ranks, const std::string& out, const std::string& extra,
                               const std::string& schedule = kSchedule, const std::string& binary = kBinary) {
    return (ranks > 1 ? mpirun(ranks) : std::string()) + binary + " train --config " +
           (dir_ / "tiny.json").string() + " --data_dir " + (dir_ / "data").string() + " --out_dir " +
           (dir_ / out).string() + " --tokenizer " + tok_.string() +
           " --lr 3e-3 --warmup_steps 2 --logging_steps 3 --seed 5 --threads 1" + schedule + extra;
  }
  // Two ranks in Open MPI's MPMD form: rank 0 runs `rank0`, rank 1 `rank1` (train_cmd(1, ...) lines).
  static std::string mpmd(const std::string& rank0, const std::string& rank1) {
    return mpirun(1) + rank0 + " : -np 1 " + rank1;
  }
  static Finished train(int ranks, const std::string& out, const std::string& extra,
                        const std::string& schedule = kSchedule, const std::string& binary = kBinary,
                        double timeout_s = 300) {
    return run(train_cmd(ranks, out, extra, schedule, binary), dir_ / (out + ".log"), timeout_s);
  }
  static double final_eval_loss(const std::string& out) {
    return json_file(dir_ / out / "last" / "run_info.json")["eval_loss"].get<double>();
  }

  static inline fs::path tok_, dir_;
  static inline Finished one_, two_;
};

TEST_F(TwoRanks, TrainOnTheSameRowsAndReachTheSameLossesAsOneProcess) {
  ASSERT_EQ(one_.rc, 0) << one_.log;
  ASSERT_EQ(two_.rc, 0) << two_.log;
  const double one = final_eval_loss("one"), two = final_eval_loss("two");
  std::printf("final eval loss: one process %.9g, two ranks %.9g (relative %.2g)\n", one, two,
              std::abs(two - one) / one);
  EXPECT_NEAR(two, one, 1e-5 * one);
  const auto a = metrics(dir_ / "one"), b = metrics(dir_ / "two");
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i]["type"], b[i]["type"]);
    ASSERT_EQ(a[i]["step"], b[i]["step"]);
    // The gradient norm too: AdamW would hide a gradient off by a constant factor from the losses.
    for (const char* key : {"loss", "grad_norm", "eval_loss"}) {
      if (!a[i].contains(key)) continue;
      EXPECT_NEAR(b[i][key].get<double>(), a[i][key].get<double>(), 1e-5 * a[i][key].get<double>())
          << key << " at step " << a[i]["step"];
    }
    if (a[i]["type"] == "train") EXPECT_EQ(a[i]["tokens_seen"], b[i]["tokens_seen"]);
    // Each eval row on one rank: a row evaluated on both would leave the mean as it is, not the count.
    if (a[i]["type"] == "eval") {
      EXPECT_EQ(a[i]["eval_tokens"], b[i]["eval_tokens"]) << "at step " << a[i]["step"];
      EXPECT_EQ(a[i]["eval_rows"], b[i]["eval_rows"]) << "at step " << a[i]["step"];
    }
  }
  const auto info = json_file(dir_ / "two" / "last" / "run_info.json");
  EXPECT_EQ(info["world_size"], 2);
  EXPECT_NE(info["collectives"].get<std::string>().find("MPI"), std::string::npos) << info["collectives"];
  EXPECT_EQ(json_file(dir_ / "one" / "last" / "run_info.json")["world_size"], 1);
  EXPECT_EQ(json_file(dir_ / "two" / "last" / "trainer_state.json")["world_size"], 2);
}

TEST_F(TwoRanks, RankZeroAloneWritesAndLogs) {
  ASSERT_EQ(two_.rc, 0) << two_.log;
  // The same files as one process writes, each record once; nothing in rank 1's own out_dir.
  EXPECT_EQ(tree(dir_ / "two"), tree(dir_ / "one"));
  EXPECT_FALSE(fs::exists(dir_ / "two_rank1"));
  EXPECT_EQ(metrics(dir_ / "two").size(), metrics(dir_ / "one").size());
  EXPECT_EQ(count(read_file(dir_ / "two" / "samples.log"), "\n"), 4u);  // steps 6, 12: greedy and sampled
  EXPECT_EQ(count(two_.log, "[step 6 greedy ] a"), 1u) << two_.log;
  EXPECT_EQ(count(two_.log, "train: "), 1u) << two_.log;
  EXPECT_EQ(count(two_.log, "saved "), count(one_.log, "saved ")) << two_.log;
  EXPECT_EQ(count(two_.log, "info] rank 1: "), 0u) << two_.log;  // rank 1 logs warnings and errors only
  EXPECT_NE(two_.log.find("8 rows per step (2 rank(s) x 4 rows x 1 micro-batch(es))"), std::string::npos)
      << two_.log;
}

TEST_F(TwoRanks, ResumeContinuesExactlyAndSaysWhenTheWorldSizeChanges) {
  ASSERT_EQ(two_.rc, 0) << two_.log;
  const Finished part = train(2, "part", " --micro_batch_size 4 --stop_after_steps 6");
  ASSERT_EQ(part.rc, 0) << part.log;
  fs::copy(dir_ / "part", dir_ / "part_on_one", fs::copy_options::recursive);
  const Finished resumed = train(2, "part", " --micro_batch_size 4 --resume");
  ASSERT_EQ(resumed.rc, 0) << resumed.log;
  // fp32 on the CPU is deterministic: the same weights, bit for bit.
  EXPECT_EQ(final_eval_loss("part"), final_eval_loss("two"));
  EXPECT_EQ(sha256_hex_file(dir_ / "part" / "last" / "model.safetensors"),
            sha256_hex_file(dir_ / "two" / "last" / "model.safetensors"));

  // On one process the run keeps its 8 rows per step (--micro_batch_size is per rank: 8 here, not the saved
  // 4) and continues as it would have, and says so.
  const Finished one = train(1, "part_on_one", " --resume");
  ASSERT_EQ(one.rc, 0) << one.log;
  EXPECT_NE(one.log.find("--micro_batch_size=8 per rank keeps its 8 rows per step"), std::string::npos)
      << one.log;
  EXPECT_NE(one.log.find("the same rows per step, so the run continues as it would have"), std::string::npos)
      << one.log;
  EXPECT_NEAR(final_eval_loss("part_on_one"), final_eval_loss("two"), 1e-5 * final_eval_loss("two"));
  EXPECT_EQ(json_file(dir_ / "part_on_one" / "last" / "run_info.json")["world_size"], 1);
  // With other rows per step it warns that the result will differ.
  const Finished other = train(1, "part_on_one", " --micro_batch_size 4 --resume",
                               " --steps 14 --eval_steps 7 --save_steps 7 --sample_steps 0 --device cpu");
  ASSERT_EQ(other.rc, 0) << other.log;
  EXPECT_NE(other.log.find("--resume with 4 rows per step (1 rank(s) x 4 rows x 1 micro-batch(es)) instead "
                           "of the saved run's 8 rows per step"),
            std::string::npos)
      << other.log;
}

TEST_F(TwoRanks, RanksStartedDifferentlyAreRefused) {
  // Rank 1 with another --weight_decay than rank 0 (0.1, the default).
  const std::string one = train_cmd(1, "mismatch", " --micro_batch_size 4");
  const Finished f = run(mpmd(one, one + " --weight_decay 0.2"), dir_ / "mismatch.log", 120);
  EXPECT_NE(f.rc, 0) << f.log;
  EXPECT_NE(f.log.find("the ranks were not started alike"), std::string::npos) << f.log;
  EXPECT_NE(f.log.find("--weight_decay: 0.1 on rank 0, 0.2 on rank 1"), std::string::npos) << f.log;
  EXPECT_FALSE(fs::exists(dir_ / "mismatch" / "last"));
}

TEST_F(TwoRanks, RanksCompareTheirTokenFilesNotWhenOrWhereTheyWerePrepared) {
  // Rank 1's own copy of the data, prepared elsewhere (meta.json's time stamp and paths differ): accepted.
  // The same meta.json beside train.bin with its rows in another order: refused, naming the file.
  fs::copy(dir_ / "data", dir_ / "data_copy", fs::copy_options::recursive);
  auto meta = json_file(dir_ / "data_copy" / "meta.json");
  meta["created_utc"] = "2001-01-01T00:00:00Z";
  meta["seconds"] = 123.0;
  write_file_atomic(dir_ / "data_copy" / "meta.json", meta.dump());
  fs::copy(dir_ / "data_copy", dir_ / "data_reordered", fs::copy_options::recursive);
  const std::string bin = read_file(dir_ / "data" / "train.bin");
  const size_t row = size_t(meta["seq_len"].get<int64_t>()) * 4;
  std::string reversed;
  for (size_t at = bin.size(); at >= row; at -= row) reversed += bin.substr(at - row, row);
  ASSERT_EQ(reversed.size(), bin.size());
  write_file_atomic(dir_ / "data_reordered" / "train.bin", reversed);
  const std::string short_run = " --steps 2 --eval_steps 0 --save_steps 0 --sample_steps 0 --device cpu";
  auto with_data = [&](const std::string& out, const std::string& data) {
    std::string rank1 = train_cmd(1, out + "_rank1", " --micro_batch_size 4", short_run);
    rank1.replace(rank1.find((dir_ / "data").string() + " "), (dir_ / "data").string().size(), data);
    return run(mpmd(train_cmd(1, out, " --micro_batch_size 4", short_run), rank1), dir_ / (out + ".log"),
               120);
  };
  const Finished copy = with_data("data_copy_run", (dir_ / "data_copy").string());
  EXPECT_EQ(copy.rc, 0) << copy.log;
  const Finished reordered = with_data("data_reordered_run", (dir_ / "data_reordered").string());
  EXPECT_NE(reordered.rc, 0) << reordered.log;
  EXPECT_NE(reordered.log.find("data: train.bin (sha256): "), std::string::npos) << reordered.log;
}

TEST_F(TwoRanks, ARankThatNeverStartsEndsTheJobAfterTheTimeout) {
  // Rank 1 takes 60 s to reach MPI_Init (a binary on a hung file system): rank 0 waits there
  // --dist_timeout seconds, not for ever, and says so.
  const std::string rank1 =
      "sh -c 'sleep 60; exec " + train_cmd(1, "late_rank1", " --micro_batch_size 4 --dist_timeout 4") + "'";
  const Finished f = run(mpmd(train_cmd(1, "late", " --micro_batch_size 4 --dist_timeout 4"), rank1),
                         dir_ / "late.log", 120);
  std::printf("a rank that never started ended the job in %.1f s with status %d\n", f.seconds, f.rc);
  EXPECT_NE(f.rc, 0) << f.log;
  EXPECT_LT(f.seconds, 40) << f.log;
  EXPECT_NE(
      f.log.find("rank 0: MPI start-up (MPI_Init and the communicator's set-up) did not complete within 4 s"),
      std::string::npos)
      << f.log;
}

TEST_F(TwoRanks, AnErrorOnOneRankEndsTheJobAtOnceWithItsMessage) {
  ASSERT_EQ(one_.rc, 0) << one_.log;
  // Rank 0 alone prepares out_dir, and refuses one that holds a run; rank 1 goes on to its next collective.
  const Finished f = train(2, "one", " --micro_batch_size 4", kSchedule, kBinary, /*timeout_s=*/60);
  std::printf("an error on rank 0 ended the job in %.1f s with status %d\n", f.seconds, f.rc);
  EXPECT_NE(f.rc, 0) << f.log;
  EXPECT_NE(f.rc, -1) << "the job did not end within 60 s (--dist_timeout is 600 s):\n" << f.log;
  EXPECT_NE(f.log.find("already holds a run"), std::string::npos) << f.log;
}

// A long run of two ranks (`cmd`); once they train, `signal` goes to rank 1. The time is counted from then.
Finished disturb_rank_one(const std::string& cmd, const fs::path& log, int signal, double timeout_s) {
  test::Subprocess job = test::Subprocess::shell(cmd, log);
  pid_t victim = 0;
  const auto t0 = Clock::now();
  while (victim == 0 || read_file(log).find("step 3/") == std::string::npos) {  // a log line: training
    if (!job.running() || std::chrono::duration<double>(Clock::now() - t0).count() > 120) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (victim == 0) victim = rank_process(job.pid(), 1);
  }
  EXPECT_NE(victim, 0) << "rank 1 never started:\n" << read_file(log);
  if (victim != 0) ::kill(victim, signal);
  const auto t_signal = Clock::now();
  const test::Exit e = job.wait(timeout_s);
  if (victim != 0) ::kill(victim, SIGKILL);  // a stopped rank the launcher left behind
  return {e.rc, read_file(log), std::chrono::duration<double>(Clock::now() - t_signal).count()};
}

TEST_F(TwoRanks, ARankThatDiesEndsTheJob) {
  const Finished f = disturb_rank_one(train_cmd(2, "killed", " --micro_batch_size 4", kEndless),
                                      dir_ / "killed.log", SIGKILL, 120);
  std::printf("after the kill of rank 1 the job ended in %.1f s with status %d\n", f.seconds, f.rc);
  EXPECT_NE(f.rc, 0) << f.log;
  EXPECT_NE(f.rc, -1) << "the job did not end within 120 s of the kill:\n" << f.log;
  EXPECT_LT(f.seconds, 60);
  EXPECT_NE(f.log.find("rank 1"), std::string::npos) << f.log;  // mpirun names the rank that died
}

TEST_F(TwoRanks, ASignalToOneRankStopsEveryRankCleanly) {
  const Finished f = disturb_rank_one(train_cmd(2, "sigterm", " --micro_batch_size 4", kEndless),
                                      dir_ / "sigterm.log", SIGTERM, 120);
  EXPECT_EQ(f.rc, 128 + SIGTERM) << f.log;  // every rank exits as the signal would, after the final save
  const auto info = json_file(dir_ / "sigterm" / "last" / "run_info.json");
  EXPECT_EQ(info["stop_reason"], "signal_sigterm");
  EXPECT_TRUE(info["eval_loss"].is_number());
}

TEST_F(TwoRanks, ARankThatHangsEndsTheJobAfterTheTimeout) {
  const Finished f =
      disturb_rank_one(train_cmd(2, "hung", " --micro_batch_size 4 --dist_timeout 8", kEndless),
                       dir_ / "hung.log", SIGSTOP, 120);
  std::printf("after rank 1 stopped the job ended in %.1f s with status %d\n", f.seconds, f.rc);
  EXPECT_NE(f.rc, 0) << f.log;
  EXPECT_NE(f.rc, -1) << "the job did not end within 120 s of the stop:\n" << f.log;
  EXPECT_GE(f.seconds, 5);  // the timeout's own message (below) shows which wait ended it
  EXPECT_LT(f.seconds, 60);
  EXPECT_NE(f.log.find("rank 0 of 2: "), std::string::npos) << f.log;
  EXPECT_NE(f.log.find("did not complete within 8 s (--dist_timeout)"), std::string::npos) << f.log;
}

#ifdef TT_EMU_BINARY
// The CUDA backend's data-parallel path (NCCL on the backend's stream, between the recorded graphs) on the
// CPU emulator, whose NCCL runs over MPI (tests/cuda/emu/nccl_emu.cpp): two ranks against one process with
// the whole batch (bf16: close, not equal), and NCCL with one rank (TT_DIST_ONE_RANK=1, the GPU machine's
// smoke test) against no NCCL at all (equal). What they cannot show: the emulator runs each stream
// operation when it is issued, so an all-reduce racing the backward kernels on a GPU (wrong stream, wrong
// point between the graphs) would pass here; and a sum over one rank is the identity, so the one-rank run
// (on the GPU machine too) checks the plumbing (connection, bounded wait, teardown), not where in the step
// the all-reduce runs. Only the two-rank run compares summed gradients with one process's.
TEST_F(TwoRanks, TheGpuPathOnTheEmulatorTrainsLikeOneProcess) {
  const std::string schedule =
      " --steps 4 --eval_steps 4 --save_steps 4 --sample_steps 0 --device cuda --bf16";
  const Finished one = train(1, "emu_one", " --micro_batch_size 8", schedule, TT_EMU_BINARY);
  const Finished nccl =
      train(1, "emu_nccl", " --micro_batch_size 8", schedule, "env TT_DIST_ONE_RANK=1 " TT_EMU_BINARY);
  const Finished two =
      train(2, "emu_two", " --micro_batch_size 4", schedule, "env TT_EMU_DEVICES=2 " TT_EMU_BINARY);
  ASSERT_EQ(one.rc, 0) << one.log;
  ASSERT_EQ(nccl.rc, 0) << nccl.log;
  ASSERT_EQ(two.rc, 0) << two.log;
  for (const char* run : {"emu_nccl", "emu_two"}) {
    const auto info = json_file(dir_ / run / "last" / "run_info.json");
    EXPECT_NE(info["collectives"].get<std::string>().find("NCCL"), std::string::npos) << info["collectives"];
    EXPECT_EQ(info["device"], "cuda-bf16");
  }
  const double a = final_eval_loss("emu_one"), b = final_eval_loss("emu_nccl"),
               c = final_eval_loss("emu_two");
  std::printf("emulated GPU: eval loss %.9g one process, %.9g with one-rank NCCL, %.9g over two ranks\n", a,
              b, c);
  EXPECT_EQ(b, a);
  EXPECT_NEAR(c, a, 1e-3 * a);
  // An error on one rank ends the job at once: NCCL's teardown, collective, is left alone on the way out.
  const Finished error = train(2, "emu_two", " --micro_batch_size 4", schedule,
                               "env TT_EMU_DEVICES=2 " TT_EMU_BINARY, /*timeout_s=*/60);
  EXPECT_NE(error.rc, 0) << error.log;
  EXPECT_NE(error.rc, -1) << "the job did not end within 60 s (--dist_timeout is 600 s):\n" << error.log;
  EXPECT_NE(error.log.find("already holds a run"), std::string::npos) << error.log;
  const auto one_records = metrics(dir_ / "emu_one"), two_records = metrics(dir_ / "emu_two");
  ASSERT_EQ(one_records.size(), two_records.size());
  for (size_t i = 0; i < one_records.size();
       ++i)  // see TrainOnTheSameRows...: AdamW hides a gradient's scale
    if (one_records[i].contains("grad_norm"))
      EXPECT_NEAR(two_records[i]["grad_norm"].get<double>(), one_records[i]["grad_norm"].get<double>(),
                  1e-3 * one_records[i]["grad_norm"].get<double>());
}
#endif

}  // namespace
}  // namespace tt::dist
