// A byte-level stand-in tokenizer for the data tests (token = byte value, eos = 256), so the expected
// tokens of a prepared dataset are known exactly.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace tt::data::test {

// Token = byte value; eos = 256. Deterministic and trivially invertible.
class ByteTokenizer : public tt::Tokenizer {
 public:
  std::vector<int32_t> encode(std::string_view text, tt::EncodeStats* = nullptr) const override {
    std::vector<int32_t> ids;
    for (unsigned char c : text) ids.push_back(c);
    return ids;
  }
  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string s;
    for (int32_t i : ids) s.push_back(char(i));
    return s;
  }
  std::vector<std::vector<int32_t>> encode_batch(
      const std::vector<std::string>& texts, int, tt::EncodeStats* stats = nullptr,
      tt::SpecialTokens = tt::SpecialTokens::kMatch) const override {
    std::vector<std::vector<int32_t>> out;
    for (const auto& t : texts) out.push_back(encode(t, stats));
    return out;
  }
  void encode_append(std::string_view text, std::vector<int32_t>& out,
                     tt::EncodeStats* = nullptr) const override {
    for (unsigned char c : text) out.push_back(c);
  }
  std::vector<std::vector<int32_t>> encode_batch_views(
      const std::vector<std::string_view>& texts, int, tt::EncodeStats* stats = nullptr,
      tt::SpecialTokens = tt::SpecialTokens::kMatch) const override {
    std::vector<std::vector<int32_t>> out;
    for (auto t : texts) out.push_back(encode(t, stats));
    return out;
  }
  std::string normalize(std::string_view text) const override { return std::string(text); }
  std::string token_bytes(int32_t id) const override { return std::string(1, char(id)); }
  bool is_special(int32_t id) const override { return id == 256; }
  double load_seconds() const override { return 0; }
  int32_t vocab_size() const override { return 257; }
  std::string token_text(int32_t id) const override { return std::string(1, char(id)); }
  int32_t token_id(std::string_view) const override { return -1; }
  int32_t eos_id() const override { return 256; }
  const std::string& sha256() const override { return sha_; }
  const std::filesystem::path& json_path() const override { return path_; }

 private:
  std::string sha_ = std::string(64, 'b');
  std::filesystem::path path_ = "/nonexistent/byte-tokenizer/tokenizer.json";
};

}  // namespace tt::data::test
