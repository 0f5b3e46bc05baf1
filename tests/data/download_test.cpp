// net::Download against the loopback test server: caching, resuming, retries, and every refused case
// (HTTP errors, refused connections, stalls, HTML pages, redirect loops, wrong sizes and checksums).
// All traffic stays on 127.0.0.1; timeouts and backoffs are shortened so that each test takes well
// under a few seconds and none can hang.
#include "net/download.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <random>

#include "common/fs.h"
#include "common/sha256.h"
#include "http_test_server.h"
#include "net/digest.h"
#include "net/url.h"
#include "test_util.h"

using namespace tt::data::test;
namespace net = tt::net;

namespace {

net::HttpOptions fast_options(int retries = 3) {
  net::HttpOptions o;
  o.connect_timeout_s = 2;
  o.stall_timeout_s = 2;
  o.retries = retries;
  o.retry_delay_s = 0.01;
  return o;
}

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = char(rng() & 0xff);
  return s;
}

std::string read_all(net::Download& d, size_t chunk = 64 << 10) {
  std::string s, buf(chunk, '\0');
  while (size_t n = d.read(buf.data(), buf.size())) s.append(buf.data(), n);
  return s;
}

std::string hex_digest(net::Digest::Kind kind, const std::string& data) {
  net::Digest d(kind);
  d.update(data.data(), data.size());
  return d.hex();
}

}  // namespace

TEST(Download, CachesTheFileAndReadsItLocallyTheSecondTime) {
  TestHttpServer server;
  const std::string body = random_bytes(300000, 1);
  server.route("/f.bin", Route{.body = body});
  ScratchDir dir;
  const fs::path dest = dir.path / "cache/f.bin";
  {
    net::Download d(server.url("/f.bin"), dest, {}, fast_options());
    EXPECT_FALSE(d.from_cache());
    EXPECT_EQ(read_all(d), body);
    EXPECT_TRUE(d.complete());
  }
  EXPECT_EQ(tt::read_file(dest), body);
  EXPECT_FALSE(fs::exists(dest.string() + ".part"));
  EXPECT_EQ(server.requests("/f.bin"), 1);
  net::Download again(server.url("/f.bin"), dest, {}, fast_options());
  EXPECT_TRUE(again.from_cache());
  EXPECT_EQ(read_all(again), body);
  EXPECT_EQ(server.requests("/f.bin"), 1);  // no second request
}

TEST(Download, ResumesWithRangeWhenTheServerClosesMidway) {
  TestHttpServer server;
  const std::string body = random_bytes(500000, 2);
  server.route("/f.bin", Route{.body = body, .failing_requests = 2, .close_after = 150000});
  ScratchDir dir;
  net::Download d(server.url("/f.bin"), dir.path / "f.bin", {}, fast_options());
  EXPECT_EQ(read_all(d, 4096), body);
  const auto log = server.log();
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0].range, "");
  EXPECT_EQ(log[1].range, "bytes=150000-");
  EXPECT_EQ(log[2].range, "bytes=300000-");
  EXPECT_EQ(tt::read_file(dir.path / "f.bin"), body);
}

TEST(Download, ResumesAPartialFileOfAnEarlierRunWithIfRange) {
  TestHttpServer server;
  const std::string body = random_bytes(200000, 3);
  server.route("/f.bin", Route{.body = body, .etag = "\"v1\""});
  ScratchDir dir;
  const fs::path dest = dir.path / "f.bin";
  dir.write("f.bin.part", body.substr(0, 70000));
  dir.write("f.bin.part.json", R"({"url": ")" + server.url("/f.bin") + R"(", "etag": "\"v1\""})");
  net::Download d(server.url("/f.bin"), dest,
                  {.size = body.size(), .sha1 = hex_digest(net::Digest::Kind::Sha1, body)}, fast_options());
  EXPECT_EQ(read_all(d), body);
  ASSERT_EQ(server.log().size(), 1u);
  EXPECT_EQ(server.log()[0].range, "bytes=70000-");
  EXPECT_EQ(server.log()[0].if_range, "\"v1\"");
  EXPECT_FALSE(fs::exists(dest.string() + ".part.json"));
}

