// Loading a tokenizer.json (Qwen3 feature set) and the Tokenizer implementation.
//
// Encoding pipeline (per text): sanitize UTF-8 -> split on added tokens -> per section: NFC ->
// Qwen pre-tokenizer pieces -> byte-level BPE with a per-thread piece cache. See tokenizer.h.
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <exception>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_map>

#include "common/check.h"
#include "common/cores.h"
#include "common/fs.h"
#include "common/paths.h"
#include "common/sha256.h"
#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/chunking.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/unicode.h"

namespace tt {

namespace {

using json = nlohmann::json;

// The only Split regex this implementation knows (Qwen2/Qwen2.5/Qwen3).
constexpr std::string_view kQwenSplitRegex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// Cache of piece -> ids. Direct-mapped: a slot holds one piece (<= kMaxKey bytes) and its ids
// (<= kMaxIds); a collision simply overwrites. Each encode call leases one cache from the
// tokenizer's pool (one per concurrently running call), so there are no locks on the hot path,
// caches stay warm across calls and across encode_batch's short-lived worker threads, and memory
// is bounded by the peak concurrency (~4.7 MB per cache).
struct PieceCache {
  static constexpr size_t kSlots = 1 << 16;
  static constexpr size_t kMaxKey = 30;
  static constexpr size_t kMaxIds = 7;
  struct Entry {
    uint64_t hash = 0;  // 0 = empty
    uint8_t key_len = 0;
    uint8_t n_ids = 0;
    char key[kMaxKey];
    int32_t ids[kMaxIds];
  };
  std::vector<Entry> entries = std::vector<Entry>(kSlots);
};

class CachePool {
 public:
  std::unique_ptr<PieceCache> acquire() const {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        auto c = std::move(free_.back());
        free_.pop_back();
        return c;
      }
    }
    return std::make_unique<PieceCache>();
  }
  void release(std::unique_ptr<PieceCache> c) const {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(std::move(c));
  }

 private:
  mutable std::mutex mu_;
  mutable std::vector<std::unique_ptr<PieceCache>> free_;
};

class CacheLease {
 public:
  explicit CacheLease(const CachePool& pool) : pool_(pool), cache_(pool.acquire()) {}
  ~CacheLease() { pool_.release(std::move(cache_)); }
  CacheLease(const CacheLease&) = delete;
  CacheLease& operator=(const CacheLease&) = delete;
  PieceCache& get() { return *cache_; }

 private:
  const CachePool& pool_;
  std::unique_ptr<PieceCache> cache_;
};

inline uint64_t hash_piece(std::string_view s) {
  // FNV-1a over 8-byte words, then a final mix; pieces are short.
  uint64_t h = 0xcbf29ce484222325ull ^ s.size();
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = (h ^ w) * 0x100000001b3ull;
    h ^= h >> 29;
  }
  uint64_t tail = 0;
  std::memcpy(&tail, s.data() + i, s.size() - i);
  h = (h ^ tail) * 0x9E3779B97F4A7C15ull;
  h ^= h >> 32;
  return h | 1;  // never 0
}

// Heterogeneous lookup (string_view keys without allocating).
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Byte-level character (code point < 0x144) -> byte, or -1.
using ByteInverse = std::array<int16_t, 0x144>;

class QwenTokenizer final : public Tokenizer {
 public:
  QwenTokenizer(const fs::path& path, const std::string& text);

