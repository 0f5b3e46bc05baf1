#include "tokenizer/pretokenizer.h"

#include "tokenizer/unicode.h"

namespace tt {

namespace {

using unicode::kLetter;
using unicode::kNumber;
using unicode::kSpace;

// ASCII classes, so the common case never touches the big table.
struct AsciiClasses {
  uint8_t c[128];
  constexpr AsciiClasses() : c() {
    for (int i = 0; i < 128; ++i) {
      uint8_t v = 0;
      if ((i >= 'a' && i <= 'z') || (i >= 'A' && i <= 'Z')) v = kLetter;
      if (i >= '0' && i <= '9') v = kNumber;
      if (i == ' ' || (i >= 0x09 && i <= 0x0D)) v = kSpace;
      c[i] = v;
    }
  }
};
constexpr AsciiClasses kAscii;

struct Cursor {
  const unsigned char* s;
  size_t n;
  const uint8_t* table;

  // Code point at i, its byte length, and its class.
  inline uint32_t at(size_t i, int* len, uint8_t* cls) const {
    unsigned char b = s[i];
    if (b < 0x80) {
      *len = 1;
      *cls = kAscii.c[b];
      return b;
    }
    uint32_t cp = unicode::decode_valid(s + i, len);
    *cls = table[cp] & (kLetter | kNumber | kSpace);
    return cp;
  }
  inline uint8_t cls_at(size_t i, int* len) const {
    uint8_t c;
    at(i, len, &c);
    return c;
  }
  // End of the run of letters starting at i.
  size_t letters_end(size_t i) const {
    while (i < n) {
      unsigned char b = s[i];
      if (b < 0x80) {
        if (kAscii.c[b] != kLetter) break;
        ++i;
        continue;
      }
      int len;
      if (cls_at(i, &len) & kLetter) {
        i += static_cast<size_t>(len);
      } else {
        break;
      }
    }
    return i;
  }
};

inline bool is_crlf(uint32_t cp) {
  return cp == '\r' || cp == '\n';
}
inline bool ascii_is(unsigned char b, char lower) {
  return (b | 0x20) == static_cast<unsigned char>(lower);
}

// Length of a contraction match at i (s[i] == '\''), or 0.
size_t contraction_len(const unsigned char* s, size_t n, size_t i) {
  if (i + 1 >= n) return 0;
  unsigned char b = s[i + 1];
  if (ascii_is(b, 's') || ascii_is(b, 't') || ascii_is(b, 'm') || ascii_is(b, 'd')) return 2;
  if (b == 0xC5 && i + 2 < n && s[i + 2] == 0xBF) return 3;  // U+017F LATIN SMALL LETTER LONG S
  if (i + 2 < n) {
    unsigned char b2 = s[i + 2];
    if ((ascii_is(b, 'r') || ascii_is(b, 'v')) && ascii_is(b2, 'e')) return 3;
    if (ascii_is(b, 'l') && ascii_is(b2, 'l')) return 3;
  }
  return 0;
}

}  // namespace

size_t qwen_piece_end(std::string_view text, size_t pos) {
  static const uint8_t* const table = unicode::class_table();
  Cursor c{reinterpret_cast<const unsigned char*>(text.data()), text.size(), table};
  int len0;
  uint8_t cls0;
  uint32_t cp0 = c.at(pos, &len0, &cls0);
  size_t next = pos + static_cast<size_t>(len0);

  // 1. (?i:'s|'t|'re|'ve|'m|'ll|'d)
  if (cp0 == '\'') {
    if (size_t l = contraction_len(c.s, c.n, pos)) return pos + l;
  }
  // 2. [^\r\n\p{L}\p{N}]?\p{L}+
  if (cls0 & kLetter) return c.letters_end(next);
  if (!(cls0 & kNumber) && !is_crlf(cp0) && next < c.n) {
    int len1;
    if (c.cls_at(next, &len1) & kLetter) return c.letters_end(next + static_cast<size_t>(len1));
  }
  // 3. \p{N}
  if (cls0 & kNumber) return next;
  // 4.  ?[^\s\p{L}\p{N}]+[\r\n]*
  {
    size_t j = pos;
    if (cp0 == ' ') j = next;
    bool any = false;
    while (j < c.n) {
      int len;
      if (c.cls_at(j, &len) != 0) break;  // whitespace, letter or number
      j += static_cast<size_t>(len);
      any = true;
    }
    if (any) {
      while (j < c.n && (c.s[j] == '\r' || c.s[j] == '\n')) ++j;
      return j;
    }
  }
  // Now cp0 is whitespace. Find the maximal whitespace run [pos, run_end), the start of its last
  // code point, and the end of its last CR/LF.
  size_t run_end = pos, last_start = pos, crlf_end = 0;
  while (run_end < c.n) {
    int len;
    uint8_t cls;
    uint32_t cp = c.at(run_end, &len, &cls);
    if (!(cls & kSpace)) break;
    last_start = run_end;
    run_end += static_cast<size_t>(len);
    if (is_crlf(cp)) crlf_end = run_end;
  }
  // 5. \s*[\r\n]+  (backtracks to the last CR/LF of the run)
  if (crlf_end != 0) return crlf_end;
  // 6. \s+(?!\S)
  if (run_end == c.n) return run_end;
  if (last_start > pos) return last_start;
  // 7. \s+
  return run_end;
}

}  // namespace tt
