// The Qwen3 graph, written once against tt::Backend (see DESIGN.md).
//
// forward (N = B*T token rows):
//   x0 = embed[ids]
//   per layer l:  a = RMSNorm(x_l) ; [q|k|v] = a [Wq;Wk;Wv]^T ; q,k = RoPE(RMSNorm_head(q,k)) ;
//                 o = causal GQA attention(q,k,v) ; m = x_l + o Wo^T ;
//                 b = RMSNorm(m) ; [gate|up] = b [Wg;Wu]^T ; x_{l+1} = m + (silu(gate) * up) Wd^T
//   loss = CE(RMSNorm(x_L) E^T, next tokens)   (tied head: E = the embedding)
// q/k/v and gate/up are each one GEMM: their weights are adjacent in the parameter table (param_table.cpp),
// so the stacked matrix is a view; the residual adds happen in the epilogues of the o_proj and down_proj
// GEMMs.
// Training keeps every activation the backward needs per layer (LayerActs; a model built for inference shares
// one set among its layers); the backward walks the same ops in reverse. Parameter gradients accumulate;
// zero_grads() clears them once per optimizer step. Names: p.* are a layer's weights (w[l]), dp.* their
// gradients (dw[l]), a.* its saved activations, g.* the gradients of activations (one scratch set, reused by
// every layer).
#include <cmath>
#include <cstring>
#include <random>

#include "common/check.h"
#include "model/dtype.h"
#include "model/model.h"

namespace tt {

namespace {

// The shapes the ops meet in a model of `cfg` at max_batch x max_seq rows (Backend::op_scratch_bytes,
// Backend::unsupported).
OpShapes op_shapes(const Qwen3Config& cfg, int64_t max_batch, int64_t max_seq, ModelUse use) {
  return {.rows = max_batch * max_seq,
          .seq_len = max_seq,
          .hidden = cfg.hidden_size,
          .q_heads = cfg.num_attention_heads,
          .kv_heads = cfg.num_key_value_heads,
          .head_dim = cfg.head_dim,
          .vocab = cfg.vocab_size,
          .backward = use == ModelUse::kTraining};
}

}  // namespace

namespace {

// The weights of one decoder layer (or their gradients): views into a flat parameter buffer. wqkv stacks
// q_proj, k_proj, v_proj [(Hq + 2 Hkv) D, C]; w_gate_up stacks gate_proj, up_proj [2I, C].
struct LayerWeights {
  Tensor input_norm, wqkv, q_norm, k_norm, wo, post_norm, w_gate_up, w_down;
};

// What the backward needs from one layer's forward, for N = B*T rows (shapes below), plus the
// attention output. Allocated once for the largest batch; batch() returns views of the first rows.
struct LayerActs {
  Tensor ln1, rstd1;    // RMSNorm(x) [N, C], its rstd [N]
  Tensor qkv;           // the q|k|v projection [N, (Hq + 2 Hkv) D], before the q/k norm
  Tensor qrstd, krstd;  // q/k norm rstd [N*Hq], [N*Hkv]
  Tensor q, k, v;       // attention inputs: q, k normed and rotated [N, Hq*D], [N, Hkv*D], [N, Hkv*D]
  Tensor att, lse;      // attention output [N, Hq*D] and its log-sum-exp [B*Hq, T]
  Tensor xmid;          // x + o_proj(att) [N, C]
  Tensor ln2, rstd2;    // RMSNorm(xmid) [N, C], [N]
  Tensor gate_up, h;    // MLP pre-activations [N, 2I] and silu(gate) * up [N, I]
};

// Gradients of activations, one set reused by every layer (same row convention as LayerActs).
struct ActGrads {
  Tensor dx;        // d loss / d residual stream [N, C]
  Tensor dnorm;     // d loss / d (normed input of the projections) [N, C]
  Tensor dh;        // [N, I]
  Tensor dgate_up;  // [N, 2I]
  Tensor datt, dq;  // [N, Hq*D]
  Tensor dk, dv;    // [N, Hkv*D]
  Tensor dqkv;      // [N, (Hq + 2 Hkv) D]
};

constexpr int64_t kLossSlots = 256;  // micro-batch loss sums kept on the device before folding

}  // namespace

struct Qwen3Model::Impl {
  Qwen3Config cfg;
  ParamTable table;
  Backend& be;
  int64_t max_batch, max_seq;
  int64_t C, D, Hq, Hkv, QD, KD, I, V, L;
  float eps;

