// The Qwen3 graph, written once against tt::Backend (see DESIGN.md).
//
// forward (N = B*T rows):
//   x0 = embed[ids]
//   per layer l:  a = RMSNorm(x_l) ; q,k,v = a Wq^T, a Wk^T, a Wv^T ; q,k = RMSNorm_head(q,k) ;
//                 q,k = RoPE(q,k) ; o = causal GQA attention(q,k,v) ; m = x_l + o Wo^T ;
//                 b = RMSNorm(m) ; x_{l+1} = m + (silu(b Wg^T) * (b Wu^T)) Wd^T
//   loss = CE(RMSNorm(x_L) E^T, next tokens)   (tied head: E = the embedding)
// Every activation the backward needs is kept per layer (inputs of norms/matmuls, rstd, lse, gate,
// up); the backward walks the same list in reverse. Parameter gradients accumulate; zero_grads()
// clears them once per optimizer step.
#include <cmath>
#include <cstring>
#include <random>

#include "common/check.h"
#include "common/log.h"
#include "model/dtype.h"
#include "model/model.h"
#include "model/safetensors.h"

namespace tt {

namespace {

struct LayerParams {
  Buf ln1, q, k, v, o, qn, kn, ln2, gate, up, down;
};

struct LayerActs {
  Buf ln1, rstd1, qraw, kraw, qrstd, krstd, q, k, v, att, lse, xmid, ln2, rstd2, gate, up, h;
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

  Buf master, compute, grads, m, v;  // compute == master when act_dtype == master_dtype
  bool separate_compute = false;
  Buf embed_w, norm_w, embed_g, norm_g;
  std::vector<LayerParams> w, g;

  std::vector<Buf> xs;  // residual stream, L+1 buffers [Nmax, C]
  std::vector<LayerActs> acts;
  Buf lnf, rstdf, losses, ids, targets;
  Buf dx, dC, tmpC, dh, dgate, dup, datt, dq, dk, dv, dqraw, dkraw;
  Buf loss_slots, loss_total, gnorm, logits1;
  int64_t loss_slot_count = 0, loss_count = 0;
  double last_grad_norm_sq_host = -1;
  int64_t last_step = 0;
  bool have_grad_norm = false;

  std::vector<Buf> k_cache, v_cache;
  int64_t cache_len = 0;

  std::vector<Buf> owned;

  Impl(const Qwen3Config& c, Backend& b, int64_t mb, int64_t ms)
      : cfg(c), table(c), be(b), max_batch(mb), max_seq(ms) {
    TT_CHECK(mb >= 1 && ms >= 1) << "max_batch and max_seq must be >= 1";
    TT_CHECK(ms <= c.max_position_embeddings)
        << "sequence length " << ms << " exceeds the config's max_position_embeddings ("
        << c.max_position_embeddings << ")";
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
    const size_t P = table.total();
    master = alloc(P, md);
    separate_compute = act != md;
    compute = separate_compute ? alloc(P, act) : master;
    grads = alloc(P, be.grad_dtype());
    m = alloc(P, md);
    v = alloc(P, md);
    embed_w = param(compute, "model.embed_tokens.weight");
    norm_w = param(compute, "model.norm.weight");
    embed_g = param(grads, "model.embed_tokens.weight");
    norm_g = param(grads, "model.norm.weight");
    for (int64_t l = 0; l < L; ++l) {
      w.push_back(layer_params(compute, l));
      g.push_back(layer_params(grads, l));
    }
    const size_t N = size_t(mb * ms);
    for (int64_t l = 0; l <= L; ++l) xs.push_back(alloc(N * C, act));
    for (int64_t l = 0; l < L; ++l) {
      LayerActs a;
      a.ln1 = alloc(N * C, act);
      a.rstd1 = alloc(N, st);
      a.qraw = alloc(N * QD, act);
      a.kraw = alloc(N * KD, act);
      a.qrstd = alloc(N * Hq, st);
      a.krstd = alloc(N * Hkv, st);
      a.q = alloc(N * QD, act);
      a.k = alloc(N * KD, act);
      a.v = alloc(N * KD, act);
      a.att = alloc(N * QD, act);
      a.lse = alloc(N * Hq, st);
      a.xmid = alloc(N * C, act);
      a.ln2 = alloc(N * C, act);
      a.rstd2 = alloc(N, st);
      a.gate = alloc(N * I, act);
      a.up = alloc(N * I, act);
      a.h = alloc(N * I, act);
      acts.push_back(a);
    }
    lnf = alloc(N * C, act);
    rstdf = alloc(N, st);
    losses = alloc(N, st);
    ids = alloc(N, DType::I32);
    targets = alloc(N, DType::I32);
    dx = alloc(N * C, act);
    dC = alloc(N * C, act);
    tmpC = alloc(N * C, act);
    dh = alloc(N * I, act);
    dgate = alloc(N * I, act);
    dup = alloc(N * I, act);
    datt = alloc(N * QD, act);
    dq = alloc(N * QD, act);
    dk = alloc(N * KD, act);
    dv = alloc(N * KD, act);
    dqraw = alloc(N * QD, act);
    dkraw = alloc(N * KD, act);
    loss_slots = alloc(kLossSlots, st);
    loss_total = alloc(1, st);
    gnorm = alloc(1, st);
    logits1 = alloc(size_t(V), st);
  }

