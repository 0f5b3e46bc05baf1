#include "data/dataset.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>

#include "common/check.h"
#include "common/fs.h"
#include "common/json_error.h"

namespace tt {

namespace {

// Token files are little-endian; on a big-endian host swap on read.
inline uint32_t le32(uint32_t v) {
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap32(v);
  return v;
}

const nlohmann::json& field(const nlohmann::json& j, const char* key, const std::filesystem::path& file,
                            const char* what = "") {
  TT_CHECK(j.is_object() && j.contains(key))
      << file.string() << ": missing field \"" << what << key << "\""
      << hint("re-run `tiny-transformer prepare-data` to regenerate the data directory");
  return j.at(key);
}

int64_t int_field(const nlohmann::json& j, const char* key, const std::filesystem::path& file,
                  const char* what = "") {
  const auto& v = field(j, key, file, what);
  TT_CHECK(v.is_number_integer() && v.get<int64_t>() >= 0)
      << file.string() << ": field \"" << what << key << "\" must be a non-negative integer, got "
      << v.dump();
  return v.get<int64_t>();
}

}  // namespace

DatasetMeta DatasetMeta::load(const std::filesystem::path& data_dir) {
  std::filesystem::path file = data_dir / "meta.json";
  std::string text = read_file(file);
  DatasetMeta m;
  try {
    m.raw = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    TT_FAIL() << file.string() << ": not valid JSON at " << json_error_position(e, text.size()) << ": "
              << e.what() << hint("re-run `tiny-transformer prepare-data` to regenerate the data directory");
  }
  TT_CHECK(m.raw.is_object()) << file.string() << ": expected a JSON object, got a JSON " << m.raw.type_name()
                              << hint("re-run `tiny-transformer prepare-data`");
  // Another tool's meta.json, or rows in the other byte order, would be read as token ids all the same.
  const auto& format = field(m.raw, "format", file);
  TT_CHECK(format == kPackedTokensFormat)
      << file.string() << ": format " << format.dump() << " is not \"" << kPackedTokensFormat << "\""
      << hint("point --data_dir at a directory written by `tiny-transformer prepare-data`");
  const auto& byte_order = field(m.raw, "byte_order", file);
  TT_CHECK(byte_order == "little") << file.string() << ": byte_order " << byte_order.dump()
                                   << " is not \"little\"; the token files are little-endian uint32";
  m.seq_len = int_field(m.raw, "seq_len", file);
  TT_CHECK(m.seq_len > 0) << file.string() << ": seq_len must be positive, got " << m.seq_len;
  const auto& dtype = field(m.raw, "dtype", file);
  TT_CHECK(dtype.is_string()) << file.string() << ": dtype must be a string";
  m.dtype = dtype.get<std::string>();
  TT_CHECK(m.dtype == "uint32") << file.string() << ": dtype \"" << m.dtype
                                << "\" is not supported (expected \"uint32\")";
  const auto& tok = field(m.raw, "tokenizer", file);
  const auto& sha = field(tok, "sha256", file, "tokenizer.");
  TT_CHECK(sha.is_string()) << file.string() << ": tokenizer.sha256 must be a string";
  m.tokenizer_sha256 = sha.get<std::string>();
  m.vocab_size = int_field(m.raw, "vocab_size", file);
  const int64_t eos_id = int_field(m.raw, "eos_id", file);
  TT_CHECK(m.vocab_size <= std::numeric_limits<int32_t>::max() &&
           eos_id <= std::numeric_limits<int32_t>::max())
      << file.string() << ": vocab_size " << m.vocab_size << " or eos_id " << eos_id
      << " does not fit a 32-bit token id";
  m.eos_id = static_cast<int32_t>(eos_id);
  m.train_rows = int_field(field(m.raw, "train", file), "rows", file, "train.");
  m.val_rows = int_field(field(m.raw, "val", file), "rows", file, "val.");
  // The files' sizes are checked against rows x seq_len x 4 bytes: a product that wrapped around could match
  // the real size of a smaller file, whose rows would then be read past its end.
  for (const auto& [split, rows] : {std::pair{"train", m.train_rows}, std::pair{"val", m.val_rows}}) {
    int64_t tokens = 0, bytes = 0;
    TT_CHECK(!__builtin_mul_overflow(rows, m.seq_len, &tokens) &&
             !__builtin_mul_overflow(tokens, int64_t{4}, &bytes))
        << file.string() << ": " << split << ".rows " << rows << " x seq_len " << m.seq_len
        << " x 4 bytes is larger than any file can be"
        << hint("the data directory is damaged; re-run `tiny-transformer prepare-data`");
  }
  return m;
}

TokenDataset TokenDataset::open(const std::filesystem::path& data_dir, const std::string& split) {
  TT_CHECK(split == "train" || split == "val") << "unknown split \"" << split << "\" (expected train or val)";
  TokenDataset ds;
  ds.meta_ = DatasetMeta::load(data_dir);
  ds.split_ = split;
  ds.path_ = data_dir / (split + ".bin");
  ds.rows_ = split == "train" ? ds.meta_.train_rows : ds.meta_.val_rows;

  int fd = ::open(ds.path_.c_str(), O_RDONLY | O_CLOEXEC);
  TT_CHECK(fd >= 0) << ds.path_.string() << ": cannot open: " << std::strerror(errno)
                    << hint("re-run `tiny-transformer prepare-data`");
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    TT_FAIL() << ds.path_.string() << ": cannot stat: " << std::strerror(e);
  }
  const uint64_t expected = uint64_t(ds.rows_) * uint64_t(ds.meta_.seq_len) * 4u;
  if (uint64_t(st.st_size) != expected) {
    ::close(fd);
    TT_FAIL() << ds.path_.string() << ": size is " << st.st_size << " bytes, but meta.json says " << ds.rows_
              << " rows x seq_len " << ds.meta_.seq_len << " x 4 bytes = " << expected
              << hint("the data directory is damaged or mixed from two runs; re-run prepare-data");
  }
  if (expected > 0) {
    void* p = mmap(nullptr, expected, PROT_READ, MAP_SHARED, fd, 0);
    int e = errno;
    ::close(fd);
    TT_CHECK(p != MAP_FAILED) << ds.path_.string() << ": mmap failed: " << std::strerror(e);
    madvise(p, expected, MADV_RANDOM);
    ds.data_ = static_cast<const uint32_t*>(p);
    ds.mapped_bytes_ = expected;
  } else {
    ::close(fd);
  }
  return ds;
}

