// Wikimedia dump names and indexes: short-name parsing, the run listing, dumpstatus.json and
// sha1sums.txt on fixtures (tests/fixtures/data/dumps), and finding the current run on a mirror
// served by the loopback test server (with the cached index used when the mirror is unreachable).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>

#include "common/fs.h"
#include "data/wikimedia_dumps.h"
#include "http_test_server.h"
#include "test_util.h"

using namespace tt::data::test;
namespace wm = tt::data::wikimedia;

namespace {

std::string dump_fixture(const std::string& name) {
  return tt::read_file(fixture("dumps/" + name));
}

wm::ResolveOptions options(const std::string& mirror, const fs::path& cache) {
  wm::ResolveOptions o;
  o.mirror = mirror;
  o.cache_dir = cache;
  o.http.connect_timeout_s = 2;
  o.http.stall_timeout_s = 2;
  o.http.retries = 1;
  o.http.retry_delay_s = 0.01;
  return o;
}

std::vector<std::string> names(const wm::DumpRun& run) {
  std::vector<std::string> v;
  for (const auto& f : run.files) v.push_back(f.name);
  return v;
}

// A mirror with the fixture runs: 20250701 in progress, 20250620 without a dumpstatus.json (404),
// 20250601 done.
void serve_mirror(TestHttpServer& server) {
  server.route("/enwiki/", Route{.body = dump_fixture("enwiki-listing.html"), .content_type = "text/html"});
  server.route("/enwiki/20250701/dumpstatus.json",
               Route{.body = dump_fixture("dumpstatus-in-progress.json")});
  server.route("/enwiki/20250601/dumpstatus.json", Route{.body = dump_fixture("dumpstatus-done.json")});
  server.route("/enwiki/20250601/enwiki-20250601-sha1sums.txt",
               Route{.body = "c5015f8e0f92a6a40c3adc7a422f67b4e315afde  "
                             "enwiki-20250601-pages-articles1.xml-p1p41242.bz2\n"});
}

}  // namespace

TEST(DumpIndex, ShortNames) {
  auto n = wm::parse_dump_name("enwiki");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->wiki, "enwiki");
  EXPECT_EQ(n->run, "");
  n = wm::parse_dump_name("wikipedia:en:20250601");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->wiki, "enwiki");
  EXPECT_EQ(n->run, "20250601");
  EXPECT_EQ(wm::parse_dump_name("wikipedia:zh-yue")->wiki, "zh_yuewiki");
  EXPECT_EQ(wm::parse_dump_name("enwiki:latest")->run, "");
  EXPECT_EQ(wm::parse_dump_name("simplewiki:20250601")->wiki, "simplewiki");
  for (const char* not_a_name : {"wiki", "enwiki:2025", "EnWiki", "data/enwiki", "enwiki.xml",
                                 "wikipedia:", "https://dumps.wikimedia.org/enwiki/", "enwiki:20250601:x"})
    EXPECT_FALSE(wm::parse_dump_name(not_a_name)) << not_a_name;
}

// Names and pages far longer than any real one are parsed, not a crash (std::regex recursed per character).
TEST(DumpIndex, LongNamesAndListingsAreParsedWithoutRecursion) {
  const std::string long_wiki = std::string(100000, 'a') + "wiki";
  EXPECT_EQ(wm::parse_dump_name(long_wiki)->wiki, long_wiki);
  EXPECT_FALSE(wm::parse_dump_name(std::string(100000, 'a') + ".tsv"));
  EXPECT_FALSE(wm::parse_dump_name("wikipedia:" + std::string(100000, 'a') + ":2025"));
  EXPECT_EQ(wm::parse_dump_name("wikipedia:" + std::string(100000, 'a'))->wiki, long_wiki);
  EXPECT_FALSE(wm::parse_dump_name("wikipedia:" + std::string(100000, 'a') + "!"));
  const std::string listing =
      "<a href=\"" + std::string(100000, 'x') + "/20250601/\">x</a> <A HREF = 20250501>" +
      "<a href='2025060/'> <a href=\"20250701x/\"> <a href=\"" + std::string(50000, '1');
  EXPECT_EQ(wm::parse_run_listing(listing), (std::vector<std::string>{"20250601", "20250501"}));
}

