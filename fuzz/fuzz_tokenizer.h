// The Qwen3 tokenizer shared by the tokenizer fuzz targets: $TT_TOKENIZER_DIR when set, else the
// checkout's assets/qwen3-tokenizer. Loaded once (LLVMFuzzerInitialize calls it before the first input).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <memory>

#include "common/paths.h"
#include "tokenizer/tokenizer.h"

inline const tt::Tokenizer& fuzz_tokenizer() {
  static std::unique_ptr<tt::Tokenizer> tok = tt::Tokenizer::load(
      std::getenv("TT_TOKENIZER_DIR") ? tt::default_tokenizer_dir()
                                      : std::filesystem::path(TT_SOURCE_DIR) / "assets/qwen3-tokenizer");
  return *tok;
}
