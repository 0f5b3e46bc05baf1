// Wikimedia dump short names (`--source enwiki`, `wikipedia:en`, `enwiki:20250601`) resolved to the
// article files of one dump run on a mirror of https://dumps.wikimedia.org.
//
// Server layout: <mirror>/<wiki>/ lists the dated runs (<a href="YYYYMMDD/">); each run has
// <wiki>/<run>/dumpstatus.json ({"jobs": {job: {"status", "files": {name: {size, url, sha1?, md5?}}}}})
// and <wiki>-<run>-sha1sums.txt ("<sha1>  <name>" lines). The article text is the job "articlesdump"
// (pages-articlesN.xml-pAAApBBB.bz2, one bzip2 stream each) or "articlesmultistreamdump"
// (pages-articles-multistreamN.xml-pAAApBBB.bz2, many streams; its index files are not article text).
//
// "Current" is the newest dated run whose article job is "done" (runs are checked newest first, at most
// four). Not latest/: its files are renamed copies that are replaced in place when a run finishes, with
// no dumpstatus.json, so neither checksums nor a stable name for resuming and caching would exist;
// a dated run never changes once done.
// Parts are listed in page-id order; prepare-data reads them in that order and stops at --max_bytes,
// so only the parts it needs are downloaded.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/http.h"

namespace tt::data::wikimedia {

namespace fs = std::filesystem;

inline constexpr const char* kDefaultMirror = "https://dumps.wikimedia.org";
// --mirror when given, else $TT_WIKIMEDIA_MIRROR, else kDefaultMirror (without a trailing "/").
std::string mirror_url(const std::string& flag = "");

struct DumpName {
  std::string wiki;  // database name: "enwiki", "simplewiki", "zh_yuewiki"
  std::string run;   // "YYYYMMDD", or "" for the newest finished run
};
// "enwiki", "enwiki:20250601", "enwiki:latest", "wikipedia:en", "wikipedia:zh-yue:20250601";
// nullopt for anything else (a path, a URL).
std::optional<DumpName> parse_dump_name(std::string_view spec);

// Dated runs linked from a /<wiki>/ directory listing (nginx/Apache autoindex HTML), newest first.
std::vector<std::string> parse_run_listing(std::string_view html);

struct DumpFile {
  std::string name;
  uint64_t size = 0;
  std::string sha1, md5;  // lower-case hex, "" when the index has none
  int part = 0;           // the N of pages-articlesN (0 for an unsplit dump)
  uint64_t first_page = 0, last_page = 0;
};

struct DumpRun {
  std::string wiki, run;
  std::string job;              // "articlesdump" or "articlesmultistreamdump"
  std::vector<DumpFile> files;  // article parts in page-id order
  uint64_t total_bytes() const;
};

// The article parts of one run from its dumpstatus.json text: the articlesdump job if it is done, else
// articlesmultistreamdump if that is. `why_not` says what the jobs' statuses are when neither is.
// tt::Error naming `where` (the URL) for text that is not a dump status file or lists bad entries.
struct RunStatus {
  std::optional<DumpRun> run;
  std::string why_not;
};
RunStatus parse_dump_status(std::string_view json, const std::string& wiki, const std::string& run,
                            const std::string& where);

// "<sha1>  <name>" lines -> {name: sha1}. tt::Error naming `where` and the line for a malformed line.
std::map<std::string, std::string> parse_sha1sums(std::string_view text, const std::string& where);
// Fills in missing SHA-1s from sha1sums.txt; one that disagrees with dumpstatus.json is an error.
void apply_sha1sums(DumpRun& run, const std::map<std::string, std::string>& sums, const std::string& where);

struct ResolveOptions {
  std::string mirror = kDefaultMirror;
  fs::path cache_dir;  // the index of the chosen run is kept in <cache>/wikimedia/<wiki>/<run>/
  net::HttpOptions http;
  int max_runs_checked = 4;
};
// Finds the run (the newest finished one, or the one named) and its article parts, fetching the
// listing, dumpstatus.json and sha1sums.txt from the mirror. The index of a finished run never changes,
// so a cached one is used without asking the mirror again; when the mirror cannot be reached at all,
// the newest cached run is used (with a warning).
DumpRun resolve_dump(const DumpName& name, const ResolveOptions& o);

std::string file_url(const std::string& mirror, const DumpRun& run, const DumpFile& f);
fs::path file_cache_path(const fs::path& cache_dir, const DumpRun& run, const DumpFile& f);

}  // namespace tt::data::wikimedia
