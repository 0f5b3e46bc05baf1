// bench_model: training-step throughput of the Qwen3 graph on the CPU backend, with the time
// split per op family (a timing decorator around the backend), so the GEMM share is measured.
//
//   bench_model [config.json] [B] [T] [steps] [f32|f64|bf16] [threads]
//   defaults: configs/qwen3_demo.json 2 512 3 f32, threads = the cores this process may run on
//   bench_model generate <config.json> [prompt] [tokens] [reps] [f32|f64|bf16]   (KV-cache generation)
//   bench_model eval <config.json> [B] [T] [reps] [f32|bf16]                   (eval_loss_sum vs train step)
// Prints one line per step and a summary: tokens/s of forward+backward (+ optimizer step) and the
// share of each op family ("gemm (linear layers)" = matmul_forward/backward). lm_head_loss contains
// three GEMMs per chunk plus the softmax; those GEMMs are then re-run alone with the same chunking to
// measure the GEMM share of the LM head (attention's GEMMs stay inside "attention").
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "cpu/cross_entropy.h"
#include "cpu/gemm.h"
#include "model/model.h"

namespace {

using Clock = std::chrono::steady_clock;

// Forwards every call to `inner`, adding its wall time to a per-op total.
class TimingBackend final : public tt::Backend {
 public:
  explicit TimingBackend(tt::Backend& inner) : in_(inner) {}
  std::map<std::string, double> seconds;

  std::string name() const override { return in_.name(); }
  tt::DType act_dtype() const override { return in_.act_dtype(); }
  tt::DType grad_dtype() const override { return in_.grad_dtype(); }
  tt::DType stat_dtype() const override { return in_.stat_dtype(); }
  tt::DType master_dtype() const override { return in_.master_dtype(); }
  size_t peak_memory_bytes() const override { return in_.peak_memory_bytes(); }
  size_t op_scratch_bytes(const tt::OpShapes& s) const override { return in_.op_scratch_bytes(s); }