  std::vector<int32_t> encode(std::string_view text, EncodeStats* stats) const override {
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 4);
    encode_append(text, out, stats);
    return out;
  }
  void encode_append(std::string_view text, std::vector<int32_t>& out, EncodeStats* stats) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  std::vector<std::vector<int32_t>> encode_batch(const std::vector<std::string>& texts, int threads,
                                                 EncodeStats* stats, SpecialTokens special) const override {
    return batch(
        texts.size(), [&](size_t i) { return std::string_view(texts[i]); }, threads, stats, special);
  }
  std::vector<std::vector<int32_t>> encode_batch_views(const std::vector<std::string_view>& texts,
                                                       int threads, EncodeStats* stats,
                                                       SpecialTokens special) const override {
    return batch(
        texts.size(), [&](size_t i) { return texts[i]; }, threads, stats, special);
  }
  std::string normalize(std::string_view text) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(id_text_.size()); }
  std::string token_text(int32_t id) const override {
    check_id(id);
    return id_text_[static_cast<size_t>(id)];
  }
  int32_t token_id(std::string_view token) const override {
    auto it = text_id_.find(token);
    return it == text_id_.end() ? -1 : it->second;
  }
  int32_t eos_id() const override { return eos_id_; }
  const std::string& sha256() const override { return sha256_; }
  const fs::path& json_path() const override { return path_; }
  std::string token_bytes(int32_t id) const override {
    check_id(id);
    return id_bytes_[static_cast<size_t>(id)];
  }
  bool is_special(int32_t id) const override {
    return id >= 0 && static_cast<size_t>(id) < special_.size() && special_[static_cast<size_t>(id)];
  }
  double load_seconds() const override { return load_seconds_; }
  std::vector<int32_t> encode_parallel(std::string_view text, int threads, EncodeStats* stats) const override;
  void set_load_seconds(double s) { load_seconds_ = s; }

 private:
  void check_id(int32_t id) const {
    TT_CHECK(id >= 0 && id < vocab_size() && present_[static_cast<size_t>(id)])
        << "token id " << id << " is not in the vocabulary of " << path_.string() << " (ids 0.."
        << vocab_size() - 1 << ")";
  }
  void encode_with(std::string_view text, std::vector<int32_t>& out, EncodeStats* stats, PieceCache& cache,
                   SpecialTokens special = SpecialTokens::kMatch) const;
  void encode_section(std::string_view section, std::vector<int32_t>& out, PieceCache& cache) const;
  void encode_piece_cached(std::string_view piece, std::vector<int32_t>& out, PieceCache& cache) const;
  template <class Get>
  std::vector<std::vector<int32_t>> batch(size_t n, Get get, int threads, EncodeStats* stats,
                                          SpecialTokens special) const;

  fs::path path_;
  std::string sha256_;
  CachePool caches_;
  bool nfc_ = false;
  BpeModel bpe_;
  AddedTokenMatcher added_;            // every added token
  AddedTokenMatcher added_plain_;      // those not flagged special: what SpecialTokens::kAsText splits at
  std::vector<std::string> id_text_;   // raw token string as in the json
  std::vector<std::string> id_bytes_;  // bytes it decodes to
  std::vector<bool> present_;
  std::vector<bool> special_;
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> text_id_;
  int32_t eos_id_ = -1;
  double load_seconds_ = 0;
  // Some added token has a '\n' before its last byte, so it could span a cut (chunking.h (c)).
  bool added_token_spans_newline_ = false;
};

// ---- loading ---------------------------------------------------------------------------------

struct JsonCtx {
  const fs::path& path;
  [[noreturn]] void unsupported(const std::string& what) const {
    TT_FAIL() << path.string() << ": unsupported tokenizer feature: " << what
              << hint(
                     "this implementation supports the Qwen2/Qwen3 byte-level BPE feature set "
                     "(see DESIGN.md)");
  }
  [[noreturn]] void corrupt(const std::string& what) const {
    TT_FAIL() << path.string() << ": not a valid tokenizer.json: " << what;
  }
  const json& field(const json& obj, const char* key, const char* where) const {
    if (!obj.is_object()) corrupt(std::string(where) + " is not an object");
    auto it = obj.find(key);
    if (it == obj.end()) corrupt(std::string(where) + " has no \"" + key + "\"");
    return *it;
  }
  std::string str(const json& obj, const char* key, const char* where) const {
    const json& v = field(obj, key, where);
    if (!v.is_string()) corrupt(std::string(where) + "." + key + " is not a string");
    return v.get<std::string>();
  }
  // Optional boolean that must have the given value (absent = ok).
  void require_bool(const json& obj, const char* key, bool want, const std::string& where) const {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return;
    if (!it->is_boolean()) corrupt(where + "." + key + " is not a boolean");
    if (it->get<bool>() != want) unsupported(where + " with " + key + "=" + (want ? "false" : "true"));
  }
};

