// Fuzz the wikitext cleaner and page classifiers with arbitrary bytes.
// Invariants: no crash, hang or sanitizer report; every pass stays linear (libFuzzer's -timeout
// catches quadratic blow-ups); cleaned output is one line (no newline, no doubled, leading or
// trailing space) and valid UTF-8 whenever the input is valid UTF-8.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "data/sources.h"
#include "data/wikitext.h"

namespace {

void check_clean(const std::string& in, const std::string& out) {
  if (out.find('\n') != std::string::npos || out.find("  ") != std::string::npos) std::abort();
  if (!out.empty() && (out.front() == ' ' || out.back() == ' ')) std::abort();
  if (tt::is_valid_utf8(in) && !tt::is_valid_utf8(out)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string in(reinterpret_cast<const char*>(data), size);
  check_clean(in, tt::data::wikitext_lead_paragraph(in));
  check_clean(in, tt::data::clean_wikitext(in));
  check_clean(in, tt::data::clean_plain_text(in));
  (void)tt::data::has_disambiguation_template(in);
  (void)tt::data::looks_like_disambiguation_intro(in);
  (void)tt::data::title_has_namespace_prefix(in);
  (void)tt::data::is_redirect_text(in);
  // Passes on their own must not grow the text, except entity decoding (at most 4 bytes out
  // per 4+ bytes in) and tag stripping (one space per tag).
  if (tt::data::remove_templates(in).size() > in.size()) std::abort();
  if (tt::data::remove_tables(in).size() > in.size()) std::abort();
  if (tt::data::resolve_links(in).size() > in.size()) std::abort();
  if (tt::data::decode_html_entities(in).size() > in.size()) std::abort();
  return 0;
}
