#include "data/sources.h"

#include <expat.h>

#include <algorithm>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "common/check.h"
#include "common/log.h"
#include "common/text.h"
#include "data/wikitext.h"

namespace tt::data {

namespace fs = std::filesystem;

namespace {

constexpr size_t kSniffBytes = 64 << 10;
constexpr size_t kMaxPageBytes = 32u << 20;  // Wikipedia caps pages at 2 MiB; anything far larger is damage
constexpr size_t kMaxLineBytes = 32u << 20;

std::string lower_ext(const fs::path& p) {
  return ascii_lower(p.extension().string());
}

// Wikimedia names dump parts by their page ranges after the extension: "...articles1.xml-p1p41242.bz2".
bool is_dump_part_ext(std::string_view e) {
  const auto digits = [](std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (e.substr(0, 6) != ".xml-p") return false;
  const std::string_view range = e.substr(6);
  const size_t p = range.find('p');
  return p != std::string_view::npos && digits(range.substr(0, p)) && digits(range.substr(p + 1));
}

// Extension after stripping a compression suffix: "a.xml.bz2" -> ".xml", "a.xml-p1p41242.bz2" -> ".xml".
std::string data_ext(const fs::path& p) {
  std::string e = lower_ext(p);
  if (e == ".bz2" || e == ".gz" || e == ".xz" || e == ".zst" || e == ".zstd") e = lower_ext(p.stem());
  return is_dump_part_ext(e) ? ".xml" : e;
}

// A file of a Wikimedia dump run ("enwiki-20240601-pages-articles1.xml-p1p41242.bz2"): what it holds
// ("pages-articles", "all-titles-in-ns0", "pages-articles-multistream-index", ...), whether it is the
// multistream variant, and whether it is one part of several.
struct DumpFile {
  std::string run;   // "enwiki-20240601"
  std::string kind;  // the name between the run and the first '.' or part number, multistream removed
  bool multistream = false, part = false;
};
std::optional<DumpFile> wikimedia_dump_file(const std::string& name) {
  // <wiki>-<YYYYMMDD>-<kind>...: a wiki name of letters and '_' ending in "wiki..." (enwiki, enwiktionary)
  const size_t dash = name.find('-');
  if (dash == std::string::npos || dash == 0 || name.size() < dash + 10 || name[dash + 9] != '-')
    return std::nullopt;
  const std::string wiki = name.substr(0, dash);
  if (wiki.find("wik") == std::string::npos ||
      !std::all_of(wiki.begin(), wiki.end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; }) ||
      !std::all_of(name.begin() + long(dash) + 1, name.begin() + long(dash) + 9,
                   [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  DumpFile d;
  d.run = name.substr(0, dash + 9);
  std::string kind = name.substr(dash + 10, name.find('.', dash + 10) - (dash + 10));
  if (const size_t m = kind.find("-multistream"); m != std::string::npos) {
    d.multistream = true;
    kind.erase(m, 12);
  }
  while (!kind.empty() && kind.back() >= '0' && kind.back() <= '9') {  // "pages-articles1": a part
    kind.pop_back();
    d.part = true;
  }
  d.kind = kind;
  return d;
}

// The kinds of Wikimedia dump files that hold no article text (indexes, title lists, abstracts, stubs, logs,
// table dumps); everything else (pages-articles, pages-meta-current, a user's own files named like a run)
// is read.
bool is_dump_metadata(const std::string& kind) {
  for (const char* prefix : {"all-titles", "abstract", "stub-", "siteinfo", "pages-logging", "titles"})
    if (kind.rfind(prefix, 0) == 0) return true;
  return kind.size() > 6 && kind.compare(kind.size() - 6, 6, "-index") == 0;
}

// Why a file in a walked directory is not read as a source, or null when it is. Beside the data, a
// directory may hold a dump run's checksums and status (the dump cache) and prepare-data's own outputs.
const char* not_a_source(const fs::path& f) {
  const std::string name = f.filename().string(), ext = data_ext(f);
  static const std::vector<std::string> kDataExts = {".xml",  ".txt",    ".text", ".jsonl",
                                                     ".json", ".ndjson", ".tsv",  ""};
  // Files without an extension are WikiExtractor's wiki_00 ... (but not README, LICENSE, ...).
  if (std::find(kDataExts.begin(), kDataExts.end(), ext) == kDataExts.end() ||
      (ext.empty() && name.find_first_of("abcdefghijklmnopqrstuvwxyz") == std::string::npos))
    return "not a source file name";
  if (name == "dumpstatus.json" || name.find("sha1sums") != std::string::npos ||
      name.find("md5sums") != std::string::npos)
    return "a dump's checksums or status, not text";
  if (const auto dump = wikimedia_dump_file(name); dump && is_dump_metadata(dump->kind))
    return "a dump's index, titles, abstracts or metadata, not its article text";
  return nullptr;
}

// A mirrored dump run holds the same articles several times: plain and multistream, each whole and in
// parts. Each run's articles of a kind (pages-articles, pages-meta-current, ...) are read once: the plain
// variant where it has any file, else the multistream one, and of that variant the parts where there are
// any, else the whole file. The rest is skipped and logged.
template <class Ignore>
void skip_repeated_dump_text(std::vector<fs::path>& files, const Ignore& ignore) {
  struct Seen {
    bool plain = false, plain_parts = false, multistream_parts = false;
  };
  const auto key = [](const fs::path& f, const DumpFile& d) {
    return f.parent_path().string() + "/" + d.run + "/" + d.kind;
  };
  std::map<std::string, Seen> runs;
  for (const auto& f : files)
    if (const auto d = wikimedia_dump_file(f.filename().string())) {
      Seen& s = runs[key(f, *d)];
      s.plain = s.plain || !d->multistream;
      (d->multistream ? s.multistream_parts : s.plain_parts) |= d->part;
    }
  std::vector<fs::path> kept;
  for (const auto& f : files) {
    const auto d = wikimedia_dump_file(f.filename().string());
    if (!d) {
      kept.push_back(f);
      continue;
    }
    const Seen& s = runs[key(f, *d)];
    if (s.plain && d->multistream)
      ignore(f, "the multistream copy of articles read from the plain dump beside it");
    else if (!d->part && (d->multistream ? s.multistream_parts : s.plain_parts))
      ignore(f, "the whole dump, whose parts beside it are read");
    else
      kept.push_back(f);
  }
  files.swap(kept);
}

// A directory holding prepare-data's output (meta.json beside train.bin): its samples.txt and meta.json
// are not sources, so `--out_dir` inside a `--source` directory is not read back by the next run.
bool is_prepared_data_dir(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "meta.json", ec) && fs::is_regular_file(dir / "train.bin", ec);
}

// The keys of a JSON object's top level, read from its start: `line` may be cut anywhere (a first line
// longer than the sniffed head: WikiExtractor's --json files open with whole long articles), so the
// keys met before the cut count, and only a syntax error before it makes the line not JSON.
class TopLevelKeys : public nlohmann::json_sax<nlohmann::json> {
 public:
  // Whether `line` starts a JSON object (complete, or cut short when `may_be_cut`); its keys in keys().
  bool read(std::string_view line, bool may_be_cut) {
    keys_.clear();
    depth_ = 0;
    cut_short_ = false;
    size_ = line.size();
    const bool complete = nlohmann::json::sax_parse(line, this, nlohmann::json::input_format_t::json, false);
    return (complete || (may_be_cut && cut_short_ && line.size() > 1)) && !keys_.empty();
  }
  bool has(const std::string& k) const { return std::find(keys_.begin(), keys_.end(), k) != keys_.end(); }

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return ++depth_ > 1 || keys_.empty(); }
  bool key(string_t& k) override {
    if (depth_ == 1) keys_.push_back(k);
    return true;
  }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override { return depth_ > 0; }  // a top-level array is not a record
  bool end_array() override { return true; }
  // The parser stops one past the end of a cut line (in a string, a number or between tokens), and
  // before it at a real syntax error.
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception&) override {
    cut_short_ = position > size_;
    return false;
  }

 private:
  std::vector<std::string> keys_;
  int depth_ = 0;
  size_t size_ = 0;
  bool cut_short_ = false;
};

}  // namespace

const char* format_name(SourceFormat f) {
  switch (f) {
    case SourceFormat::Auto:
      return "auto";
    case SourceFormat::MediaWikiXml:
      return "mediawiki-xml";
    case SourceFormat::WikiExtractor:
      return "wikiextractor";
    case SourceFormat::WikiExtractorJson:
      return "wikiextractor-json";
    case SourceFormat::JsonLines:
      return "jsonl";
    case SourceFormat::Tsv:
      return "tsv";
    case SourceFormat::Text:
      return "text";
  }
  return "?";
}

void SkipCounter::add(const std::string& reason, const std::string& where) {
  int64_t n = ++counts_[reason];
  if (!where.empty() && n <= 3)
    log_warn(where, ": skipped (", reason, ")", n == 3 ? "; further ones only counted" : "");
}

int64_t SkipCounter::total() const {
  int64_t t = 0;
  for (auto& [k, v] : counts_) t += v;
  return t;
}

std::string DocumentReader::where(int64_t line) const {
  return in_->name() + ":" + std::to_string(line);
}

SourceFormat detect_format(const fs::path& path, std::string_view head, const std::string& name) {
  std::string_view h = head;
  if (h.substr(0, 3) == "\xEF\xBB\xBF") h.remove_prefix(3);
  h = trim_ascii_space(h.substr(0, std::min<size_t>(h.size(), 1 << 20)));
  const std::string ext = data_ext(path);
  if (h.substr(0, 10) == "<mediawiki" || h.substr(0, 5) == "<?xml" || ext == ".xml")
    return SourceFormat::MediaWikiXml;
  if (h.substr(0, 5) == "<doc " || h.substr(0, 5) == "<doc>") return SourceFormat::WikiExtractor;
  size_t bad = 0;
  const size_t nul = head.find('\0');
  const bool utf8 = is_valid_utf8(head, head.size() == kSniffBytes, &bad);
  const bool nul_first = utf8 || nul < bad;  // which of the two problems comes first in the file
  TT_CHECK(utf8 && nul == std::string_view::npos)
      << (name.empty() ? path.string() : name) << ": not UTF-8 text or a known source format ("
      << (nul_first ? "a NUL byte" : "invalid UTF-8") << " at decompressed offset " << (nul_first ? nul : bad)
      << ")"
      << hint(
             "sources are MediaWiki XML dumps, WikiExtractor output, JSON Lines, TSV or plain UTF-8 text, "
             "optionally compressed with bzip2/gzip/xz/zstd");
  if (!h.empty() && h[0] == '{') {
    const size_t newline = h.find('\n');
    TopLevelKeys keys;
    // The first line may run past the sniffed head; the keys before the cut decide.
    if (keys.read(h.substr(0, newline), newline == std::string_view::npos && head.size() == kSniffBytes) &&
        keys.has("text")) {
      if (keys.has("url") && keys.has("id")) return SourceFormat::WikiExtractorJson;
      return SourceFormat::JsonLines;
    }
  }
  if (ext == ".jsonl" || ext == ".json" || ext == ".ndjson") return SourceFormat::JsonLines;
  {
    std::string_view first = h.substr(0, h.find('\n'));
    size_t t1 = first.find('\t');
    size_t t2 = t1 == std::string_view::npos ? t1 : first.find('\t', t1 + 1);
    bool numeric =
        t1 != std::string_view::npos && t1 > 0 &&
        std::all_of(first.begin(), first.begin() + t1, [](char c) { return c >= '0' && c <= '9'; });
    if ((numeric && t2 != std::string_view::npos) || ext == ".tsv") return SourceFormat::Tsv;
  }
  return SourceFormat::Text;
}

std::vector<fs::path> expand_sources(const std::vector<std::string>& paths,
                                     std::vector<std::string>* ignored) {
  std::vector<fs::path> out;
  std::vector<std::string> ignored_here;  // of the directory being walked, for its error message
  const auto ignore = [&](const fs::path& f, const char* why) {
    ignored_here.push_back(f.string() + " (" + why + ")");
    if (ignored) ignored->push_back(ignored_here.back());
  };
  for (const auto& p : paths) {
    std::error_code ec;
    fs::path path(p);
    TT_CHECK(fs::exists(path, ec)) << p << ": no such file or directory" << hint("check the --source paths");
    if (!fs::is_directory(path, ec)) {
      out.push_back(path);
      continue;
    }
    TT_CHECK(!is_prepared_data_dir(path))
        << p << ": is prepare-data's output (meta.json, train.bin), not a source"
        << hint("pass the text it was prepared from, or use it as --data_dir");
    std::vector<fs::path> found;
    // Symlinked directories are followed (data kept elsewhere and linked in); each directory is walked
    // once, by its canonical path, so a link back up the tree is not a loop.
    std::vector<fs::path> walked = {fs::weakly_canonical(path, ec)};
    fs::recursive_directory_iterator it(
        path, fs::directory_options::skip_permission_denied | fs::directory_options::follow_directory_symlink,
        ec),
        end;
    TT_CHECK(!ec) << p << ": cannot list directory: " << ec.message();
    for (; it != end; it.increment(ec)) {
      TT_CHECK(!ec) << p << ": cannot list directory: " << ec.message();
      const fs::path& f = it->path();
      const std::string name = f.filename().string();
      if (it->is_directory(ec)) {
        const fs::path canonical = fs::weakly_canonical(f, ec);
        if (!name.empty() && name[0] == '.') {
          it.disable_recursion_pending();
        } else if (is_prepared_data_dir(f)) {
          it.disable_recursion_pending();
          ignore(f, "prepare-data output");
        } else if (std::find(walked.begin(), walked.end(), canonical) != walked.end()) {
          it.disable_recursion_pending();
          ignore(f, "a link to a directory already read");
        } else {
          walked.push_back(canonical);
        }
        continue;
      }
      if (!name.empty() && name[0] == '.') continue;
      if (!it->is_regular_file(ec)) continue;
      if (const char* why = not_a_source(f))
        ignore(f, why);
      else
        found.push_back(f);
    }
    std::sort(found.begin(), found.end());
    skip_repeated_dump_text(found, ignore);
    if (found.empty()) {
      std::string skipped;
      for (size_t i = 0; i < std::min<size_t>(ignored_here.size(), 5); ++i)
        skipped += "\n  skipped " + ignored_here[i];
      if (ignored_here.size() > 5) skipped += "\n  and " + std::to_string(ignored_here.size() - 5) + " more";
      TT_FAIL() << p << ": directory holds no source files (.xml .txt .jsonl .json .tsv, "
                << "optionally .bz2/.gz/.xz/.zst, Wikimedia dump parts, or WikiExtractor wiki_NN files)"
                << skipped << hint("name a file as --source to read it whatever its name");
    }
    ignored_here.clear();
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
}

// ---- MediaWiki XML (libexpat) -------------------------------------------------------------

namespace {

class XmlReader : public DocumentReader {
 public:
  XmlReader(std::unique_ptr<InputStream> in, SkipCounter& skips)
      : DocumentReader(std::move(in), skips, SourceFormat::MediaWikiXml), buf_(new char[kChunk]) {
    parser_ = XML_ParserCreate(nullptr);
    TT_CHECK(parser_) << in_->name() << ": cannot create an XML parser";
    XML_SetUserData(parser_, this);
    XML_SetElementHandler(parser_, &XmlReader::on_start, &XmlReader::on_end);
    XML_SetCharacterDataHandler(parser_, &XmlReader::on_text);
  }
  ~XmlReader() override { XML_ParserFree(parser_); }

  bool next(RawDocument& doc) override {
    while (ready_.empty() && !finished_) feed();
    if (ready_.empty()) return false;
    doc = std::move(ready_.front());
    ready_.pop_front();
    return true;
  }

 private:
  static constexpr size_t kChunk = 1 << 20;

  void feed() {
    size_t n = in_->read(buf_.get(), kChunk);
    const bool final = n == 0;
    XML_Status st = XML_Parse(parser_, buf_.get(), int(n), final ? XML_TRUE : XML_FALSE);
    if (!stop_error_.empty()) TT_FAIL() << stop_error_;
    if (st == XML_STATUS_ERROR) {
      XML_Error code = XML_GetErrorCode(parser_);
      const auto line = XML_GetCurrentLineNumber(parser_);
      const auto col = XML_GetCurrentColumnNumber(parser_);
      const bool cut = final && (code == XML_ERROR_NO_ELEMENTS || code == XML_ERROR_UNCLOSED_TOKEN ||
                                 code == XML_ERROR_PARTIAL_CHAR || code == XML_ERROR_UNCLOSED_CDATA_SECTION);
      TT_CHECK(cut && root_seen_) << in_->name() << ":" << line << ":" << col
                                  << ": XML error: " << XML_ErrorString(code) << " (decompressed byte offset "
                                  << XML_GetCurrentByteIndex(parser_) << ")"
                                  << hint("the MediaWiki XML dump is damaged");
      std::string msg = in_->name() + ":" + std::to_string(line) + ": XML ends without </mediawiki>";
      if (in_page_) {
        msg += " inside the <page> that starts at line " + std::to_string(cur_.line) +
               " (truncated dump): kept the " + std::to_string(pages_) +
               " complete pages, dropped the cut one";
        skips_.add("truncated_page");
      } else {
        msg += " (truncated dump): kept all " + std::to_string(pages_) + " complete pages";
      }
      log_warn(msg);
      warnings_.push_back(msg);
    }
    if (final) finished_ = true;
  }

  void fail(std::string msg) {
    if (stop_error_.empty()) stop_error_ = std::move(msg);
    XML_StopParser(parser_, XML_FALSE);
  }

  static void on_start(void* self_, const XML_Char* name, const XML_Char** /*atts*/) {
    auto* self = static_cast<XmlReader*>(self_);
    self->start(name);
  }
  static void on_end(void* self_, const XML_Char* name) { static_cast<XmlReader*>(self_)->end(name); }
  static void on_text(void* self_, const XML_Char* s, int len) {
    auto* self = static_cast<XmlReader*>(self_);
    if (!self->capture_) return;
    if (self->capture_->size() + size_t(len) > kMaxPageBytes) {
      self->too_large_ = true;
      return;
    }
    self->capture_->append(s, size_t(len));
  }

  void start(std::string_view name) {
    if (!root_seen_) {
      root_seen_ = true;
      if (name != "mediawiki") {
        fail(in_->name() + ":" + std::to_string(XML_GetCurrentLineNumber(parser_)) +
             ": not a MediaWiki XML export (root element <" + std::string(name) + ">, expected <mediawiki>)");
        return;
      }
    }
    const std::string parent =
        stack_.empty() ? std::string() : stack_.back();  // a copy: emplace_back may reallocate
    stack_.emplace_back(name);
    if (name == "page") {
      in_page_ = true;
      cur_ = RawDocument{};
      cur_.wikitext = true;
      cur_.line = int64_t(XML_GetCurrentLineNumber(parser_));
      ns_text_.clear();
      too_large_ = false;
      return;
    }
    if (!in_page_) return;
    if (name == "title" && parent == "page") {
      capture_ = &cur_.title;
    } else if (name == "ns" && parent == "page") {
      capture_ = &ns_text_;
    } else if (name == "redirect" && parent == "page") {
      cur_.redirect = true;
    } else if (name == "text" && parent == "revision") {
      cur_.text.clear();  // with several revisions, the last one wins
      capture_ = &cur_.text;
    }
  }

  void end(std::string_view name) {
    if (!stack_.empty()) stack_.pop_back();
    capture_ = nullptr;
    if (name != "page" || !in_page_) return;
    in_page_ = false;
    ++pages_;
    std::string_view ns = trim_ascii_space(ns_text_);
    if (!ns.empty()) {
      int v = 0;
      bool ok = ns.size() < 9;
      for (char c : ns) ok = ok && ((c >= '0' && c <= '9') || (c == '-' && &c == &ns[0]));
      if (ok) v = std::atoi(std::string(ns).c_str());
      cur_.ns = ok ? v : 1;  // an unreadable namespace is not the main one
    }
    if (too_large_) {
      skips_.add("page_too_large", where(cur_.line));
      return;
    }
    ready_.push_back(std::move(cur_));
  }

  XML_Parser parser_ = nullptr;
  std::unique_ptr<char[]> buf_;
  std::deque<RawDocument> ready_;
  std::vector<std::string> stack_;
  RawDocument cur_;
  std::string ns_text_;
  std::string* capture_ = nullptr;
  std::string stop_error_;
  bool in_page_ = false, root_seen_ = false, finished_ = false, too_large_ = false;
  int64_t pages_ = 0;
};

// ---- line-based formats --------------------------------------------------------------------

class LineBasedReader : public DocumentReader {
 protected:
  LineBasedReader(std::unique_ptr<InputStream> in, SkipCounter& skips, SourceFormat f)
      : DocumentReader(std::move(in), skips, f), lines_(*in_, kMaxLineBytes) {}
  // Next line; a line cut for length is counted and reported once per line.
  bool next_line() {
    if (!lines_.next(line_)) return false;
    if (lines_.line_was_cut()) skips_.add("line_too_long", where(lines_.line_number()));
    return true;
  }
  LineReader lines_;
  std::string line_;
};

std::string attribute(std::string_view tag, std::string_view name) {
  std::string key = " " + std::string(name) + "=\"";
  size_t b = tag.find(key);
  if (b == std::string_view::npos) return "";
  b += key.size();
  size_t e = tag.find('"', b);
  if (e == std::string_view::npos) return "";
  return decode_html_entities(tag.substr(b, e - b));
}

class WikiExtractorReader : public LineBasedReader {
 public:
  WikiExtractorReader(std::unique_ptr<InputStream> in, SkipCounter& skips)
      : LineBasedReader(std::move(in), skips, SourceFormat::WikiExtractor) {}

  bool next(RawDocument& doc) override {
    for (;;) {
      if (!next_line()) {
        if (in_doc_) {
          skips_.add("unterminated_doc", where(cur_.line));
          in_doc_ = false;
        }
        return false;
      }
      std::string_view l = line_;
      if (l.substr(0, 5) == "<doc " || l == "<doc>") {
        if (in_doc_) skips_.add("unterminated_doc", where(cur_.line));
        in_doc_ = true;
        cur_ = RawDocument{};
        cur_.title = attribute(l, "title");
        cur_.line = lines_.line_number();
        seen_title_line_ = false;
        have_paragraph_ = false;
        paragraph_cut_ = false;
        continue;
      }
      if (!in_doc_) continue;  // text outside <doc>: ignored
      if (trim_ascii_space(l) == "</doc>") {
        in_doc_ = false;
        if (paragraph_cut_) continue;  // counted as line_too_long: a cut paragraph is not the article's
        doc = std::move(cur_);
        return true;
      }
      if (have_paragraph_) continue;
      if (lines_.line_was_cut()) {
        have_paragraph_ = paragraph_cut_ = true;
        continue;
      }
      std::string_view t = trim_ascii_space(l);
      if (t.empty()) continue;
      if (!seen_title_line_) {
        seen_title_line_ = true;
        if (t == cur_.title || decode_html_entities(t) == cur_.title) continue;  // WikiExtractor's title line
      }
      cur_.text.assign(t);
      have_paragraph_ = true;
    }
  }

 private:
  RawDocument cur_;
  bool in_doc_ = false, seen_title_line_ = false, have_paragraph_ = false, paragraph_cut_ = false;
};

// First paragraph of a text: up to the first blank line (WikiExtractor JSON: first non-empty line
// that is not the title).
std::string first_block(std::string_view text) {
  std::string out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line =
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    if (trim_ascii_space(line).empty()) {
      if (!out.empty()) break;
      continue;
    }
    out.append(line);
    out.push_back('\n');
  }
  return out;
}

std::string first_line_not_title(std::string_view text, std::string_view title) {
  size_t pos = 0;
  bool first = true;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line =
        trim_ascii_space(text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos));
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    if (line.empty()) continue;
    if (first && line == title) {
      first = false;
      continue;
    }
    return std::string(line);
  }
  return "";
}