std::string decode_token_text(const std::string& text, const ByteInverse& inverse) {
  // HF ByteLevel decoder: if every character is in the byte-level alphabet, map to bytes;
  // otherwise the token's own UTF-8 is used.
  std::string out;
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  size_t i = 0;
  while (i < text.size()) {
    int bad = 0;
    int len = unicode::utf8_sequence_length(s + i, text.size() - i, &bad);
    if (len == 0) return text;
    uint32_t cp = unicode::decode_valid(s + i, &len);
    if (cp >= inverse.size() || inverse[cp] < 0) return text;
    out.push_back(static_cast<char>(inverse[cp]));
    i += static_cast<size_t>(len);
  }
  return out;
}

QwenTokenizer::QwenTokenizer(const fs::path& path, const std::string& text) : path_(path) {
  JsonCtx ctx{path_};
  sha256_ = sha256_hex(text);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    TT_FAIL() << path_.string() << ": not valid JSON: " << e.what();
  }
  if (!j.is_object()) ctx.corrupt("top level is not an object");

  // The model type first: a Unigram/WordPiece file differs everywhere (no pre_tokenizer, other
  // decoder), and "unsupported model type" is the message that tells the user what is wrong.
  const json& model = ctx.field(j, "model", "tokenizer.json");
  {
    std::string type = ctx.str(model, "type", "model");
    if (type != "BPE") ctx.unsupported("model type \"" + type + "\" (only BPE)");
  }

  for (const char* key : {"truncation", "padding"}) {
    auto it = j.find(key);
    if (it != j.end() && !it->is_null()) ctx.unsupported(std::string(key) + " (must be null)");
  }

  // normalizer: NFC or none.
  {
    const json& n = j.contains("normalizer") ? j["normalizer"] : json();
    if (n.is_null()) {
      nfc_ = false;
    } else {
      std::string type = ctx.str(n, "type", "normalizer");
      if (type != "NFC") ctx.unsupported("normalizer type \"" + type + "\" (only NFC)");
      nfc_ = true;
    }
  }

  // pre_tokenizer: Sequence[Split(Qwen regex, Isolated), ByteLevel(no prefix space, no regex)].
  {
    const json& p = ctx.field(j, "pre_tokenizer", "tokenizer.json");
    if (p.is_null()) ctx.unsupported("missing pre_tokenizer");
    std::string type = ctx.str(p, "type", "pre_tokenizer");
    if (type != "Sequence")
      ctx.unsupported("pre_tokenizer type \"" + type + "\" (only Sequence[Split, ByteLevel])");
    const json& seq = ctx.field(p, "pretokenizers", "pre_tokenizer");
    if (!seq.is_array() || seq.size() != 2)
      ctx.unsupported("pre_tokenizer Sequence that is not [Split, ByteLevel]");
    const json& split = seq[0];
    std::string t0 = ctx.str(split, "type", "pre_tokenizer[0]");
    if (t0 != "Split") ctx.unsupported("pre_tokenizer[0] type \"" + t0 + "\" (only Split)");
    const json& pattern = ctx.field(split, "pattern", "Split");
    if (!pattern.is_object() || !pattern.contains("Regex") || !pattern["Regex"].is_string())
      ctx.unsupported("Split pattern that is not a Regex");
    if (pattern["Regex"].get<std::string>() != kQwenSplitRegex)
      ctx.unsupported("Split regex " + pattern["Regex"].dump() + " (only the Qwen2/Qwen3 regex)");
    std::string behavior = ctx.str(split, "behavior", "Split");
    if (behavior != "Isolated") ctx.unsupported("Split behavior \"" + behavior + "\" (only Isolated)");
    ctx.require_bool(split, "invert", false, "Split");
    const json& bl = seq[1];
    std::string t1 = ctx.str(bl, "type", "pre_tokenizer[1]");
    if (t1 != "ByteLevel") ctx.unsupported("pre_tokenizer[1] type \"" + t1 + "\" (only ByteLevel)");
    ctx.require_bool(bl, "add_prefix_space", false, "ByteLevel pre_tokenizer");
    ctx.require_bool(bl, "use_regex", false, "ByteLevel pre_tokenizer");
  }

  // post_processor: ByteLevel (changes offsets only) or none.
  {
    auto it = j.find("post_processor");
    if (it != j.end() && !it->is_null()) {
      std::string type = ctx.str(*it, "type", "post_processor");
      if (type != "ByteLevel")
        ctx.unsupported("post_processor type \"" + type + "\" (only ByteLevel or null)");
    }
  }
  // decoder: ByteLevel.
  {
    const json& d = ctx.field(j, "decoder", "tokenizer.json");
    if (d.is_null()) ctx.unsupported("missing decoder (only ByteLevel)");
    std::string type = ctx.str(d, "type", "decoder");
    if (type != "ByteLevel") ctx.unsupported("decoder type \"" + type + "\" (only ByteLevel)");
  }

  // model: BPE with no dropout / unk / byte fallback / affixes.
  {
    auto dropout = model.find("dropout");
    if (dropout != model.end() && !dropout->is_null()) ctx.unsupported("BPE dropout");
    auto unk = model.find("unk_token");
    if (unk != model.end() && !unk->is_null()) ctx.unsupported("BPE unk_token");
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      auto it = model.find(key);
      if (it != model.end() && !it->is_null() && !(it->is_string() && it->get<std::string>().empty()))
        ctx.unsupported(std::string("BPE ") + key);
    }
    ctx.require_bool(model, "fuse_unk", false, "BPE model");
    ctx.require_bool(model, "byte_fallback", false, "BPE model");
    ctx.require_bool(model, "ignore_merges", false, "BPE model");
  }

  // vocab
  const json& vocab = ctx.field(model, "vocab", "model");
  if (!vocab.is_object()) ctx.corrupt("model.vocab is not an object");
  int32_t max_id = -1;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer()) ctx.corrupt("vocab entry \"" + it.key() + "\" is not an integer");
    int64_t id = it.value().get<int64_t>();
    if (id < 0 || id > 10'000'000) ctx.corrupt("vocab id out of range for \"" + it.key() + "\"");
    max_id = std::max(max_id, static_cast<int32_t>(id));
  }
  const json& added = j.contains("added_tokens") ? j["added_tokens"] : json::array();
  if (!added.is_array()) ctx.corrupt("added_tokens is not an array");
  for (const json& t : added) {
    const json& idj = ctx.field(t, "id", "added_tokens[]");
    if (!idj.is_number_integer() || idj.get<int64_t>() < 0 || idj.get<int64_t>() > 10'000'000)
      ctx.corrupt("added token id is not a valid integer");
    max_id = std::max(max_id, static_cast<int32_t>(idj.get<int64_t>()));
  }
  const size_t size = static_cast<size_t>(max_id + 1);
  id_text_.assign(size, std::string());
  id_bytes_.assign(size, std::string());
  present_.assign(size, false);
  special_.assign(size, false);
  text_id_.reserve(size * 2);

  std::array<uint32_t, 256> alphabet = byte_level_alphabet();
  ByteInverse inverse;
  inverse.fill(-1);
  for (int b = 0; b < 256; ++b) inverse[alphabet[static_cast<size_t>(b)]] = static_cast<int16_t>(b);

  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    auto id = static_cast<size_t>(it.value().get<int64_t>());
    if (present_[id]) ctx.corrupt("vocab id " + std::to_string(id) + " used twice");
    present_[id] = true;
    id_text_[id] = it.key();
    id_bytes_[id] = decode_token_text(it.key(), inverse);
    text_id_.emplace(it.key(), static_cast<int32_t>(id));
  }
  int32_t byte_ids[256];
  for (int b = 0; b < 256; ++b) {
    std::string ch;
    unicode::append_utf8(ch, alphabet[static_cast<size_t>(b)]);
    auto it = text_id_.find(ch);
    if (it == text_id_.end())
      ctx.corrupt("vocab lacks the byte-level token for byte " + std::to_string(b) + " (\"" + ch + "\")");
    byte_ids[b] = it->second;
  }
  bpe_.set_byte_ids(byte_ids);

  // merges: [["a","b"], ...] (tokenizers >= 0.20) or ["a b", ...].
  const json& merges = ctx.field(model, "merges", "model");
  if (!merges.is_array()) ctx.corrupt("model.merges is not an array");
  int32_t rank = 0;
  std::string joined;
  for (const json& m : merges) {
    std::string_view a, b;
    if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      a = m[0].get_ref<const std::string&>();
      b = m[1].get_ref<const std::string&>();
    } else if (m.is_string()) {
      const std::string& s = m.get_ref<const std::string&>();
      size_t sp = s.find(' ');
      if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
        ctx.corrupt("merge #" + std::to_string(rank) + " \"" + s + "\" is not \"a b\"");
      a = std::string_view(s).substr(0, sp);
      b = std::string_view(s).substr(sp + 1);
    } else {
      ctx.corrupt("merge #" + std::to_string(rank) + " is neither [a, b] nor \"a b\"");
    }
    joined.assign(a).append(b);
    auto ia = text_id_.find(a), ib = text_id_.find(b), iab = text_id_.find(joined);
    if (ia == text_id_.end() || ib == text_id_.end() || iab == text_id_.end())
      ctx.corrupt("merge #" + std::to_string(rank) + " (" + std::string(a) + " " + std::string(b) +
                  ") uses a token that is not in the vocab");
    bpe_.add_merge(ia->second, ib->second, iab->second, rank);
    ++rank;
  }

  // added tokens
  for (const json& t : added) {
    auto id = static_cast<size_t>(t["id"].get<int64_t>());
    std::string content = ctx.str(t, "content", "added_tokens[]");
    if (content.empty()) ctx.corrupt("added token " + std::to_string(id) + " has empty content");
    if (!unicode::is_valid_utf8(content)) ctx.corrupt("added token " + std::to_string(id) + " is not UTF-8");
    std::string where = "added token " + content;
    ctx.require_bool(t, "lstrip", false, where);
    ctx.require_bool(t, "rstrip", false, where);
    ctx.require_bool(t, "single_word", false, where);
    ctx.require_bool(t, "normalized", false, where);
    if (present_[id] && id_text_[id] != content)
      ctx.corrupt("added token " + content + " reuses vocab id " + std::to_string(id));
    present_[id] = true;
    id_text_[id] = content;
    id_bytes_[id] = decode_token_text(content, inverse);
    auto sp = t.find("special");
    special_[id] = sp != t.end() && sp->is_boolean() && sp->get<bool>();
    text_id_[content] = static_cast<int32_t>(id);
    added_.add(content, static_cast<int32_t>(id));
    if (!special_[id]) added_plain_.add(content, static_cast<int32_t>(id));
    if (content.find('\n') < content.size() - 1) added_token_spans_newline_ = true;
  }
  for (size_t id = 0; id < size; ++id)
    if (!present_[id]) ctx.unsupported("a gap in token ids (id " + std::to_string(id) + " unused)");

  auto eos = text_id_.find("<|endoftext|>");
  eos_id_ = eos == text_id_.end() ? -1 : eos->second;
  unicode::class_table();  // build now rather than inside the first encode
}

