#include "data/prepare.h"

#include <array>
#include <bit>
#include <chrono>
#include <ctime>
#include <future>
#include <iomanip>
#include <sstream>
#include <thread>
#include <unordered_set>

#include "common/check.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/progress.h"
#include "data/dataset.h"
#include "data/document.h"
#include "data/interrupt.h"
#include "data/source_list.h"
#include "data/sources.h"
#include "data/wikimedia_dumps.h"
#include "net/url.h"
#include "tokenizer/tokenizer.h"
#include "tt_version.h"

namespace tt {

namespace fs = std::filesystem;
using data::RawDocument;
using data::SkipCounter;
using data::SourceFile;

void PrepareDataOptions::declare(OptionSet& o) {
  o.add("--source", sources,
        "input files or directories (walked recursively), http(s):// URLs, or a Wikimedia dump name (enwiki, "
        "wikipedia:en, enwiki:YYYYMMDD = the article parts of that run): MediaWiki XML dumps, WikiExtractor "
        "output, JSON Lines, TSV (id, title, paragraph) or plain text; .bz2/.gz/.xz/.zst are decompressed on "
        "the fly, downloads are read while they arrive and kept in --cache_dir")
      ->required()
      ->expected(1, -1);
  o.add("--out_dir", out_dir,
        "output directory (train.bin, val.bin, meta.json, samples.txt); replaced atomically")
      .non_empty();
  o.add("--seq_len", seq_len, "tokens per row").in_range(2, int64_t(1) << 24);
  o.add("--max_bytes", max_bytes, "stop after this many bytes of cleaned text (downloads stop there too)")
      .positive();
  o.add("--min_chars", min_chars, "skip paragraphs shorter than this many characters").at_least(0);
  o.add("--val_fraction", val_fraction,
        "fraction of documents (by hash) for the validation split; the first documents also go there until "
        "it holds one row")
      .in_range(0.0, 0.5);
  o.add("--dedup", dedup, "drop exact duplicate paragraphs");
  o.add("--threads", threads, "tokenizer threads (0 = all cores)").in_range(0, 4096);
  o.add("--tokenizer", tokenizer,
        "tokenizer directory or tokenizer.json (default: $TT_TOKENIZER_DIR or assets/qwen3-tokenizer)");
  o.add("--cache_dir", cache_dir,
        "where downloads are kept (\"\" = $TT_CACHE_DIR, else $XDG_CACHE_HOME/tiny-transformer, else "
        "~/.cache/tiny-transformer)");
  o.add(
      "--mirror", mirror,
      "Wikimedia dump server for dump names (\"\" = $TT_WIKIMEDIA_MIRROR, else https://dumps.wikimedia.org)");
  o.add("--net_timeout", net_timeout,
        "seconds a connection attempt, or a transfer receiving nothing, may take before it is retried")
      .in_range(1.0, 3600.0);
  o.add("--net_retries", net_retries, "retries in a row without progress before a download fails")
      .in_range(0, 100);
}

void PrepareDataOptions::validate() const {
  check_declared_rules(*this);
  for (const auto& s : sources) TT_CHECK(!s.empty()) << "--source: an empty path";
  if (mirror.empty()) return;
  bool names_a_dump = false;
  std::error_code ec;
  for (const auto& s : sources)
    names_a_dump = names_a_dump || (!fs::exists(s, ec) && data::wikimedia::parse_dump_name(s).has_value());
  TT_CHECK(names_a_dump)
      << "--mirror " << net::without_credentials(mirror)
      << " is given, but no --source is a Wikimedia dump name"
      << hint("--mirror applies to enwiki, wikipedia:LANG and WIKI:YYYYMMDD; give URLs in full");
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

// ---- the steps of prepare_data, in the order it runs them ------------------------------------------

struct TokenIds {
  int32_t eos = -1, vocab = 0;
};

TokenIds token_ids(const Tokenizer& tokenizer) {
  TokenIds ids{tokenizer.eos_id(), tokenizer.vocab_size()};
  TT_CHECK(ids.eos >= 0 && ids.eos < ids.vocab)
      << tokenizer.json_path().string() << ": no <|endoftext|> token";
  return ids;
}

// SIGINT/SIGTERM: polled once per document, while waiting for the network, and before the final rename;
// the throw unwinds through TempDirGuard, which removes the partial output. A second signal exits at once.
void throw_if_interrupted(const data::InterruptScope& interrupt, const fs::path& out_dir) {
  const int sig = interrupt.signal_number();
  if (sig != 0)
    throw data::InterruptedError(
        std::string("prepare-data: interrupted by ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") +
            "; the partial output was removed and " + out_dir.string() + " is unchanged",
        sig);
}

data::NetOptions net_options(const PrepareDataOptions& opts, std::function<void()> poll) {
  data::NetOptions net;
  net.cache_dir = opts.cache_dir;
  net.mirror = opts.mirror;
  net.http.connect_timeout_s = opts.net_timeout;
  net.http.stall_timeout_s = opts.net_timeout;
  net.http.retries = opts.net_retries;
  net.http.retry_delay_s = opts.net_retry_delay;
  net.http.poll = std::move(poll);
  return net;
}

std::vector<SourceFile> list_sources(const PrepareDataOptions& opts, const data::NetOptions& net) {
  std::vector<std::string> ignored;
  std::vector<SourceFile> files = data::resolve_sources(opts.sources, net, &ignored);
  for (const auto& f : ignored) log_info("ignoring ", f);
  return files;
}

// The files a prepare-data output holds: nothing else may be in a directory it replaces.
constexpr std::array<std::string_view, 4> kOutputFiles = {"train.bin", "val.bin", "meta.json", "samples.txt"};

// An existing out_dir is replaced only when it is empty or an earlier prepare-data output and nothing else: a
// directory that merely holds some meta.json may be anyone's, and the swap deletes all of it.
void check_replaceable(const fs::path& out_dir) {
  std::error_code ec;
  if (!fs::exists(out_dir, ec)) return;
  const char* advice = "prepare-data replaces --out_dir as a whole; choose a new or empty directory";
  const fs::path out = fs::weakly_canonical(out_dir, ec), cwd = fs::current_path(ec);
  const auto [o, c] = std::mismatch(out.begin(), out.end(), cwd.begin(), cwd.end());
  TT_CHECK(o != out.end()) << out_dir.string()
                           << " is the working directory or contains it; refusing to replace it"
                           << hint(advice);
  TT_CHECK(fs::is_directory(out_dir, ec)) << out_dir.string() << ": exists and is not a directory";
  if (fs::is_empty(out_dir, ec)) return;
  const fs::path meta_path = out_dir / "meta.json";
  TT_CHECK(fs::exists(meta_path, ec))
      << out_dir.string() << ": exists, is not empty and holds no meta.json; refusing to replace it"
      << hint(advice);
  const nlohmann::json meta = nlohmann::json::parse(read_file(meta_path), nullptr, false);
  const auto format = meta.is_object() ? meta.find("format") : meta.end();
  TT_CHECK(meta.is_object() && format != meta.end() && *format == kPackedTokensFormat)
      << meta_path.string() << ": not a prepare-data meta.json (no \"format\": \"" << kPackedTokensFormat
      << "\"); refusing to replace " << out_dir.string() << hint(advice);
  for (const auto& entry : fs::directory_iterator(out_dir)) {
    const std::string name = entry.path().filename().string();
    TT_CHECK(std::find(kOutputFiles.begin(), kOutputFiles.end(), name) != kOutputFiles.end())
        << out_dir.string() << ": holds " << name
        << ", which prepare-data does not write; refusing to replace it"
        << hint("move " + name + " out of it, or choose another --out_dir");
  }
}

// The output is written into a temporary sibling of out_dir and swapped in at the end. Temporary
// siblings of earlier runs that were killed outright (pid gone) are removed first.
fs::path make_output_dir(const fs::path& out_dir) {
  data::remove_stale_temp_dirs(out_dir);
  check_replaceable(out_dir);
  return make_temp_dir_beside(out_dir);
}

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
  nlohmann::ordered_json to_json(int64_t seq_len) const {
    return {{"rows", rows_},
            {"tokens", rows_ * seq_len},
            {"documents", documents_},
            {"document_tokens", document_tokens_},
            {"dropped_tail_tokens", tail_tokens()}};
  }

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

// The train and val splits, and the rule that sends a document to one of them: by the hash of its
// text, except that the first documents fill one val row (their hashes are remembered, so later
// copies of them follow): evaluation needs a full row, and a document is never split between the two.
class Splits {
 public:
  Splits(const fs::path& dir, const PrepareDataOptions& opts, TokenIds ids)
      : train(dir / "train.bin", opts.seq_len),
        val(dir / "val.bin", opts.seq_len),
        val_fraction_(opts.val_fraction),
        seq_len_(opts.seq_len),
        ids_(ids) {}

  void add(const Batch& b, const std::vector<std::vector<int32_t>>& toks) {
    TT_ASSERT(toks.size() == b.texts.size())
        << "encode_batch returned " << toks.size() << " results for " << b.texts.size() << " texts";
    for (size_t i = 0; i < toks.size(); ++i) {
      const uint64_t h = b.hashes[i];
      bool to_val = hash_selects_val(h, val_fraction_) || fill_val_.count(h);
      if (!to_val && val.document_tokens() < seq_len_) {
        to_val = true;
        fill_val_.insert(h);
        fill_tokens_ += int64_t(toks[i].size()) + 1;  // + the end-of-text token
      }
      (to_val ? val : train).add_document(toks[i], ids_.eos, ids_.vocab);
    }
  }
  void commit() {
    train.commit();
    val.commit();
  }
  int64_t document_tokens() const { return train.document_tokens() + val.document_tokens(); }

  // A warning when the documents that filled val's first row made val far larger than --val_fraction
  // asks (a long first document in a small corpus), else "".
  std::string val_fill_warning() const {
    const double total = double(std::max<int64_t>(1, document_tokens()));
    const double fill_share = double(fill_tokens_) / total;
    if (fill_share <= std::max(2 * val_fraction_, val_fraction_ + 0.01)) return "";
    std::ostringstream w;
    w << "the val split holds " << std::fixed << std::setprecision(1)
      << 100 * double(val.document_tokens()) / total << " % of the tokens, not the " << std::defaultfloat
      << 100 * val_fraction_ << " % of --val_fraction: its first " << fill_val_.size() << " document(s), "
      << fill_tokens_ << " tokens (" << std::fixed << std::setprecision(1) << 100 * fill_share
      << " %), went to val to give it one full row of " << seq_len_ << " tokens";
    return w.str();
  }

  SplitWriter train, val;

 private:
  double val_fraction_;
  int64_t seq_len_;
  TokenIds ids_;
  std::unordered_set<uint64_t> fill_val_;
  int64_t fill_tokens_ = 0;
};

// Tokenizes one batch on the tokenizer's threads while the reader collects the next; batches are
// written to the splits in order.
class BatchTokenizer {
 public:
  BatchTokenizer(const Tokenizer& tokenizer, int threads, Splits& splits)
      : tokenizer_(tokenizer), threads_(threads), splits_(splits) {}

  void submit(Batch&& b) {
    wait_and_write();
    pending_batch_ = std::move(b);
    pending_stats_ = EncodeStats{};
    pending_ = std::async(std::launch::async, [this] {
      // a document that quotes "<|endoftext|>" must not fake the separator appended after it
      return tokenizer_.encode_batch(pending_batch_.texts, threads_, &pending_stats_, SpecialTokens::kAsText);
    });
  }
  void wait_and_write() {
    if (!pending_.valid()) return;
    auto toks = pending_.get();
    invalid_utf8_ += pending_stats_.invalid_utf8;
    special_as_text_ += pending_stats_.special_as_text;
    splits_.add(pending_batch_, toks);
  }
  uint64_t invalid_utf8() const { return invalid_utf8_; }
  uint64_t special_as_text() const { return special_as_text_; }

 private:
  const Tokenizer& tokenizer_;
  int threads_;
  Splits& splits_;
  uint64_t invalid_utf8_ = 0, special_as_text_ = 0;
  Batch pending_batch_;  // declared before pending_ so that the future is destroyed (joined) first
  EncodeStats pending_stats_;
  std::future<std::vector<std::vector<int32_t>>> pending_;
};

// What reading the sources produced, besides the batches.
struct ReadSummary {
  SkipCounter skips;
  int64_t cleaned_bytes = 0, docs_read = 0, docs_kept = 0;
  bool stopped = false;  // --max_bytes reached
  std::vector<std::pair<std::string, std::string>> samples;
  nlohmann::ordered_json sources = nlohmann::ordered_json::array();
  std::vector<std::string> warnings;
  uint64_t bytes_read = 0, decompressed_bytes = 0;
  std::string skip_summary() const {
    std::string s;
    for (const auto& [reason, n] : skips.counts()) s += " " + reason + "=" + std::to_string(n);
    return s.empty() ? " none" : s;
  }
};

// Reads the sources in order, turns their documents into cleaned paragraphs, and hands them to the
// tokenizer in batches, until the sources end or --max_bytes of text is reached.
class DocumentCollector {
 public:
  DocumentCollector(const PrepareDataOptions& opts, const data::NetOptions& net,
                    const std::vector<SourceFile>& files, BatchTokenizer& tokenize,
                    std::function<void()> check_interrupt)
      : opts_(opts),
        net_(net),
        tokenize_(tokenize),
        check_interrupt_(std::move(check_interrupt)),
        bar_("prepare-data", known_total_bytes(files), Progress::Unit::Bytes) {}

  void read(const SourceFile& file) {
    if (r_.stopped) {
      r_.sources.push_back(unread_source_json(file));
      return;
    }
    data::OpenSource src = data::open_source(file, r_.skips, net_);
    std::string where = std::to_string(src.reader->stream().file_size()) + " bytes";
    if (src.download && src.download->from_cache()) where += " from the cache, " + file.path.string();
    if (src.download && src.download->transferring())
      where = "downloading into " + src.download->part_path().string();
    log_info("reading ", file.name, " (", data::format_name(src.reader->format()), ", ",
             data::compression_name(src.reader->stream().compression()), ", ", where, ")");
    int64_t docs = 0, kept = 0;
    try {
      RawDocument raw;
      while (!r_.stopped && src.reader->next(raw)) {
        check_interrupt_();
        ++r_.docs_read;
        if ((++docs & 255) == 0) update_bar(src);
        kept += add_document(raw);
      }
    } catch (...) {
      data::rethrow_discarding_download(src);
    }
    if (r_.stopped) {
      log_info("reached --max_bytes ", opts_.max_bytes, " of cleaned text in ", file.name);
      if (src.download) src.download->stop("--max_bytes reached");
    }
    const data::InputStream& in = src.reader->stream();
    for (const auto& w : src.reader->warnings()) r_.warnings.push_back(w);
    r_.sources.push_back(source_json(file, src, docs, kept));
    update_bar(src);
    r_.bytes_read += in.compressed_offset();
    r_.decompressed_bytes += in.decompressed_offset();
  }

  void finish() {
    if (!batch_.texts.empty()) tokenize_.submit(std::exchange(batch_, Batch{}));
    tokenize_.wait_and_write();
    bar_.finish("docs " + std::to_string(r_.docs_kept));
  }
  const ReadSummary& summary() const { return r_; }

 private:
  // Whether the document was kept (cleaned, long enough, not a duplicate).
  bool add_document(const RawDocument& raw) {
    data::Extracted ex = data::extract_document(raw, opts_.min_chars);
    if (ex.skip) {
      r_.skips.add(ex.skip);
      return false;
    }
    const uint64_t h = document_hash(ex.text);
    if (opts_.dedup && !seen_.insert(h).second) {
      r_.skips.add("duplicate");
      return false;
    }
    ++r_.docs_kept;
    r_.cleaned_bytes += int64_t(ex.text.size());
    if (r_.samples.size() < 20) r_.samples.emplace_back(raw.title, ex.text);
    batch_.bytes += ex.text.size();
    batch_.hashes.push_back(h);
    batch_.texts.push_back(std::move(ex.text));
    if (batch_.bytes >= size_t(opts_.batch_bytes)) tokenize_.submit(std::exchange(batch_, Batch{}));
    r_.stopped = r_.cleaned_bytes >= opts_.max_bytes;
    return true;
  }

  // The prepare-data bar counts the bytes of the sources read so far; while a download is drawing its
  // own bar, this one waits.
  void update_bar(const data::OpenSource& src) {
    if (src.download && src.download->transferring()) return;
    bar_.update(r_.bytes_read + src.reader->stream().compressed_offset(),
                "docs " + std::to_string(r_.docs_kept) + ", text " +
                    Progress::format_amount(uint64_t(r_.cleaned_bytes), Progress::Unit::Bytes));
  }

  // The bytes of all sources when every size is known before reading (local or already cached), else 0:
  // a download not yet cached, or a pipe (`--source <(xzcat a.xz)`, /dev/stdin) has no size to show.
  static uint64_t known_total_bytes(const std::vector<SourceFile>& files) {
    uint64_t total = 0;
    for (const auto& f : files) {
      std::error_code ec;
      if (!fs::is_regular_file(f.path, ec)) return 0;
      const uint64_t size = fs::file_size(f.path, ec);
      TT_CHECK(!ec) << f.path.string() << ": cannot read file size: " << ec.message();
      total += size;
    }
    return total;
  }

  static nlohmann::ordered_json unread_source_json(const SourceFile& f) {
    std::error_code ec;
    const uint64_t size = f.remote() ? f.expected.size : uint64_t(fs::file_size(f.path, ec));
    nlohmann::ordered_json j = {{"path", f.path.string()}};
    if (f.remote()) j["url"] = net::without_credentials(f.url);
    j["bytes"] = size;
    j["read"] = false;
    return j;
  }

  nlohmann::ordered_json source_json(const SourceFile& f, const data::OpenSource& src, int64_t docs,
                                     int64_t kept) const {
    const data::InputStream& in = src.reader->stream();
    nlohmann::ordered_json j = {{"path", f.path.string()}};
    if (f.remote()) {
      j["url"] = net::without_credentials(f.url);
      j["download"] = src.download->from_cache() ? "cached"
                      : src.download->complete() ? "complete"
                                                 : "partial (kept in the cache for resuming)";
    }
    j["bytes"] = f.remote() && !src.download->complete() ? in.compressed_offset() : in.file_size();
    j["format"] = data::format_name(src.reader->format());
    j["compression"] = data::compression_name(in.compression());
    j["decompressed_bytes_read"] = in.decompressed_offset();
    j["documents_read"] = docs;
    j["documents_kept"] = kept;
    if (r_.stopped) j["stopped_at_max_bytes"] = true;
    return j;
  }

  const PrepareDataOptions& opts_;
  const data::NetOptions& net_;
  BatchTokenizer& tokenize_;
  std::function<void()> check_interrupt_;
  Progress bar_;
  ReadSummary r_;
  Batch batch_;
  std::unordered_set<uint64_t> seen_;  // --dedup
};

void check_enough_output(const ReadSummary& r, const Splits& splits, const PrepareDataOptions& opts,
                         size_t files) {
  TT_CHECK(r.docs_kept > 0) << "no documents kept from " << files << " source file(s) (" << r.docs_read
                            << " read; skipped:" << r.skip_summary() << ")"
                            << hint("check the sources' format and --min_chars");
  TT_CHECK(splits.train.rows() > 0 && splits.val.rows() > 0)
      << "not enough text for one train row and one val row of --seq_len " << opts.seq_len << ": "
      << r.docs_kept << " documents gave " << splits.document_tokens() << " tokens (" << splits.train.rows()
      << " train rows, " << splits.val.rows() << " val rows)"
      << hint("add sources, raise --max_bytes or lower --seq_len");
}

nlohmann::ordered_json build_meta(const PrepareDataOptions& opts, const Tokenizer& tokenizer, TokenIds ids,
                                  const Splits& splits, const ReadSummary& r, const BatchTokenizer& tokenize,
                                  double seconds) {
  nlohmann::ordered_json skipped = nlohmann::ordered_json::object();
  for (const auto& [reason, n] : r.skips.counts()) skipped[reason] = n;
  std::vector<std::string> warnings = r.warnings;
  if (std::string w = splits.val_fill_warning(); !w.empty()) warnings.push_back(w);
  return {{"format", kPackedTokensFormat},
          {"seq_len", opts.seq_len},
          {"dtype", "uint32"},
          {"byte_order", "little"},
          {"tokenizer",
           {{"name", tokenizer.json_path().parent_path().filename().string()},
            {"path", tokenizer.json_path().string()},
            {"sha256", tokenizer.sha256()}}},
          {"vocab_size", ids.vocab},
          {"eos_id", ids.eos},
          {"train", splits.train.to_json(opts.seq_len)},
          {"val", splits.val.to_json(opts.seq_len)},
          {"val_fraction", opts.val_fraction},
          {"documents_read", r.docs_read},
          {"documents_kept", r.docs_kept},
          {"cleaned_text_bytes", r.cleaned_bytes},
          {"stopped_at_max_bytes", r.stopped},
          {"invalid_utf8_replaced", tokenize.invalid_utf8()},
          {"special_tokens_as_text", tokenize.special_as_text()},
          {"skipped", skipped},
          {"sources", r.sources},
          {"warnings", warnings},
          {"seconds", seconds},
          {"tool_version", std::string(TT_VERSION) + " (commit " + TT_GIT_COMMIT + ")"},
          {"created_utc", utc_now()},
          {"options", recorded_options(opts)}};
}

void write_meta_and_samples(const fs::path& dir, const nlohmann::ordered_json& meta, const ReadSummary& r) {
  write_file_atomic(dir / "meta.json", meta.dump(2) + "\n");
  std::string text;
  for (const auto& [title, paragraph] : r.samples) text += "## " + title + "\n" + paragraph + "\n\n";
  write_file_atomic(dir / "samples.txt", text);
}

void log_summary(const ReadSummary& r, const Splits& splits, const BatchTokenizer& tokenize,
                 const PrepareDataOptions& opts, double seconds) {
  log_info("prepare-data: ", r.docs_kept, " documents (", r.cleaned_bytes, " bytes of text) -> ",
           splits.train.rows(), " train rows + ", splits.val.rows(), " val rows of ", opts.seq_len,
           " tokens in ", opts.out_dir);
  log_info("prepare-data: skipped", r.skip_summary());
  if (tokenize.special_as_text() > 0)
    log_info(
        "prepare-data: ", tokenize.special_as_text(),
        " special tokens' spellings (such as <|endoftext|>) in the text were encoded as text, not as tokens");
  if (std::string w = splits.val_fill_warning(); !w.empty()) log_warn("prepare-data: ", w);
  log_info("prepare-data: ", seconds, " s; input ", double(r.decompressed_bytes) / 1e6 / seconds,
           " MB/s decompressed (", double(r.bytes_read) / 1e6 / seconds, " MB/s of files read); ",
           double(splits.document_tokens()) / seconds, " tokens/s");
}

// The directory --out_dir names: "data/" and "data/." are "data"; a symlink (data kept on a larger disk and
// linked in) is the directory it points to, which is replaced while the link stays.
fs::path output_directory(const std::string& out_dir) {
  fs::path p = directory_path(out_dir);
  std::error_code ec;
  for (int hops = 0; fs::is_symlink(fs::symlink_status(p, ec)); ++hops) {  // a dangling link's target is made
    TT_CHECK(hops < 40) << "--out_dir " << out_dir << ": too many levels of symlinks";
    p = directory_path(symlink_target(p, "--out_dir " + out_dir));
  }
  return p;
}

}  // namespace

nlohmann::ordered_json recorded_options(const PrepareDataOptions& opts) {
  nlohmann::ordered_json options = declared_options_json(opts);
  for (auto& source : options["source"]) source = net::without_credentials(source.get<std::string>());
  options["mirror"] = net::without_credentials(options["mirror"].get<std::string>());
  return options;
}

nlohmann::ordered_json prepare_data(const PrepareDataOptions& opts, const Tokenizer& tokenizer) {
  opts.validate();
  const auto t0 = std::chrono::steady_clock::now();
  const TokenIds ids = token_ids(tokenizer);
  data::InterruptScope interrupt;
  const fs::path out_dir = output_directory(opts.out_dir);
  const auto check_interrupt = [&] { throw_if_interrupted(interrupt, out_dir); };
  const data::NetOptions net = net_options(opts, check_interrupt);

  const std::vector<SourceFile> files = list_sources(opts, net);
  TempDirGuard guard(make_output_dir(out_dir));
  Splits splits(guard.dir(), opts, ids);
  BatchTokenizer tokenize(tokenizer, opts.threads, splits);
  DocumentCollector collect(opts, net, files, tokenize, check_interrupt);
  for (const auto& file : files) collect.read(file);
  collect.finish();
  check_interrupt();

  const ReadSummary& read = collect.summary();
  check_enough_output(read, splits, opts, files.size());
  splits.commit();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const nlohmann::ordered_json meta = build_meta(opts, tokenizer, ids, splits, read, tokenize, seconds);
  write_meta_and_samples(guard.dir(), meta, read);
  check_interrupt();
  replace_dir_atomic(guard.dir(), out_dir);
  guard.release();
  log_summary(read, splits, tokenize, opts, seconds);
  return meta;
}

}  // namespace tt
