#include "train/utf8_stream.h"

namespace tt {

size_t complete_utf8_prefix(std::string_view s) {
  // Look back at most 3 bytes for the lead byte of the final sequence.
  size_t n = s.size();
  for (size_t back = 1; back <= 4 && back <= n; ++back) {
    unsigned char c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    size_t need = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    return back < need ? n - back : n;
  }
  return n;  // only continuation bytes (invalid): nothing to wait for
}

static size_t strip_trailing_replacements(const std::string& s, size_t end) {
  static const std::string_view kReplacement = "\xEF\xBF\xBD";
  while (end >= kReplacement.size() &&
         std::string_view(s).substr(end - kReplacement.size(), 3) == kReplacement)
    end -= kReplacement.size();
  return end;
}

std::string Utf8Streamer::push(const std::string& full_text) {
  size_t stable = strip_trailing_replacements(full_text, complete_utf8_prefix(full_text));
  if (stable <= emitted_) return {};
  std::string out = full_text.substr(emitted_, stable - emitted_);
  emitted_ = stable;
  return out;
}

std::string Utf8Streamer::finish(const std::string& full_text) {
  if (full_text.size() <= emitted_) return {};
  std::string out = full_text.substr(emitted_);
  emitted_ = full_text.size();
  return out;
}

}  // namespace tt
