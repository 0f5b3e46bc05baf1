#pragma once
#include <filesystem>

namespace tt {
// Directory of the running executable (from /proc/self/exe).
std::filesystem::path executable_dir();
// Where the Qwen3 tokenizer files live when --tokenizer is not given:
// $TT_TOKENIZER_DIR, else <exe>/../assets/qwen3-tokenizer (the build/ layout of scripts/setup.sh),
// else ./assets/qwen3-tokenizer.
std::filesystem::path default_tokenizer_dir();
}  // namespace tt
