// prepare-data on remote sources served by the loopback test server: a URL read while it downloads
// gives exactly the rows of the same file read locally, also when the transfer drops and is resumed;
// --max_bytes stops the download and the next run resumes it; a dump name reads a mirror's article
// parts, then the cache (also with the mirror gone); damaged or wrong downloads fail clearly and leave
// neither an output directory nor a cached copy.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <thread>

#include "byte_tokenizer.h"
#include "common/fs.h"
#include "data/input_stream.h"
#include "data/interrupt.h"
#include "data/prepare.h"
#include "fake_mirror.h"
#include "http_test_server.h"
#include "net/url.h"
#include "test_util.h"

using namespace tt::data::test;
using tt::PrepareDataOptions;

namespace {

PrepareDataOptions options(const fs::path& out, std::vector<std::string> sources, const fs::path& cache) {
  PrepareDataOptions o;
  o.sources = std::move(sources);
  o.out_dir = out.string();
  o.seq_len = 64;
  o.val_fraction = 0.05;
  o.batch_bytes = 100000;
  o.cache_dir = cache.string();
  o.net_timeout = 2;
  o.net_retries = 3;
  o.net_retry_delay = 0.01;
  return o;
}

std::string decompressed(const fs::path& p) {
  tt::data::InputStream in(p);
  std::string s, buf(1 << 20, '\0');
  while (size_t n = in.read(buf.data(), buf.size())) s.append(buf.data(), n);
  return s;
}

void expect_same_rows(const fs::path& a, const fs::path& b) {
  for (const char* f : {"train.bin", "val.bin"}) {
    const std::string x = tt::read_file(a / f), y = tt::read_file(b / f);
    EXPECT_GT(x.size(), 0u) << f;
    EXPECT_TRUE(x == y) << f << ": " << x.size() << " vs " << y.size() << " bytes";
  }
}

#define REQUIRE_SHARED(name) \
  if (!fs::exists(shared(name))) GTEST_SKIP() << "shared data not present: " << shared(name)

}  // namespace

TEST(RemotePrepare, UrlWithDroppedConnectionsGivesTheRowsOfTheLocalFile) {
  REQUIRE_SHARED("enwiki-2015-intros.tsv.xz");
  const fs::path local = shared("enwiki-2015-intros.tsv.xz");
  TestHttpServer server;
  server.route("/intros.tsv.xz",
               Route{.body = tt::read_file(local), .failing_requests = 2, .close_after = 400000});
  server.route(
      "/ignores-range.tsv.xz",
      Route{
          .body = tt::read_file(local), .honour_range = false, .failing_requests = 1, .close_after = 500000});
  ByteTokenizer tok;
  ScratchDir dir;
  auto opts = [&](const std::string& out, const std::string& src) {
    PrepareDataOptions o = options(dir.path / out, {src}, dir.path / "cache");
    o.max_bytes = 4000000;  // ~1.1 MB of the xz file: past both drops
    return o;
  };
  tt::prepare_data(opts("local", local.string()), tok);
  const auto meta = tt::prepare_data(opts("remote", server.url("/intros.tsv.xz")), tok);
  expect_same_rows(dir.path / "local", dir.path / "remote");
  EXPECT_EQ(server.requests("/intros.tsv.xz"), 3);
  EXPECT_EQ(meta["sources"][0]["url"], server.url("/intros.tsv.xz"));

  tt::prepare_data(opts("ignores", server.url("/ignores-range.tsv.xz")), tok);
  expect_same_rows(dir.path / "local", dir.path / "ignores");
}

