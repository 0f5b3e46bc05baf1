// Tiny Qwen3 configs built in code for the model tests (small vocab, q/k heads != hidden).
#pragma once

#include "model/model.h"

namespace tt::test {

inline Qwen3Config tiny_config(int64_t heads = 4, int64_t kv_heads = 2, int64_t head_dim = 6) {
  nlohmann::json j = {{"architectures", {"Qwen3ForCausalLM"}},
                      {"model_type", "qwen3"},
                      {"vocab_size", 50},
                      {"hidden_size", 16},
                      {"intermediate_size", 24},
                      {"num_hidden_layers", 2},
                      {"num_attention_heads", heads},
                      {"num_key_value_heads", kv_heads},
                      {"head_dim", head_dim},
                      {"max_position_embeddings", 64},
                      {"rope_theta", 10000.0},
                      {"rms_norm_eps", 1e-6},
                      {"initializer_range", 0.02},
                      {"tie_word_embeddings", true},
                      {"bos_token_id", 1},
                      {"eos_token_id", 2}};
  return Qwen3Config::from_json(j, "tiny_config");
}

}  // namespace tt::test
