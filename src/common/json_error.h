// Where a JSON parse error is, for messages that name a file and an offset: nlohmann's parse_error::byte
// is 1-based (the count of bytes read when parsing stopped; size + 1 when the text ended too early).
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

namespace tt {

// "byte offset 13 of 40" (0-based, plus the file offset `base` of the text), with " (the text ends too early;
// truncated?)" when parsing ran past the end.
inline std::string json_error_position(const nlohmann::json::parse_error& e, size_t text_size,
                                       size_t base = 0) {
  const size_t offset = e.byte > 0 ? e.byte - 1 : 0;
  std::string s = "byte offset " + std::to_string(base + offset) + " of " + std::to_string(base + text_size);
  if (offset >= text_size) s += " (the text ends too early; truncated?)";
  return s;
}

}  // namespace tt
