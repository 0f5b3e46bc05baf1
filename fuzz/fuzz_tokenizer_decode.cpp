// Fuzz Tokenizer::decode with arbitrary ids (3 bytes each; mostly valid, some out of range).
// Invariants: invalid ids raise tt::Error (never a crash); the result is valid UTF-8; and
// re-encoding it round-trips: decode(encode(s)) == normalize(s).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/check.h"
#include "fuzz_tokenizer.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz_tokenizer();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const tt::Tokenizer& tok = fuzz_tokenizer();
  std::vector<int32_t> ids;
  bool any_invalid = false;
  for (size_t i = 0; i + 3 <= size; i += 3) {
    int32_t raw = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16);
    int32_t id = raw % (tok.vocab_size() + 64) - 32;  // a few negative and too-large ids
    any_invalid |= id < 0 || id >= tok.vocab_size();
    ids.push_back(id);
  }
  std::string text;
  try {
    text = tok.decode(ids);
  } catch (const tt::Error&) {
    if (!any_invalid) std::abort();
    return 0;
  }
  if (any_invalid) std::abort();
  tt::EncodeStats stats;
  auto again = tok.encode(text, &stats);
  if (stats.invalid_utf8 != 0) std::abort();  // decode output must be valid UTF-8
  if (tok.decode(again) != tok.normalize(text)) std::abort();
  return 0;
}
