// Where one long text may be cut so that its pieces can be encoded on separate threads and the
// concatenated ids equal encode(text) exactly (used by Tokenizer::encode_parallel, which backs
// `tokenize --threads N` for plain-text input).
//
// A cut at byte offset p (0 < p < n) of valid UTF-8 `text` is safe when
//   (a) text[p-1] == '\n', and
//   (b) the code point c at p is neither \s (White_Space) nor NFC-unsafe (ccc != 0, NFC_QC != Yes,
//       or second half of a canonical composition), and
//   (c) no added token contains '\n' anywhere but at its end (checked by the tokenizer; Qwen3's
//       added tokens contain no '\n' at all).
// Why each condition, stage by stage of the encoder:
//   * invalid UTF-8 is replaced before cutting, so sanitization is unaffected;
//   * added tokens (leftmost-longest): by (c) no occurrence can contain both text[p-1] and
//     text[p], so every match lies on one side and the scan on each side finds the same matches;
//   * NFC: by (b) c is a stable starter: nothing before p composes or reorders with it, and it
//     maps to itself, so NFC(left) + NFC(right) == NFC(text) and c stays non-whitespace;
//   * pre-tokenizer (the Qwen regex): the piece holding the '\n' at p-1 can only come from
//     ` ?[^\s\p{L}\p{N}]+[\r\n]*` (its CR/LF tail), `\s*[\r\n]+` or `\s+(?!\S)`/`\s+` — no other
//     alternative can hold a '\n'. The CR/LF tail stops at c (not CR/LF), and a whitespace run
//     stops at c (not \s); its last CR/LF ends at p, so `\s*[\r\n]+` ends exactly at p both in the
//     full text and in the left part (where the run ends at the end of the input instead). All
//     other pieces before p look ahead no further than a letter/number/punctuation run, which the
//     '\n' ends. Pieces from p on depend only on the text from p on. So the pieces (and hence the
//     BPE of each piece) are the same.
// Cutting right after any "\n" would be wrong: "a\n\nb" is pieces "a" "\n\n" "b" but cut after the
// first "\n" gives "a" "\n" | "\n" "b"; "a\n  \nb" likewise ("  \n" joins the newline run). A cut
// before a combining mark is refused because in general it changes NFC. tests/tokenizer/
// tokenizer_test.cpp (Qwen3.EncodeParallel*) checks these cases and the shared Wikipedia text.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace tt {

// Conditions (a) and (b) at byte offset p of valid UTF-8 `text`.
bool is_safe_cut(std::string_view text, size_t p);

// Chunk boundaries 0 = b[0] < b[1] < ... < b[k] = text.size() (k >= 1 for non-empty text): each
// inner b[i] is the first safe cut at or after b[i-1] + target_bytes, so chunks are at least
// target_bytes long (longer where no safe cut is near; one chunk if there is none). Empty: {0}.
std::vector<size_t> safe_chunk_boundaries(std::string_view text, size_t target_bytes);

}  // namespace tt
