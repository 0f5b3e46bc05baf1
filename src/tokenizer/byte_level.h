// GPT-2 byte-level alphabet: every byte 0..255 is shown as one printable Unicode character
// (bytes_to_unicode() in GPT-2's encoder.py, ByteLevel in HF tokenizers). Printable Latin-1
// bytes map to themselves; the other 68 bytes map to U+0100.. in byte order.
#pragma once

#include <array>
#include <cstdint>

namespace tt {

// byte -> code point of its byte-level character.
inline std::array<uint32_t, 256> byte_level_alphabet() {
  std::array<uint32_t, 256> map{};
  uint32_t extra = 0;
  for (uint32_t b = 0; b < 256; ++b) {
    bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    map[b] = printable ? b : 256 + extra++;
  }
  return map;
}

}  // namespace tt