TEST(DumpIndex, PartNumbersAndPageIdsOutOfRangeAreErrorsNamingTheFile) {
  const auto status = [](const std::string& name) {
    return R"({"jobs": {"articlesdump": {"status": "done", "files": {")" + name + R"(": {"size": 5}}}}})";
  };
  const std::string huge = std::string(30000, '9');
  std::string e = error_of([&] {
    wm::parse_dump_status(status("enwiki-20250601-pages-articles" + huge + ".xml-p1p2.bz2"), "enwiki",
                          "20250601", "URL1");
  });
  EXPECT_TRUE(contains(e, "URL1") && contains(e, "part number 999") && contains(e, "out of range")) << e;
  e = error_of([&] {
    wm::parse_dump_status(status("enwiki-20250601-pages-articles1.xml-p1p" + huge + ".bz2"), "enwiki",
                          "20250601", "URL2");
  });
  EXPECT_TRUE(contains(e, "URL2") && contains(e, "last page id") && contains(e, "out of range")) << e;
  // names that only look like parts are skipped, as before
  const wm::RunStatus st = wm::parse_dump_status(status("enwiki-20250601-pages-articles1.xml-p1q2.bz2"),
                                                 "enwiki", "20250601", "URL3");
  EXPECT_FALSE(st.run);
}

TEST(DumpIndex, RunListingNewestFirstWithoutLatestOrDuplicates) {
  EXPECT_EQ(wm::parse_run_listing(dump_fixture("enwiki-listing.html")),
            (std::vector<std::string>{"20250701", "20250620", "20250601", "20250520", "20250501"}));
  EXPECT_TRUE(wm::parse_run_listing("<html><body>maintenance</body></html>").empty());
}

TEST(DumpIndex, DoneRunListsTheArticlePartsInPageOrder) {
  const wm::RunStatus st =
      wm::parse_dump_status(dump_fixture("dumpstatus-done.json"), "enwiki", "20250601", "x");
  ASSERT_TRUE(st.run) << st.why_not;
  EXPECT_EQ(st.run->job, "articlesdump");
  EXPECT_EQ(names(*st.run),
            (std::vector<std::string>{"enwiki-20250601-pages-articles1.xml-p1p41242.bz2",
                                      "enwiki-20250601-pages-articles2.xml-p41243p151573.bz2",
                                      "enwiki-20250601-pages-articles3.xml-p151574p311329.bz2",
                                      "enwiki-20250601-pages-articles11.xml-p5399367p6899366.bz2",
                                      "enwiki-20250601-pages-articles11.xml-p6899367p7054859.bz2"}));
  const wm::DumpFile& first = st.run->files[0];
  EXPECT_EQ(first.size, 277338836u);
  EXPECT_EQ(first.sha1, "c5015f8e0f92a6a40c3adc7a422f67b4e315afde");
  EXPECT_EQ(first.md5, "c9ff426c8333a7a39015f4e7b387c361");
  EXPECT_EQ(first.part, 1);
  EXPECT_EQ(first.first_page, 1u);
  EXPECT_EQ(first.last_page, 41242u);
  EXPECT_EQ(st.run->total_bytes(), 277338836u + 365455934u + 396051560u + 530238821u + 51731916u);
  EXPECT_EQ(wm::file_url("https://mirror.example/dumps", *st.run, first),
            "https://mirror.example/dumps/enwiki/20250601/enwiki-20250601-pages-articles1.xml-p1p41242.bz2");
  EXPECT_EQ(wm::file_cache_path("/c", *st.run, first),
            "/c/wikimedia/enwiki/20250601/enwiki-20250601-pages-articles1.xml-p1p41242.bz2");
}

TEST(DumpIndex, RunInProgressSaysWhatTheJobsAreDoing) {
  const wm::RunStatus st =
      wm::parse_dump_status(dump_fixture("dumpstatus-in-progress.json"), "enwiki", "20250701", "x");
  EXPECT_FALSE(st.run);
  EXPECT_EQ(st.why_not, "articlesdump in-progress, articlesmultistreamdump waiting");
}