// ---- encoding --------------------------------------------------------------------------------

void QwenTokenizer::encode_piece_cached(std::string_view piece, std::vector<int32_t>& out,
                                        PieceCache& cache) const {
  if (piece.size() == 1) {
    bpe_.encode_piece(piece, out);
    return;
  }
  if (piece.size() > PieceCache::kMaxKey) {
    bpe_.encode_piece(piece, out);
    return;
  }
  uint64_t h = hash_piece(piece);
  PieceCache::Entry& e = cache.entries[h & (PieceCache::kSlots - 1)];
  if (e.hash == h && e.key_len == piece.size() && std::memcmp(e.key, piece.data(), piece.size()) == 0) {
    out.insert(out.end(), e.ids, e.ids + e.n_ids);
    return;
  }
  size_t before = out.size();
  bpe_.encode_piece(piece, out);
  size_t n = out.size() - before;
  if (n <= PieceCache::kMaxIds) {
    e.hash = h;
    e.key_len = static_cast<uint8_t>(piece.size());
    e.n_ids = static_cast<uint8_t>(n);
    std::memcpy(e.key, piece.data(), piece.size());
    std::memcpy(e.ids, out.data() + before, n * sizeof(int32_t));
  }
}

void QwenTokenizer::encode_section(std::string_view section, std::vector<int32_t>& out,
                                   PieceCache& cache) const {
  if (section.empty()) return;
  std::string normalized;
  if (nfc_ && unicode::nfc_if_needed(section, normalized)) section = normalized;
  qwen_split(section, [&](std::string_view piece) { encode_piece_cached(piece, out, cache); });
}