  ~Impl() {
    for (Buf b : owned) be.free(b);
  }

  Buf alloc(size_t n, DType d) {
    Buf b = be.alloc(n, d);
    owned.push_back(b);
    return b;
  }

  Buf param(Buf base, const std::string& name) const {
    const ParamInfo& p = table.get(name);
    return base.at(p.offset, p.numel);
  }

  LayerParams layer_params(Buf base, int64_t l) const {
    const std::string pre = "model.layers." + std::to_string(l) + ".";
    LayerParams p;
    p.ln1 = param(base, pre + "input_layernorm.weight");
    p.q = param(base, pre + "self_attn.q_proj.weight");
    p.k = param(base, pre + "self_attn.k_proj.weight");
    p.v = param(base, pre + "self_attn.v_proj.weight");
    p.o = param(base, pre + "self_attn.o_proj.weight");
    p.qn = param(base, pre + "self_attn.q_norm.weight");
    p.kn = param(base, pre + "self_attn.k_norm.weight");
    p.ln2 = param(base, pre + "post_attention_layernorm.weight");
    p.gate = param(base, pre + "mlp.gate_proj.weight");
    p.up = param(base, pre + "mlp.up_proj.weight");
    p.down = param(base, pre + "mlp.down_proj.weight");
    return p;
  }

  static Buf rows(Buf b, int64_t n) { return b.at(0, size_t(n)); }

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
    be.copy_from_host(rows(ids, N), tokens);
    if (with_targets) {
      std::vector<int32_t> t(size_t(N), -1);
      for (int64_t b = 0; b < B; ++b)
        for (int64_t i = 0; i + 1 < T; ++i) t[size_t(b * T + i)] = tokens[b * T + i + 1];
      be.copy_from_host(rows(targets, N), t.data());
    }
  }

