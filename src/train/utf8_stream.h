// Streaming decoded text without splitting characters. A byte-level BPE token can end in the middle
// of a multi-byte UTF-8 character, so decoding token by token and printing each piece would print
// broken bytes. Utf8Streamer is fed the decode of ALL tokens generated so far and returns only the
// new text up to the last complete character: a trailing incomplete UTF-8 sequence, or trailing
// U+FFFD replacement characters (what a decoder that replaces partial bytes produces), are held back
// until more tokens arrive or finish() is called.
#pragma once

#include <string>
#include <string_view>

namespace tt {

// Length of the longest prefix of `s` that does not end inside an incomplete UTF-8 sequence.
size_t complete_utf8_prefix(std::string_view s);

class Utf8Streamer {
 public:
  // `full_text` = decode(all tokens so far). Returns the text to print now (possibly empty).
  std::string push(const std::string& full_text);
  // Everything not yet printed (call once at the end).
  std::string finish(const std::string& full_text);
  size_t emitted() const { return emitted_; }

 private:
  size_t emitted_ = 0;
};

}  // namespace tt