TEST(RemotePrepare, EveryFormatAndCompressionReadsTheSameOverHttp) {
  const std::string xml = tt::read_file(fixture("new_schema.xml"));
  const size_t cut = xml.find("  <page>", xml.find("  <page>") + 1);
  ScratchDir dir;
  const std::vector<std::pair<std::string, std::string>> files = {
      {"dump-multistream.xml.bz2", bzip2(xml.substr(0, cut)) + bzip2(xml.substr(cut))},  // two bzip2 streams
      {"docs.jsonl.gz", gzip(tt::read_file(fixture("docs.jsonl")))},
      {"wikiextractor.json.xz", xz(tt::read_file(fixture("wikiextractor.json")))},
      {"plain.txt.zst", zstd(tt::read_file(fixture("plain.txt")))},
      {"wikiextractor.txt", tt::read_file(fixture("wikiextractor.txt"))},
      {"intros.tsv", tt::read_file(fixture("intros.tsv"))}};
  TestHttpServer server;
  std::vector<std::string> local, remote;
  for (const auto& [name, data] : files) {
    local.push_back(dir.write("local/" + name, data).string());
    server.route("/" + name, Route{.body = data});
    remote.push_back(server.url("/" + name));
  }
  ByteTokenizer tok;
  PrepareDataOptions l = options(dir.path / "from-files", local, dir.path / "cache");
  l.seq_len = 16;
  PrepareDataOptions r = l;
  r.sources = remote;
  r.out_dir = (dir.path / "from-urls").string();
  const auto ml = tt::prepare_data(l, tok), mr = tt::prepare_data(r, tok);
  expect_same_rows(dir.path / "from-files", dir.path / "from-urls");
  ASSERT_EQ(mr["sources"].size(), files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    EXPECT_EQ(mr["sources"][i]["format"], ml["sources"][i]["format"]) << files[i].first;
    EXPECT_EQ(mr["sources"][i]["compression"], ml["sources"][i]["compression"]) << files[i].first;
    EXPECT_GT(mr["sources"][i]["documents_kept"].get<int64_t>(), 0) << files[i].first;
  }
}

TEST(RemotePrepare, MaxBytesStopsTheDownloadAndTheNextRunResumesIt) {
  REQUIRE_SHARED("enwiki-2014-intros.tsv.xz");
  const fs::path local = shared("enwiki-2014-intros.tsv.xz");
  const std::string body = tt::read_file(local);  // 15 MB
  TestHttpServer server;
  server.route("/intros.tsv.xz", Route{.body = body, .etag = "\"v1\""});
  ByteTokenizer tok;
  ScratchDir dir;
  const fs::path cache = dir.path / "cache";
  PrepareDataOptions o = options(dir.path / "a", {server.url("/intros.tsv.xz")}, cache);
  o.max_bytes = 200000;
  auto meta = tt::prepare_data(o, tok);
  EXPECT_EQ(meta["sources"][0]["download"], "partial (kept in the cache for resuming)");
  const fs::path part = tt::net::cache_path_for_url(cache, server.url("/intros.tsv.xz")).string() + ".part";
  ASSERT_TRUE(fs::exists(part));
  const uint64_t first = fs::file_size(part);
  EXPECT_LT(first, 3u << 20) << "the transfer went on after --max_bytes";

  o.out_dir = (dir.path / "b").string();
  o.max_bytes = 3000000;
  meta = tt::prepare_data(o, tok);
  EXPECT_EQ(server.log().back().range, "bytes=" + std::to_string(first) + "-");
  EXPECT_GT(fs::file_size(part), first);
  PrepareDataOptions l = o;
  l.sources = {local.string()};
  l.out_dir = (dir.path / "local").string();
  tt::prepare_data(l, tok);
  expect_same_rows(dir.path / "local", dir.path / "b");
}