  // Embedding through the final norm; leaves lnf [N, C] and all saved activations.
  void forward(int64_t B, int64_t T) {
    const int64_t N = B * T;
    be.embedding_forward(rows(xs[0], N * C), rows(ids, N), embed_w, N, C, V);
    for (int64_t l = 0; l < L; ++l) {
      const LayerActs& a = acts[l];
      const LayerParams& p = w[l];
      be.rmsnorm_forward(rows(a.ln1, N * C), rows(a.rstd1, N), rows(xs[l], N * C), p.ln1, N, C, eps);
      be.matmul_forward(rows(a.qraw, N * QD), rows(a.ln1, N * C), p.q, N, C, QD);
      be.matmul_forward(rows(a.kraw, N * KD), rows(a.ln1, N * C), p.k, N, C, KD);
      be.matmul_forward(rows(a.v, N * KD), rows(a.ln1, N * C), p.v, N, C, KD);
      be.rmsnorm_forward(rows(a.q, N * QD), rows(a.qrstd, N * Hq), rows(a.qraw, N * QD), p.qn, N * Hq, D,
                         eps);
      be.rmsnorm_forward(rows(a.k, N * KD), rows(a.krstd, N * Hkv), rows(a.kraw, N * KD), p.kn, N * Hkv, D,
                         eps);
      be.rope_forward(rows(a.q, N * QD), rows(a.q, N * QD), N, T, Hq, D, cfg.rope_theta);
      be.rope_forward(rows(a.k, N * KD), rows(a.k, N * KD), N, T, Hkv, D, cfg.rope_theta);
      be.attention_forward(rows(a.att, N * QD), rows(a.lse, N * Hq), rows(a.q, N * QD), rows(a.k, N * KD),
                           rows(a.v, N * KD), B, T, Hq, Hkv, D);
      mlp_and_residuals(l, N);
    }
    be.rmsnorm_forward(rows(lnf, N * C), rows(rstdf, N), rows(xs[L], N * C), norm_w, N, C, eps);
  }

  // o_proj + residual, post-attention norm, SwiGLU MLP + residual (shared with forward_next).
  void mlp_and_residuals(int64_t l, int64_t N) {
    const LayerActs& a = acts[l];
    const LayerParams& p = w[l];
    be.matmul_forward(rows(tmpC, N * C), rows(a.att, N * QD), p.o, N, QD, C);
    be.add(rows(a.xmid, N * C), rows(xs[l], N * C), rows(tmpC, N * C), N * C);
    be.rmsnorm_forward(rows(a.ln2, N * C), rows(a.rstd2, N), rows(a.xmid, N * C), p.ln2, N, C, eps);
    be.matmul_forward(rows(a.gate, N * I), rows(a.ln2, N * C), p.gate, N, C, I);
    be.matmul_forward(rows(a.up, N * I), rows(a.ln2, N * C), p.up, N, C, I);
    be.swiglu_forward(rows(a.h, N * I), rows(a.gate, N * I), rows(a.up, N * I), N * I);
    be.matmul_forward(rows(tmpC, N * C), rows(a.h, N * I), p.down, N, I, C);
    be.add(rows(xs[l + 1], N * C), rows(a.xmid, N * C), rows(tmpC, N * C), N * C);
  }