TokenDataset::TokenDataset(TokenDataset&& o) noexcept {
  *this = std::move(o);
}

TokenDataset& TokenDataset::operator=(TokenDataset&& o) noexcept {
  if (this != &o) {
    release();
    meta_ = std::move(o.meta_);
    split_ = std::move(o.split_);
    path_ = std::move(o.path_);
    rows_ = o.rows_;
    data_ = o.data_;
    mapped_bytes_ = o.mapped_bytes_;
    o.rows_ = 0;
    o.data_ = nullptr;
    o.mapped_bytes_ = 0;
  }
  return *this;
}

TokenDataset::~TokenDataset() {
  release();
}

void TokenDataset::release() {
  if (data_ && mapped_bytes_) munmap(const_cast<uint32_t*>(data_), mapped_bytes_);
  data_ = nullptr;
  mapped_bytes_ = 0;
}

const uint32_t* TokenDataset::row(int64_t i) const {
  TT_ASSERT(i >= 0 && i < rows_) << "row " << i << " out of range [0, " << rows_ << ") in " << path_.string();
  return data_ + i * meta_.seq_len;
}

void TokenDataset::check_compatible(int64_t model_vocab_size, int64_t max_position_embeddings,
                                    const std::string& tokenizer_sha256) const {
  const std::string meta_file = (path_.parent_path() / "meta.json").string();
  TT_CHECK(meta_.seq_len <= max_position_embeddings)
      << meta_file << ": seq_len " << meta_.seq_len << " is larger than the model's max_position_embeddings "
      << max_position_embeddings
      << hint("re-run prepare-data with a smaller --seq_len or use a larger model");
  TT_CHECK(meta_.vocab_size <= model_vocab_size)
      << meta_file << ": tokenizer vocab_size " << meta_.vocab_size
      << " is larger than the model's vocab_size " << model_vocab_size
      << hint("the model's vocab_size must cover every token id in the data");
  TT_CHECK(tokenizer_sha256.empty() || tokenizer_sha256 == meta_.tokenizer_sha256)
      << meta_file << ": data was tokenized with tokenizer sha256 " << meta_.tokenizer_sha256
      << ", but the model uses " << tokenizer_sha256
      << hint("re-run prepare-data with the model's tokenizer");
  std::error_code ec;
  const auto size = std::filesystem::file_size(path_, ec);
  TT_CHECK(!ec) << path_.string() << ": cannot stat: " << ec.message();
  const uint64_t expected = uint64_t(rows_) * uint64_t(meta_.seq_len) * 4u;
  TT_CHECK(size == expected) << path_.string() << ": size is " << size << " bytes, but meta.json says "
                             << rows_ << " rows x seq_len " << meta_.seq_len << " x 4 bytes = " << expected;
  check_token_ids(model_vocab_size);
}

void TokenDataset::check_token_ids(int64_t model_vocab_size) const {
  const size_t count = size_t(rows_) * size_t(meta_.seq_len);
  if (count == 0) return;
  // One sequential pass: the max of each 64 Ki block is a branch-free reduction the compiler
  // vectorises; only a block whose max is out of range is searched again for the first bad id.
  // The file was mapped MADV_RANDOM for training; ask for read-ahead during the scan, then restore.
  madvise(const_cast<uint32_t*>(data_), mapped_bytes_, MADV_SEQUENTIAL);
  const uint64_t limit = uint64_t(model_vocab_size);
  constexpr size_t kBlock = size_t(1) << 16;
  size_t bad = count;
  for (size_t begin = 0; begin < count && bad == count; begin += kBlock) {
    const size_t end = std::min(count, begin + kBlock);
    uint32_t block_max = 0;
    for (size_t i = begin; i < end; ++i) block_max = std::max(block_max, le32(data_[i]));
    if (block_max >= limit)
      for (size_t i = begin; i < end && bad == count; ++i)
        if (le32(data_[i]) >= limit) bad = i;
  }
  madvise(const_cast<uint32_t*>(data_), mapped_bytes_, MADV_RANDOM);
  if (bad == count) return;
  size_t n_bad = 0;
  for (size_t i = bad; i < count; ++i) n_bad += le32(data_[i]) >= limit;
  const int64_t seq = meta_.seq_len;
  TT_FAIL() << path_.string() << ": token id " << le32(data_[bad]) << " at row " << int64_t(bad) / seq
            << ", position " << int64_t(bad) % seq << " (byte offset " << uint64_t(bad) * 4u
            << ") is not below the model's vocab_size " << model_vocab_size << " (" << n_bad
            << " such id(s) in the file)"
            << hint("the file is damaged or was made with another tokenizer; re-run prepare-data");
}

}  // namespace tt