 protected:
  using Tensor = tt::Tensor;
  Tensor alloc_impl(int64_t r, int64_t c, tt::DType d) override { return in_.alloc(r, c, d); }
  void free_impl(Tensor t) override { in_.free(t); }
  void copy_from_host_impl(Tensor d, const void* s) override {
    T("copy", [&] { in_.copy_from_host(d, s); });
  }
  void copy_to_host_impl(void* d, Tensor s) override {
    T("copy", [&] { in_.copy_to_host(d, s); });
  }
  void convert_impl(Tensor d, Tensor s) override {
    T("copy", [&] { in_.convert(d, s); });
  }
  void fill_impl(Tensor d, double v) override {
    T("fill", [&] { in_.fill(d, v); });
  }
  void synchronize_impl() override { in_.synchronize(); }
  void embedding_forward_impl(Tensor o, Tensor i, Tensor t) override {
    T("embedding", [&] { in_.embedding_forward(o, i, t); });
  }
  void embedding_backward_impl(Tensor d, Tensor i, Tensor g) override {
    T("embedding", [&] { in_.embedding_backward(d, i, g); });
  }
  void rmsnorm_forward_impl(Tensor o, Tensor r, Tensor x, Tensor w, float e) override {
    T("rmsnorm", [&] { in_.rmsnorm_forward(o, r, x, w, e); });
  }
  void rmsnorm_backward_impl(Tensor a, Tensor b, Tensor c, Tensor d, Tensor e, Tensor f) override {
    T("rmsnorm", [&] { in_.rmsnorm_backward(a, b, c, d, e, f); });
  }
  void matmul_forward_impl(Tensor o, Tensor x, Tensor w, Tensor r) override {
    T("gemm (linear layers)", [&] { in_.matmul_forward(o, x, w, r); });
  }
  void matmul_backward_impl(Tensor a, Tensor b, Tensor c, Tensor d, Tensor e, bool acc) override {
    T("gemm (linear layers)", [&] { in_.matmul_backward(a, b, c, d, e, acc); });
  }
  void qk_norm_rope_forward_impl(Tensor q, Tensor k, Tensor v, Tensor qr, Tensor kr, Tensor qkv, Tensor qn,
                                 Tensor kn, Tensor c, Tensor s, int64_t t, float e) override {
    T("qk_norm_rope", [&] { in_.qk_norm_rope_forward(q, k, v, qr, kr, qkv, qn, kn, c, s, t, e); });
  }
  void qk_norm_rope_backward_impl(Tensor d, Tensor dqn, Tensor dkn, Tensor dq, Tensor dk, Tensor dv,
                                  Tensor qkv, Tensor qn, Tensor kn, Tensor qr, Tensor kr, Tensor c, Tensor s,
                                  int64_t t) override {
    T("qk_norm_rope",
      [&] { in_.qk_norm_rope_backward(d, dqn, dkn, dq, dk, dv, qkv, qn, kn, qr, kr, c, s, t); });
  }
  void attention_forward_impl(Tensor o, Tensor l, Tensor q, Tensor k, Tensor v, int64_t D) override {
    T("attention", [&] { in_.attention_forward(o, l, q, k, v, D); });
  }
  void attention_backward_impl(Tensor a, Tensor b, Tensor c, Tensor d, Tensor e, Tensor f, Tensor g, Tensor h,
                               Tensor i, int64_t D) override {
    T("attention", [&] { in_.attention_backward(a, b, c, d, e, f, g, h, i, D); });
  }
  void attention_infer_impl(Tensor o, Tensor q, Tensor k, Tensor v, int64_t D) override {
    T("attention", [&] { in_.attention_infer(o, q, k, v, D); });
  }
  void swiglu_forward_impl(Tensor o, Tensor gu) override {
    T("swiglu", [&] { in_.swiglu_forward(o, gu); });
  }
  void swiglu_backward_impl(Tensor d, Tensor dout, Tensor gu) override {
    T("swiglu", [&] { in_.swiglu_backward(d, dout, gu); });
  }
  void lm_head_loss_impl(Tensor a, Tensor b, Tensor c, Tensor d, Tensor e, Tensor f, float s) override {
    T("lm_head_loss", [&] { in_.lm_head_loss(a, b, c, d, e, f, s); });
  }
  void lm_head_logits_impl(Tensor a, Tensor b, Tensor c) override {
    T("lm_head_loss", [&] { in_.lm_head_logits(a, b, c); });
  }
  void sum_impl(Tensor o, Tensor x) override {
    T("optimizer", [&] { in_.sum(o, x); });
  }
  void grad_norm_sq_impl(Tensor o, Tensor g) override {
    T("optimizer", [&] { in_.grad_norm_sq(o, g); });
  }
  void adamw_update_impl(Tensor a, Tensor b, Tensor c, Tensor d, Tensor e, Tensor f, Tensor lr_step,
                         const tt::AdamWConfig& config, bool decay) override {
    T("optimizer", [&] { in_.adamw_update(a, b, c, d, e, f, lr_step, config, decay); });
  }

