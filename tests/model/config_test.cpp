// Qwen3Config: the shipped configs load, parameter counts, and every unsupported value is refused
// with a message naming the key.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <tuple>

#include "common/check.h"
#include "model/model.h"

namespace {

const std::string kConfigs = std::string(TT_SOURCE_DIR) + "/configs/";

nlohmann::json demo_json() {
  std::ifstream in(kConfigs + "qwen3_demo.json");
  return nlohmann::json::parse(in);
}

std::string refusal(const nlohmann::json& j) {
  try {
    tt::Qwen3Config::from_json(j, "cfg.json");
  } catch (const tt::Error& e) {
    return e.what();
  }
  return "(accepted)";
}

}  // namespace

TEST(Config, DemoConfigLoads) {
  const auto c = tt::Qwen3Config::load(kConfigs + "qwen3_demo.json");
  EXPECT_EQ(c.vocab_size, 151936);
  EXPECT_EQ(c.hidden_size, 384);
  EXPECT_EQ(c.intermediate_size, 1024);
  EXPECT_EQ(c.num_hidden_layers, 8);
  EXPECT_EQ(c.num_attention_heads, 6);
  EXPECT_EQ(c.num_key_value_heads, 2);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.max_position_embeddings, 512);
  EXPECT_EQ(c.rope_theta, 1e6);
  EXPECT_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.bos_token_id, 151643);
  EXPECT_EQ(c.eos_token_id, 151643);  // <|endoftext|>, which ends every document in the data
  // embedding 151936*384 once + 8 * (q 384*384 + k,v 2*128*384 + o 384*384 + mlp 3*384*1024 + norms) + final
  // norm
  const int64_t per_layer = 384 * 384 * 2 + 2 * 128 * 384 + 3 * 384 * 1024 + 2 * 384 + 2 * 64;
  EXPECT_EQ(c.num_parameters(), 151936 * 384 + 8 * per_layer + 384);
  EXPECT_NEAR(double(c.num_parameters()) / 1e6, 71.0, 0.5);
  const tt::ParamTable t(c);
  EXPECT_EQ(int64_t(t.total()), c.num_parameters());
  EXPECT_EQ(t.params().front().name, "model.embed_tokens.weight");
  EXPECT_EQ(t.params().back().name, "model.norm.weight");
  EXPECT_EQ(t.get("model.layers.7.self_attn.k_proj.weight").shape, (std::vector<int64_t>{128, 384}));
  EXPECT_EQ(t.get("model.layers.0.self_attn.q_norm.weight").shape, (std::vector<int64_t>{64}));
  for (const auto& p : t.params()) EXPECT_EQ(p.decay, p.offset < t.decay_numel()) << p.name;
  EXPECT_THROW(t.get("lm_head.weight"), tt::Error);
  // ~6 N FLOPs per token plus attention
  EXPECT_GT(c.train_flops(2, 512), 6.0 * 70e6 * 1024);
  EXPECT_LT(c.train_flops(2, 512), 6.0 * 75e6 * 1024);
}

TEST(Config, SmallConfigsLoad) {
  const auto s = tt::Qwen3Config::load(kConfigs + "qwen3_cpu_small.json");
  EXPECT_EQ(s.vocab_size, 151936);
  EXPECT_EQ(s.hidden_size, 128);
  EXPECT_EQ(s.num_hidden_layers, 2);
  const auto t = tt::Qwen3Config::load(kConfigs + "qwen3_test_tiny.json");
  EXPECT_LT(t.num_parameters(), s.num_parameters());
}

TEST(Config, RefusesUnsupportedValuesNamingTheKey) {
  const std::vector<std::pair<std::string, nlohmann::json>> cases = {
      {"attention_bias", true},
      {"rope_scaling", {{"rope_type", "yarn"}, {"factor", 4.0}}},
      {"use_sliding_window", true},
      {"tie_word_embeddings", false},
      {"hidden_act", "gelu"},
      {"model_type", "llama"},
      {"architectures", {"LlamaForCausalLM"}},
      {"attention_dropout", 0.1},
      {"num_key_value_heads", 4},  // 6 % 4 != 0
      {"head_dim", 63},            // odd: no RoPE pairs
      {"hidden_size", "384"},      // wrong type
      {"vocab_size", 0},
      {"layer_types", {"sliding_attention"}},
  };
  for (const auto& [key, value] : cases) {
    auto j = demo_json();
    j[key] = value;
    const std::string msg = refusal(j);
    EXPECT_NE(msg.find("\"" + key + "\""), std::string::npos) << key << " -> " << msg;
    EXPECT_NE(msg.find("cfg.json"), std::string::npos) << msg;
  }
  auto j = demo_json();
  j.erase("tie_word_embeddings");  // HF default is untied
  EXPECT_NE(refusal(j).find("tie_word_embeddings"), std::string::npos);
  j = demo_json();
  j.erase("hidden_size");
  EXPECT_NE(refusal(j).find("missing required key \"hidden_size\""), std::string::npos);
  j = demo_json();
  j.erase("head_dim");
  j["hidden_size"] = 380;  // not divisible by 6 heads
  EXPECT_NE(refusal(j).find("head_dim"), std::string::npos);
  EXPECT_THROW(tt::Qwen3Config::load(kConfigs + "does_not_exist.json"), tt::Error);
}

