// Fuzz the source readers (MediaWiki XML via expat, WikiExtractor, JSONL, TSV, text) end to end
// through extract_document(). The first input byte picks the format (or auto-detection); the rest
// is written to a scratch file and read as a source.
// Invariants: bad input may raise tt::Error (a clear message for the user) but never crashes,
// hangs, throws anything else, or yields a kept document that is not valid UTF-8.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/check.h"
#include "data/document.h"
#include "data/sources.h"

using namespace tt::data;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const SourceFormat formats[] = {SourceFormat::Auto,          SourceFormat::MediaWikiXml,
                                         SourceFormat::WikiExtractor, SourceFormat::WikiExtractorJson,
                                         SourceFormat::JsonLines,     SourceFormat::Tsv,
                                         SourceFormat::Text};
  const SourceFormat format = formats[data[0] % 7];
  static const std::string path = "/tmp/fuzz_data_readers." + std::to_string(getpid());
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) std::abort();
    if (size > 1 && std::fwrite(data + 1, 1, size - 1, f) != size - 1) std::abort();
    std::fclose(f);
  }
  try {
    SkipCounter skips;
    auto reader = DocumentReader::open(path, skips, format);
    RawDocument doc;
    while (reader->next(doc)) {
      Extracted e = extract_document(doc, 10);
      if (!e.skip && (e.text.empty() || !tt::is_valid_utf8(e.text))) std::abort();
    }
  } catch (const tt::Error&) {
    // expected for damaged input
  }
  return 0;
}
