// Qwen2/Qwen3 pre-tokenizer: a hand-written scanner equivalent to the Split regex
//
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|
//   \s*[\r\n]+|\s+(?!\S)|\s+
//
// applied with find_iter semantics (leftmost-first alternation, greedy quantifiers with
// backtracking) and behaviour "Isolated". Every code point is matched by some alternative, so
// the pieces tile the input. \p{L}, \p{N}, \s are Oniguruma's (see unicode.h); the case-insensitive
// contractions accept exactly what Oniguruma accepts: s/S/U+017F (long s), t/T, m/M, d/D, and ASCII
// case variants of re/ve/ll. Why hand-written: one linear pass over a class table, no regex
// engine state; tests cross-check it against Oniguruma itself (tests/tokenizer/pretokenizer_test).
#pragma once

#include <cstddef>
#include <string_view>

namespace tt {

// End offset (bytes) of the piece that starts at byte offset `pos` of valid UTF-8 `text`
// (pos < text.size()). Always > pos.
size_t qwen_piece_end(std::string_view text, size_t pos);

// Calls f(std::string_view piece) for each piece, in order.
template <class F>
void qwen_split(std::string_view text, F&& f) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = qwen_piece_end(text, pos);
    f(text.substr(pos, end - pos));
    pos = end;
  }
}

}  // namespace tt
