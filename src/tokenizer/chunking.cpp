#include "tokenizer/chunking.h"

#include <algorithm>
#include <cstring>

#include "tokenizer/unicode.h"

namespace tt {

bool is_safe_cut(std::string_view text, size_t p) {
  if (p == 0 || p >= text.size() || text[p - 1] != '\n') return false;
  static const uint8_t* const table = unicode::class_table();
  int len;
  uint32_t cp = unicode::decode_valid(reinterpret_cast<const unsigned char*>(text.data()) + p, &len);
  return (unicode::cp_class(table, cp) & (unicode::kSpace | unicode::kNfcUnsafe)) == 0;
}

std::vector<size_t> safe_chunk_boundaries(std::string_view text, size_t target_bytes) {
  std::vector<size_t> bounds{0};
  target_bytes = std::max<size_t>(target_bytes, 1);
  size_t from = target_bytes;
  while (from < text.size()) {
    // The first '\n' at or after from - 1 whose successor passes is_safe_cut.
    size_t p = std::string_view::npos;
    size_t search = from - 1;
    while (search < text.size()) {
      const void* nl = std::memchr(text.data() + search, '\n', text.size() - search);
      if (!nl) break;
      size_t cut = static_cast<size_t>(static_cast<const char*>(nl) - text.data()) + 1;
      if (is_safe_cut(text, cut)) {
        p = cut;
        break;
      }
      search = cut;
    }
    if (p == std::string_view::npos) break;
    bounds.push_back(p);
    from = p + target_bytes;
  }
  if (!text.empty()) bounds.push_back(text.size());
  return bounds;
}

}  // namespace tt