void QwenTokenizer::encode_append(std::string_view text, std::vector<int32_t>& out,
                                  EncodeStats* stats) const {
  CacheLease lease(caches_);
  encode_with(text, out, stats, lease.get());
}

void QwenTokenizer::encode_with(std::string_view text, std::vector<int32_t>& out, EncodeStats* stats,
                                PieceCache& cache, SpecialTokens special) const {
  std::string sanitized;
  if (!unicode::is_valid_utf8(text)) {
    uint64_t n = unicode::sanitize_utf8(text, sanitized);
    if (stats) stats->invalid_utf8 += n;
    text = sanitized;
  }
  if (special == SpecialTokens::kAsText && stats)
    for (size_t pos = 0; pos < text.size();) {
      const AddedTokenMatcher::Match m = added_.find(text, pos);
      if (m.start == std::string_view::npos) break;
      stats->special_as_text += is_special(m.id);
      pos = m.start + m.length;
    }
  const AddedTokenMatcher& split_at = special == SpecialTokens::kMatch ? added_ : added_plain_;
  size_t pos = 0;
  while (pos < text.size()) {
    AddedTokenMatcher::Match m = split_at.find(text, pos);
    if (m.start == std::string_view::npos) {
      encode_section(text.substr(pos), out, cache);
      break;
    }
    encode_section(text.substr(pos, m.start - pos), out, cache);
    out.push_back(m.id);
    pos = m.start + m.length;
  }
}