TEST(RemotePrepare, DumpNameReadsTheMirrorsArticlePartsThenTheCache) {
  REQUIRE_SHARED("enwiki-2016-pages-articles1-shortened-206pages.xml.xz");
  const std::string xml = decompressed(shared("enwiki-2016-pages-articles1-shortened-206pages.xml.xz"));
  TestHttpServer server;
  const auto parts = serve_fake_mirror(server, xml);
  ByteTokenizer tok;
  ScratchDir dir;
  const fs::path cache = dir.path / "cache";
  std::vector<std::string> local;
  for (const auto& p : parts) local.push_back(dir.write(p.name, p.data).string());
  tt::prepare_data(options(dir.path / "local", local, cache), tok);

  PrepareDataOptions o = options(dir.path / "remote", {"enwiki"}, cache);
  o.mirror = server.url("");
  const auto meta = tt::prepare_data(o, tok);
  expect_same_rows(dir.path / "local", dir.path / "remote");
  ASSERT_EQ(meta["sources"].size(), 2u);
  EXPECT_EQ(meta["sources"][1]["url"], server.url("/enwiki/20990101/" + parts[1].name));
  EXPECT_EQ(meta["sources"][1]["download"], "complete");
  EXPECT_TRUE(fs::exists(cache / "wikimedia/enwiki/20990101" / parts[0].name));

  // The mirror gone: the cached index and parts are used.
  tt::data::test::RefusingPort offline;
  o.mirror = offline.url("");
  o.out_dir = (dir.path / "offline").string();
  const auto cached = tt::prepare_data(o, tok);
  EXPECT_EQ(cached["sources"][0]["download"], "cached");
  EXPECT_EQ(cached["sources"][1]["download"], "cached");
  expect_same_rows(dir.path / "local", dir.path / "offline");
}

TEST(RemotePrepare, DumpNameDownloadsOnlyThePartsMaxBytesNeeds) {
  REQUIRE_SHARED("enwiki-2016-pages-articles1-shortened-206pages.xml.xz");
  TestHttpServer server;
  const auto parts = serve_fake_mirror(
      server, decompressed(shared("enwiki-2016-pages-articles1-shortened-206pages.xml.xz")));
  ByteTokenizer tok;
  ScratchDir dir;
  PrepareDataOptions o = options(dir.path / "out", {"wikipedia:en"}, dir.path / "cache");
  o.mirror = server.url("");
  o.max_bytes = 2000;
  const auto meta = tt::prepare_data(o, tok);
  EXPECT_EQ(server.requests("/enwiki/20990101/" + parts[1].name), 0);
  EXPECT_EQ(meta["sources"][1]["read"], false);
  EXPECT_TRUE(meta["stopped_at_max_bytes"].get<bool>());
}

TEST(RemotePrepare, ChecksumMismatchAgainstTheIndexIsRefused) {
  REQUIRE_SHARED("enwiki-2016-pages-articles1-shortened-206pages.xml.xz");
  TestHttpServer server;
  const auto parts =
      serve_fake_mirror(server, decompressed(shared("enwiki-2016-pages-articles1-shortened-206pages.xml.xz")),
                        std::string(40, 'a'));
  ByteTokenizer tok;
  ScratchDir dir;
  PrepareDataOptions o = options(dir.path / "out", {"enwiki:20990101"}, dir.path / "cache");
  o.mirror = server.url("");
  const std::string e = error_of([&] { tt::prepare_data(o, tok); });
  EXPECT_TRUE(contains(e, server.url("/enwiki/20990101/" + parts[0].name)) && contains(e, "sha1 mismatch") &&
              contains(e, "the index of enwiki 20990101 says " + std::string(40, 'a')))
      << e;
  EXPECT_FALSE(fs::exists(dir.path / "out"));
  EXPECT_FALSE(fs::exists(dir.path / "cache/wikimedia/enwiki/20990101" / parts[0].name));
  EXPECT_FALSE(fs::exists(dir.path / "cache/wikimedia/enwiki/20990101" / (parts[0].name + ".part")));
}