TEST(DumpIndex, MultistreamPartsWhenOnlyThatJobIsDoneWithSha1sFromSha1sums) {
  wm::RunStatus st =
      wm::parse_dump_status(dump_fixture("dumpstatus-multistream-only.json"), "enwiki", "20250501", "x");
  ASSERT_TRUE(st.run) << st.why_not;
  EXPECT_EQ(st.run->job, "articlesmultistreamdump");
  EXPECT_EQ(names(*st.run),
            (std::vector<std::string>{"enwiki-20250501-pages-articles-multistream1.xml-p1p41242.bz2",
                                      "enwiki-20250501-pages-articles-multistream2.xml-p41243p151573.bz2"}));
  EXPECT_TRUE(st.run->files[0].sha1.empty());  // dumpstatus.json gives none for this job
  const auto sums = wm::parse_sha1sums(dump_fixture("enwiki-20250501-sha1sums.txt"), "sums");
  EXPECT_EQ(sums.size(), 4u);
  wm::apply_sha1sums(*st.run, sums, "sums");
  EXPECT_EQ(st.run->files[0].sha1, "0b6d1d93c3a2f0b1c1e3e0a5a0d4f44e1a2b3c4d");
  EXPECT_EQ(st.run->files[1].sha1, "1f2e3d4c5b6a79880716253443526170a1b2c3d4");
}

TEST(DumpIndex, DamagedIndexesAreErrorsNamingTheirSource) {
  std::string e = error_of(
      [] { wm::parse_dump_status(dump_fixture("dumpstatus-bad-entry.json"), "enwiki", "20250601", "URL1"); });
  EXPECT_TRUE(contains(e, "URL1") && contains(e, "pages-articles1.xml-p1p41242.bz2") && contains(e, "size"))
      << e;
  e = error_of(
      [] { wm::parse_dump_status("<html><title>Error</title></html>", "enwiki", "20250601", "URL2"); });
  EXPECT_TRUE(contains(e, "URL2: not a dump status file (not JSON") && contains(e, "<html>")) << e;
  e = error_of([] { wm::parse_dump_status(R"({"version": "0.8"})", "enwiki", "20250601", "URL3"); });
  EXPECT_TRUE(contains(e, "URL3") && contains(e, "\"jobs\"")) << e;
  e = error_of([] {
    wm::parse_sha1sums("0b6d1d93c3a2f0b1c1e3e0a5a0d4f44e1a2b3c4d  a.bz2\nnot a checksum line\n", "SUMS");
  });
  EXPECT_TRUE(contains(e, "SUMS:2:") && contains(e, "40 hex digits")) << e;
  wm::RunStatus st = wm::parse_dump_status(dump_fixture("dumpstatus-done.json"), "enwiki", "20250601", "x");
  e = error_of([&] {
    wm::apply_sha1sums(*st.run, {{"enwiki-20250601-pages-articles1.xml-p1p41242.bz2", std::string(40, 'a')}},
                       "SUMS");
  });
  EXPECT_TRUE(contains(e, "SUMS") && contains(e, "c5015f8e0f92a6a40c3adc7a422f67b4e315afde")) << e;
}

TEST(DumpIndex, FindsTheNewestFinishedRunOnAMirrorAndKeepsItsIndex) {
  TestHttpServer server;
  serve_mirror(server);
  ScratchDir cache;
  const wm::DumpRun run = wm::resolve_dump({"enwiki", ""}, options(server.url(""), cache.path));
  EXPECT_EQ(run.run, "20250601");
  EXPECT_EQ(run.job, "articlesdump");
  EXPECT_EQ(run.files.size(), 5u);
  EXPECT_EQ(server.requests("/enwiki/20250701/dumpstatus.json"), 1);
  EXPECT_EQ(server.requests("/enwiki/20250620/dumpstatus.json"), 1);  // 404: skipped, not an error
  EXPECT_TRUE(fs::exists(cache.path / "wikimedia/enwiki/20250601/dumpstatus.json"));
  EXPECT_TRUE(fs::exists(cache.path / "wikimedia/enwiki/20250601/sha1sums.txt"));

  // A second resolution reads the finished run's index from the cache.
  wm::resolve_dump({"enwiki", ""}, options(server.url(""), cache.path));
  EXPECT_EQ(server.requests("/enwiki/20250601/dumpstatus.json"), 1);
  EXPECT_EQ(server.requests("/enwiki/"), 2);

  // A damaged cached index is removed and fetched again (it made every run fail with "check --mirror").
  tt::write_file_atomic(cache.path / "wikimedia/enwiki/20250601/dumpstatus.json", "{\"jobs\": trunc");
  EXPECT_EQ(wm::resolve_dump({"enwiki", "20250601"}, options(server.url(""), cache.path)).files.size(), 5u);
  EXPECT_EQ(server.requests("/enwiki/20250601/dumpstatus.json"), 2);
  tt::write_file_atomic(cache.path / "wikimedia/enwiki/20250601/sha1sums.txt", "not a checksum line\n");
  EXPECT_EQ(wm::resolve_dump({"enwiki", ""}, options(server.url(""), cache.path)).run, "20250601");
  EXPECT_EQ(server.requests("/enwiki/20250601/dumpstatus.json"), 3);
  EXPECT_NE(tt::read_file(cache.path / "wikimedia/enwiki/20250601/sha1sums.txt"), "not a checksum line\n");

  // Offline: the mirror refuses connections; the cached run is used, named or not.
  RefusingPort offline;
  EXPECT_EQ(wm::resolve_dump({"enwiki", ""}, options(offline.url(""), cache.path)).run, "20250601");
  EXPECT_EQ(wm::resolve_dump({"enwiki", "20250601"}, options(offline.url(""), cache.path)).files.size(), 5u);
}

