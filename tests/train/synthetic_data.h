// Test fixtures for the train module: a tiny Qwen3 config and a synthetic, learnable token dataset
// written in the prepare-data format (train.bin / val.bin of LE uint32 rows + meta.json).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace tt::test_data {

// The real Qwen3 tokenizer directory ($TT_TOKENIZER_DIR, else assets/), or "" when it is not there.
std::filesystem::path tokenizer_dir();

struct SyntheticData {
  int64_t seq_len = 16;
  int64_t vocab = 128;
  int64_t train_rows = 256;
  int64_t val_rows = 32;
  uint64_t seed = 7;
};

// Rows are arithmetic progressions mod (vocab - 1): row = (s + d*t) % (vocab-1), d in {1,2,3}; the
// last id (vocab - 1) is the eos. meta.json names the tokenizer sha256 given.
void write_synthetic_data(const std::filesystem::path& dir, const SyntheticData& d,
                          const std::string& tokenizer_sha256);

// configs/qwen3_test_tiny.json shrunk to `vocab` (bos = eos = vocab - 1) and max_position_embeddings.
void write_tiny_config(const std::filesystem::path& file, int64_t vocab, int64_t max_pos = 64);

// A minimal byte-level BPE tokenizer.json in the Qwen3 format (256 byte tokens, no merges, and
// <|endoftext|> = 256): vocab_size() 257, so a model vocab above 257 has rows it cannot decode (like
// Qwen3's 151,936 rows for 151,669 ids). Returns the file's path.
std::filesystem::path write_byte_tokenizer(const std::filesystem::path& dir);

// A fresh empty directory under the system temp dir.
std::filesystem::path fresh_dir(const std::string& name);

}  // namespace tt::test_data
