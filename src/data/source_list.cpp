#include "data/source_list.h"

#include <algorithm>

#include "common/check.h"
#include "common/log.h"
#include "common/text.h"
#include "data/interrupt.h"
#include "data/wikimedia_dumps.h"
#include "net/url.h"

namespace tt::data {

namespace {

// A download in progress as the bytes of an InputStream.
class DownloadSource : public ByteSource {
 public:
  explicit DownloadSource(std::shared_ptr<net::Download> d) : d_(std::move(d)) {}
  size_t read(unsigned char* out, size_t cap) override { return d_->read(out, cap); }
  uint64_t size() const override { return d_->total_size(); }

 private:
  std::shared_ptr<net::Download> d_;
};

// The compression a file name promises ("x.tsv.xz" -> xz), or None.
Compression named_compression(const std::string& file_name) {
  const std::string n = ascii_lower(file_name);
  auto ends = [&](const char* suffix) {
    const std::string s(suffix);
    return n.size() > s.size() && n.compare(n.size() - s.size(), s.size(), s) == 0;
  };
  if (ends(".bz2")) return Compression::Bzip2;
  if (ends(".gz")) return Compression::Gzip;
  if (ends(".xz")) return Compression::Xz;
  if (ends(".zst") || ends(".zstd")) return Compression::Zstd;
  return Compression::None;
}

std::vector<SourceFile> dump_parts(const wikimedia::DumpName& name, const NetOptions& o,
                                   const fs::path& cache) {
  wikimedia::ResolveOptions ro;
  ro.mirror = wikimedia::mirror_url(o.mirror);
  ro.cache_dir = cache;
  ro.http = o.http;
  const wikimedia::DumpRun run = wikimedia::resolve_dump(name, ro);
  std::vector<SourceFile> out;
  for (const auto& f : run.files) {
    SourceFile s;
    s.url = wikimedia::file_url(ro.mirror, run, f);
    s.name = net::without_credentials(s.url);
    s.path = wikimedia::file_cache_path(cache, run, f);
    s.expected.size = f.size;
    s.expected.sha1 = f.sha1;
    s.expected.md5 = f.md5;
    s.expected.source = "the index of " + run.wiki + " " + run.run;
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

std::vector<SourceFile> resolve_sources(const std::vector<std::string>& specs, const NetOptions& o,
                                        std::vector<std::string>* ignored) {
  std::vector<SourceFile> out;
  std::optional<fs::path> cache;
  auto cache_dir = [&] {
    if (!cache) cache = net::cache_dir(o.cache_dir);
    return *cache;
  };
  for (const auto& spec : specs) {
    std::error_code ec;
    if (net::is_http_url(spec)) {
      SourceFile f;
      f.url = spec;
      f.name = net::without_credentials(spec);
      f.path = net::cache_path_for_url(cache_dir(), spec);
      out.push_back(std::move(f));
    } else if (fs::exists(spec, ec)) {
      for (const auto& p : expand_sources({spec}, ignored)) out.push_back(SourceFile{p.string(), p, "", {}});
    } else if (auto dump = wikimedia::parse_dump_name(spec)) {
      for (auto& f : dump_parts(*dump, o, cache_dir())) out.push_back(std::move(f));
    } else {
      TT_CHECK(spec.find("://") == std::string::npos)
          << spec << ": unsupported URL scheme" << hint("--source takes http:// and https:// URLs");
      TT_FAIL()
          << spec << ": no such file or directory"
          << hint(
                 "check the --source paths; --source also takes http(s):// URLs and Wikimedia dump names "
                 "(enwiki, wikipedia:en, enwiki:YYYYMMDD)");
    }
  }
  return out;
}

OpenSource open_source(const SourceFile& f, SkipCounter& skips, const NetOptions& o) {
  OpenSource s;
  if (!f.remote()) {
    s.reader = DocumentReader::open(f.path, skips);
    return s;
  }
  s.download = std::make_shared<net::Download>(f.url, f.path, f.expected, o.http);
  try {
    const std::string file_name = net::url_file_name(f.url);
    auto in = std::make_unique<InputStream>(std::make_unique<DownloadSource>(s.download), f.name,
                                            fs::path(file_name));
    const Compression named = named_compression(file_name);
    TT_CHECK(named == Compression::None || in->compression() == named)
        << f.name << ": the name says " << compression_name(named) << " but the content is "
        << (in->compression() == Compression::None
                ? std::string("not compressed")
                : std::string(compression_name(in->compression())) + " data")
        << hint("the server did not send the file the URL names");
    s.reader = DocumentReader::open(std::move(in), skips);
  } catch (...) {
    rethrow_discarding_download(s);
  }
  return s;
}

void rethrow_discarding_download(const OpenSource& s) {
  try {
    throw;
  } catch (const InterruptedError&) {
    throw;
  } catch (const Error& e) {
    // Errors of the transfer itself keep the partial file for resuming; data errors make it useless.
    if (!s.download || s.download->failed()) throw;
    const fs::path kept = s.download->complete() ? s.download->final_path() : s.download->part_path();
    s.download->discard();
    std::string text = e.what();
    const std::string note = "; the downloaded copy " + kept.string() + " was removed from the cache";
    const size_t hint_at = text.find("\n  hint: ");
    text.insert(hint_at == std::string::npos ? text.size() : hint_at, note);
    throw Error(text);
  }
}

}  // namespace tt::data
