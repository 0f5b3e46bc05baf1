#include "data/document.h"

#include "data/wikitext.h"

namespace tt::data {

int64_t utf8_length(const std::string& s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

Extracted extract_document(const RawDocument& doc, int64_t min_chars) {
  Extracted r;
  if (doc.ns > 0 || doc.ns < -1 || (doc.ns == -1 && title_has_namespace_prefix(doc.title))) {
    r.skip = "namespace";
    return r;
  }
  if (doc.redirect || is_redirect_text(doc.text)) {
    r.skip = "redirect";
    return r;
  }
  if (doc.wikitext) {
    if (has_disambiguation_template(doc.text)) {
      r.skip = "disambiguation";
      return r;
    }
    r.text = wikitext_lead_paragraph(doc.text);
  } else {
    r.text = clean_plain_text(doc.text);
  }
  if (r.text.empty()) {
    r.skip = "empty";
  } else if (!is_valid_utf8(r.text)) {
    r.skip = "invalid_utf8";
  } else if (looks_like_disambiguation_intro(r.text)) {
    r.skip = "disambiguation";
  } else if (utf8_length(r.text) < min_chars) {
    r.skip = "too_short";
  }
  if (r.skip) r.text.clear();
  return r;
}

}  // namespace tt::data
