// `tiny-transformer prepare-data`: sources -> cleaned first paragraphs -> tokens -> packed rows.
//
//   sources (local files, http(s) URLs, Wikimedia dump names; remote files are read while they download
//   into the cache, see data/source_list.h)
//   read (one thread: decompress + parse + clean)  --batches of ~4 MiB of text-->
//   tokenize (Tokenizer::encode_batch on --threads workers, overlapped with reading the next batch)
//   --> split by document hash (train / val) --> append <|endoftext|> --> cut rows of seq_len.
//
// Outputs (written into a temporary sibling directory, renamed over --out_dir at the very end, so
// a failed run leaves the old directory or nothing, never a complete-looking partial one):
//   train.bin, val.bin   little-endian uint32, rows of seq_len tokens (see dataset.h)
//   meta.json            seq_len, dtype, tokenizer {name, sha256}, vocab_size, eos_id, per-split
//                        rows/tokens/documents, cleaned text bytes, sources, skip counts, seconds, version
//   samples.txt          the first ~20 cleaned documents, for eyeballing the cleaner
// Memory: one batch of text and its tokens in flight (x2 for the overlap) plus one partial row per
// split and 8 bytes per kept document when --dedup is on: bounded by the output, not the input.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/options.h"

namespace tt {

class Tokenizer;

struct PrepareDataOptions {
  std::vector<std::string> sources;
  std::string out_dir = "data";
  int64_t seq_len = 512;
  int64_t max_bytes = 100000000;  // stop after this many bytes of cleaned text
  int64_t min_chars = 40;
  double val_fraction = 0.005;
  bool dedup = false;
  int threads = 0;          // tokenizer threads; 0 = all cores
  std::string tokenizer;    // directory or tokenizer.json; "" = default_tokenizer_dir()
  std::string cache_dir;    // downloads; "" = $TT_CACHE_DIR, $XDG_CACHE_HOME/tiny-transformer, ~/.cache/...
  std::string mirror;       // Wikimedia dump server; "" = $TT_WIKIMEDIA_MIRROR or dumps.wikimedia.org
  double net_timeout = 60;  // seconds a connection or a stalled transfer may take before a retry
  int net_retries = 5;      // retries in a row without progress before a download fails
  int64_t batch_bytes = 4 << 20;  // text per tokenizer batch (not a CLI option; tests make it small)
  double net_retry_delay = 1;     // first retry backoff in seconds (not a CLI option; tests make it small)

  // Each option with its rule (common/options.h).
  void declare(OptionSet& o);
  // The declared rules (for a struct filled in by code) and the one rule that spans options; tt::Error
  // naming the flag. prepare_data() calls it.
  void validate() const;
};

// The options as meta.json records them (and the CLI logs them): every declared flag, with a user name and
// password in --source URLs and --mirror shown as *** (they must not reach a file or a log).
nlohmann::ordered_json recorded_options(const PrepareDataOptions& opts);

// Runs the pipeline with an already loaded tokenizer; returns meta.json's content, which records
// recorded_options(opts). tt::Error on bad input.
nlohmann::ordered_json prepare_data(const PrepareDataOptions& opts, const Tokenizer& tokenizer);

// Deterministic 64-bit hash of a document's text (FNV-1a then a splitmix finaliser), used for
// --dedup and the train/val split.
uint64_t document_hash(const std::string& text);
// Whether a document with this hash goes to the validation split.
bool hash_selects_val(uint64_t hash, double val_fraction);

}  // namespace tt