  // Expects dC [N, C] = d loss / d lnf. Accumulates all parameter gradients.
  void backward(int64_t B, int64_t T) {
    const int64_t N = B * T;
    const Buf dxN = rows(dx, N * C), dCN = rows(dC, N * C);
    be.fill(dxN, 0.0);
    be.rmsnorm_backward(dxN, norm_g, dCN, rows(xs[L], N * C), norm_w, rows(rstdf, N), N, C);
    for (int64_t l = L - 1; l >= 0; --l) {
      const LayerActs& a = acts[l];
      const LayerParams& p = w[l];
      const LayerParams& q = g[l];
      // MLP: x_{l+1} = m + down(silu(gate(b)) * up(b)), b = RMSNorm(m)
      be.matmul_backward(rows(dh, N * I), q.down, dxN, rows(a.h, N * I), p.down, N, I, C, false);
      be.swiglu_backward(rows(dgate, N * I), rows(dup, N * I), rows(dh, N * I), rows(a.gate, N * I),
                         rows(a.up, N * I), N * I);
      be.matmul_backward(dCN, q.gate, rows(dgate, N * I), rows(a.ln2, N * C), p.gate, N, C, I, false);
      be.matmul_backward(dCN, q.up, rows(dup, N * I), rows(a.ln2, N * C), p.up, N, C, I, true);
      be.rmsnorm_backward(dxN, q.ln2, dCN, rows(a.xmid, N * C), p.ln2, rows(a.rstd2, N), N, C);  // dx = dm
      // attention: m = x_l + o_proj(attn(rope(qnorm(q(a))), rope(knorm(k(a))), v(a))), a = RMSNorm(x_l)
      be.matmul_backward(rows(datt, N * QD), q.o, dxN, rows(a.att, N * QD), p.o, N, QD, C, false);
      be.attention_backward(rows(dq, N * QD), rows(dk, N * KD), rows(dv, N * KD), rows(datt, N * QD),
                            rows(a.att, N * QD), rows(a.lse, N * Hq), rows(a.q, N * QD), rows(a.k, N * KD),
                            rows(a.v, N * KD), B, T, Hq, Hkv, D);
      be.rope_backward(rows(dq, N * QD), rows(dq, N * QD), N, T, Hq, D, cfg.rope_theta);
      be.rope_backward(rows(dk, N * KD), rows(dk, N * KD), N, T, Hkv, D, cfg.rope_theta);
      be.fill(rows(dqraw, N * QD), 0.0);
      be.rmsnorm_backward(rows(dqraw, N * QD), q.qn, rows(dq, N * QD), rows(a.qraw, N * QD), p.qn,
                          rows(a.qrstd, N * Hq), N * Hq, D);
      be.fill(rows(dkraw, N * KD), 0.0);
      be.rmsnorm_backward(rows(dkraw, N * KD), q.kn, rows(dk, N * KD), rows(a.kraw, N * KD), p.kn,
                          rows(a.krstd, N * Hkv), N * Hkv, D);
      be.matmul_backward(dCN, q.q, rows(dqraw, N * QD), rows(a.ln1, N * C), p.q, N, C, QD, false);
      be.matmul_backward(dCN, q.k, rows(dkraw, N * KD), rows(a.ln1, N * C), p.k, N, C, KD, true);
      be.matmul_backward(dCN, q.v, rows(dv, N * KD), rows(a.ln1, N * C), p.v, N, C, KD, true);
      be.rmsnorm_backward(dxN, q.ln1, dCN, rows(xs[l], N * C), p.ln1, rows(a.rstd1, N), N, C);  // dx = dx_l
    }
    be.embedding_backward(embed_g, rows(ids, N), dxN, N, C, V);
  }

  // Adds this micro-batch's loss sum to the device-side slots (no host sync).
  void record_loss(int64_t N) {
    if (loss_slot_count == kLossSlots) {  // fold all slots into slot 0
      be.sum(loss_total, loss_slots, kLossSlots);
      be.fill(loss_slots, 0.0);
      be.convert(loss_slots.at(0, 1), loss_total);
      loss_slot_count = 1;
    }
    be.sum(loss_slots.at(size_t(loss_slot_count), 1), rows(losses, N), N);
    ++loss_slot_count;
  }

  double read_stat_scalar(Buf b) {
    double out = 0;
    std::vector<char> host(b.bytes());
    be.copy_to_host(host.data(), b);
    convert_host(&out, DType::F64, host.data(), b.dtype, 1);
    return out;
  }

  // Host <-> master/grad buffers, element-wise through convert_host.
  template <class H>
  std::vector<H> download(Buf b) {
    std::vector<char> raw(b.bytes());
    be.copy_to_host(raw.data(), b);
    std::vector<H> out(b.numel);
    convert_host(out.data(), std::is_same_v<H, float> ? DType::F32 : DType::F64, raw.data(), b.dtype,
                 b.numel);
    return out;
  }
  void upload(Buf b, const void* host, DType host_dtype) {
    std::vector<char> raw(b.bytes());
    convert_host(raw.data(), b.dtype, host, host_dtype, b.numel);
    be.copy_from_host(b, raw.data());
  }