TEST(Config, HeadDimDefaultsAndHfJsonIsComplete) {
  auto j = demo_json();
  j.erase("head_dim");
  const auto c = tt::Qwen3Config::from_json(j, "cfg.json");
  EXPECT_EQ(c.head_dim, 64);
  const auto out = c.to_hf_json();
  for (const char* key :
       {"architectures", "model_type", "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
        "num_attention_heads", "num_key_value_heads", "head_dim", "rope_theta", "rms_norm_eps",
        "tie_word_embeddings", "bos_token_id", "eos_token_id"})
    EXPECT_TRUE(out.contains(key)) << key;
  EXPECT_EQ(out["tie_word_embeddings"], true);
  EXPECT_TRUE(out["rope_scaling"].is_null());
  // a source's "dtype": "bfloat16" must not survive beside F32 weights (transformers 5 reads "dtype")
  j["dtype"] = "bfloat16";
  const auto saved = tt::Qwen3Config::from_json(j, "cfg.json").to_hf_json();
  EXPECT_EQ(saved["dtype"], "float32");
  EXPECT_EQ(saved["torch_dtype"], "float32");
}

TEST(Config, SizesAreBoundedSoNoProductOverflowsAndHugeValuesReadAsThemselves) {
  // Sizes no model this tool trains comes near: refused naming the key and the bound, before anything is
  // sized from them (10^9 layers was an OOM kill, hidden 2^62 an internal error in the parameter table).
  const std::vector<std::tuple<std::string, nlohmann::json, std::string>> cases = {
      {"num_hidden_layers", 1000000000, "\"num_hidden_layers\" must be in [1, 4096], got 1000000000"},
      {"hidden_size", int64_t(1) << 62, "\"hidden_size\" must be in [1, 1048576], got 4611686018427387904"},
      {"vocab_size", uint64_t(1) << 63, "\"vocab_size\" must be in [1, 2147483647], got 9223372036854775808"},
      {"hidden_size", std::numeric_limits<uint64_t>::max(),
       "\"hidden_size\" must be in [1, 1048576], got 18446744073709551615"},  // was "got -1"
      {"max_position_embeddings", int64_t(1) << 30, "\"max_position_embeddings\" must be in [1, 16777216]"},
  };
  for (const auto& [key, value, expected] : cases) {
    auto j = demo_json();
    j[key] = value;
    EXPECT_NE(refusal(j).find("cfg.json: key " + expected), std::string::npos) << refusal(j);
  }
  // Each size within its bound, the whole beyond 2^40 parameters.
  auto j = demo_json();
  j["hidden_size"] = 1 << 20;
  j["intermediate_size"] = 1 << 20;
  j["num_hidden_layers"] = 4096;
  EXPECT_NE(refusal(j).find("cfg.json: these sizes make a model of "), std::string::npos) << refusal(j);
}

TEST(Config, ANumberBeyondDoubleNamesTheFile) {
  const auto dir = std::filesystem::temp_directory_path() / ("tt_config_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "inf.json") << "{\"vocab_size\": 100, \"rope_theta\": 1e400}";
  std::ofstream(dir / "cut.json") << "{\"vocab_size\": 1";
  std::string inf, cut;
  try {
    tt::Qwen3Config::load(dir / "inf.json");
  } catch (const tt::Error& e) {
    inf = e.what();
  }
  try {
    tt::Qwen3Config::load(dir / "cut.json");
  } catch (const tt::Error& e) {
    cut = e.what();
  }
  EXPECT_NE(inf.find("inf.json: not valid JSON for a config: "), std::string::npos)
      << inf;  // was nlohmann's bare text
  EXPECT_NE(
      cut.find("cut.json: not valid JSON at byte offset 16 of 16 (the text ends too early; truncated?)"),
      std::string::npos)
      << cut;
  std::filesystem::remove_all(dir);
}