TEST(Download, StalePartialOfAChangedFileIsFetchedAgainFromZero) {
  TestHttpServer server;
  const std::string body = random_bytes(100000, 4);
  server.route("/f.bin", Route{.body = body, .etag = "\"v2\""});
  ScratchDir dir;
  dir.write("f.bin.part", random_bytes(40000, 99));  // bytes of an older version of the file
  dir.write("f.bin.part.json", R"({"url": ")" + server.url("/f.bin") + R"(", "etag": "\"v1\""})");
  net::Download d(server.url("/f.bin"), dir.path / "f.bin", {}, fast_options());
  EXPECT_EQ(read_all(d), body);  // If-Range did not match: a 200 with the whole file
  EXPECT_EQ(tt::read_file(dir.path / "f.bin"), body);
}

TEST(Download, ServerIgnoringRangeRestartsFromZero) {
  TestHttpServer server;
  const std::string body = random_bytes(120000, 5);
  server.route("/f.bin", Route{.body = body, .etag = "\"v1\"", .honour_range = false});
  ScratchDir dir;
  dir.write("f.bin.part", body.substr(0, 50000));
  dir.write("f.bin.part.json", R"({"url": ")" + server.url("/f.bin") + R"(", "etag": "\"v1\""})");
  net::Download d(server.url("/f.bin"), dir.path / "f.bin", {.size = body.size()}, fast_options());
  EXPECT_EQ(read_all(d), body);
  EXPECT_EQ(server.log()[0].range, "bytes=50000-");
  EXPECT_EQ(tt::read_file(dir.path / "f.bin"), body);
}

TEST(Download, ServerIgnoringRangeOnARetryIsCheckedAgainstTheBytesAlreadyRead) {
  TestHttpServer server;
  const std::string body = random_bytes(400000, 6);
  server.route("/f.bin",
               Route{.body = body, .honour_range = false, .failing_requests = 1, .close_after = 200000});
  ScratchDir dir;
  net::Download d(server.url("/f.bin"), dir.path / "f.bin", {}, fast_options());
  EXPECT_EQ(read_all(d, 4096), body);
  EXPECT_EQ(server.requests("/f.bin"), 2);
}

TEST(Download, FileThatChangesOnTheServerMidwayIsRefused) {
  TestHttpServer server;
  const std::string v1 = random_bytes(300000, 7), v2 = random_bytes(300000, 8);
  server.route("/f.bin", Route{.body = v1, .etag = "\"v1\"", .failing_requests = 1, .close_after = 100000});
  ScratchDir dir;
  net::Download d(server.url("/f.bin"), dir.path / "f.bin", {}, fast_options());
  std::string buf(4096, '\0');
  ASSERT_EQ(d.read(buf.data(), buf.size()), buf.size());
  server.route("/f.bin", Route{.body = v2, .etag = "\"v2\""});  // the If-Range of the retry no longer matches
  const std::string e = error_of([&] { read_all(d); });
  EXPECT_TRUE(contains(e, server.url("/f.bin")) && contains(e, "changed on the server")) << e;
  EXPECT_FALSE(fs::exists(dir.path / "f.bin.part"));
  EXPECT_FALSE(fs::exists(dir.path / "f.bin"));
}

TEST(Download, NotFoundNamesTheUrlAndTheStatus) {
  TestHttpServer server;
  ScratchDir dir;
  net::Download d(server.url("/missing.bz2"), dir.path / "missing.bz2", {}, fast_options());
  const std::string e = error_of([&] { read_all(d); });
  EXPECT_TRUE(contains(e, server.url("/missing.bz2")) && contains(e, "HTTP 404 Not Found")) << e;
  EXPECT_EQ(server.requests("/missing.bz2"), 1);  // a 404 is not retried
  EXPECT_FALSE(fs::exists(dir.path / "missing.bz2"));
}

TEST(Download, ServerErrorsAreRetriedThenReported) {
  TestHttpServer server;
  server.route("/busy", Route{.status = 503, .body = "try later"});
  ScratchDir dir;
  net::Download d(server.url("/busy"), dir.path / "busy", {}, fast_options(2));
  const std::string e = error_of([&] { read_all(d); });
  EXPECT_TRUE(contains(e, server.url("/busy")) && contains(e, "HTTP 503") &&
              contains(e, "gave up after 3 tries"))
      << e;
  EXPECT_EQ(server.requests("/busy"), 3);
}

TEST(Download, ConnectionRefusedIsRetriedThenReported) {
  RefusingPort port;
  ScratchDir dir;
  net::Download d(port.url("/f.bin"), dir.path / "f.bin", {}, fast_options(1));
  const std::string e = error_of([&] { read_all(d); });
  EXPECT_TRUE(contains(e, port.url("/f.bin")) && contains(e, "connect") &&
              contains(e, "gave up after 2 tries"))
      << e;
  EXPECT_FALSE(fs::exists(dir.path / "f.bin"));
}