  // Flat parameter-shaped buffers (table order). compute == master when act_dtype == master_dtype.
  Tensor master, compute, grads, exp_avg, exp_avg_sq;
  bool separate_compute = false;
  Tensor embed_w, final_norm_w, embed_g, final_norm_g;
  std::vector<LayerWeights> w, dw;

  // Activations for the largest batch (rows max_batch * max_seq); see LayerActs.
  std::vector<Tensor> xs;  // residual stream x_0 .. x_L, [N, C] each
  std::vector<LayerActs> acts;
  ActGrads grads_of_acts;
  Tensor ln_final, rstd_final, losses, ids, targets;
  Tensor rope_cos, rope_sin;  // [max_seq, D/2]
  Tensor loss_slots, loss_total, grad_norm_sq, lr_step, logits1;
  // The recorded training step (Backend::run_recorded): forward + backward, and the optimizer update.
  std::unique_ptr<OpRecording> forward_backward_recording, optimizer_recording;
  int64_t loss_slot_count = 0, loss_count = 0;
  int64_t last_step = 0;
  bool have_grad_norm = false;

  std::vector<Tensor> k_cache, v_cache;  // per layer [max_seq, Hkv*D]
  int64_t cache_len = 0;

  std::vector<Tensor> owned;
  bool training = true;  // ModelUse::kTraining: gradients, AdamW moments, activation gradients
  // Sizing only (memory_need): alloc() adds up the bytes instead of allocating; no views, no uploads.
  bool sizing = false;
  size_t sized_bytes = 0;

  Impl(const Qwen3Config& c, Backend& b, int64_t mb, int64_t ms, ModelUse use, bool sizing_only = false)
      : cfg(c),
        table(c),
        be(b),
        max_batch(mb),
        max_seq(ms),
        training(use == ModelUse::kTraining),
        sizing(sizing_only) {
    TT_CHECK(mb >= 1 && ms >= 1) << "max_batch and max_seq must be >= 1";
    TT_CHECK(ms <= c.max_position_embeddings)
        << "sequence length " << ms << " exceeds the config's max_position_embeddings ("
        << c.max_position_embeddings << ")";
    if (const auto why = b.unsupported(op_shapes(c, mb, ms, use)))
      TT_FAIL() << "the " << b.name() << " backend cannot run this model: " << *why
                << hint("choose a config within these limits, or --device cpu");
    C = c.hidden_size;
    D = c.head_dim;
    Hq = c.num_attention_heads;
    Hkv = c.num_key_value_heads;
    QD = Hq * D;
    KD = Hkv * D;
    I = c.intermediate_size;
    V = c.vocab_size;
    L = c.num_hidden_layers;
    eps = float(c.rms_norm_eps);
    const DType act = be.act_dtype(), st = be.stat_dtype(), md = be.master_dtype();
    const int64_t P = int64_t(table.total());
    master = alloc(P, 1, md);
    separate_compute = act != md;
    compute = separate_compute ? alloc(P, 1, act) : master;
    if (training) {
      grads = alloc(P, 1, be.grad_dtype());
      exp_avg = alloc(P, 1, md);
      exp_avg_sq = alloc(P, 1, md);
    }
    const int64_t N = mb * ms;
    // Training keeps every layer's activations for the backward. Inference needs only the layer it is in:
    // all layers share one set, and the residual stream alternates between two buffers.
    for (int64_t l = 0; l <= L; ++l) xs.push_back(training || l < 2 ? alloc(N, C, act) : xs[size_t(l % 2)]);
    for (int64_t l = 0; l < L; ++l) {
      if (!training && l > 0) {
        acts.push_back(acts[0]);
        continue;
      }
      LayerActs a;
      a.ln1 = alloc(N, C, act);
      a.rstd1 = alloc(N, 1, st);
      a.qkv = alloc(N, QD + 2 * KD, act);
      a.qrstd = alloc(N * Hq, 1, st);
      a.krstd = alloc(N * Hkv, 1, st);
      a.q = alloc(N, QD, act);
      a.k = alloc(N, KD, act);
      a.v = alloc(N, KD, act);
      a.att = alloc(N, QD, act);
      a.lse = alloc(mb * Hq, ms, st);
      a.xmid = alloc(N, C, act);
      a.ln2 = alloc(N, C, act);
      a.rstd2 = alloc(N, 1, st);
      a.gate_up = alloc(N, 2 * I, act);
      a.h = alloc(N, I, act);
      acts.push_back(a);
    }
    if (training) {
      ActGrads& g = grads_of_acts;
      g.dx = alloc(N, C, act);
      g.dnorm = alloc(N, C, act);
      g.dh = alloc(N, I, act);
      g.dgate_up = alloc(N, 2 * I, act);
      g.datt = alloc(N, QD, act);
      g.dq = alloc(N, QD, act);
      g.dk = alloc(N, KD, act);
      g.dv = alloc(N, KD, act);
      g.dqkv = alloc(N, QD + 2 * KD, act);
    }
    ln_final = alloc(N, C, act);
    rstd_final = alloc(N, 1, st);
    losses = alloc(N, 1, st);
    ids = alloc(N, 1, DType::I32);
    targets = alloc(N, 1, DType::I32);
    loss_slots = alloc(kLossSlots, 1, st);
    loss_total = alloc(1, 1, st);
    grad_norm_sq = alloc(1, 1, st);
    lr_step = alloc(2, 1, st);
    logits1 = alloc(1, V, st);
    rope_cos = alloc(ms, D / 2, st);
    rope_sin = alloc(ms, D / 2, st);
    if (sizing) {
      ensure_cache();  // sampling's KV cache, as write_samples uses it during training
      return;
    }
    embed_w = param(compute, "model.embed_tokens.weight");
    final_norm_w = param(compute, "model.norm.weight");
    for (int64_t l = 0; l < L; ++l) w.push_back(layer_weights(compute, l));
    if (training) {
      embed_g = param(grads, "model.embed_tokens.weight");
      final_norm_g = param(grads, "model.norm.weight");
      for (int64_t l = 0; l < L; ++l) dw.push_back(layer_weights(grads, l));
    }
    const RopeTables rope = rope_tables(ms, D, c.rope_theta);
    upload(rope_cos, rope.cos.data(), DType::F64);
    upload(rope_sin, rope.sin.data(), DType::F64);
  }

