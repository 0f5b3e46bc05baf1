// From a source's candidate document to the text that goes into the dataset: filters
// (namespace, redirect, disambiguation, length) and cleaning. One function so that every source
// format gets the same rules, and so tests and the fuzzer can call it directly.
#pragma once

#include <cstdint>
#include <string>

#include "data/sources.h"

namespace tt::data {

struct Extracted {
  std::string text;            // cleaned first paragraph (empty when skipped)
  const char* skip = nullptr;  // reason when skipped: "namespace", "redirect", "disambiguation",
                               // "empty", "invalid_utf8", "too_short"
};

Extracted extract_document(const RawDocument& doc, int64_t min_chars);

// Number of Unicode code points in valid UTF-8 text (used for --min_chars).
int64_t utf8_length(const std::string& s);

}  // namespace tt::data
