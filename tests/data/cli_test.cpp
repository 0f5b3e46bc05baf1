// `tiny-transformer prepare-data` as a process: SIGTERM while it is writing removes the temporary
// output directory and exits with 128 + SIGTERM, leaving --out_dir untouched. Uses the real Qwen3
// tokenizer and the shared intros file (~8 s of work, so there is time to signal it mid-run); the
// signal is sent as soon as the temporary directory holds data, and the run stops within a
// document, so the test takes ~2 s.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "common/fs.h"
#include "test_util.h"

extern char** environ;

using namespace tt::data::test;

namespace {

std::vector<fs::path> temp_dirs(const fs::path& dir) {
  std::vector<fs::path> v;
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind(".out.tmp.", 0) == 0) v.push_back(e.path());
  return v;
}

uint64_t bytes_under(const fs::path& dir) {
  uint64_t n = 0;
  std::error_code ec;
  for (auto& e : fs::recursive_directory_iterator(dir, ec))
    if (e.is_regular_file(ec)) n += e.file_size(ec);
  return n;
}

}  // namespace

TEST(Pipeline, CliSigtermRemovesTempDirAndExits143) {
  const fs::path tok_dir = fs::path(TT_SOURCE_DIR) / "assets/qwen3-tokenizer";
  const fs::path src = shared("enwiki-2014-intros.tsv.xz");
  if (!fs::exists(tok_dir / "tokenizer.json")) GTEST_SKIP() << "run scripts/setup.sh --no-build first";
  if (!fs::exists(src)) GTEST_SKIP() << "shared data not present: " << src;
  ScratchDir dir;
  const fs::path out = dir.path / "out", log = dir.path / "log.txt";
  const std::string bin = std::string(TT_BINARY_DIR) + "/tiny-transformer";
  std::vector<std::string> args = {bin,          "prepare-data", "--source", src.string(),  "--out_dir",
                                   out.string(), "--seq_len",    "512",      "--tokenizer", tok_dir.string()};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, bin.c_str(), &fa, nullptr, argv.data(), environ), 0) << bin;
  posix_spawn_file_actions_destroy(&fa);

  // Wait until the run has written some output into its temporary directory (or has ended).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool writing = false;
  int status = 0;
  bool exited = false;
  while (!writing && std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      break;
    }
    for (const auto& t : temp_dirs(dir.path)) writing = writing || bytes_under(t) > (1u << 20);
    if (!writing) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_FALSE(exited) << "prepare-data ended before it could be signalled:\n" << tt::read_file(log);
  ASSERT_TRUE(writing) << "no temporary output after 60 s:\n" << tt::read_file(log);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  const double stop_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string text = tt::read_file(log);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by the signal instead of stopping cleanly:\n" << text;
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGTERM) << text;
  EXPECT_NE(text.find("interrupted by SIGTERM"), std::string::npos) << text;
  EXPECT_TRUE(temp_dirs(dir.path).empty()) << temp_dirs(dir.path)[0];
  EXPECT_FALSE(fs::exists(out));
  EXPECT_LT(stop_s, 30.0);  // generous: stops within one document plus the tokenizer batch in flight
}
