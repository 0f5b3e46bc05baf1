// Qwen3Config: read an HF config.json of a Qwen3ForCausalLM, refuse what the graph does not
// implement (naming the key), and write a complete config.json back.
#include <cmath>
#include <optional>

#include "common/check.h"
#include "common/fs.h"
#include "common/json_error.h"
#include "common/log.h"
#include "model/model.h"

namespace tt {
namespace {

using json = nlohmann::json;

struct Reader {
  const json& j;
  const std::string& src;

  bool has(const char* key) const { return j.contains(key) && !j.at(key).is_null(); }

  int64_t integer(const char* key, std::optional<int64_t> def, int64_t min_value, int64_t max_value) const {
    if (!has(key)) {
      TT_CHECK(def.has_value()) << src << ": missing required key \"" << key << "\"";
      return *def;
    }
    const json& v = j.at(key);
    TT_CHECK(v.is_number_integer()) << src << ": key \"" << key << "\" must be an integer, got " << v.dump();
    // an unsigned value above INT64_MAX would read as negative: compare it as what it is
    const bool fits = !v.is_number_unsigned() || v.get<uint64_t>() <= uint64_t(max_value);
    const int64_t x = fits ? v.get<int64_t>() : max_value;
    TT_CHECK(fits && x >= min_value && x <= max_value)
        << src << ": key \"" << key << "\" must be in [" << min_value << ", " << max_value << "], got "
        << v.dump();
    return x;
  }
  double number(const char* key, double def) const {
    if (!has(key)) return def;
    const json& v = j.at(key);
    TT_CHECK(v.is_number()) << src << ": key \"" << key << "\" must be a number, got " << v.dump();
    return v.get<double>();
  }
  bool boolean(const char* key, bool def) const {
    if (!has(key)) return def;
    const json& v = j.at(key);
    TT_CHECK(v.is_boolean()) << src << ": key \"" << key << "\" must be true or false, got " << v.dump();
    return v.get<bool>();
  }
  std::string string(const char* key, const std::string& def) const {
    if (!has(key)) return def;
    const json& v = j.at(key);
    TT_CHECK(v.is_string()) << src << ": key \"" << key << "\" must be a string, got " << v.dump();
    return v.get<std::string>();
  }
};

}  // namespace

Qwen3Config Qwen3Config::from_json(const json& j, const std::string& src) {
  TT_CHECK(j.is_object()) << src << ": expected a JSON object (an HF config.json)";
  Reader r{j, src};
  Qwen3Config c;

  const std::string model_type = r.string("model_type", "qwen3");
  TT_CHECK(model_type == "qwen3") << src << ": \"model_type\" is \"" << model_type
                                  << "\"; only \"qwen3\" is supported";
  if (r.has("architectures")) {
    const json& a = j.at("architectures");
    TT_CHECK(a.is_array() && a.size() == 1 && a[0] == "Qwen3ForCausalLM")
        << src << ": \"architectures\" must be [\"Qwen3ForCausalLM\"], got " << a.dump();
  }

  // Bounds far above any model this tool can train, low enough that no size product overflows: token ids
  // are int32; a dimension at most 2^20, layers and heads at most 2^12, positions at most 2^24.
  constexpr int64_t kDim = int64_t(1) << 20, kCount = int64_t(1) << 12, kIds = (int64_t(1) << 31) - 1;
  c.vocab_size = r.integer("vocab_size", std::nullopt, 1, kIds);
  c.hidden_size = r.integer("hidden_size", std::nullopt, 1, kDim);
  c.intermediate_size = r.integer("intermediate_size", std::nullopt, 1, kDim);
  c.num_hidden_layers = r.integer("num_hidden_layers", std::nullopt, 1, kCount);
  c.num_attention_heads = r.integer("num_attention_heads", std::nullopt, 1, kCount);
  c.num_key_value_heads = r.integer("num_key_value_heads", c.num_attention_heads, 1, kCount);
  TT_CHECK(c.num_attention_heads % c.num_key_value_heads == 0)
      << src << ": \"num_attention_heads\" (" << c.num_attention_heads
      << ") must be a multiple of \"num_key_value_heads\" (" << c.num_key_value_heads << ")";
  if (!r.has("head_dim")) {
    TT_CHECK(c.hidden_size % c.num_attention_heads == 0)
        << src << ": no \"head_dim\" given and \"hidden_size\" (" << c.hidden_size
        << ") is not a multiple of \"num_attention_heads\" (" << c.num_attention_heads << ")";
  }
  c.head_dim = r.integer("head_dim", c.hidden_size / c.num_attention_heads, 2, kDim);
  TT_CHECK(c.head_dim % 2 == 0) << src << ": \"head_dim\" must be even for RoPE, got " << c.head_dim;
  c.max_position_embeddings = r.integer("max_position_embeddings", 32768, 1, int64_t(1) << 24);
  c.rope_theta = r.number("rope_theta", 10000.0);
  TT_CHECK(c.rope_theta > 0) << src << ": \"rope_theta\" must be > 0";
  c.rms_norm_eps = r.number("rms_norm_eps", 1e-6);
  TT_CHECK(c.rms_norm_eps > 0) << src << ": \"rms_norm_eps\" must be > 0";
  c.initializer_range = r.number("initializer_range", 0.02);
  TT_CHECK(c.initializer_range > 0) << src << ": \"initializer_range\" must be > 0";
  c.bos_token_id = r.integer("bos_token_id", 151643, 0, kIds);
  c.eos_token_id = r.integer("eos_token_id", 151643, 0, kIds);
  TT_CHECK(c.bos_token_id < c.vocab_size && c.eos_token_id < c.vocab_size)
      << src << ": \"bos_token_id\"/\"eos_token_id\" must be < \"vocab_size\" (" << c.vocab_size << ")";

  // The parameter count in double (each term is below 2^53 within the bounds above): a tensor of more than
  // 2^40 parameters, or a model of more, is a typo or a model for another tool.
  const double q_width = double(c.num_attention_heads) * double(c.head_dim), C = double(c.hidden_size);
  const double params = double(c.vocab_size) * C +
                        double(c.num_hidden_layers) *
                            (2 * C * q_width + 2 * C * double(c.num_key_value_heads) * double(c.head_dim) +
                             3 * C * double(c.intermediate_size));
  TT_CHECK(params <= std::ldexp(1.0, 40)) << src << ": these sizes make a model of " << params
                                          << " parameters, beyond this tool's 2^40 (~1.1e12)";

  // What the graph does not implement: refuse, naming the key.
  c.tie_word_embeddings = r.boolean("tie_word_embeddings", false);  // HF Qwen3Config default: false
  TT_CHECK(c.tie_word_embeddings) << src << ": \"tie_word_embeddings\" is false (or missing, HF's default); "
                                  << "only a tied LM head is implemented";
  TT_CHECK(!r.boolean("attention_bias", false)) << src << ": \"attention_bias\": true is not supported";
  TT_CHECK(!r.has("rope_scaling")) << src << ": \"rope_scaling\" must be null, got "
                                   << j.at("rope_scaling").dump();
  TT_CHECK(!r.boolean("use_sliding_window", false))
      << src << ": \"use_sliding_window\": true is not supported (full attention only)";
  const std::string act = r.string("hidden_act", "silu");
  TT_CHECK(act == "silu") << src << ": \"hidden_act\" is \"" << act << "\"; only \"silu\" is supported";
  TT_CHECK(r.number("attention_dropout", 0.0) == 0.0)
      << src << ": \"attention_dropout\" must be 0 (dropout is not implemented)";
  if (r.has("layer_types")) {
    const json& lt = j.at("layer_types");
    TT_CHECK(lt.is_array()) << src << ": \"layer_types\" must be an array";
    for (const auto& t : lt)
      TT_CHECK(t == "full_attention")
          << src << ": \"layer_types\" entry " << t.dump() << " is not supported (only \"full_attention\")";
  }
  if (r.has("rope_parameters")) {  // newer transformers spell rope settings here
    const json& rp = j.at("rope_parameters");
    TT_CHECK(rp.is_object() && rp.value("rope_type", "default") == "default")
        << src << ": \"rope_parameters\" with a rope_type other than \"default\" is not supported";
    if (rp.contains("rope_theta")) {
      TT_CHECK(rp["rope_theta"].is_number()) << src << ": \"rope_parameters.rope_theta\" must be a number";
      c.rope_theta = rp["rope_theta"].get<double>();
    }
  }
  c.raw = nlohmann::ordered_json::parse(j.dump());
  return c;
}

Qwen3Config Qwen3Config::load(const std::filesystem::path& path) {
  const std::string text = read_file(path);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    TT_FAIL() << path.string() << ": not valid JSON at " << json_error_position(e, text.size()) << ": "
              << e.what();
  } catch (const json::exception& e) {  // e.g. a number beyond double's range (1e400)
    TT_FAIL() << path.string() << ": not valid JSON for a config: " << e.what();
  }
  return from_json(j, path.string());
}

