// The README's main job for a user without our ../shared data: scripts/run_demo.sh (CPU path, a few
// steps) must download its data. The Wikimedia dump server is a mirror on the loopback test server
// (TT_WIKIMEDIA_MIRROR), made from the shared 206-page dump; nothing else is contacted.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/fs.h"
#include "data/input_stream.h"
#include "fake_mirror.h"
#include "http_test_server.h"
#include "test_util.h"

extern char** environ;

using namespace tt::data::test;

namespace {

std::string decompressed(const fs::path& p) {
  tt::data::InputStream in(p);
  std::string s, buf(1 << 20, '\0');
  while (size_t n = in.read(buf.data(), buf.size())) s.append(buf.data(), n);
  return s;
}

// Runs `args` with `env` added to this process's environment, output into `log`; the exit status, or
// -1 when it had to be killed after `timeout_s`.
int run(const std::vector<std::string>& args, const std::vector<std::string>& env, const fs::path& log,
        int timeout_s) {
  std::vector<std::string> envs(env);
  for (char** e = environ; *e; ++e) envs.emplace_back(*e);
  std::vector<char*> argv, envp;
  for (auto& a : const_cast<std::vector<std::string>&>(args)) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);  // its own process group: killable as a whole
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, args[0].c_str(), &fa, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return -2;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

TEST(DemoScript, DownloadsItsDataWhenTheSharedDataAreMissing) {
  const fs::path xml = shared("enwiki-2016-pages-articles1-shortened-206pages.xml.xz");
  if (!fs::exists(xml)) GTEST_SKIP() << "shared data not present: " << xml;
  if (!fs::exists(fs::path(TT_SOURCE_DIR) / "assets/qwen3-tokenizer/tokenizer.json"))
    GTEST_SKIP() << "run scripts/setup.sh --no-build first";
  TestHttpServer server;
  const auto parts = serve_fake_mirror(server, decompressed(xml));
  ScratchDir dir;
  const fs::path log = dir.path / "demo.log";
  const int rc = run(
      {"/bin/bash", std::string(TT_SOURCE_DIR) + "/scripts/run_demo.sh"},
      {"TT_DEMO_SKIP_SETUP=1", "TT_BIN=" + std::string(TT_BINARY_DIR) + "/tiny-transformer",
       "TT_DEMO_DEVICE=cpu", "TT_DEMO_STEPS=1", "TT_DEMO_DOWNLOAD=1", "TT_WIKIMEDIA_MIRROR=" + server.url(""),
       "TT_CACHE_DIR=" + (dir.path / "cache").string(), "TT_DEMO_OUT=" + (dir.path / "out").string()},
      log, 600);
  const std::string text = tt::read_file(log);
  if (std::getenv("TT_TEST_KEEP_LOG")) std::fprintf(stderr, "%s", text.c_str());
  ASSERT_EQ(rc, 0) << text;
  EXPECT_TRUE(contains(text, "TT_DEMO_DOWNLOAD=1: prepare-data downloads") && contains(text, server.url("")))
      << text;
  EXPECT_TRUE(contains(text, "fetched " + server.url("/enwiki/20990101/" + parts[0].name))) << text;
  EXPECT_TRUE(fs::exists(dir.path / "cache/wikimedia/enwiki/20990101" / parts[0].name));
  const auto meta = nlohmann::json::parse(tt::read_file(dir.path / "out/data_cpu/meta.json"));
  EXPECT_EQ(meta["sources"][0]["url"], server.url("/enwiki/20990101/" + parts[0].name));
  EXPECT_GT(meta["train"]["rows"].get<int64_t>(), 0);
  EXPECT_TRUE(fs::exists(dir.path / "out/runs_cpu/best/model.safetensors")) << text;
  EXPECT_TRUE(contains(text, "[demo] done")) << text;
}