  void ensure_cache() {
    if (!k_cache.empty()) return;
    for (int64_t l = 0; l < L; ++l) {
      k_cache.push_back(alloc(size_t(max_seq * KD), be.act_dtype()));
      v_cache.push_back(alloc(size_t(max_seq * KD), be.act_dtype()));
    }
  }
};

Qwen3Model::Qwen3Model(const Qwen3Config& cfg, Backend& backend, int64_t max_batch, int64_t max_seq)
    : impl_(std::make_unique<Impl>(cfg, backend, max_batch, max_seq)) {}
Qwen3Model::~Qwen3Model() = default;

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
  s.be.fill(s.m, 0.0);
  s.be.fill(s.v, 0.0);
}

void Qwen3Model::zero_grads() {
  Impl& s = *impl_;
  s.be.fill(s.grads, 0.0);
  s.be.fill(s.loss_slots, 0.0);
  s.loss_slot_count = 0;
  s.loss_count = 0;
}

void Qwen3Model::forward_backward(const int32_t* tokens, int64_t B, int64_t T, float loss_scale) {
  Impl& s = *impl_;
  s.upload_tokens(tokens, B, T, true);
  s.forward(B, T);
  const int64_t N = B * T;
  s.be.lm_head_loss(Impl::rows(s.losses, N), Impl::rows(s.dC, N * s.C), s.embed_g, Impl::rows(s.lnf, N * s.C),
                    s.embed_w, Impl::rows(s.targets, N), N, s.C, s.V, loss_scale);
  s.record_loss(N);
  s.loss_count += B * (T - 1);
  s.backward(B, T);
}

void Qwen3Model::optimizer_step(const AdamWArgs& args) {
  Impl& s = *impl_;
  const size_t P = s.table.total(), Dn = s.table.decay_numel();
  s.be.grad_norm_sq(s.gnorm, s.grads, int64_t(P));
  s.be.adamw_update(s.master.at(0, Dn), s.separate_compute ? s.compute.at(0, Dn) : Buf{}, s.grads.at(0, Dn),
                    s.m.at(0, Dn), s.v.at(0, Dn), s.gnorm, int64_t(Dn), args, true);
  if (P > Dn)
    s.be.adamw_update(s.master.at(Dn, P - Dn), s.separate_compute ? s.compute.at(Dn, P - Dn) : Buf{},
                      s.grads.at(Dn, P - Dn), s.m.at(Dn, P - Dn), s.v.at(Dn, P - Dn), s.gnorm,
                      int64_t(P - Dn), args, false);
  s.have_grad_norm = true;
  s.last_step = args.step;
}

StepStats Qwen3Model::last_step_stats() {
  Impl& s = *impl_;
  StepStats st;
  if (s.loss_slot_count > 0) {
    s.be.sum(s.loss_total, s.loss_slots, s.loss_slot_count);
    st.loss = s.read_stat_scalar(s.loss_total) / double(std::max<int64_t>(1, s.loss_count));
  }
  if (s.have_grad_norm) st.grad_norm = std::sqrt(s.read_stat_scalar(s.gnorm));
  return st;
}

