// Shared helpers for the tokenizer tests: the Qwen3 tokenizer (loaded once per process), Wikipedia
// lines from the shared data (read with `xz -dc`), and the golden file.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace tt::test {

inline std::filesystem::path tokenizer_dir() {
  return std::filesystem::path(TT_SOURCE_DIR) / "assets" / "qwen3-tokenizer";
}

inline const Tokenizer& qwen() {
  static std::unique_ptr<Tokenizer> tok = [] {
    if (!std::filesystem::exists(tokenizer_dir() / "tokenizer.json"))
      throw std::runtime_error("missing " + (tokenizer_dir() / "tokenizer.json").string() +
                               ": run scripts/setup.sh --no-build first");
    return Tokenizer::load(tokenizer_dir());
  }();
  return *tok;
}

// All lines of an xz file under TT_SHARED_DATA_DIR (cached); empty if the file is absent.
inline const std::vector<std::string>& shared_lines(const std::string& file) {
  static std::map<std::string, std::vector<std::string>> cache;
  auto it = cache.find(file);
  if (it != cache.end()) return it->second;
  std::vector<std::string>& lines = cache[file];
  std::filesystem::path path = std::filesystem::path(TT_SHARED_DATA_DIR) / file;
  if (!std::filesystem::exists(path)) return lines;
  std::string cmd = "xz -dc '" + path.string() + "'";
  std::FILE* p = popen(cmd.c_str(), "r");
  if (!p) return lines;
  std::string all;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) all.append(buf, n);
  pclose(p);
  size_t pos = 0;
  while (pos < all.size()) {
    size_t nl = all.find('\n', pos);
    if (nl == std::string::npos) nl = all.size();
    lines.push_back(all.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return lines;
}

// The first `max_bytes` decompressed bytes of an xz file under TT_SHARED_DATA_DIR (cached); empty
// if the file is absent. Cheaper than shared_lines() for the big wikiextractor dumps.
inline const std::string& shared_prefix(const std::string& file, size_t max_bytes) {
  static std::map<std::pair<std::string, size_t>, std::string> cache;
  auto key = std::make_pair(file, max_bytes);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  std::string& all = cache[key];
  std::filesystem::path path = std::filesystem::path(TT_SHARED_DATA_DIR) / file;
  if (!std::filesystem::exists(path)) return all;
  std::string cmd = "xz -dc '" + path.string() + "' 2>/dev/null";
  std::FILE* p = popen(cmd.c_str(), "r");
  if (!p) return all;
  char buf[1 << 16];
  size_t n;
  while (all.size() < max_bytes &&
         (n = std::fread(buf, 1, std::min(sizeof buf, max_bytes - all.size()), p)) > 0)
    all.append(buf, n);
  pclose(p);
  return all;
}

struct GoldenCase {
  std::string name;
  std::string text;
  bool available = true;  // false: Wikipedia source file missing
  std::vector<int32_t> ids;
};

inline std::filesystem::path golden_path() {
  return std::filesystem::path(TT_SOURCE_DIR) / "tests/tokenizer/golden/qwen3_golden.jsonl";
}

inline std::vector<GoldenCase> load_golden(nlohmann::json* meta = nullptr) {
  std::ifstream in(golden_path());
  if (!in) throw std::runtime_error("cannot open " + golden_path().string());
  std::vector<GoldenCase> cases;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line);
    if (j.contains("meta")) {
      if (meta) *meta = j["meta"];
      continue;
    }
    GoldenCase c;
    c.name = j["name"].get<std::string>();
    c.ids = j["ids"].get<std::vector<int32_t>>();
    if (j.contains("source")) {
      const auto& lines = shared_lines(j["source"]["file"].get<std::string>());
      size_t no = j["source"]["line"].get<size_t>();
      if (no == 0 || no > lines.size()) {
        c.available = false;
      } else {
        c.text = lines[no - 1];
      }
    } else {
      c.text = j["text"].get<std::string>();
    }
    cases.push_back(std::move(c));
  }
  return cases;
}

}  // namespace tt::test
