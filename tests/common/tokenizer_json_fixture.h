// A Qwen3-shaped tokenizer.json for small test fixtures: NFC normaliser, the Qwen2 Split regex followed
// by ByteLevel (no prefix space), ByteLevel post-processor and decoder, a BPE model with the caller's
// vocab and merges, and one added special token <|endoftext|> at `endoftext_id`. The tokenizer tests and
// the training tests build their tiny vocabularies on it, so both exercise the same file shape as the
// real Qwen3 tokenizer.json.
#pragma once

#include <nlohmann/json.hpp>

namespace tt::test_fixtures {

inline nlohmann::json qwen_style_tokenizer_json(nlohmann::json vocab, nlohmann::json merges,
                                                int endoftext_id) {
  using nlohmann::json;
  json split = {{"type", "Split"},
                {"pattern",
                 {{"Regex",
                   "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
                   "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}}},
                {"behavior", "Isolated"},
                {"invert", false}};
  json byte_level = {
      {"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
  json endoftext = {
      {"id", endoftext_id}, {"content", "<|endoftext|>"}, {"single_word", false}, {"lstrip", false},
      {"rstrip", false},    {"normalized", false},        {"special", true}};
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", json::array({endoftext})},
          {"normalizer", {{"type", "NFC"}}},
          {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", json::array({split, byte_level})}}},
          {"post_processor", {{"type", "ByteLevel"}, {"add_prefix_space", false}}},
          {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", false}}},
          {"model",
           {{"type", "BPE"},
            {"dropout", nullptr},
            {"unk_token", nullptr},
            {"continuing_subword_prefix", ""},
            {"end_of_word_suffix", ""},
            {"fuse_unk", false},
            {"byte_fallback", false},
            {"ignore_merges", false},
            {"vocab", std::move(vocab)},
            {"merges", std::move(merges)}}}};
}

}  // namespace tt::test_fixtures