class JsonLinesReader : public LineBasedReader {
 public:
  JsonLinesReader(std::unique_ptr<InputStream> in, SkipCounter& skips, SourceFormat f)
      : LineBasedReader(std::move(in), skips, f) {}

  bool next(RawDocument& doc) override {
    while (next_line()) {
      if (lines_.line_was_cut()) continue;
      std::string_view t = trim_ascii_space(line_);
      if (t.empty()) continue;
      auto j = nlohmann::json::parse(t, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        skips_.add("bad_json_line", where(lines_.line_number()) + " (not a JSON object)");
        continue;
      }
      auto text = j.find("text");
      if (text == j.end() || !text->is_string()) {
        skips_.add("json_without_text", where(lines_.line_number()) + " (no string field \"text\")");
        continue;
      }
      doc = RawDocument{};
      doc.line = lines_.line_number();
      auto title = j.find("title");
      if (title != j.end() && title->is_string()) doc.title = title->get<std::string>();
      const std::string& body = text->get_ref<const std::string&>();
      if (format_ == SourceFormat::WikiExtractorJson)
        doc.text = first_line_not_title(body, doc.title);
      else
        doc.text = first_block(body);
      return true;
    }
    return false;
  }
};

class TsvReader : public LineBasedReader {
 public:
  TsvReader(std::unique_ptr<InputStream> in, SkipCounter& skips)
      : LineBasedReader(std::move(in), skips, SourceFormat::Tsv) {}

