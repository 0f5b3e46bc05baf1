// Reader for the packed token files written by `tiny-transformer prepare-data`.
//
// Format (see DESIGN.md):
//   <data_dir>/train.bin, <data_dir>/val.bin: little-endian uint32 token ids, rows of seq_len tokens,
//       no header, no padding: file size == rows * seq_len * 4 bytes. Row i starts at byte i*seq_len*4,
//       so numpy.memmap(path, dtype="<u4").reshape(-1, seq_len) reads it too.
//   <data_dir>/meta.json: {"seq_len", "dtype": "uint32", "tokenizer": {"name", "sha256"}, "vocab_size",
//       "eos_id", "train": {"rows", "tokens", "documents"}, "val": {...}, ...}.
// TokenDataset maps one split read-only (mmap), so opening is O(1) in the file size and rows are
// shared with the page cache; it validates the file against meta.json on open.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace tt {

// meta.json's "format": what prepare-data writes and every reader requires (with "byte_order": "little").
constexpr const char* kPackedTokensFormat = "tiny-transformer packed tokens v1";

struct DatasetMeta {
  int64_t seq_len = 0;
  std::string dtype;             // always "uint32"
  std::string tokenizer_sha256;  // sha256 of the tokenizer.json used
  int64_t vocab_size = 0;        // tokenizer vocab size (largest id + 1)
  int32_t eos_id = -1;           // <|endoftext|>, appended after every document
  int64_t train_rows = 0, val_rows = 0;
  nlohmann::json raw;  // the whole meta.json

  // Parses <data_dir>/meta.json; tt::Error naming the file and the missing/bad field.
  static DatasetMeta load(const std::filesystem::path& data_dir);
};

class TokenDataset {  // movable, not copyable; mmap of <data_dir>/<split>.bin
 public:
  static TokenDataset open(const std::filesystem::path& data_dir, const std::string& split /*"train"|"val"*/);

  TokenDataset(TokenDataset&& other) noexcept;
  TokenDataset& operator=(TokenDataset&& other) noexcept;
  TokenDataset(const TokenDataset&) = delete;
  TokenDataset& operator=(const TokenDataset&) = delete;
  ~TokenDataset();

  int64_t rows() const { return rows_; }
  int64_t seq_len() const { return meta_.seq_len; }
  const uint32_t* row(int64_t i) const;  // seq_len tokens; TT_ASSERT on 0 <= i < rows()
  const uint32_t* data() const { return data_; }
  const DatasetMeta& meta() const { return meta_; }
  const std::string& split() const { return split_; }
  const std::filesystem::path& path() const { return path_; }

  // tt::Error (naming files/values) unless: seq_len <= max_position_embeddings, vocab_size <=
  // model_vocab_size, and (if given) tokenizer sha256 matches. Also verifies file size ==
  // rows*seq_len*4 matches meta.json, and scans every token id (check_token_ids), so a damaged file
  // is refused before training starts rather than when a bad row is first drawn.
  void check_compatible(int64_t model_vocab_size, int64_t max_position_embeddings,
                        const std::string& tokenizer_sha256 = "") const;

  // One pass over the mapped file (a max-reduction, memory-bound: ~0.05 s per 100 MB when cached);
  // tt::Error naming the file, the row, the position in the row, the byte offset and the id of the
  // first id >= model_vocab_size.
  void check_token_ids(int64_t model_vocab_size) const;

 private:
  TokenDataset() = default;
  void release();

  DatasetMeta meta_;
  std::string split_;
  std::filesystem::path path_;
  int64_t rows_ = 0;
  const uint32_t* data_ = nullptr;
  size_t mapped_bytes_ = 0;
};

}  // namespace tt
