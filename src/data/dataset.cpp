#include "data/dataset.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/check.h"
#include "common/fs.h"

namespace tt {

namespace {

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
  m.raw = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  TT_CHECK(!m.raw.is_discarded() && m.raw.is_object())
      << file.string() << ": not a JSON object" << hint("re-run `tiny-transformer prepare-data`");
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
  m.eos_id = static_cast<int32_t>(int_field(m.raw, "eos_id", file));
  m.train_rows = int_field(field(m.raw, "train", file), "rows", file, "train.");
  m.val_rows = int_field(field(m.raw, "val", file), "rows", file, "val.");
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
}

}  // namespace tt
