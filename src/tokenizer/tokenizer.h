// Qwen3 byte-level BPE tokenizer, loaded from a Hugging Face tokenizer.json.
//
// Encoding follows HF `tokenizers` exactly for the features Qwen3's file uses:
//   1. invalid UTF-8 -> U+FFFD (one per maximal invalid subpart; counted in EncodeStats),
//   2. added tokens (<|endoftext|>, <|im_start|>, <think>, ...) are matched leftmost-longest in
//      the raw text and emitted as their ids,
//   3. each section between them is NFC-normalized, split by the Qwen pre-tokenizer regex, and
//      every piece is byte-level BPE encoded.
// decode() maps ids back to bytes (added tokens: their text) and then to UTF-8 (lossy, U+FFFD).
// Unsupported tokenizer.json features are refused with a tt::Error naming the feature.
// See DESIGN.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tt {

struct EncodeStats {
  uint64_t invalid_utf8 = 0;     // invalid sequences replaced by U+FFFD
  uint64_t special_as_text = 0;  // special tokens' spellings encoded as text (SpecialTokens::kAsText)
};

// What text that spells a special token ("<|endoftext|>", "<|im_start|>") becomes. kMatch: that token, as
// Hugging Face encodes by default and a prompt wants. kAsText: its characters, as HF does with
// split_special_tokens=True; training data wants that, where <|endoftext|> separates documents and a
// document that quotes it must not fake a separator. Added tokens not flagged special (<think>) match in
// both.
enum class SpecialTokens { kMatch, kAsText };

class Tokenizer {
 public:
  // Loads the tokenizer.json that `dir_or_file` names (tokenizer_json_file: a directory holding it, the file
  // itself, or "" for the default). tt::Error on missing/corrupt files
  // or unsupported features (naming the feature).
  static std::unique_ptr<Tokenizer> load(const std::filesystem::path& dir_or_file);
  virtual ~Tokenizer() = default;

  // Thread-safe: may be called from many threads at once.
  virtual std::vector<int32_t> encode(std::string_view text, EncodeStats* stats = nullptr) const = 0;
  // Decodes ids to UTF-8. tt::Error if an id is not in [0, vocab_size()).
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
  // Encode many texts using `threads` worker threads (0 = all cores); result[i] = encode(texts[i]) (with
  // kAsText: encode(texts[i]) with special tokens' spellings encoded as text).
  virtual std::vector<std::vector<int32_t>> encode_batch(
      const std::vector<std::string>& texts, int threads = 0, EncodeStats* stats = nullptr,
      SpecialTokens special = SpecialTokens::kMatch) const = 0;

  virtual int32_t vocab_size() const = 0;                      // largest id + 1 (151,669 for Qwen3's file)
  virtual std::string token_text(int32_t id) const = 0;        // raw token string as in tokenizer.json
  virtual int32_t token_id(std::string_view token) const = 0;  // -1 if absent
  virtual int32_t eos_id() const = 0;                          // <|endoftext|> = 151643 for Qwen3
  virtual const std::string& sha256() const = 0;               // sha256 of tokenizer.json
  virtual const std::filesystem::path& json_path() const = 0;

  // ---- extensions -------------------------------------------------------------------------
  // Like encode(), appending to `out` (lets callers reuse one buffer). Thread-safe.
  virtual void encode_append(std::string_view text, std::vector<int32_t>& out,
                             EncodeStats* stats = nullptr) const = 0;
  // Same as encode_batch() for views (no copies of the texts needed).
  virtual std::vector<std::vector<int32_t>> encode_batch_views(
      const std::vector<std::string_view>& texts, int threads = 0, EncodeStats* stats = nullptr,
      SpecialTokens special = SpecialTokens::kMatch) const = 0;
  // What decode(encode(text)) gives back: invalid UTF-8 replaced by U+FFFD and each section
  // between added tokens in NFC (HF normalizes sections separately).
  virtual std::string normalize(std::string_view text) const = 0;
  // The bytes one token stands for (may be a partial UTF-8 sequence). tt::Error if out of range.
  virtual std::string token_bytes(int32_t id) const = 0;
  // True for added tokens flagged "special" in tokenizer.json (<|endoftext|>, <|im_start|>, ...).
  virtual bool is_special(int32_t id) const = 0;
  // Seconds load() took (parse + build), for logs and docs/bench.
  virtual double load_seconds() const = 0;
  // One (long) text on `threads` worker threads (0 = all cores); always equals encode(text). The
  // text is cut only where that provably holds (src/tokenizer/chunking.h); without such cuts, or
  // for short text, it runs on one thread. Not pure, so other implementations need not care.
  virtual std::vector<int32_t> encode_parallel(std::string_view text, int threads = 0,
                                               EncodeStats* stats = nullptr) const {
    (void)threads;
    return encode(text, stats);
  }
};

}  // namespace tt