nlohmann::ordered_json Qwen3Config::to_hf_json() const {
  nlohmann::ordered_json o;
  o["architectures"] = {"Qwen3ForCausalLM"};
  o["attention_bias"] = false;
  o["attention_dropout"] = 0.0;
  o["bos_token_id"] = bos_token_id;
  o["eos_token_id"] = eos_token_id;
  o["head_dim"] = head_dim;
  o["hidden_act"] = "silu";
  o["hidden_size"] = hidden_size;
  o["initializer_range"] = initializer_range;
  o["intermediate_size"] = intermediate_size;
  o["max_position_embeddings"] = max_position_embeddings;
  o["max_window_layers"] = num_hidden_layers;
  o["model_type"] = "qwen3";
  o["num_attention_heads"] = num_attention_heads;
  o["num_hidden_layers"] = num_hidden_layers;
  o["num_key_value_heads"] = num_key_value_heads;
  o["rms_norm_eps"] = rms_norm_eps;
  o["rope_scaling"] = nullptr;
  o["rope_theta"] = rope_theta;
  o["sliding_window"] = nullptr;
  o["tie_word_embeddings"] = true;
  o["torch_dtype"] = "float32";  // the weights are saved in F32; transformers 5 reads "dtype"
  o["dtype"] = "float32";
  o["use_cache"] = true;
  o["use_sliding_window"] = false;
  o["vocab_size"] = vocab_size;
  // Keep harmless extra keys of the source file (e.g. transformers_version, pad_token_id).
  for (auto it = raw.begin(); raw.is_object() && it != raw.end(); ++it)
    if (!o.contains(it.key())) o[it.key()] = it.value();
  return o;
}

