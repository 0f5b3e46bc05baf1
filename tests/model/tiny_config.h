// Tiny Qwen3 configs built in code for the model tests (small vocab, q/k heads != hidden).
#pragma once

#include "model/model.h"

namespace tt::test {

// Sizes of a tiny config; the defaults are the model tests' (small vocab, q/k heads != hidden).
struct TinySizes {
  int64_t vocab = 50, hidden = 16, intermediate = 24, layers = 2, heads = 4, kv_heads = 2, head_dim = 6;
};

inline Qwen3Config tiny_config(const TinySizes& z) {
  nlohmann::json j = {{"architectures", {"Qwen3ForCausalLM"}},
                      {"model_type", "qwen3"},
                      {"vocab_size", z.vocab},
                      {"hidden_size", z.hidden},
                      {"intermediate_size", z.intermediate},
                      {"num_hidden_layers", z.layers},
                      {"num_attention_heads", z.heads},
                      {"num_key_value_heads", z.kv_heads},
                      {"head_dim", z.head_dim},
                      {"max_position_embeddings", 64},
                      {"rope_theta", 10000.0},
                      {"rms_norm_eps", 1e-6},
                      {"initializer_range", 0.02},
                      {"tie_word_embeddings", true},
                      {"bos_token_id", 1},
                      {"eos_token_id", 2}};
  return Qwen3Config::from_json(j, "tiny_config");
}

inline Qwen3Config tiny_config(int64_t heads = 4, int64_t kv_heads = 2, int64_t head_dim = 6) {
  TinySizes z;
  z.heads = heads;
  z.kv_heads = kv_heads;
  z.head_dim = head_dim;
  return tiny_config(z);
}

}  // namespace tt::test
