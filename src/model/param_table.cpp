// ParamTable: the HF Qwen3 tensor names and shapes in one flat layout. Decayed tensors (embedding,
// then per layer q,k,v,o,gate,up,down) come first, norm weights last, so AdamW runs as two
// contiguous segments [0, decay_numel) and [decay_numel, total).
#include "common/check.h"
#include "model/model.h"

namespace tt {

ParamTable::ParamTable(const Qwen3Config& c) {
  const int64_t C = c.hidden_size, D = c.head_dim, I = c.intermediate_size;
  const int64_t q = c.num_attention_heads * D, kv = c.num_key_value_heads * D;
  auto add = [&](std::string name, std::vector<int64_t> shape, bool decay) {
    ParamInfo p;
    p.name = std::move(name);
    p.numel = 1;
    for (int64_t d : shape) p.numel *= size_t(d);
    p.shape = std::move(shape);
    p.offset = total_;
    p.decay = decay;
    total_ += p.numel;
    params_.push_back(std::move(p));
  };
  add("model.embed_tokens.weight", {c.vocab_size, C}, true);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string pre = "model.layers." + std::to_string(l) + ".";
    add(pre + "self_attn.q_proj.weight", {q, C}, true);
    add(pre + "self_attn.k_proj.weight", {kv, C}, true);
    add(pre + "self_attn.v_proj.weight", {kv, C}, true);
    add(pre + "self_attn.o_proj.weight", {C, q}, true);
    add(pre + "mlp.gate_proj.weight", {I, C}, true);
    add(pre + "mlp.up_proj.weight", {I, C}, true);
    add(pre + "mlp.down_proj.weight", {C, I}, true);
  }
  decay_numel_ = total_;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string pre = "model.layers." + std::to_string(l) + ".";
    add(pre + "input_layernorm.weight", {C}, false);
    add(pre + "self_attn.q_norm.weight", {D}, false);
    add(pre + "self_attn.k_norm.weight", {D}, false);
    add(pre + "post_attention_layernorm.weight", {C}, false);
  }
  add("model.norm.weight", {C}, false);
}

const ParamInfo* ParamTable::find(const std::string& name) const {
  for (const auto& p : params_)
    if (p.name == name) return &p;
  return nullptr;
}

const ParamInfo& ParamTable::get(const std::string& name) const {
  const ParamInfo* p = find(name);
  TT_CHECK(p) << "no parameter named \"" << name << "\" in the Qwen3 parameter table";
  return *p;
}

}  // namespace tt