TEST(Download, StalledTransferTimesOutAndIsResumed) {
  TestHttpServer server;
  const std::string body = random_bytes(200000, 9);
  server.route("/f.bin", Route{.body = body, .failing_requests = 1, .stall_after = 50000});
  ScratchDir dir;
  net::HttpOptions o = fast_options();
  o.stall_timeout_s = 1;
  net::Download d(server.url("/f.bin"), dir.path / "f.bin", {}, o);
  EXPECT_EQ(read_all(d), body);
  ASSERT_EQ(server.log().size(), 2u);
  EXPECT_EQ(server.log()[1].range, "bytes=50000-");
}

TEST(Download, ServerThatNeverAnswersIsReportedAsStalled) {
  TestHttpServer server;
  server.route("/f.bin", Route{.body = "x", .failing_requests = 100, .stall_headers = true});
  ScratchDir dir;
  net::HttpOptions o = fast_options(0);
  o.stall_timeout_s = 1;
  net::Download d(server.url("/f.bin"), dir.path / "f.bin", {}, o);
  const std::string e = error_of([&] { read_all(d); });
  EXPECT_TRUE(contains(e, server.url("/f.bin")) && contains(e, "stalled")) << e;
}

TEST(Download, HtmlErrorPageServedWith200IsRefused) {
  TestHttpServer server;
  const std::string page =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><title>Wikimedia Error</title></head><body>Our servers are "
      "currently under maintenance.</body></html>\n";
  server.route("/as-html.bz2", Route{.body = page, .content_type = "text/html; charset=utf-8"});
  server.route("/as-octets.bz2", Route{.body = page});  // a wrong Content-Type too: refused by content
  ScratchDir dir;
  for (const char* path : {"/as-html.bz2", "/as-octets.bz2"}) {
    net::Download d(server.url(path), dir.path / "x.bz2", {}, fast_options());
    const std::string e = error_of([&] { read_all(d); });
    EXPECT_TRUE(contains(e, server.url(path)) && contains(e, "HTML page")) << e;
    EXPECT_FALSE(fs::exists(dir.path / "x.bz2"));
    EXPECT_FALSE(fs::exists(dir.path / "x.bz2.part"));
  }
  net::Download d(server.url("/as-octets.bz2"), dir.path / "x.bz2", {}, fast_options());
  EXPECT_TRUE(contains(error_of([&] { read_all(d); }), "Wikimedia Error"));
}

TEST(Download, RedirectChainsAreFollowedAndLoopsAreBounded) {
  TestHttpServer server;
  const std::string body = random_bytes(10000, 10);
  server.route("/a", Route{.status = 302, .location = "/b"});
  server.route("/b", Route{.status = 301, .location = server.url("/c")});
  server.route("/c", Route{.body = body});
  server.route("/loop", Route{.status = 302, .location = "/loop"});
  ScratchDir dir;
  {
    net::Download d(server.url("/a"), dir.path / "a", {}, fast_options());
    EXPECT_EQ(read_all(d), body);
  }
  net::HttpOptions o = fast_options();
  o.max_redirects = 5;
  net::Download loop(server.url("/loop"), dir.path / "loop", {}, o);
  const std::string e = error_of([&] { read_all(loop); });
  EXPECT_TRUE(contains(e, server.url("/loop")) && contains(e, "more than 5 redirects")) << e;
  EXPECT_EQ(server.requests("/loop"), 6);
}

TEST(Download, WrongSizesAreRefused) {
  TestHttpServer server;
  const std::string body = random_bytes(50000, 11);
  server.route("/f.bin", Route{.body = body});
  server.route("/long.bin", Route{.body = body, .announce_length = 80000});
  ScratchDir dir;
  {  // the index says another size than the server
    net::Download d(server.url("/f.bin"), dir.path / "f.bin", {.size = 40000, .source = "the test index"},
                    fast_options());
    const std::string e = error_of([&] { read_all(d); });
    EXPECT_TRUE(contains(e, "50000 bytes") && contains(e, "the test index says 40000")) << e;
    EXPECT_FALSE(fs::exists(dir.path / "f.bin.part"));
  }
  {  // the server announces more than it has
    net::Download d(server.url("/long.bin"), dir.path / "long.bin", {}, fast_options());
    const std::string e = error_of([&] { read_all(d); });
    EXPECT_TRUE(contains(e, server.url("/long.bin")) && contains(e, "announced 80000")) << e;
    EXPECT_FALSE(fs::exists(dir.path / "long.bin"));
  }
}