std::pair<double, int64_t> Qwen3Model::eval_loss_sum(const int32_t* tokens, int64_t B, int64_t T) {
  Impl& s = *impl_;
  s.upload_tokens(tokens, B, T, true);
  s.forward(B, T);
  const int64_t N = B * T;
  s.be.lm_head_loss(Impl::rows(s.losses, N), Buf{}, Buf{}, Impl::rows(s.lnf, N * s.C), s.embed_w,
                    Impl::rows(s.targets, N), N, s.C, s.V, 1.0f);
  s.be.sum(s.loss_total, Impl::rows(s.losses, N), N);
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
  const int64_t N = n, C = s.C, QD = s.QD, KD = s.KD;
  auto rows = Impl::rows;
  s.be.embedding_forward(rows(s.xs[0], N * C), rows(s.ids, N), s.embed_w, N, C, s.V);
  for (int64_t l = 0; l < s.L; ++l) {
    const LayerActs& a = s.acts[l];
    const LayerParams& p = s.w[l];
    const Buf kc = s.k_cache[l].at(size_t(P * KD), size_t(N * KD));
    const Buf vc = s.v_cache[l].at(size_t(P * KD), size_t(N * KD));
    s.be.rmsnorm_forward(rows(a.ln1, N * C), rows(a.rstd1, N), rows(s.xs[l], N * C), p.ln1, N, C, s.eps);
    s.be.matmul_forward(rows(a.qraw, N * QD), rows(a.ln1, N * C), p.q, N, C, QD);
    s.be.matmul_forward(rows(a.kraw, N * KD), rows(a.ln1, N * C), p.k, N, C, KD);
    s.be.matmul_forward(vc, rows(a.ln1, N * C), p.v, N, C, KD);
    s.be.rmsnorm_forward(rows(a.q, N * QD), rows(a.qrstd, N * s.Hq), rows(a.qraw, N * QD), p.qn, N * s.Hq,
                         s.D, s.eps);
    s.be.rmsnorm_forward(rows(a.k, N * KD), rows(a.krstd, N * s.Hkv), rows(a.kraw, N * KD), p.kn, N * s.Hkv,
                         s.D, s.eps);
    s.be.rope_forward(rows(a.q, N * QD), rows(a.q, N * QD), N, N, s.Hq, s.D, s.cfg.rope_theta, P);
    s.be.rope_forward(kc, rows(a.k, N * KD), N, N, s.Hkv, s.D, s.cfg.rope_theta, P);
    s.be.attention_infer(rows(a.att, N * QD), rows(a.q, N * QD), s.k_cache[l].at(0, size_t((P + N) * KD)),
                         s.v_cache[l].at(0, size_t((P + N) * KD)), N, P + N, s.Hq, s.Hkv, s.D);
    s.mlp_and_residuals(l, N);
  }
  s.be.rmsnorm_forward(rows(s.lnf, C), rows(s.rstdf, 1), s.xs[s.L].at(size_t((N - 1) * C), size_t(C)),
                       s.norm_w, 1, C, s.eps);
  s.be.lm_head_logits(s.logits1, rows(s.lnf, C), s.embed_w, 1, C, s.V);
  s.cache_len = P + N;
  return s.download<float>(s.logits1);
}