int64_t Qwen3Config::num_parameters() const {
  const int64_t C = hidden_size, D = head_dim, q = num_attention_heads * D, kv = num_key_value_heads * D;
  const int64_t per_layer = C * q + 2 * C * kv + q * C + 3 * C * intermediate_size + 2 * C + 2 * D;
  return vocab_size * C + num_hidden_layers * per_layer + C;
}

double Qwen3Config::train_flops(int64_t B, int64_t T) const {
  // 6 FLOPs per matmul weight per token (forward 2, backward 4), the tied LM head included; causal
  // attention: QK^T and PV over the ~T^2/2 visible pairs, 2*2 FLOPs each per dim forward, x3 total.
  const double C = double(hidden_size), D = double(head_dim), Hq = double(num_attention_heads);
  const double q = Hq * D, kv = double(num_key_value_heads) * D;
  const double matmul_weights =
      double(num_hidden_layers) * (C * q + 2 * C * kv + q * C + 3 * C * double(intermediate_size)) +
      double(vocab_size) * C;
  const double tokens = double(B) * double(T);
  const double attention =
      3.0 * 4.0 * double(num_hidden_layers) * Hq * D * double(T) * double(T) / 2.0 * double(B);
  return 6.0 * matmul_weights * tokens + attention;
}

void write_hf_config_files(const Qwen3Config& cfg, const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  write_file_atomic(dir / "config.json", cfg.to_hf_json().dump(2) + "\n");
  nlohmann::ordered_json g;
  g["bos_token_id"] = cfg.bos_token_id;
  g["eos_token_id"] = cfg.eos_token_id;
  g["do_sample"] = true;
  g["temperature"] = 0.8;
  g["top_k"] = 50;
  g["top_p"] = 0.95;
  g["max_length"] = cfg.max_position_embeddings;  // prompt and new tokens within the trained context
  write_file_atomic(dir / "generation_config.json", g.dump(2) + "\n");
}

}  // namespace tt
