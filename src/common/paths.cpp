#include "common/paths.h"

#include <cstdlib>

namespace tt {
std::filesystem::path executable_dir() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::current_path() : p.parent_path();
}

std::filesystem::path default_tokenizer_dir() {
  if (const char* env = std::getenv("TT_TOKENIZER_DIR"); env && *env) return env;
  std::error_code ec;
  for (auto base : {executable_dir() / "..", executable_dir() / "../..", executable_dir()}) {
    auto p = base / "assets" / "qwen3-tokenizer";
    if (std::filesystem::exists(p / "tokenizer.json", ec)) return std::filesystem::weakly_canonical(p, ec);
  }
  return "assets/qwen3-tokenizer";
}

std::filesystem::path tokenizer_json_file(const std::string& tokenizer_flag) {
  std::filesystem::path p =
      tokenizer_flag.empty() ? default_tokenizer_dir() : std::filesystem::path(tokenizer_flag);
  std::error_code ec;
  return std::filesystem::is_directory(p, ec) ? p / "tokenizer.json" : p;
}
}  // namespace tt