TEST(RemotePrepare, BadDownloadsFailClearlyAndLeaveNothingBehind) {
  REQUIRE_SHARED("enwiki-2016-pages-articles1-shortened-206pages.xml.xz");
  const std::string xml = decompressed(shared("enwiki-2016-pages-articles1-shortened-206pages.xml.xz"));
  const std::string bz = bzip2(xml);
  TestHttpServer server;
  server.route("/cut.xml.bz2", Route{.body = bz.substr(0, bz.size() * 6 / 10)});
  server.route("/page.xml.bz2",
               Route{.body = "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head></html>",
                     .content_type = "text/html"});
  server.route("/text.xml.bz2", Route{.body = "just some text that is not bzip2 data\n"});
  ByteTokenizer tok;
  ScratchDir dir;
  const fs::path cache = dir.path / "cache";
  auto fails = [&](const std::string& path, const std::vector<std::string>& parts) {
    const std::string e =
        error_of([&] { tt::prepare_data(options(dir.path / "out", {server.url(path)}, cache), tok); });
    EXPECT_TRUE(contains(e, server.url(path))) << e;
    for (const auto& p : parts) EXPECT_TRUE(contains(e, p)) << path << ": " << e;
    EXPECT_FALSE(fs::exists(dir.path / "out")) << path;
    const fs::path cached = tt::net::cache_path_for_url(cache, server.url(path));
    EXPECT_FALSE(fs::exists(cached)) << cached;
    EXPECT_FALSE(fs::exists(cached.string() + ".part")) << cached;
  };
  fails("/cut.xml.bz2", {"truncated bzip2 data", "removed from the cache"});
  fails("/page.xml.bz2", {"HTML page"});
  fails("/text.xml.bz2", {"the name says bzip2 but the content is not compressed"});
  fails("/missing.xml.bz2", {"HTTP 404 Not Found"});
}

TEST(RemotePrepare, MirrorWithoutADumpNameIsRefused) {
  ByteTokenizer tok;
  ScratchDir dir;
  PrepareDataOptions o = options(dir.path / "out", {fixture("intros.tsv").string()}, dir.path / "cache");
  o.mirror = "http://127.0.0.1:9";
  const std::string e = error_of([&] { tt::prepare_data(o, tok); });
  EXPECT_TRUE(contains(e, "--mirror") && contains(e, "no --source is a Wikimedia dump name")) << e;
}

TEST(RemotePrepare, CredentialsInAUrlNeverReachMetaJson) {
  // the library records its options itself (the CLI used to strip the credentials, so a library caller's
  // meta.json held the password)
  TestHttpServer server;
  server.route("/intros.tsv", Route{.body = tt::read_file(fixture("intros.tsv"))});
  ByteTokenizer tok;
  ScratchDir dir;
  std::string url = server.url("/intros.tsv");
  url.insert(url.find("//") + 2, "user:secret@");
  PrepareDataOptions o = options(dir.path / "out", {url}, dir.path / "cache");
  o.min_chars = 1;
  o.seq_len = 16;
  tt::prepare_data(o, tok);
  const std::string meta = tt::read_file(dir.path / "out" / "meta.json");
  EXPECT_FALSE(contains(meta, "secret")) << meta;
  EXPECT_TRUE(contains(meta, "http://***@127.0.0.1")) << meta;
}

TEST(RemotePrepare, SigtermWhileWaitingForTheNetworkStopsAtOnceAndKeepsThePartialDownload) {
  TestHttpServer server;
  server.route(
      "/slow.txt",
      Route{.body = std::string(400000, 'a') + "\n", .failing_requests = 100, .stall_after = 100000});
  ByteTokenizer tok;
  ScratchDir dir;
  PrepareDataOptions o = options(dir.path / "out", {server.url("/slow.txt")}, dir.path / "cache");
  o.net_timeout = 60;          // the stall would last a minute: only the signal can end it in time
  std::thread signaller([&] {  // once the transfer has started, i.e. inside prepare_data's InterruptScope
    for (int i = 0; i < 200 && server.requests("/slow.txt") == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ::kill(::getpid(), SIGTERM);
  });
  const auto t0 = std::chrono::steady_clock::now();
  std::string e;
  try {
    tt::prepare_data(o, tok);
  } catch (const tt::data::InterruptedError& err) {
    e = err.what();
  }
  signaller.join();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_TRUE(contains(e, "interrupted by SIGTERM")) << e;
  EXPECT_LT(s, 10.0);
  EXPECT_FALSE(fs::exists(dir.path / "out"));
  const fs::path part =
      tt::net::cache_path_for_url(dir.path / "cache", server.url("/slow.txt")).string() + ".part";
  ASSERT_TRUE(fs::exists(part));
  EXPECT_EQ(fs::file_size(part), 100000u);
}