  ~Impl() {
    for (Tensor t : owned) be.free(t);
  }

  Tensor alloc(int64_t rows, int64_t cols, DType d) {
    if (sizing) {
      const Tensor t{nullptr, d, rows, cols};
      sized_bytes += t.bytes();
      return t;
    }
    Tensor t = be.alloc(rows, cols, d);
    owned.push_back(t);
    return t;
  }

  // A parameter of the table as a view of `base` in its HF shape ([n, 1] for a vector).
  Tensor param(Tensor base, const std::string& name) const {
    const ParamInfo& p = table.get(name);
    const Tensor t = base.flat_range(int64_t(p.offset), int64_t(p.numel));
    return p.shape.size() == 2 ? t.view(p.shape[0], p.shape[1]) : t;
  }

  // Matrices `names` of the table, adjacent in this order, as one [sum of rows, cols] view of `base`.
  Tensor stacked(Tensor base, std::initializer_list<std::string> names) const {
    const ParamInfo& first = table.get(*names.begin());
    size_t end = first.offset;
    int64_t rows = 0;
    for (const std::string& name : names) {
      const ParamInfo& p = table.get(name);
      TT_ASSERT(p.offset == end && p.shape.size() == 2 && p.shape[1] == first.shape[1])
          << name << " does not follow the previous matrix in the parameter table";
      end += p.numel;
      rows += p.shape[0];
    }
    return base.flat_range(int64_t(first.offset), int64_t(end - first.offset)).view(rows, first.shape[1]);
  }