TEST(Download, ChecksumsAreChecked) {
  TestHttpServer server;
  const std::string body = random_bytes(70000, 12);
  server.route("/f.bin", Route{.body = body});
  ScratchDir dir;
  const std::string sha1 = hex_digest(net::Digest::Kind::Sha1, body),
                    md5 = hex_digest(net::Digest::Kind::Md5, body);
  {
    net::Download d(server.url("/f.bin"), dir.path / "ok.bin",
                    {.size = body.size(), .sha1 = sha1, .md5 = md5}, fast_options());
    EXPECT_EQ(read_all(d), body);
  }
  std::string bad = sha1;
  bad[0] = bad[0] == '0' ? '1' : '0';
  net::Download d(server.url("/f.bin"), dir.path / "bad.bin",
                  {.size = body.size(), .sha1 = bad, .source = "idx"}, fast_options());
  const std::string e = error_of([&] { read_all(d); });
  EXPECT_TRUE(contains(e, "sha1 mismatch: got " + sha1 + ", idx says " + bad) && contains(e, "removed")) << e;
  EXPECT_FALSE(fs::exists(dir.path / "bad.bin"));
  EXPECT_FALSE(fs::exists(dir.path / "bad.bin.part"));
}

TEST(Download, StopKeepsThePartialFileAndTheNextDownloadResumesIt) {
  TestHttpServer server;
  const std::string body = random_bytes(3 << 20, 13);
  server.route("/big.bin", Route{.body = body, .etag = "\"v1\""});
  ScratchDir dir;
  const fs::path dest = dir.path / "big.bin";
  std::string first(100000, '\0');
  {
    net::Download d(server.url("/big.bin"), dest, {}, fast_options());
    size_t got = 0;
    while (got < first.size()) got += d.read(first.data() + got, first.size() - got);
    d.stop("test");
  }
  ASSERT_TRUE(fs::exists(dest.string() + ".part"));
  const uint64_t partial = fs::file_size(dest.string() + ".part");
  EXPECT_GE(partial, first.size());
  EXPECT_LT(partial, body.size());
  EXPECT_FALSE(fs::exists(dest));
  {
    net::Download d(server.url("/big.bin"), dest, {}, fast_options());
    EXPECT_EQ(read_all(d), body);
    EXPECT_EQ(server.log().back().range, "bytes=" + std::to_string(partial) + "-");
  }
  // A server that names no version (no ETag, no Last-Modified): a partial file of an earlier run is not
  // resumed, since a file changed on the server since would be spliced onto it without a sign.
  server.route("/plain.bin", Route{.body = body});
  const fs::path plain = dir.path / "plain.bin";
  {
    net::Download d(server.url("/plain.bin"), plain, {}, fast_options());
    std::string some(100000, '\0');
    size_t got = 0;
    while (got < some.size()) got += d.read(some.data() + got, some.size() - got);
    d.stop("test");
  }
  ASSERT_GT(fs::file_size(plain.string() + ".part"), 0u);
  net::Download d(server.url("/plain.bin"), plain, {}, fast_options());
  EXPECT_EQ(read_all(d), body);
  EXPECT_EQ(server.log().back().range, "");
}

TEST(Download, ASecondDownloadOfTheSameFileIsRefusedWhileTheFirstRuns) {
  TestHttpServer server;
  server.route("/f.bin", Route{.body = random_bytes(1000, 14)});
  ScratchDir dir;
  net::Download first(server.url("/f.bin"), dir.path / "f.bin", {}, fast_options());
  const std::string e =
      error_of([&] { net::Download(server.url("/f.bin"), dir.path / "f.bin", {}, fast_options()); });
  EXPECT_TRUE(contains(e, "another process is downloading")) << e;
}

