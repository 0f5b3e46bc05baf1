// Autoregressive generation with the model's KV cache (batch 1): one prefill call over the prompt,
// then one forward_next per new token. Stops at any of `stop_ids` (not emitted), after
// max_new_tokens, or when the cache is full (max_seq of the model). Text is streamed through
// `on_text` in complete UTF-8 characters (see utf8_stream.h).
// Only ids below tok.vocab_size() are ever chosen: a model vocab padded beyond the tokenizer (Qwen3:
// 151,936 rows, 151,669 ids) has logits for ids decode() cannot map back to text; those are masked
// (as if their logits were -inf) before greedy or sampled selection.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "train/sampling.h"

namespace tt {

struct GenerateOptions {
  int64_t max_new_tokens = 64;
  SamplingParams sampling;
  std::vector<int32_t> stop_ids;  // e.g. <|endoftext|> and the config's eos_token_id
  int64_t max_seq = 0;            // cache capacity (the model's max_seq); 0 = no extra limit
};

struct GenerateResult {
  std::vector<int32_t> tokens;  // generated ids (without the prompt and the stop token)
  std::string text;             // decode(tokens)
  bool stopped_at_eos = false;
  double seconds = 0;  // wall time of the generation loop (prefill included)
  int64_t prompt_tokens = 0;
};

// The ids generation stops at: Qwen3's <|endoftext|> (151643, the document separator prepare-data
// writes), the config's eos_token_id and the tokenizer's end-of-text id, each once and only those
// inside the model's vocab.
std::vector<int32_t> generation_stop_ids(const Qwen3Config& cfg, const Tokenizer& tok);
// Where an empty prompt starts (generate's start_id): the first of `stop_ids` (generation_stop_ids: the
// document separator), or id 0 when there is none.
int32_t generation_start_id(const std::vector<int32_t>& stop_ids);

// Why a model of `vocab_size` ids and a context of `context` tokens cannot continue `prompt` (empty: the
// start id alone): an id outside the vocab, or no room left for a new token. Empty when it can. The one
// check of a prompt: sample refuses, periodic samples skip, generate asserts.
std::optional<std::string> prompt_problem(const std::vector<int32_t>& prompt, int64_t vocab_size,
                                          int64_t context);

// Empty prompt: generation starts from start_id (the <|endoftext|> document separator).
GenerateResult generate(Qwen3Model& model, const Tokenizer& tok, std::vector<int32_t> prompt,
                        const GenerateOptions& opt, std::mt19937_64& rng, int32_t start_id,
                        const std::function<void(std::string_view)>& on_text = {});

}  // namespace tt
