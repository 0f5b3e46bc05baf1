#include "data/prepare.h"

#include <bit>
#include <chrono>
#include <ctime>
#include <future>
#include <thread>
#include <unordered_set>

#include "common/check.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/progress.h"
#include "data/document.h"
#include "data/interrupt.h"
#include "data/sources.h"
#include "tokenizer/tokenizer.h"
#include "tt_version.h"

namespace tt {

namespace fs = std::filesystem;
using data::DocumentReader;
using data::RawDocument;
using data::SkipCounter;

void PrepareDataOptions::declare(OptionSet& o) {
  o.add("--source", sources,
        "input files or directories (walked recursively): MediaWiki XML dumps, WikiExtractor output, JSON "
        "Lines, "
        "TSV (id, title, paragraph) or plain text; .bz2/.gz/.xz/.zst are decompressed on the fly")
      ->required()
      ->expected(1, -1);
  o.add("--out_dir", out_dir,
        "output directory (train.bin, val.bin, meta.json, samples.txt); replaced atomically");
  o.add("--seq_len", seq_len, "tokens per row")->check(CLI::Range(int64_t(2), int64_t(1) << 24));
  o.add("--max_bytes", max_bytes, "stop after this many bytes of cleaned text")->check(CLI::PositiveNumber);
  o.add("--min_chars", min_chars, "skip paragraphs shorter than this many characters")
      ->check(CLI::NonNegativeNumber);
  o.add("--val_fraction", val_fraction, "fraction of documents (by hash) for the validation split")
      ->check(CLI::Range(0.0, 0.5));
  o.add("--dedup", dedup, "drop exact duplicate paragraphs");
  o.add("--threads", threads, "tokenizer threads (0 = all cores)")->check(CLI::NonNegativeNumber);
  o.add("--tokenizer", tokenizer, "tokenizer directory or tokenizer.json");
}

uint64_t document_hash(const std::string& text) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  h ^= h >> 30;  // splitmix64 finaliser: spreads FNV's weak high bits
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

bool hash_selects_val(uint64_t hash, double val_fraction) {
  return double(hash >> 11) * 0x1.0p-53 < val_fraction;
}

namespace {

// Rows of seq_len tokens for one split, streamed into an AtomicFile.
class SplitWriter {
 public:
  SplitWriter(const fs::path& path, int64_t seq_len) : file_(path), seq_len_(seq_len) {
    row_.reserve(size_t(seq_len));
  }
  void add_document(const std::vector<int32_t>& ids, int32_t eos, int32_t vocab_size) {
    for (int32_t id : ids) {
      TT_ASSERT(id >= 0 && id < vocab_size)
          << "tokenizer returned id " << id << " outside [0, " << vocab_size << ")";
      push(uint32_t(id));
    }
    push(uint32_t(eos));
    ++documents_;
    document_tokens_ += int64_t(ids.size()) + 1;
  }
  void commit() { file_.commit(); }
  int64_t rows() const { return rows_; }
  int64_t documents() const { return documents_; }
  int64_t document_tokens() const { return document_tokens_; }
  int64_t tail_tokens() const { return int64_t(row_.size()); }

