// What --source names, as files to read: local files and directories, http(s) URLs, and Wikimedia
// dump names. Remote files are read while they download into the cache (net::Download), through
// the same InputStream and readers as local files; a second run reads them from the cache.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "data/sources.h"
#include "net/download.h"
#include "net/http.h"

namespace tt::data {

namespace fs = std::filesystem;

// The network side of prepare-data's options.
struct NetOptions {
  std::string cache_dir;  // "" = net::cache_dir()'s default
  std::string mirror;     // "" = wikimedia::mirror_url()'s default
  net::HttpOptions http;
};

struct SourceFile {
  std::string name;        // the path, or the URL (for messages and meta.json)
  fs::path path;           // the local file, or where the download is cached
  std::string url;         // "" for a local file
  net::Expected expected;  // a dump part's size and checksums from its run's index
  bool remote() const { return !url.empty(); }
};

// --source values in order -> the files to read, in order:
//   an existing path       the file, or the data files under a directory (expand_sources())
//   http:// or https://    one remote file, cached under <cache>/url/<host>/<path>
//   a dump name            the article parts of a Wikimedia dump run (wikimedia_dumps.h), cached under
//                          <cache>/wikimedia/<wiki>/<run>/
// tt::Error for anything else, naming the value and what --source accepts.
std::vector<SourceFile> resolve_sources(const std::vector<std::string>& specs, const NetOptions& o,
                                        std::vector<std::string>* ignored = nullptr);

// An opened source: its reader and, for a remote file, the download it reads from.
struct OpenSource {
  std::unique_ptr<DocumentReader> reader;
  std::shared_ptr<net::Download> download;  // null for a local file
};

// Opens a source for reading. A remote file whose content is not what its name says (e.g. "x.bz2"
// that is not bzip2 data) or that no reader accepts is refused and removed from the cache.
OpenSource open_source(const SourceFile& f, SkipCounter& skips, const NetOptions& o);

// Appends to a data error found while reading a remote file that its cached copy was removed (the
// download is unusable), and removes it; rethrows anything else untouched. Call from a catch block.
[[noreturn]] void rethrow_discarding_download(const OpenSource& s);

}  // namespace tt::data
