// Source readers: turn input files into candidate documents, streaming (one page or line at a
// time; memory does not grow with the file).
//
// Formats (detected from the first 64 KiB of decompressed content, the extension only breaks ties):
//   MediaWikiXml       <mediawiki ...><page><title/><ns/>?<redirect/>?<revision><text>wikitext</text>...
//                      Parsed with libexpat (streaming, line/column numbers, any schema version:
//                      0.10+ with <ns>, 0.3 without). A dump cut off mid-page (enwik8) keeps its
//                      complete pages and records a warning; malformed XML is a tt::Error with
//                      file:line:column.
//   WikiExtractor      <doc id=".." url=".." title="..">, title line, paragraphs one per line, </doc>.
//   WikiExtractorJson  WikiExtractor --json: {"id","url","title","text"} per line.
//   JsonLines          {"text": "...", "title": "..."?} per line.
//   Tsv                page_id<TAB>title<TAB>paragraph (the intros in shared/data).
//   Text               plain UTF-8; documents separated by blank lines.
// A reader yields RawDocuments; turning one into the final paragraph (namespace / redirect /
// disambiguation filters, wikitext cleaning) is extract_document() in document.h.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/utf8.h"
#include "data/input_stream.h"

namespace tt::data {

enum class SourceFormat { Auto, MediaWikiXml, WikiExtractor, WikiExtractorJson, JsonLines, Tsv, Text };
const char* format_name(SourceFormat f);

struct RawDocument {
  std::string title;      // may be empty (plain text)
  std::string text;       // whole wikitext page (MediaWikiXml) or the candidate first paragraph (others)
  bool wikitext = false;  // text is wikitext (needs wikitext_lead_paragraph)
  int ns = -1;            // <ns> value; -1 when the source has no namespace element
  bool redirect = false;  // <redirect> element present
  int64_t line = 0;       // line where the document starts, for messages
};

// Counts skipped documents by reason; the first few of each reason are logged with their place.
class SkipCounter {
 public:
  void add(const std::string& reason, const std::string& where = "");
  const std::map<std::string, int64_t>& counts() const { return counts_; }
  int64_t total() const;

 private:
  std::map<std::string, int64_t> counts_;
};

class DocumentReader {
 public:
  // Opens and sniffs `path` (tt::Error: missing, unreadable, empty, not UTF-8 text or a known format).
  static std::unique_ptr<DocumentReader> open(const std::filesystem::path& path, SkipCounter& skips,
                                              SourceFormat format = SourceFormat::Auto);
  // The same for a stream that is already open (e.g. a download in progress); messages use in->name().
  static std::unique_ptr<DocumentReader> open(std::unique_ptr<InputStream> in, SkipCounter& skips,
                                              SourceFormat format = SourceFormat::Auto);
  virtual ~DocumentReader() = default;
  // Next candidate document; false at the end of the file. tt::Error on damage that is not
  // confined to one document (malformed XML, corrupt compression).
  virtual bool next(RawDocument& doc) = 0;

  SourceFormat format() const { return format_; }
  const InputStream& stream() const { return *in_; }
  // Problems worth reporting that did not stop the run (e.g. "XML truncated mid-page").
  const std::vector<std::string>& warnings() const { return warnings_; }

 protected:
  DocumentReader(std::unique_ptr<InputStream> in, SkipCounter& skips, SourceFormat f)
      : in_(std::move(in)), skips_(skips), format_(f) {}
  std::string where(int64_t line) const;  // "path:line" (or "URL:line")

  std::unique_ptr<InputStream> in_;
  SkipCounter& skips_;
  SourceFormat format_;
  std::vector<std::string> warnings_;
};

// Format from the first decompressed bytes (and the file name for ties). tt::Error for binary data,
// naming `name` (default: the path; a URL for a download).
SourceFormat detect_format(const std::filesystem::path& path, std::string_view head,
                           const std::string& name = "");

// Files named on the command line, with directories walked recursively (sorted, hidden entries and
// files without a data-like name skipped: see DESIGN.md). tt::Error for a missing path.
std::vector<std::filesystem::path> expand_sources(const std::vector<std::string>& paths,
                                                  std::vector<std::string>* ignored = nullptr);

}  // namespace tt::data