std::vector<float> Qwen3Model::get_params_f32() {
  return impl_->download<float>(impl_->master);
}
void Qwen3Model::set_params_f32(const std::vector<float>& host) {
  TT_CHECK(host.size() == impl_->table.total())
      << "set_params_f32: got " << host.size() << " values, the model has " << impl_->table.total();
  impl_->upload(impl_->master, host.data(), DType::F32);
  impl_->refresh_compute();
}
std::vector<double> Qwen3Model::get_grads() {
  return impl_->download<double>(impl_->grads);
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

// ---- checkpoints ------------------------------------------------------------------------------

namespace {

// Convert a host buffer of `src_dtype` to `dtype` bytes.
std::vector<char> as_dtype(const std::vector<char>& src, DType src_dtype, DType dtype, size_t n) {
  std::vector<char> out(n * dtype_size(dtype));
  convert_host(out.data(), dtype, src.data(), src_dtype, n);
  return out;
}

// Reads tensors named prefix + table name into a host buffer of `dtype` laid out like the table,
// checking presence, shape and dtype. Nothing is uploaded, so a failure leaves the model untouched.
std::vector<char> read_table(const ParamTable& table, const SafetensorsFile& f, const std::string& prefix,
                             DType dtype) {
  std::vector<char> raw, host(table.total() * dtype_size(dtype));
  for (const ParamInfo& p : table.params()) {
    const std::string name = prefix + p.name;
    const SafetensorsEntry* e = f.find(name);
    TT_CHECK(e) << f.path.string() << ": tensor \"" << name << "\" is missing";
    TT_CHECK(e->shape == p.shape) << f.path.string() << ": tensor \"" << name << "\" has shape "
                                  << nlohmann::json(e->shape).dump() << ", the model expects "
                                  << nlohmann::json(p.shape).dump();
    TT_CHECK(e->dtype == DType::F32 || e->dtype == DType::BF16 || e->dtype == DType::F64)
        << f.path.string() << ": tensor \"" << name << "\" has dtype " << dtype_name(e->dtype)
        << "; expected F32, BF16 or F64";
    raw.resize(e->end - e->begin);
    f.read(*e, raw.data());
    convert_host(host.data() + p.offset * dtype_size(dtype), dtype, raw.data(), e->dtype, p.numel);
  }
  return host;
}

}  // namespace

void Qwen3Model::save_safetensors(const std::filesystem::path& file, DType dtype) {
  Impl& s = *impl_;
  TT_CHECK(dtype == DType::F32 || dtype == DType::BF16 || dtype == DType::F64)
      << "safetensors checkpoints are F32, BF16 or F64, not " << dtype_name(dtype);
  std::vector<char> master(s.master.bytes());
  s.be.copy_to_host(master.data(), s.master);
  const std::vector<char> data = as_dtype(master, s.master.dtype, dtype, s.master.numel);
  std::vector<SafetensorsTensor> ts;
  for (const ParamInfo& p : s.table.params())
    ts.push_back({p.name, dtype, p.shape, data.data() + p.offset * dtype_size(dtype)});
  write_safetensors(file, std::move(ts), {{"format", "pt"}});
}

void Qwen3Model::load_safetensors(const std::filesystem::path& file) {
  Impl& s = *impl_;
  const SafetensorsFile f = read_safetensors(file);
  for (const auto& e : f.tensors)
    TT_CHECK(s.table.find(e.name)) << file.string() << ": unexpected tensor \"" << e.name
                                   << "\" (not part of a tied-embedding Qwen3 of this config)";
  const std::vector<char> host = read_table(s.table, f, "", s.master.dtype);
  s.be.copy_from_host(s.master, host.data());
  s.refresh_compute();
}

void Qwen3Model::save_optimizer_state(const std::filesystem::path& file) {
  Impl& s = *impl_;
  const DType md = s.master.dtype;
  std::vector<char> master(s.master.bytes()), m(s.m.bytes()), v(s.v.bytes());
  s.be.copy_to_host(master.data(), s.master);
  s.be.copy_to_host(m.data(), s.m);
  s.be.copy_to_host(v.data(), s.v);
  std::vector<SafetensorsTensor> ts;
  for (const ParamInfo& p : s.table.params()) {
    const size_t off = p.offset * dtype_size(md);
    ts.push_back({"master." + p.name, md, p.shape, master.data() + off});
    ts.push_back({"exp_avg." + p.name, md, p.shape, m.data() + off});
    ts.push_back({"exp_avg_sq." + p.name, md, p.shape, v.data() + off});
  }
  write_safetensors(
      file, std::move(ts),
      {{"format", "pt"}, {"step", std::to_string(s.last_step)}, {"master_dtype", dtype_name(md)}});
}

void Qwen3Model::load_optimizer_state(const std::filesystem::path& file) {
  Impl& s = *impl_;
  const SafetensorsFile f = read_safetensors(file);
  for (const auto& e : f.tensors) {
    const auto dot = e.name.find('.');
    const std::string kind = e.name.substr(0, dot),
                      rest = dot == std::string::npos ? "" : e.name.substr(dot + 1);
    TT_CHECK((kind == "master" || kind == "exp_avg" || kind == "exp_avg_sq") && s.table.find(rest))
        << file.string() << ": unexpected tensor \"" << e.name << "\" in an optimizer state file";
  }
  const std::vector<char> master = read_table(s.table, f, "master.", s.master.dtype);
  const std::vector<char> m = read_table(s.table, f, "exp_avg.", s.m.dtype);
  const std::vector<char> v = read_table(s.table, f, "exp_avg_sq.", s.v.dtype);
  s.be.copy_from_host(s.master, master.data());
  s.be.copy_from_host(s.m, m.data());
  s.be.copy_from_host(s.v, v.data());
  s.refresh_compute();
  if (auto it = f.metadata.find("step"); it != f.metadata.end()) s.last_step = std::stoll(it->second);
}

}  // namespace tt