 private:
  template <class F>
  void T(const char* what, F&& f) {
    const auto t0 = Clock::now();
    f();
    seconds[what] += std::chrono::duration<double>(Clock::now() - t0).count();
  }
  tt::Backend& in_;
};

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The CPU backend for a precision argument (f32, f64 or bf16; default f32) and a thread count (0: all cores).
std::unique_ptr<tt::Backend> cpu_backend(int argc, char** argv, int precision_arg, int threads_arg = 0) {
  const std::string p = argc > precision_arg ? argv[precision_arg] : "f32";
  const int threads = threads_arg > 0 && argc > threads_arg ? std::atoi(argv[threads_arg]) : 0;
  if (p != "f32" && p != "f64" && p != "bf16")
    throw std::runtime_error("precision must be f32, f64 or bf16, not " + p);
  return tt::make_cpu_backend(p == "f64"    ? tt::DType::F64
                              : p == "bf16" ? tt::DType::BF16
                                            : tt::DType::F32,
                              threads);
}

std::vector<int32_t> bench_tokens(int64_t n, int64_t vocab) {
  std::vector<int32_t> out(static_cast<size_t>(n));
  for (size_t i = 0; i < out.size(); ++i) out[i] = int32_t((i * 2654435761u) % uint64_t(vocab));
  return out;
}

// bench_model generate <config.json> [prompt] [tokens] [reps] [f32|f64|bf16]: KV-cache generation, batch 1.
// Feeds a prompt, then `tokens` tokens one at a time through forward_next (the logits are returned
// but not sampled from: sampling is the train module's and costs far less than one forward). Prints
// tokens/s of the one-at-a-time part for each of `reps` repetitions (fresh cache each) and the time
// per op family of the last one.
int bench_generate(int argc, char** argv) {
  const std::string cfg_path = argc > 2 ? argv[2] : std::string(TT_SOURCE_DIR) + "/configs/qwen3_demo.json";
  const int64_t prompt = argc > 3 ? std::atoll(argv[3]) : 16;
  const int64_t gen = argc > 4 ? std::atoll(argv[4]) : 64;
  const int reps = argc > 5 ? std::atoi(argv[5]) : 3;
  const auto cfg = tt::Qwen3Config::load(cfg_path);
  auto inner = cpu_backend(argc, argv, 6);
  TimingBackend be(*inner);
  tt::Qwen3Model model(cfg, be, 1, prompt + gen);
  model.init_weights(1);
  const std::vector<int32_t> tok = bench_tokens(prompt + gen, cfg.vocab_size);
  std::printf("config %s  params %.2fM  backend %s  prompt %lld  generated %lld\n", cfg_path.c_str(),
              double(cfg.num_parameters()) / 1e6, inner->name().c_str(), (long long)prompt, (long long)gen);
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    be.seconds.clear();
    model.reset_cache();
    const auto t0 = Clock::now();
    model.forward_next(tok.data(), prompt);
    const double prompt_s = seconds_since(t0);
    be.seconds.clear();
    const auto t1 = Clock::now();
    for (int64_t i = 0; i < gen; ++i) model.forward_next(tok.data() + prompt + i, 1);
    const double gs = seconds_since(t1);
    best = std::max(best, double(gen) / gs);
    std::printf("rep %d: prompt %.4f s; %.1f tokens/s one at a time (%.2f ms/token)\n", r, prompt_s,
                double(gen) / gs, 1e3 * gs / double(gen));
  }
  std::printf("best: %.1f tokens/s\ntime per op family per generated token (last rep):\n", best);
  for (auto& [k, v] : be.seconds) std::printf("  %-22s %8.3f ms\n", k.c_str(), 1e3 * v / double(gen));
  return 0;
}