  bool next(RawDocument& doc) override {
    while (next_line()) {
      if (lines_.line_was_cut()) continue;
      if (trim_ascii_space(line_).empty()) continue;
      size_t t1 = line_.find('\t');
      size_t t2 = t1 == std::string::npos ? t1 : line_.find('\t', t1 + 1);
      if (t2 == std::string::npos) {
        skips_.add("bad_tsv_line",
                   where(lines_.line_number()) + " (expected page_id<TAB>title<TAB>paragraph)");
        continue;
      }
      doc = RawDocument{};
      doc.line = lines_.line_number();
      doc.title = line_.substr(t1 + 1, t2 - t1 - 1);
      doc.text = line_.substr(t2 + 1);
      std::replace(doc.text.begin(), doc.text.end(), '\t', ' ');
      return true;
    }
    return false;
  }
};

class TextReader : public LineBasedReader {
 public:
  TextReader(std::unique_ptr<InputStream> in, SkipCounter& skips)
      : LineBasedReader(std::move(in), skips, SourceFormat::Text) {}

  bool next(RawDocument& doc) override {
    doc = RawDocument{};
    bool too_long = false, line_cut = false;  // a cut line was counted as line_too_long already
    while (next_line()) {
      if (trim_ascii_space(line_).empty()) {
        if (!doc.text.empty() || too_long) break;
        continue;
      }
      if (doc.text.empty() && !too_long) doc.line = lines_.line_number();
      line_cut = line_cut || lines_.line_was_cut();
      if (too_long || line_cut || doc.text.size() + line_.size() > kMaxLineBytes) {
        too_long = true;
        doc.text.clear();
        continue;
      }
      doc.text.append(line_);
      doc.text.push_back('\n');
    }
    if (too_long) {
      if (!line_cut) skips_.add("document_too_long", where(doc.line));
      return next(doc);
    }
    return !doc.text.empty();
  }
};

}  // namespace