TEST(CachePaths, FollowXdgAndKeepUrlsApart) {
  const fs::path c = "/cache";
  EXPECT_EQ(net::cache_path_for_url(c, "https://dumps.wikimedia.org/enwiki/20250601/x.bz2"),
            "/cache/url/dumps.wikimedia.org/enwiki/20250601/x.bz2");
  EXPECT_EQ(net::cache_path_for_url(c, "http://127.0.0.1:8080/a%20b/c?x=1"),
            fs::path("/cache/url/127.0.0.1_8080/a_2520b") / ("c-q" + tt::sha256_hex("x=1").substr(0, 12)));
  // distinct paths never share a file (both were "a_2Cb.tsv": the second was served the first's data)
  EXPECT_EQ(net::cache_path_for_url(c, "http://h/a%2Cb.tsv"), "/cache/url/h/a_252Cb.tsv");
  EXPECT_EQ(net::cache_path_for_url(c, "http://h/a_2Cb.tsv"), "/cache/url/h/a_5F2Cb.tsv");
  EXPECT_EQ(net::cache_path_for_url(c, "http://h_1/x"), "/cache/url/h_5F1/x");
  EXPECT_EQ(net::cache_path_for_url(c, "http://h/dir/"), "/cache/url/h/dir/_index");
  EXPECT_EQ(net::cache_path_for_url(c, "http://h/dir/index"), "/cache/url/h/dir/index");
  EXPECT_EQ(net::cache_path_for_url(c, "http://h"), "/cache/url/h/_index");
  EXPECT_EQ(net::url_file_name("http://h/a/enwiki-p1p2.bz2?x"), "enwiki-p1p2.bz2");
  EXPECT_TRUE(contains(error_of([] { net::parse_url("ftp://h/x"); }), "unsupported URL scheme"));
  EXPECT_EQ(net::cache_dir("/flag"), "/flag");
  // credentials are not logged or recorded, nor part of the cache path
  EXPECT_EQ(net::without_credentials("https://user:secret@h:8080/a@b?c@d"), "https://***@h:8080/a@b?c@d");
  EXPECT_EQ(net::without_credentials("HTTP://token@h"), "HTTP://***@h");
  EXPECT_EQ(net::without_credentials("http://h/a@b"), "http://h/a@b");
  EXPECT_EQ(net::without_credentials("data/user@host.tsv"), "data/user@host.tsv");
  EXPECT_EQ(net::cache_path_for_url(c, "http://user:secret@h/x.bz2"), "/cache/url/h/x.bz2");
}

TEST(CachePaths, CacheDirectoryFromTheEnvironment) {
  struct Saved {
    std::string name;
    std::optional<std::string> value;
  };
  std::vector<Saved> saved;
  for (const char* n : {"TT_CACHE_DIR", "XDG_CACHE_HOME", "HOME"}) {
    const char* v = std::getenv(n);
    saved.push_back({n, v ? std::optional<std::string>(v) : std::nullopt});
  }
  ::unsetenv("TT_CACHE_DIR");
  ::setenv("HOME", "/home/u", 1);
  ::setenv("XDG_CACHE_HOME", "/xdg", 1);
  EXPECT_EQ(net::cache_dir(), "/xdg/tiny-transformer");
  ::setenv("XDG_CACHE_HOME", "relative", 1);  // invalid by the XDG rules: ignored
  EXPECT_EQ(net::cache_dir(), "/home/u/.cache/tiny-transformer");
  ::setenv("TT_CACHE_DIR", "/tt", 1);
  EXPECT_EQ(net::cache_dir(), "/tt");
  for (const auto& s : saved) {
    if (s.value)
      ::setenv(s.name.c_str(), s.value->c_str(), 1);
    else
      ::unsetenv(s.name.c_str());
  }
}

TEST(Download, ACompletePartialOfAKilledRunIsCheckedAndRenamedWithoutTheNetwork) {
  const std::string body = random_bytes(90000, 15);
  const net::Expected expected{.size = body.size(), .sha1 = hex_digest(net::Digest::Kind::Sha1, body)};
  RefusingPort offline;
  ScratchDir dir;
  dir.write("f.bin.part", body);
  {
    net::Download d(offline.url("/f.bin"), dir.path / "f.bin", expected, fast_options(0));
    EXPECT_TRUE(d.complete());
    EXPECT_EQ(read_all(d), body);
  }
  EXPECT_EQ(tt::read_file(dir.path / "f.bin"), body);

  // The same size with the wrong bytes: fetched again.
  TestHttpServer server;
  server.route("/f.bin", Route{.body = body});
  dir.write("g.bin.part", random_bytes(body.size(), 16));
  net::Download d(server.url("/f.bin"), dir.path / "g.bin", expected, fast_options());
  EXPECT_EQ(read_all(d), body);
  EXPECT_EQ(server.log().at(0).range, "");
}
