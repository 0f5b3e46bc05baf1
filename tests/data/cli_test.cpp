// `tiny-transformer prepare-data` as a process: SIGTERM while it is writing removes the temporary
// output directory and exits with 128 + SIGTERM, leaving --out_dir untouched. Uses the real Qwen3
// tokenizer and the shared intros file (~8 s of work, so there is time to signal it mid-run); the
// signal is sent as soon as the temporary directory holds data, and the run stops within a
// document, so the test takes ~2 s.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "common/fs.h"
#include "subprocess.h"
#include "test_util.h"

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
  tt::test::Subprocess prepare({bin, "prepare-data", "--source", src.string(), "--out_dir", out.string(),
                                "--seq_len", "512", "--tokenizer", tok_dir.string()},
                               log);

  // Wait until the run has written some output into its temporary directory (or has ended).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool writing = false;
  while (!writing && prepare.running() && std::chrono::steady_clock::now() < deadline) {
    for (const auto& t : temp_dirs(dir.path)) writing = writing || bytes_under(t) > (1u << 20);
    if (!writing) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(prepare.running()) << "prepare-data ended before it could be signalled:\n"
                                 << tt::read_file(log);
  ASSERT_TRUE(writing) << "no temporary output after 60 s:\n" << tt::read_file(log);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(kill(prepare.pid(), SIGTERM), 0);
  const tt::test::Exit e = prepare.wait(600);
  const double stop_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string text = tt::read_file(log);
  ASSERT_FALSE(e.signalled) << "killed by the signal instead of stopping cleanly:\n" << text;
  EXPECT_EQ(e.rc, 128 + SIGTERM) << text;
  EXPECT_NE(text.find("interrupted by SIGTERM"), std::string::npos) << text;
  EXPECT_TRUE(temp_dirs(dir.path).empty()) << temp_dirs(dir.path)[0];
  EXPECT_FALSE(fs::exists(out));
  EXPECT_LT(stop_s, 30.0);  // generous: stops within one document plus the tokenizer batch in flight
}