  LayerWeights layer_weights(Tensor base, int64_t l) const {
    const std::string pre = "model.layers." + std::to_string(l) + ".";
    LayerWeights p;
    p.input_norm = param(base, pre + "input_layernorm.weight");
    p.wqkv = stacked(base, {pre + "self_attn.q_proj.weight", pre + "self_attn.k_proj.weight",
                            pre + "self_attn.v_proj.weight"});
    p.wo = param(base, pre + "self_attn.o_proj.weight");
    p.q_norm = param(base, pre + "self_attn.q_norm.weight");
    p.k_norm = param(base, pre + "self_attn.k_norm.weight");
    p.post_norm = param(base, pre + "post_attention_layernorm.weight");
    p.w_gate_up = stacked(base, {pre + "mlp.gate_proj.weight", pre + "mlp.up_proj.weight"});
    p.w_down = param(base, pre + "mlp.down_proj.weight");
    return p;
  }

  // Views of layer l's activations for a batch of B rows of T tokens.
  LayerActs batch(const LayerActs& s, int64_t B, int64_t T) const {
    const int64_t N = B * T;
    LayerActs a;
    a.ln1 = s.ln1.first_rows(N);
    a.rstd1 = s.rstd1.first_rows(N);
    a.qkv = s.qkv.first_rows(N);
    a.qrstd = s.qrstd.first_rows(N * Hq);
    a.krstd = s.krstd.first_rows(N * Hkv);
    a.q = s.q.first_rows(N);
    a.k = s.k.first_rows(N);
    a.v = s.v.first_rows(N);
    a.att = s.att.first_rows(N);
    a.lse = s.lse.prefix(B * Hq, T);
    a.xmid = s.xmid.first_rows(N);
    a.ln2 = s.ln2.first_rows(N);
    a.rstd2 = s.rstd2.first_rows(N);
    a.gate_up = s.gate_up.first_rows(N);
    a.h = s.h.first_rows(N);
    return a;
  }

  ActGrads batch(const ActGrads& s, int64_t N) const {
    ActGrads g;
    for (auto [dst, src] : {std::pair{&g.dx, &s.dx},
                            {&g.dnorm, &s.dnorm},
                            {&g.dh, &s.dh},
                            {&g.dgate_up, &s.dgate_up},
                            {&g.datt, &s.datt},
                            {&g.dq, &s.dq},
                            {&g.dk, &s.dk},
                            {&g.dv, &s.dv},
                            {&g.dqkv, &s.dqkv}})
      *dst = src->first_rows(N);
    return g;
  }

  void refresh_compute() {
    if (separate_compute) be.convert(compute, master);
  }

  // Upload token ids (and next-token targets when `with_targets`) for B rows of T.
  void upload_tokens(const int32_t* tokens, int64_t B, int64_t T, bool with_targets) {
    TT_CHECK(B >= 1 && T >= 1 && B <= max_batch && T <= max_seq)
        << "batch " << B << " x " << T << " exceeds the model's allocation of " << max_batch << " x "
        << max_seq;
    const int64_t N = B * T;
    for (int64_t n = 0; n < N; ++n)
      TT_CHECK(tokens[n] >= 0 && tokens[n] < V) << "token id " << tokens[n] << " at position " << n
                                                << " is outside the vocabulary [0, " << V << ")";
    be.copy_from_host(ids.first_rows(N), tokens);
    if (with_targets) {
      std::vector<int32_t> t(size_t(N), -1);
      for (int64_t b = 0; b < B; ++b)
        for (int64_t i = 0; i + 1 < T; ++i) t[size_t(b * T + i)] = tokens[b * T + i + 1];
      be.copy_from_host(targets.first_rows(N), t.data());
    }
  }

  // The attention prelude of layer l, shared by training and decoding: a.ln1 = RMSNorm(x); the stacked
  // q|k|v projection; q/k norm and RoPE with the table rows `cos`, `sin` (row n uses row n % seq_len). The
  // rotated keys go to k_out and the values to v_out: a.k and a.v in training, the KV cache in decoding.
  void attention_inputs(const LayerWeights& p, const LayerActs& a, Tensor x, Tensor k_out, Tensor v_out,
                        Tensor cos, Tensor sin, int64_t seq_len) {
    be.rmsnorm_forward(a.ln1, a.rstd1, x, p.input_norm, eps);
    be.matmul_forward(a.qkv, a.ln1, p.wqkv);
    be.qk_norm_rope_forward(a.q, k_out, v_out, a.qrstd, a.krstd, a.qkv, p.q_norm, p.k_norm, cos, sin, seq_len,
                            eps);
  }

