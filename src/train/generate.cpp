#include "train/generate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

#include "common/check.h"
#include "train/utf8_stream.h"

namespace tt {

std::vector<int32_t> generation_stop_ids(const Qwen3Config& cfg, const Tokenizer& tok) {
  constexpr int64_t kQwen3EndOfText = 151643;
  std::vector<int32_t> ids;
  for (int64_t id : {kQwen3EndOfText, cfg.eos_token_id, int64_t(tok.eos_id())})
    if (id >= 0 && id < cfg.vocab_size && std::find(ids.begin(), ids.end(), id) == ids.end())
      ids.push_back(static_cast<int32_t>(id));
  return ids;
}

int32_t generation_start_id(const std::vector<int32_t>& stop_ids) {
  return stop_ids.empty() ? 0 : stop_ids[0];
}

std::optional<std::string> prompt_problem(const std::vector<int32_t>& prompt, int64_t vocab_size,
                                          int64_t context) {
  for (size_t i = 0; i < prompt.size(); ++i)
    if (prompt[i] < 0 || prompt[i] >= vocab_size)
      return "has token id " + std::to_string(prompt[i]) + " at position " + std::to_string(i) +
             ", outside the model's vocab_size " + std::to_string(vocab_size);
  const int64_t length = std::max<int64_t>(1, int64_t(prompt.size()));
  if (length >= context)
    return "is " + std::to_string(length) + " tokens, and the model's context of " + std::to_string(context) +
           " leaves no room for a new one";
  return std::nullopt;
}

GenerateResult generate(Qwen3Model& model, const Tokenizer& tok, std::vector<int32_t> prompt,
                        const GenerateOptions& opt, std::mt19937_64& rng, int32_t start_id,
                        const std::function<void(std::string_view)>& on_text) {
  auto t0 = std::chrono::steady_clock::now();
  const int64_t V = model.config().vocab_size;
  // Only ids the tokenizer can decode may be chosen: the model's vocab is padded (Qwen3: 151,936 rows
  // for 151,669 tokenizer ids) and the padding rows are a contiguous tail, so choosing among the first
  // `pickable` logits is exactly setting the others to -inf (greedy and sampled alike).
  const int64_t pickable = std::min<int64_t>(V, tok.vocab_size());
  TT_CHECK(pickable > 0) << "the tokenizer has no ids to generate";
  if (prompt.empty()) prompt.push_back(start_id);
  const int64_t cap = opt.max_seq > 0 ? opt.max_seq : model.config().max_position_embeddings;
  if (const auto problem = prompt_problem(prompt, V, cap)) TT_FAIL() << "the prompt " << *problem;
  GenerateResult res;
  res.prompt_tokens = static_cast<int64_t>(prompt.size());
  model.reset_cache();
  std::vector<float> logits = model.forward_next(prompt.data(), static_cast<int64_t>(prompt.size()));
  Utf8Streamer stream;
  for (int64_t i = 0; i < opt.max_new_tokens; ++i) {
    TT_ASSERT(int64_t(logits.size()) >= pickable) << "forward_next returned " << logits.size() << " logits";
    // Finite weights can still overflow in the forward pass; a NaN would be "chosen" as id 0 or the last id.
    const auto bad =
        std::find_if(logits.begin(), logits.begin() + pickable, [](float x) { return !std::isfinite(x); });
    TT_CHECK(bad == logits.begin() + pickable)
        << "the model's logit for token " << (bad - logits.begin()) << " at position "
        << model.cache_length() - 1 << " is " << *bad << ": its weights overflow in the forward pass"
        << hint("the checkpoint is damaged, or was saved by a run that diverged");
    int32_t next = select_token(logits.data(), pickable, opt.sampling, rng);
    if (std::find(opt.stop_ids.begin(), opt.stop_ids.end(), next) != opt.stop_ids.end()) {
      res.stopped_at_eos = true;
      break;
    }
    res.tokens.push_back(next);
    if (on_text) {
      std::string piece = stream.push(tok.decode(res.tokens));
      if (!piece.empty()) on_text(piece);
    }
    if (model.cache_length() >= cap || i + 1 == opt.max_new_tokens) break;
    logits = model.forward_next(&next, 1);
  }
  res.text = tok.decode(res.tokens);
  if (on_text) {
    std::string rest = stream.finish(res.text);
    if (!rest.empty()) on_text(rest);
  }
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

}  // namespace tt
