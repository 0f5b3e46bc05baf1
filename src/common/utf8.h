// UTF-8 validation, for text that must be UTF-8: sources (data/), and option values that end up in JSON files
// (common/options.h), whose writer refuses anything else.
#pragma once

#include <cstddef>
#include <string_view>

namespace tt {

// Whether `s` is valid UTF-8 (no overlongs, surrogates or code points > U+10FFFF); else the offset of the
// first bad sequence in *bad_offset. If `allow_cut_end`, an incomplete sequence at the very end is accepted
// (a buffer boundary).
bool is_valid_utf8(std::string_view s, bool allow_cut_end = false, size_t* bad_offset = nullptr);

}  // namespace tt