  // o_proj + residual, post-attention norm, SwiGLU MLP + residual: x_next from x and a.att.
  void attention_output_and_mlp(const LayerWeights& p, const LayerActs& a, Tensor x, Tensor x_next) {
    be.matmul_forward(a.xmid, a.att, p.wo, x);
    be.rmsnorm_forward(a.ln2, a.rstd2, a.xmid, p.post_norm, eps);
    be.matmul_forward(a.gate_up, a.ln2, p.w_gate_up);
    be.swiglu_forward(a.h, a.gate_up);
    be.matmul_forward(x_next, a.h, p.w_down, a.xmid);
  }

  // Embedding through the final norm for B rows of T tokens; leaves ln_final [N, C] and the activations.
  void forward(int64_t B, int64_t T) {
    const int64_t N = B * T;
    be.embedding_forward(xs[0].first_rows(N), ids.first_rows(N), embed_w);
    for (int64_t l = 0; l < L; ++l) {
      const LayerActs a = batch(acts[l], B, T);
      const Tensor x = xs[l].first_rows(N);
      attention_inputs(w[l], a, x, a.k, a.v, rope_cos, rope_sin, T);
      be.attention_forward(a.att, a.lse, a.q, a.k, a.v, D);
      attention_output_and_mlp(w[l], a, x, xs[l + 1].first_rows(N));
    }
    be.rmsnorm_forward(ln_final.first_rows(N), rstd_final.first_rows(N), xs[L].first_rows(N), final_norm_w,
                       eps);
  }

  // Expects g.dnorm = d loss / d ln_final. Accumulates all parameter gradients.
  void backward(int64_t B, int64_t T) {
    const int64_t N = B * T;
    const ActGrads g = batch(grads_of_acts, N);
    be.fill(g.dx, 0.0);
    be.rmsnorm_backward(g.dx, final_norm_g, g.dnorm, xs[L].first_rows(N), final_norm_w,
                        rstd_final.first_rows(N));
    for (int64_t l = L - 1; l >= 0; --l) {
      const LayerActs a = batch(acts[l], B, T);
      const LayerWeights& p = w[l];
      const LayerWeights& dp = dw[l];
      // MLP: x_{l+1} = m + down(silu(gate) * up), [gate|up] = b [Wg;Wu]^T, b = RMSNorm(m); g.dx = d/dx_{l+1}
      be.matmul_backward(g.dh, dp.w_down, g.dx, a.h, p.w_down, false);
      be.swiglu_backward(g.dgate_up, g.dh, a.gate_up);
      be.matmul_backward(g.dnorm, dp.w_gate_up, g.dgate_up, a.ln2, p.w_gate_up, false);
      be.rmsnorm_backward(g.dx, dp.post_norm, g.dnorm, a.xmid, p.post_norm, a.rstd2);  // g.dx = d/dm
      // attention: m = x_l + o_proj(attn(q, k, v)), q, k = RoPE(norm(.)) of [q|k|v] = a [Wq;Wk;Wv]^T
      be.matmul_backward(g.datt, dp.wo, g.dx, a.att, p.wo, false);
      be.attention_backward(g.dq, g.dk, g.dv, g.datt, a.att, a.lse, a.q, a.k, a.v, D);
      be.qk_norm_rope_backward(g.dqkv, dp.q_norm, dp.k_norm, g.dq, g.dk, g.dv, a.qkv, p.q_norm, p.k_norm,
                               a.qrstd, a.krstd, rope_cos, rope_sin, T);
      be.matmul_backward(g.dnorm, dp.wqkv, g.dqkv, a.ln1, p.wqkv, false);
      be.rmsnorm_backward(g.dx, dp.input_norm, g.dnorm, xs[l].first_rows(N), p.input_norm,
                          a.rstd1);  // d/dx_l
    }
    be.embedding_backward(embed_g, ids.first_rows(N), g.dx);
  }

