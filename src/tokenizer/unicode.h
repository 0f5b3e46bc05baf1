// Unicode helpers for the tokenizer: a per-code-point class table, UTF-8 decoding with U+FFFD
// replacement, and NFC normalization with a quick-check fast path.
//
// Class table: one byte per code point (0x110000 bytes, built once per process, ~40 ms).
//   kLetter  = \p{L}    kNumber = \p{N}    kSpace = \s (Unicode White_Space)
//   kNfcUnsafe = the code point may change under NFC or make its neighbour change (ccc != 0,
//   NFC_QC=No, or it can be the second half of a canonical composition incl. Hangul V/T jamo).
// L, N and \s come from Oniguruma 6.9.8, the very regex engine (and Unicode 14 tables) that
// Hugging Face `tokenizers` uses for the Split pre-tokenizer, so classification matches HF even
// for code points whose category changed in later Unicode versions. NFC uses utf8proc.
//
// Invalid UTF-8: each maximal invalid subpart (Unicode 3.9 "best practice", the same rule as
// Rust's String::from_utf8_lossy) becomes one U+FFFD.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tt::unicode {

enum : uint8_t { kLetter = 1, kNumber = 2, kSpace = 4, kNfcUnsafe = 8 };

// The table (built on first use, thread-safe).
const uint8_t* class_table();

inline uint8_t cp_class(const uint8_t* table, uint32_t cp) {
  return cp < 0x110000 ? table[cp] : 0;
}

// Decode one code point from valid UTF-8 at s[0..] (caller guarantees validity); sets *len.
inline uint32_t decode_valid(const unsigned char* s, int* len) {
  unsigned char c = s[0];
  if (c < 0x80) {
    *len = 1;
    return c;
  }
  if (c < 0xE0) {
    *len = 2;
    return ((c & 0x1Fu) << 6) | (s[1] & 0x3Fu);
  }
  if (c < 0xF0) {
    *len = 3;
    return ((c & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
  }
  *len = 4;
  return ((c & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
}

// Length of the valid UTF-8 sequence at s[0..n), or 0 if the bytes there start an invalid
// sequence; for invalid input *bad_len is the length of the maximal invalid subpart (>= 1).
int utf8_sequence_length(const unsigned char* s, size_t n, int* bad_len);

// Appends the UTF-8 encoding of cp.
void append_utf8(std::string& out, uint32_t cp);

// True when `text` is valid UTF-8.
bool is_valid_utf8(std::string_view text);

// Replaces every maximal invalid subpart with U+FFFD; returns how many replacements were made.
uint64_t sanitize_utf8(std::string_view text, std::string& out);

// NFC of valid UTF-8 `text`. Returns false (and leaves `out` untouched) when the text is
// already in NFC by the quick check, so callers can keep using the input.
bool nfc_if_needed(std::string_view text, std::string& out);

}  // namespace tt::unicode
