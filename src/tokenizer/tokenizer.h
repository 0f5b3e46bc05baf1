// Qwen3 byte-level BPE tokenizer, loaded from a Hugging Face tokenizer.json.
// (API contract; the tokenizer module owner implements it and may extend it.)
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tt {

struct EncodeStats {
  uint64_t invalid_utf8 = 0;  // invalid sequences replaced by U+FFFD
};

class Tokenizer {
 public:
  // Loads `dir/tokenizer.json` (or a path to the file itself). tt::Error on missing/corrupt files
  // or unsupported features (naming the feature).
  static std::unique_ptr<Tokenizer> load(const std::filesystem::path& dir_or_file);
  virtual ~Tokenizer() = default;

  // Thread-safe: may be called from many threads at once.
  virtual std::vector<int32_t> encode(std::string_view text, EncodeStats* stats = nullptr) const = 0;
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
  // Encode many texts using `threads` worker threads (0 = all cores); result[i] = encode(texts[i]).
  virtual std::vector<std::vector<int32_t>> encode_batch(const std::vector<std::string>& texts,
                                                         int threads = 0,
                                                         EncodeStats* stats = nullptr) const = 0;

  virtual int32_t vocab_size() const = 0;     // largest id + 1 (151,669 for Qwen3's file)
  virtual std::string token_text(int32_t id) const = 0;  // raw token string as in tokenizer.json
  virtual int32_t token_id(std::string_view token) const = 0;  // -1 if absent
  virtual int32_t eos_id() const = 0;         // <|endoftext|> = 151643 for Qwen3
  virtual const std::string& sha256() const = 0;  // sha256 of tokenizer.json
  virtual const std::filesystem::path& json_path() const = 0;
};

}  // namespace tt