std::string QwenTokenizer::normalize(std::string_view text) const {
  std::string sanitized;
  if (!unicode::is_valid_utf8(text)) {
    unicode::sanitize_utf8(text, sanitized);
    text = sanitized;
  }
  std::string out;
  auto section = [&](std::string_view s) {
    std::string normalized;
    if (nfc_ && unicode::nfc_if_needed(s, normalized)) {
      out += normalized;
    } else {
      out.append(s);
    }
  };
  size_t pos = 0;
  while (pos < text.size()) {
    AddedTokenMatcher::Match m = added_.find(text, pos);
    if (m.start == std::string_view::npos) {
      section(text.substr(pos));
      break;
    }
    section(text.substr(pos, m.start - pos));
    out.append(text.substr(m.start, m.length));
    pos = m.start + m.length;
  }
  return out;
}

std::string QwenTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string bytes;
  bytes.reserve(ids.size() * 4);
  for (int32_t id : ids) {
    check_id(id);
    bytes += id_bytes_[static_cast<size_t>(id)];
  }
  if (unicode::is_valid_utf8(bytes)) return bytes;
  std::string out;
  unicode::sanitize_utf8(bytes, out);
  return out;
}

std::vector<int32_t> QwenTokenizer::encode_parallel(std::string_view text, int threads,
                                                    EncodeStats* stats) const {
  // Below this a thread start costs more than it saves; chunks are at least this long.
  constexpr size_t kMinChunkBytes = 64 << 10;
  size_t workers = threads > 0 ? static_cast<size_t>(threads) : static_cast<size_t>(available_cores());
  if (workers <= 1 || text.size() < 2 * kMinChunkBytes || added_token_spans_newline_)
    return encode(text, stats);
  std::string sanitized;
  if (!unicode::is_valid_utf8(text)) {
    uint64_t n = unicode::sanitize_utf8(text, sanitized);
    if (stats) stats->invalid_utf8 += n;
    text = sanitized;
  }
  // ~8 chunks per worker so uneven chunks still balance.
  std::vector<size_t> bounds =
      safe_chunk_boundaries(text, std::max(kMinChunkBytes, text.size() / (workers * 8)));
  size_t chunks = bounds.size() - 1;
  if (chunks <= 1) return encode(text, nullptr);
  std::vector<std::vector<int32_t>> parts(chunks);
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mu;
  auto work = [&] {
    try {
      CacheLease lease(caches_);
      for (size_t i; (i = next.fetch_add(1)) < chunks;)
        encode_with(text.substr(bounds[i], bounds[i + 1] - bounds[i]), parts[i], nullptr, lease.get());
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mu);
      if (!error) error = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  workers = std::min(workers, chunks);
  pool.reserve(workers);
  for (size_t t = 0; t < workers; ++t) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
  size_t total = 0;
  for (const auto& p : parts) total += p.size();
  std::vector<int32_t> out;
  out.reserve(total);
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

template <class Get>
std::vector<std::vector<int32_t>> QwenTokenizer::batch(size_t n, Get get, int threads, EncodeStats* stats,
                                                       SpecialTokens special) const {
  std::vector<std::vector<int32_t>> result(n);
  size_t workers = threads > 0 ? static_cast<size_t>(threads) : static_cast<size_t>(available_cores());
  workers = std::min(workers, std::max<size_t>(n, 1));
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> invalid{0}, special_as_text{0};
  std::exception_ptr error;
  std::mutex error_mu;
  auto work = [&] {
    try {
      EncodeStats local;
      CacheLease lease(caches_);
      constexpr size_t kChunk = 16;
      while (true) {
        size_t begin = next.fetch_add(kChunk);
        if (begin >= n) break;
        size_t end = std::min(n, begin + kChunk);
        for (size_t i = begin; i < end; ++i) encode_with(get(i), result[i], &local, lease.get(), special);
      }
      invalid += local.invalid_utf8;
      special_as_text += local.special_as_text;
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mu);
      if (!error) error = std::current_exception();
    }
  };
  if (workers <= 1) {
    work();
  } else {
    std::vector<std::thread> pool;
    pool.reserve(workers);
    for (size_t t = 0; t < workers; ++t) pool.emplace_back(work);
    for (auto& t : pool) t.join();
  }
  if (error) std::rethrow_exception(error);
  if (stats) {
    stats->invalid_utf8 += invalid.load();
    stats->special_as_text += special_as_text.load();
  }
  return result;
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::load(const std::filesystem::path& dir_or_file) {
  auto t0 = std::chrono::steady_clock::now();
  const fs::path path = tokenizer_json_file(dir_or_file.string());
  std::error_code ec;
  TT_CHECK(fs::exists(path, ec)) << path.string() << ": tokenizer file not found"
                                 << hint(
                                        "run scripts/setup.sh (fetches assets/qwen3-tokenizer) or "
                                        "pass --tokenizer DIR");
  std::string text = read_file(path);
  auto tok = std::make_unique<QwenTokenizer>(path, text);
  tok->set_load_seconds(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return tok;
}

}  // namespace tt
