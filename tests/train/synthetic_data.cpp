#include "synthetic_data.h"

#include <unistd.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "../common/tokenizer_json_fixture.h"
#include "common/fs.h"
#include "data/dataset.h"

namespace tt::test_data {

namespace fs = std::filesystem;

fs::path tokenizer_dir() {
  // $TT_TOKENIZER_DIR first, as for the binary (src/common/paths.h): the GPU bundle carries its own copy.
  const char* env = std::getenv("TT_TOKENIZER_DIR");
  fs::path p =
      env != nullptr && *env != '\0' ? fs::path(env) : fs::path(TT_SOURCE_DIR) / "assets" / "qwen3-tokenizer";
  return fs::exists(p / "tokenizer.json") ? p : fs::path();
}

void write_synthetic_data(const fs::path& dir, const SyntheticData& d, const std::string& sha) {
  fs::create_directories(dir);
  std::mt19937_64 rng(d.seed);
  auto write_split = [&](const char* name, int64_t rows) {
    std::vector<uint32_t> buf;
    for (int64_t r = 0; r < rows; ++r) {
      uint32_t s = uint32_t(rng() % uint64_t(d.vocab - 1)), step = uint32_t(1 + rng() % 3);
      for (int64_t t = 0; t < d.seq_len; ++t) buf.push_back((s + step * uint32_t(t)) % uint32_t(d.vocab - 1));
    }
    write_file_atomic(dir / (std::string(name) + ".bin"),
                      std::string_view(reinterpret_cast<const char*>(buf.data()), buf.size() * 4));
  };
  write_split("train", d.train_rows);
  write_split("val", d.val_rows);
  nlohmann::json meta = {
      {"format", kPackedTokensFormat},
      {"seq_len", d.seq_len},
      {"dtype", "uint32"},
      {"byte_order", "little"},
      {"tokenizer", {{"name", "qwen3"}, {"sha256", sha}}},
      {"vocab_size", d.vocab},
      {"eos_id", d.vocab - 1},
      {"train", {{"rows", d.train_rows}, {"tokens", d.train_rows * d.seq_len}, {"documents", 1}}},
      {"val", {{"rows", d.val_rows}, {"tokens", d.val_rows * d.seq_len}, {"documents", 1}}}};
  write_file_atomic(dir / "meta.json", meta.dump(2));
}

void write_tiny_config(const fs::path& file, int64_t vocab, int64_t max_pos) {
  nlohmann::json c =
      nlohmann::json::parse(read_file(fs::path(TT_SOURCE_DIR) / "configs" / "qwen3_test_tiny.json"));
  c["vocab_size"] = vocab;
  c["bos_token_id"] = vocab - 1;
  c["eos_token_id"] = vocab - 1;
  c["max_position_embeddings"] = max_pos;
  write_file_atomic(file, c.dump(2));
}

namespace {

// GPT-2's byte -> printable code point map (HF ByteLevel), as UTF-8.
std::string byte_level_char(uint32_t b) {
  uint32_t extra = 0, cp = 0;
  for (uint32_t i = 0; i <= b; ++i) {
    bool printable = (i >= '!' && i <= '~') || (i >= 0xA1 && i <= 0xAC) || (i >= 0xAE && i <= 0xFF);
    cp = printable ? i : 256 + extra++;
  }
  std::string s;
  if (cp < 0x80) {
    s += char(cp);
  } else {
    s += char(0xC0 | (cp >> 6));
    s += char(0x80 | (cp & 0x3F));
  }
  return s;
}

}  // namespace

fs::path write_byte_tokenizer(const fs::path& dir) {
  nlohmann::json vocab = nlohmann::json::object();
  for (uint32_t b = 0; b < 256; ++b) vocab[byte_level_char(b)] = b;
  nlohmann::json j = test_fixtures::qwen_style_tokenizer_json(vocab, nlohmann::json::array(), 256);
  fs::create_directories(dir);
  write_file_atomic(dir / "tokenizer.json", j.dump());
  return dir / "tokenizer.json";
}

fs::path fresh_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("tt_train_test_" + std::to_string(getpid()) + "_" + name);
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

}  // namespace tt::test_data