  // Adds this micro-batch's loss sum to the device-side slots (no host sync).
  void record_loss(int64_t N) {
    if (loss_slot_count == kLossSlots) {  // fold all slots into slot 0
      be.sum(loss_total, loss_slots);
      be.fill(loss_slots, 0.0);
      be.convert(loss_slots.first_rows(1), loss_total);
      loss_slot_count = 1;
    }
    be.sum(loss_slots.row_range(loss_slot_count, 1), losses.first_rows(N));
    ++loss_slot_count;
  }

  double read_stat_scalar(Tensor t) {
    double out = 0;
    std::vector<char> host(t.bytes());
    be.copy_to_host(host.data(), t);
    convert_host(&out, DType::F64, host.data(), t.dtype, 1);
    return out;
  }

  // Host <-> device tensors, element-wise through convert_host.
  template <class H>
  std::vector<H> download(Tensor t) {
    std::vector<char> raw(t.bytes());
    be.copy_to_host(raw.data(), t);
    std::vector<H> out(size_t(t.numel()));
    convert_host(out.data(), std::is_same_v<H, float> ? DType::F32 : DType::F64, raw.data(), t.dtype,
                 size_t(t.numel()));
    return out;
  }
  void upload(Tensor t, const void* host, DType host_dtype) {
    std::vector<char> raw(t.bytes());
    convert_host(raw.data(), t.dtype, host, host_dtype, size_t(t.numel()));
    be.copy_from_host(t, raw.data());
  }

  Impl& for_training(const char* call) {
    TT_CHECK(training) << "Qwen3Model::" << call
                       << ": this model was built for inference (ModelUse::kInference)"
                       << " and has no gradients or optimizer state";
    return *this;
  }

