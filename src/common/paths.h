#pragma once
#include <filesystem>
#include <string>

namespace tt {
// Directory of the running executable (from /proc/self/exe).
std::filesystem::path executable_dir();
// Where the Qwen3 tokenizer files live when --tokenizer is not given:
// $TT_TOKENIZER_DIR, else <exe>/../assets/qwen3-tokenizer (the build/ layout of scripts/setup.sh),
// else ./assets/qwen3-tokenizer.
std::filesystem::path default_tokenizer_dir();
// The tokenizer.json a --tokenizer value names: a directory holding it, or the file itself;
// "" = the one in default_tokenizer_dir(). The file need not exist (Tokenizer::load says so).
std::filesystem::path tokenizer_json_file(const std::string& tokenizer_flag);
}  // namespace tt
