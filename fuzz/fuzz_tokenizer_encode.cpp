// Fuzz Tokenizer::encode with arbitrary bytes (invalid UTF-8, special tokens, huge runs).
// Invariants: no crash/UB (ASan+UBSan), every id in range, decode(encode(x)) == normalize(x),
// (the batch path is covered by the unit tests).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "fuzz_tokenizer.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz_tokenizer();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const tt::Tokenizer& tok = fuzz_tokenizer();
  std::string text(reinterpret_cast<const char*>(data), size);
  tt::EncodeStats stats;
  std::vector<int32_t> ids = tok.encode(text, &stats);
  for (int32_t id : ids)
    if (id < 0 || id >= tok.vocab_size()) std::abort();
  if (tok.decode(ids) != tok.normalize(text)) std::abort();
  return 0;
}