std::unique_ptr<DocumentReader> DocumentReader::open(const fs::path& path, SkipCounter& skips,
                                                     SourceFormat format) {
  return open(std::make_unique<InputStream>(path), skips, format);
}

std::unique_ptr<DocumentReader> DocumentReader::open(std::unique_ptr<InputStream> in, SkipCounter& skips,
                                                     SourceFormat format) {
  std::string_view head = in->peek(kSniffBytes);
  TT_CHECK(!trim_ascii_space(head).empty())
      << in->name() << ": empty source (no text"
      << (in->compression() != Compression::None ? " after decompression" : "") << ")";
  if (format == SourceFormat::Auto) format = detect_format(in->path(), head, in->name());
  switch (format) {
    case SourceFormat::MediaWikiXml:
      return std::make_unique<XmlReader>(std::move(in), skips);
    case SourceFormat::WikiExtractor:
      return std::make_unique<WikiExtractorReader>(std::move(in), skips);
    case SourceFormat::WikiExtractorJson:
    case SourceFormat::JsonLines:
      return std::make_unique<JsonLinesReader>(std::move(in), skips, format);
    case SourceFormat::Tsv:
      return std::make_unique<TsvReader>(std::move(in), skips);
    case SourceFormat::Text:
    case SourceFormat::Auto:
      return std::make_unique<TextReader>(std::move(in), skips);
  }
  return nullptr;
}

}  // namespace tt::data
