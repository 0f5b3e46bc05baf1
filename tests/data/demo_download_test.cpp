// The README's main job for a user without our ../shared data: scripts/run_demo.sh (CPU path, a few
// steps) must download its data. The Wikimedia dump server is a mirror on the loopback test server
// (TT_WIKIMEDIA_MIRROR), made from the shared 206-page dump; nothing else is contacted.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "data/input_stream.h"
#include "fake_mirror.h"
#include "http_test_server.h"
#include "subprocess.h"
#include "test_util.h"

using namespace tt::data::test;

namespace {

std::string decompressed(const fs::path& p) {
  tt::data::InputStream in(p);
  std::string s, buf(1 << 20, '\0');
  while (size_t n = in.read(buf.data(), buf.size())) s.append(buf.data(), n);
  return s;
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
  const int rc =
      tt::test::Subprocess(
          {"/bin/bash", std::string(TT_SOURCE_DIR) + "/scripts/run_demo.sh"}, log, {},
          {"TT_DEMO_SKIP_SETUP=1", "TT_BIN=" + std::string(TT_BINARY_DIR) + "/tiny-transformer",
           "TT_DEMO_DEVICE=cpu", "TT_DEMO_STEPS=1", "TT_DEMO_DOWNLOAD=1",
           "TT_WIKIMEDIA_MIRROR=" + server.url(""), "TT_CACHE_DIR=" + (dir.path / "cache").string(),
           "TT_DEMO_OUT=" + (dir.path / "out").string()})
          .wait(600)
          .rc;
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