// bench_model eval <config.json> <B> <T> [reps] [f32|bf16]: eval_loss_sum on B rows against one training
// step (zero_grads + forward_backward) on the same rows, so the forward-only cost is visible.
int bench_eval(int argc, char** argv) {
  const std::string cfg_path =
      argc > 2 ? argv[2] : std::string(TT_SOURCE_DIR) + "/configs/qwen3_cpu_small.json";
  const int64_t B = argc > 3 ? std::atoll(argv[3]) : 8;
  const int64_t T = argc > 4 ? std::atoll(argv[4]) : 256;
  const int reps = argc > 5 ? std::atoi(argv[5]) : 3;
  const auto cfg = tt::Qwen3Config::load(cfg_path);
  auto inner = cpu_backend(argc, argv, 6);
  TimingBackend be(*inner);
  tt::Qwen3Model model(cfg, be, B, T);
  model.init_weights(1);
  const std::vector<int32_t> tok = bench_tokens(B * T, cfg.vocab_size);
  model.zero_grads();
  model.forward_backward(tok.data(), B, T, 1.0f);  // warm-up (scratch growth)
  model.eval_loss_sum(tok.data(), B, T);
  std::printf("config %s  B=%lld T=%lld\n", cfg_path.c_str(), (long long)B, (long long)T);
  for (int r = 0; r < reps; ++r) {
    be.seconds.clear();
    auto t0 = Clock::now();
    const auto [sum, n] = model.eval_loss_sum(tok.data(), B, T);
    const double eval_s = seconds_since(t0);
    auto eval_ops = be.seconds;
    be.seconds.clear();
    t0 = Clock::now();
    model.zero_grads();
    model.forward_backward(tok.data(), B, T, 1.0f / float(n));
    const double fb_s = seconds_since(t0);
    std::printf("rep %d: eval_loss_sum %.3f s (%.0f tok/s, loss %.4f)  forward_backward %.3f s  ratio %.2f\n",
                r, eval_s, double(B * T) / eval_s, sum / double(n), fb_s, eval_s / fb_s);
    if (r + 1 == reps)
      for (auto& [k, v] : eval_ops) std::printf("  eval %-22s %8.3f s\n", k.c_str(), v);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  try {
    if (mode == "generate") return bench_generate(argc, argv);
    if (mode == "eval") return bench_eval(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  const std::string cfg_path = argc > 1 ? argv[1] : std::string(TT_SOURCE_DIR) + "/configs/qwen3_demo.json";
  const int64_t B = argc > 2 ? std::atoll(argv[2]) : 2;
  const int64_t T = argc > 3 ? std::atoll(argv[3]) : 512;
  const int steps = argc > 4 ? std::atoi(argv[4]) : 3;
  try {
    const auto cfg = tt::Qwen3Config::load(cfg_path);
    auto inner = cpu_backend(argc, argv, 5, 6);
    TimingBackend be(*inner);
    tt::Qwen3Model model(cfg, be, B, T);
    model.init_weights(1);
    std::vector<int32_t> tok(size_t(B * T));
    for (size_t i = 0; i < tok.size(); ++i) tok[i] = int32_t((i * 2654435761u) % uint64_t(cfg.vocab_size));
    tt::AdamWArgs args;
    args.lr = 1e-4f;
    args.weight_decay = 0.1f;
    double total = 0, fb_total = 0;
    for (int s = 0; s <= steps; ++s) {  // step 0 is warm-up (scratch growth, page faults)
      if (s == 1) be.seconds.clear();
      const auto t0 = Clock::now();
      model.zero_grads();
      model.forward_backward(tok.data(), B, T, 1.0f / float(B * (T - 1)));
      const auto t1 = Clock::now();
      args.step = s + 1;
      model.optimizer_step(args);
      const auto st = model.last_step_stats();
      const auto t2 = Clock::now();
      const double fb = std::chrono::duration<double>(t1 - t0).count();
      const double all = std::chrono::duration<double>(t2 - t0).count();
      std::printf("step %d: loss %.4f  fwd+bwd %.3f s (%.0f tok/s)  +optimizer %.3f s\n", s, st.loss, fb,
                  double(B * T) / fb, all - fb);
      if (s > 0) {
        total += all;
        fb_total += fb;
      }
    }
    std::printf("\nconfig %s  params %.2fM  B=%lld T=%lld  backend %s  %s\n", cfg_path.c_str(),
                double(cfg.num_parameters()) / 1e6, (long long)B, (long long)T, inner->name().c_str(),
                tt::cpu::gemm_kernel_description(inner->act_dtype() == tt::DType::BF16).c_str());
    std::printf("forward+backward: %.0f tokens/s (%.3f s/step); with optimizer: %.0f tokens/s\n",
                double(B * T) * steps / fb_total, fb_total / steps, double(B * T) * steps / total);
    std::printf("model FLOPs/step %.1f G -> %.1f GFLOP/s (fwd+bwd)\n", cfg.train_flops(B, T) / 1e9,
                cfg.train_flops(B, T) * steps / fb_total / 1e9);
    const tt::Qwen3Model::MemoryNeed need = tt::Qwen3Model::memory_need(cfg, be, B, T);
    std::printf(
        "peak backend memory %.0f MiB (estimated before allocating: %.0f MiB, tensors %.0f + op scratch "
        "%.0f)\n",
        double(be.peak_memory_bytes()) / (1 << 20), double(need.total()) / (1 << 20),
        double(need.tensors) / (1 << 20), double(need.scratch) / (1 << 20));
    double sum = 0;
    for (auto& [k, v] : be.seconds) sum += v;
    std::printf("time per op family (share of op time %.3f s/step):\n", sum / steps);
    for (auto& [k, v] : be.seconds)
      std::printf("  %-22s %8.3f s/step  %5.1f%%\n", k.c_str(), v / steps, 100 * v / sum);

    // The GEMMs inside lm_head_loss, timed alone as it runs them: the same row chunks and vocab slices, fp32
    // logits, dlogits in the activation type (logits, dhidden, dtable).
    tt::Backend& ib = *inner;
    const int64_t N = B * T, C = cfg.hidden_size, V = cfg.vocab_size;
    const int64_t max_rows = tt::cpu::chunk_rows(V), chunks = (N + max_rows - 1) / max_rows;
    const int64_t R = (N + chunks - 1) / chunks;
    auto time_lm_head_gemms = [&](auto act) {
      using A = decltype(act);
      using T = std::conditional_t<std::is_same_v<A, double>, double, float>;
      std::vector<A> h(size_t(R * C), A(0.01f)), E(size_t(V * C), A(0.02f)), dl(size_t(R * V), A(0.001f));
      std::vector<A> dh(size_t(R * C));
      std::vector<T> L(size_t(R * V)), dE(size_t(V * C));
      double seconds = 0;
      for (int s = 0; s <= steps; ++s) {
        const auto t0 = Clock::now();
        for (int64_t n0 = 0; n0 < N; n0 += R) {
          const int64_t rows = std::min(R, N - n0);
          tt::cpu::logits_gemm(L.data(), V, h.data(), E.data(), rows, C, V);
          tt::cpu::gemm(false, false, rows, C, V, 1.0, dl.data(), V, E.data(), C, 0.0, dh.data(), C);
          tt::cpu::dtable_gemm(dE.data(), dl.data(), V, h.data(), rows, C, V);
        }
        if (s > 0) seconds += std::chrono::duration<double>(Clock::now() - t0).count();
      }
      return seconds;
    };
    const tt::DType act_dtype = ib.act_dtype();
    const double gemm_s = act_dtype == tt::DType::BF16  ? time_lm_head_gemms(tt::cpu::bf16(0.0f))
                          : act_dtype == tt::DType::F64 ? time_lm_head_gemms(0.0)
                                                        : time_lm_head_gemms(0.0f);
    const double lm = be.seconds["lm_head_loss"] / steps, lin = be.seconds["gemm (linear layers)"] / steps;
    std::printf("LM-head GEMMs alone: %.3f s/step (%.0f%% of lm_head_loss; %.1f GFLOP/s)\n", gemm_s / steps,
                100 * gemm_s / steps / lm, 6.0 * double(N) * double(V) * double(C) / (gemm_s / steps) / 1e9);
    std::printf(
        "GEMM share of op time (linear layers + LM-head GEMMs; attention GEMMs not counted): %.0f%%\n",
        100 * (lin + gemm_s / steps) / (sum / steps));

    // Generation with the KV cache (batch 1): a 16-token prompt, then 32 tokens one at a time.
    model.reset_cache();
    const int64_t prompt = std::min<int64_t>(16, T / 2), gen = std::min<int64_t>(32, T - prompt);
    const auto g0 = Clock::now();
    model.forward_next(tok.data(), prompt);
    const auto g1 = Clock::now();
    for (int64_t i = 0; i < gen; ++i) model.forward_next(tok.data() + prompt + i, 1);
    const double gs = std::chrono::duration<double>(Clock::now() - g1).count();
    std::printf("forward_next: prompt of %lld in %.3f s; %.1f tokens/s one at a time (%lld tokens)\n",
                (long long)prompt, std::chrono::duration<double>(g1 - g0).count(), double(gen) / gs,
                (long long)gen);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