  void ensure_cache() {
    if (!k_cache.empty()) return;
    for (int64_t l = 0; l < L; ++l) {
      k_cache.push_back(alloc(max_seq, KD, be.act_dtype()));
      v_cache.push_back(alloc(max_seq, KD, be.act_dtype()));
    }
  }
};

Qwen3Model::Qwen3Model(const Qwen3Config& cfg, Backend& backend, int64_t max_batch, int64_t max_seq,
                       ModelUse use)
    : impl_(std::make_unique<Impl>(cfg, backend, max_batch, max_seq, use)) {}
Qwen3Model::~Qwen3Model() = default;

Qwen3Model::MemoryNeed Qwen3Model::memory_need(const Qwen3Config& cfg, Backend& backend, int64_t max_batch,
                                               int64_t max_seq, ModelUse use) {
  const Impl sized(cfg, backend, max_batch, max_seq, use, /*sizing_only=*/true);
  return {.tensors = sized.sized_bytes,
          .scratch = backend.op_scratch_bytes(op_shapes(cfg, max_batch, max_seq, use))};
}

const Qwen3Config& Qwen3Model::config() const {
  return impl_->cfg;
}
const ParamTable& Qwen3Model::table() const {
  return impl_->table;
}
Backend& Qwen3Model::backend() {
  return impl_->be;
}

void Qwen3Model::init_weights(uint64_t seed) {
  // HF _init_weights: normal(0, initializer_range) for Linear and Embedding weights, 1 for RMSNorm.
  // Drawn in table order from one mt19937_64 stream with our own Box-Muller (the standard library's
  // normal_distribution differs between implementations), rounded to fp32 on every backend.
  Impl& s = *impl_;
  std::mt19937_64 rng(seed);
  const double two_pi = 6.283185307179586476925286766559;
  auto uniform01 = [&] { return (double(rng() >> 11) + 1.0) * 0x1.0p-53; };  // (0, 1]
  std::vector<float> host(s.table.total());
  const float std_dev = float(s.cfg.initializer_range);
  for (const ParamInfo& p : s.table.params()) {
    float* dst = host.data() + p.offset;
    if (!p.decay) {
      std::fill_n(dst, p.numel, 1.0f);
      continue;
    }
    for (size_t i = 0; i < p.numel; i += 2) {
      const double r = std::sqrt(-2.0 * std::log(uniform01()));
      const double t = two_pi * uniform01();
      dst[i] = float(r * std::cos(t)) * std_dev;
      if (i + 1 < p.numel) dst[i + 1] = float(r * std::sin(t)) * std_dev;
    }
  }
  s.upload(s.master, host.data(), DType::F32);
  s.refresh_compute();
  if (s.training) {
    s.be.fill(s.exp_avg, 0.0);
    s.be.fill(s.exp_avg_sq, 0.0);
  }
}

// Issued op by op, outside the two recorded graphs of a step (forward + backward per micro-batch, the
// optimizer update), as is record_loss's sum: three launches, a few microseconds of a step of milliseconds.
// The graphs stay two because a step may accumulate several micro-batches between zero_grads and the update;
// recording the zeroing and slot 0's sum into the first micro-batch's graph would need a second recording
// for the later micro-batches (whose loss slot moves) and a deferred zeroing that every reader of the
// gradients would have to trigger.
void Qwen3Model::zero_grads(bool keep_loss_sum) {
  Impl& s = impl_->for_training("zero_grads");
  s.be.fill(s.grads, 0.0);
  if (!keep_loss_sum) clear_loss_sum();
}

void Qwen3Model::clear_loss_sum() {
  Impl& s = impl_->for_training("clear_loss_sum");
  s.be.fill(s.loss_slots, 0.0);
  s.loss_slot_count = 0;
  s.loss_count = 0;
}

void Qwen3Model::forward_backward(const int32_t* tokens, int64_t B, int64_t T, float loss_scale) {
  Impl& s = impl_->for_training("forward_backward");
  s.upload_tokens(tokens, B, T, true);
  const int64_t N = B * T;
  // Everything between the token upload and the loss bookkeeping only reads device memory: recorded once,
  // replayed every micro-batch of this shape.
  uint32_t scale_bits;
  std::memcpy(&scale_bits, &loss_scale, sizeof scale_bits);
  const uint64_t key = (uint64_t(B) << 48) ^ (uint64_t(T) << 32) ^ scale_bits;
  s.be.run_recorded(s.forward_backward_recording, key, [&] {
    s.forward(B, T);
    s.be.lm_head_loss(s.losses.first_rows(N), s.grads_of_acts.dnorm.first_rows(N), s.embed_g,
                      s.ln_final.first_rows(N), s.embed_w, s.targets.first_rows(N), loss_scale);
    s.backward(B, T);
  });
  s.record_loss(N);
  s.loss_count += B * (T - 1);
}

void Qwen3Model::optimizer_step(const AdamWArgs& args) {
  Impl& s = impl_->for_training("optimizer_step");
  const int64_t P = int64_t(s.table.total()), Dn = int64_t(s.table.decay_numel());
  // This step's schedule values go to the device; the recorded update reads them there.
  const double lr_step_host[2] = {double(args.lr), double(args.step)};
  s.upload(s.lr_step, lr_step_host, DType::F64);
  const AdamWConfig& config = args;
  uint64_t key = 0;
  for (double f : {config.beta1, config.beta2, config.eps, config.weight_decay, config.max_grad_norm}) {
    uint64_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    key = key * 0x100000001b3ull ^ bits;
  }
  s.be.run_recorded(s.optimizer_recording, key, [&] {
    s.be.grad_norm_sq(s.grad_norm_sq, s.grads);
    // Two contiguous segments: decayed matrices and embedding first, norm weights after (param_table.cpp).
    for (auto [begin, n, decay] : {std::tuple{int64_t(0), Dn, true}, std::tuple{Dn, P - Dn, false}}) {
      if (n == 0) continue;
      s.be.adamw_update(s.master.flat_range(begin, n),
                        s.separate_compute ? s.compute.flat_range(begin, n) : Tensor{},
                        s.grads.flat_range(begin, n), s.exp_avg.flat_range(begin, n),
                        s.exp_avg_sq.flat_range(begin, n), s.grad_norm_sq, s.lr_step, config, decay);
    }
  });
  s.have_grad_norm = true;
  s.last_step = args.step;
}

StepStats Qwen3Model::last_step_stats() {
  Impl& s = *impl_;
  StepStats st;
  if (s.loss_slot_count > 0) {
    s.be.sum(s.loss_total, s.loss_slots.first_rows(s.loss_slot_count));
    st.loss_sum = s.read_stat_scalar(s.loss_total);
    st.loss_count = s.loss_count;
    st.loss = st.loss_sum / double(std::max<int64_t>(1, s.loss_count));
  }
  if (s.have_grad_norm) st.grad_norm = std::sqrt(s.read_stat_scalar(s.grad_norm_sq));
  return st;
}

std::pair<double, int64_t> Qwen3Model::eval_loss_sum(const int32_t* tokens, int64_t B, int64_t T) {
  Impl& s = *impl_;
  s.upload_tokens(tokens, B, T, true);
  s.forward(B, T);
  const int64_t N = B * T;
  s.be.lm_head_loss(s.losses.first_rows(N), Tensor{}, Tensor{}, s.ln_final.first_rows(N), s.embed_w,
                    s.targets.first_rows(N), 1.0f);
  s.be.sum(s.loss_total, s.losses.first_rows(N));
  return {s.read_stat_scalar(s.loss_total), B * (T - 1)};
}

void Qwen3Model::reset_cache() {
  impl_->cache_len = 0;
}
int64_t Qwen3Model::cache_length() const {
  return impl_->cache_len;
}

std::vector<float> Qwen3Model::forward_next(const int32_t* tokens, int64_t n) {
  Impl& s = *impl_;
  TT_CHECK(n >= 1) << "forward_next needs at least one token";
  const int64_t P = s.cache_len;
  TT_CHECK(P + n <= s.max_seq) << "sequence of " << P + n << " tokens exceeds the model's max_seq ("
                               << s.max_seq << "); reset the cache or allocate a longer context";
  s.ensure_cache();
  s.upload_tokens(tokens, 1, n, false);
  // The n new tokens sit at positions P .. P+n-1: RoPE table rows from P, keys and values appended to the
  // cache, attention over all P+n cached positions.
  const Tensor cos = s.rope_cos.row_range(P, n), sin = s.rope_sin.row_range(P, n);
  s.be.embedding_forward(s.xs[0].first_rows(n), s.ids.first_rows(n), s.embed_w);
  for (int64_t l = 0; l < s.L; ++l) {
    const LayerActs a = s.batch(s.acts[l], 1, n);
    const Tensor x = s.xs[l].first_rows(n);
    s.attention_inputs(s.w[l], a, x, s.k_cache[l].row_range(P, n), s.v_cache[l].row_range(P, n), cos, sin, n);
    s.be.attention_infer(a.att, a.q, s.k_cache[l].first_rows(P + n), s.v_cache[l].first_rows(P + n), s.D);
    s.attention_output_and_mlp(s.w[l], a, x, s.xs[l + 1].first_rows(n));
  }
  s.be.rmsnorm_forward(s.ln_final.first_rows(1), s.rstd_final.first_rows(1), s.xs[s.L].row_range(n - 1, 1),
                       s.final_norm_w, s.eps);
  s.be.lm_head_logits(s.logits1, s.ln_final.first_rows(1), s.embed_w);
  s.cache_len = P + n;
  return s.download<float>(s.logits1);
}

std::vector<float> Qwen3Model::get_params_f32() {
  return impl_->download<float>(impl_->master);
}
std::vector<double> Qwen3Model::get_grads() {
  return impl_->download<double>(impl_->for_training("get_grads").grads);
}
std::vector<double> Qwen3Model::get_params() {
  return impl_->download<double>(impl_->master);
}
void Qwen3Model::set_params(const std::vector<double>& host) {
  TT_CHECK(host.size() == impl_->table.total())
      << "set_params: got " << host.size() << " values, the model has " << impl_->table.total();
  impl_->upload(impl_->master, host.data(), DType::F64);
  impl_->refresh_compute();
}

Tensor Qwen3Model::master_weights() {
  return impl_->master;
}
Tensor Qwen3Model::grads() {
  return impl_->for_training("grads").grads;
}
Tensor Qwen3Model::exp_avg() {
  return impl_->for_training("exp_avg").exp_avg;
}
Tensor Qwen3Model::exp_avg_sq() {
  return impl_->for_training("exp_avg_sq").exp_avg_sq;
}
void Qwen3Model::refresh_compute_weights() {
  impl_->refresh_compute();
}
int64_t Qwen3Model::optimizer_step_count() const {
  return impl_->last_step;
}
void Qwen3Model::set_optimizer_step_count(int64_t step) {
  impl_->last_step = step;
}

}  // namespace tt