TEST(DumpIndex, NoFinishedRunIsAnErrorSayingWhatWasFound) {
  TestHttpServer server;
  serve_mirror(server);
  ScratchDir cache;
  wm::ResolveOptions o = options(server.url(""), cache.path);
  o.max_runs_checked = 2;
  std::string e = error_of([&] { wm::resolve_dump({"enwiki", ""}, o); });
  EXPECT_TRUE(contains(e, "none of the newest 2 runs on " + server.url("")) &&
              contains(e, "20250701: articlesdump in-progress") &&
              contains(e, "20250620: no dumpstatus.json (HTTP 404 Not Found)"))
      << e;
  e = error_of([&] { wm::resolve_dump({"enwiki", "20250701"}, o); });
  EXPECT_TRUE(contains(e, "enwiki:20250701") && contains(e, "articlesdump in-progress")) << e;
  e = error_of([&] { wm::resolve_dump({"dewiki", ""}, o); });
  EXPECT_TRUE(contains(e, server.url("/dewiki/")) && contains(e, "HTTP 404")) << e;
  RefusingPort offline;  // nothing cached for this wiki: the network error itself
  e = error_of([&] { wm::resolve_dump({"frwiki", ""}, options(offline.url(""), cache.path)); });
  EXPECT_TRUE(contains(e, offline.url("/frwiki/")) && contains(e, "connect")) << e;
}

// A user name and password in --mirror reach the server, never the log or an error message.
TEST(DumpIndex, CredentialsInTheMirrorAreNeverShown) {
  TestHttpServer server;
  serve_mirror(server);
  ScratchDir cache;
  const std::string mirror = "http://alice:s3cret@" + server.url("").substr(std::string("http://").size());
  std::fflush(stderr);
  const int saved = ::dup(2);
  std::FILE* log = std::tmpfile();
  ::dup2(::fileno(log), 2);
  const wm::DumpRun run = wm::resolve_dump({"enwiki", ""}, options(mirror, cache.path));
  const std::string missing = error_of([&] {
    wm::resolve_dump({"dewiki", ""}, options(mirror, cache.path));
  });
  const std::string running = error_of([&] {
    wm::resolve_dump({"enwiki", "20250701"}, options(mirror, cache.path));
  });
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::rewind(log);
  std::string logged;
  for (int c; (c = std::fgetc(log)) != EOF;) logged.push_back(char(c));
  std::fclose(log);
  EXPECT_EQ(run.run, "20250601");
  EXPECT_TRUE(contains(logged, "http://***@127.0.0.1")) << logged;
  for (const std::string& text : {logged, missing, running}) EXPECT_FALSE(contains(text, "s3cret")) << text;
  EXPECT_TRUE(contains(missing, "***@") && contains(running, "***@")) << missing << "\n" << running;
}

TEST(DumpIndex, MirrorFromFlagThenEnvironment) {
  const char* saved = std::getenv("TT_WIKIMEDIA_MIRROR");
  const std::string keep = saved ? saved : "";
  ::unsetenv("TT_WIKIMEDIA_MIRROR");
  EXPECT_EQ(wm::mirror_url(), "https://dumps.wikimedia.org");
  ::setenv("TT_WIKIMEDIA_MIRROR", "http://127.0.0.1:9/dumps/", 1);
  EXPECT_EQ(wm::mirror_url(), "http://127.0.0.1:9/dumps");
  EXPECT_EQ(wm::mirror_url("https://other.example/"), "https://other.example");
  EXPECT_TRUE(contains(error_of([] { wm::mirror_url("ftp://x/"); }), "unsupported URL scheme"));
  if (saved)
    ::setenv("TT_WIKIMEDIA_MIRROR", keep.c_str(), 1);
  else
    ::unsetenv("TT_WIKIMEDIA_MIRROR");
}