 private:
  void push(uint32_t v) {
    if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap32(v);
    row_.push_back(v);
    if (int64_t(row_.size()) == seq_len_) {
      file_.write(row_.data(), row_.size() * sizeof(uint32_t));
      row_.clear();
      ++rows_;
    }
  }
  AtomicFile file_;
  int64_t seq_len_;
  std::vector<uint32_t> row_;
  int64_t rows_ = 0, documents_ = 0, document_tokens_ = 0;
};

struct Batch {
  std::vector<std::string> texts;
  std::vector<uint64_t> hashes;
  size_t bytes = 0;
};

}  // namespace

nlohmann::ordered_json prepare_data(const PrepareDataOptions& opts, const Tokenizer& tokenizer,
                                    const nlohmann::ordered_json& options_json) {
  const auto t0 = std::chrono::steady_clock::now();
  TT_CHECK(!opts.sources.empty()) << "prepare-data: no --source given";
  TT_CHECK(opts.seq_len >= 2) << "--seq_len must be at least 2, got " << opts.seq_len;
  TT_CHECK(opts.max_bytes > 0) << "--max_bytes must be positive, got " << opts.max_bytes;
  TT_CHECK(opts.min_chars >= 0) << "--min_chars must be >= 0, got " << opts.min_chars;
  TT_CHECK(opts.val_fraction >= 0 && opts.val_fraction < 1)
      << "--val_fraction must be in [0, 1), got " << opts.val_fraction;
  TT_CHECK(opts.threads >= 0) << "--threads must be >= 0, got " << opts.threads;
  const int32_t eos = tokenizer.eos_id();
  const int32_t vocab = tokenizer.vocab_size();
  TT_CHECK(eos >= 0 && eos < vocab) << tokenizer.json_path().string() << ": no <|endoftext|> token";
  // SIGINT/SIGTERM: polled once per document (and before the final rename); the throw unwinds through
  // TempDirGuard, which removes the partial output. A second signal exits at once.
  data::InterruptScope interrupt;
  const fs::path out_dir(opts.out_dir);
  auto check_interrupt = [&] {
    const int sig = interrupt.signal_number();
    if (sig != 0)
      throw data::InterruptedError(
          std::string("prepare-data: interrupted by ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") +
              "; the partial output was removed and " + out_dir.string() + " is unchanged",
          sig);
  };

  // Sources.
  std::vector<std::string> ignored;
  const std::vector<fs::path> files = data::expand_sources(opts.sources, &ignored);
  for (const auto& f : ignored) log_info("ignoring ", f, " (not a source file name)");
  uint64_t total_bytes = 0;
  for (const auto& f : files) {
    std::error_code ec;
    auto sz = fs::file_size(f, ec);
    TT_CHECK(!ec) << f.string() << ": cannot read file size: " << ec.message();
    total_bytes += sz;
  }

  // Output directory: written under a temporary sibling name and swapped in at the end. Temporary
  // siblings of earlier runs that were killed outright (pid gone) are removed first.
  data::remove_stale_temp_dirs(out_dir);
  {
    std::error_code ec;
    if (fs::exists(out_dir, ec)) {
      TT_CHECK(fs::is_directory(out_dir, ec)) << out_dir.string() << ": exists and is not a directory";
      TT_CHECK(fs::is_empty(out_dir, ec) || fs::exists(out_dir / "meta.json", ec))
          << out_dir.string() << ": exists, is not empty and holds no meta.json; refusing to replace it"
          << hint("prepare-data replaces --out_dir as a whole; choose a new or empty directory");
    }
  }
  TempDirGuard guard(make_temp_dir_beside(out_dir));
  const fs::path tmp = guard.dir();
  SplitWriter train(tmp / "train.bin", opts.seq_len), val(tmp / "val.bin", opts.seq_len);

  SkipCounter skips;
  std::unordered_set<uint64_t> seen;      // --dedup
  std::unordered_set<uint64_t> fill_val;  // documents put in val to guarantee one val row
  std::vector<std::pair<std::string, std::string>> samples;
  int64_t cleaned_bytes = 0, docs_read = 0, docs_kept = 0;
  bool stopped = false;
  uint64_t invalid_utf8 = 0;

  Batch pending_batch;  // declared before `pending` so the future is destroyed (joined) first
  std::future<std::vector<std::vector<int32_t>>> pending;
  EncodeStats pending_stats;

  auto write_batch = [&](const Batch& b, const std::vector<std::vector<int32_t>>& toks) {
    TT_ASSERT(toks.size() == b.texts.size())
        << "encode_batch returned " << toks.size() << " results for " << b.texts.size() << " texts";
    for (size_t i = 0; i < toks.size(); ++i) {
      const uint64_t h = b.hashes[i];
      bool to_val = hash_selects_val(h, opts.val_fraction) || fill_val.count(h);
      if (!to_val && val.document_tokens() < opts.seq_len) {  // first documents fill one val row
        to_val = true;
        fill_val.insert(h);
      }
      (to_val ? val : train).add_document(toks[i], eos, vocab);
    }
  };
  auto wait_pending = [&] {
    if (!pending.valid()) return;
    auto toks = pending.get();
    invalid_utf8 += pending_stats.invalid_utf8;
    write_batch(pending_batch, toks);
  };
  auto submit = [&](Batch&& b) {
    wait_pending();
    pending_batch = std::move(b);
    pending_stats = EncodeStats{};
    pending =
        std::async(std::launch::async, [&tokenizer, &pending_batch, &pending_stats, threads = opts.threads] {
          return tokenizer.encode_batch(pending_batch.texts, threads, &pending_stats);
        });
  };

  Progress bar("prepare-data", total_bytes, Progress::Unit::Bytes);
  nlohmann::ordered_json sources_json = nlohmann::ordered_json::array();
  std::vector<std::string> warnings;
  uint64_t done_before = 0, decompressed_total = 0;
  Batch batch;
  for (const auto& file : files) {
    const uint64_t file_size = fs::file_size(file);
    if (stopped) {
      sources_json.push_back({{"path", file.string()}, {"bytes", file_size}, {"read", false}});
      continue;
    }
    auto reader = DocumentReader::open(file, skips);
    log_info("reading ", file.string(), " (", data::format_name(reader->format()), ", ",
             data::compression_name(reader->stream().compression()), ", ", file_size, " bytes)");
    int64_t file_docs = 0, file_kept = 0;
    RawDocument raw;
    while (reader->next(raw)) {
      check_interrupt();
      ++docs_read;
      ++file_docs;
      data::Extracted ex = data::extract_document(raw, opts.min_chars);
      if ((file_docs & 255) == 0)
        bar.update(done_before + reader->stream().compressed_offset(),
                   "docs " + std::to_string(docs_kept) + ", text " +
                       Progress::format_amount(uint64_t(cleaned_bytes), Progress::Unit::Bytes));
      if (ex.skip) {
        skips.add(ex.skip);
        continue;
      }
      const uint64_t h = document_hash(ex.text);
      if (opts.dedup && !seen.insert(h).second) {
        skips.add("duplicate");
        continue;
      }
      ++docs_kept;
      ++file_kept;
      cleaned_bytes += int64_t(ex.text.size());
      if (samples.size() < 20) samples.emplace_back(raw.title, ex.text);
      batch.bytes += ex.text.size();
      batch.hashes.push_back(h);
      batch.texts.push_back(std::move(ex.text));
      if (batch.bytes >= size_t(opts.batch_bytes)) submit(std::exchange(batch, Batch{}));
      if (cleaned_bytes >= opts.max_bytes) {
        stopped = true;
        log_info("reached --max_bytes ", opts.max_bytes, " of cleaned text in ", file.string());
        break;
      }
    }
    for (const auto& w : reader->warnings()) warnings.push_back(w);
    nlohmann::ordered_json sj = {{"path", file.string()},
                                 {"bytes", file_size},
                                 {"format", data::format_name(reader->format())},
                                 {"compression", data::compression_name(reader->stream().compression())},
                                 {"decompressed_bytes_read", reader->stream().decompressed_offset()},
                                 {"documents_read", file_docs},
                                 {"documents_kept", file_kept}};
    if (stopped) sj["stopped_at_max_bytes"] = true;
    sources_json.push_back(std::move(sj));
    done_before += file_size;
    decompressed_total += reader->stream().decompressed_offset();
    bar.update(done_before, "docs " + std::to_string(docs_kept));
  }
  if (!batch.texts.empty()) submit(std::move(batch));
  wait_pending();
  check_interrupt();
  bar.finish("docs " + std::to_string(docs_kept));

  std::string skip_summary;
  for (const auto& [reason, n] : skips.counts()) skip_summary += " " + reason + "=" + std::to_string(n);
  TT_CHECK(docs_kept > 0) << "no documents kept from " << files.size() << " source file(s) (" << docs_read
                          << " read; skipped:" << (skip_summary.empty() ? " none" : skip_summary) << ")"
                          << hint("check the sources' format and --min_chars");
  TT_CHECK(train.rows() > 0 && val.rows() > 0)
      << "not enough text for one train row and one val row of --seq_len " << opts.seq_len << ": "
      << docs_kept << " documents gave " << train.document_tokens() + val.document_tokens() << " tokens ("
      << train.rows() << " train rows, " << val.rows() << " val rows)"
      << hint("add sources, raise --max_bytes or lower --seq_len");
  train.commit();
  val.commit();

  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto split_json = [&](const SplitWriter& w) {
    return nlohmann::ordered_json{{"rows", w.rows()},
                                  {"tokens", w.rows() * opts.seq_len},
                                  {"documents", w.documents()},
                                  {"document_tokens", w.document_tokens()},
                                  {"dropped_tail_tokens", w.tail_tokens()}};
  };
  nlohmann::ordered_json skipped = nlohmann::ordered_json::object();
  for (const auto& [reason, n] : skips.counts()) skipped[reason] = n;
  nlohmann::ordered_json meta = {
      {"format", "tiny-transformer packed tokens v1"},
      {"seq_len", opts.seq_len},
      {"dtype", "uint32"},
      {"byte_order", "little"},
      {"tokenizer",
       {{"name", tokenizer.json_path().parent_path().filename().string()},
        {"path", tokenizer.json_path().string()},
        {"sha256", tokenizer.sha256()}}},
      {"vocab_size", vocab},
      {"eos_id", eos},
      {"train", split_json(train)},
      {"val", split_json(val)},
      {"val_fraction", opts.val_fraction},
      {"documents_read", docs_read},
      {"documents_kept", docs_kept},
      {"cleaned_text_bytes", cleaned_bytes},
      {"stopped_at_max_bytes", stopped},
      {"invalid_utf8_replaced", invalid_utf8},
      {"skipped", skipped},
      {"sources", sources_json},
      {"warnings", warnings},
      {"seconds", seconds},
      {"tool_version", std::string(TT_VERSION) + " (commit " + TT_GIT_COMMIT + ")"},
      {"created_utc", utc_now()},
      {"options", options_json}};
  write_file_atomic(tmp / "meta.json", meta.dump(2) + "\n");
  std::string sample_text;
  for (const auto& [title, text] : samples) sample_text += "## " + title + "\n" + text + "\n\n";
  write_file_atomic(tmp / "samples.txt", sample_text);
  check_interrupt();
  replace_dir_atomic(tmp, out_dir);
  guard.release();

  const int64_t tokens = train.document_tokens() + val.document_tokens();
  log_info("prepare-data: ", docs_kept, " documents (", cleaned_bytes, " bytes of text) -> ", train.rows(),
           " train rows + ", val.rows(), " val rows of ", opts.seq_len, " tokens in ", out_dir.string());
  log_info("prepare-data: skipped", skip_summary.empty() ? " none" : skip_summary);
  log_info("prepare-data: ", seconds, " s; input ", double(decompressed_total) / 1e6 / seconds,
           " MB/s decompressed (", double(done_before) / 1e6 / seconds, " MB/s of files read); ",
           double(tokens) / seconds, " tokens/s");
  return meta;
}

}  // namespace tt
