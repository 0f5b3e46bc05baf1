// The CUDA kernels of src/cuda/*_kernels.cuh run on the CPU under the fiber emulator
// (cuda_emu.h) with their real launch geometry, against the CPU reference ops (src/cpu). This
// checks indexing, causal masking, GQA mapping, shuffles, shared-memory tiling and online softmax
// on machines without a GPU; the real-GPU op test (cuda_ops_test) remains the final word.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "cpu/adamw.h"
#include "cpu/attention.h"
#include "cpu/embedding.h"
#include "cpu/rmsnorm.h"
#include "cpu/rope.h"
#include "cpu/swiglu.h"
// The emulated kernels come last: cuda_emu.h defines CUDA keywords as macros.
#define TT_CUDA_EMULATION 1
#include "cuda/adamw_kernels.cuh"
#include "cuda/attention_kernels.cuh"
#include "cuda/cross_entropy_kernels.cuh"
#include "cuda/elementwise_kernels.cuh"
#include "cuda/embedding_kernels.cuh"
#include "cuda/rmsnorm_kernels.cuh"
#include "cuda/rope_kernels.cuh"
#include "cuda/swiglu_kernels.cuh"

// ucontext stack switching confuses AddressSanitizer's stack bookkeeping; the emulator tests are
// skipped in sanitizer builds (TT_SANITIZE) and run in all others.
#if defined(__SANITIZE_ADDRESS__)
#define TT_EMU_SKIP_IF_SANITIZED() GTEST_SKIP() << "the fiber emulator (ucontext) does not run under ASan"
#else
#define TT_EMU_SKIP_IF_SANITIZED() (void)0
#endif

namespace tt::cuda {
namespace {

using Bf = __nv_bfloat16;

std::vector<float> rnd(std::mt19937& rng, size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = __bfloat162float(__float2bfloat16_rn(d(rng)));  // bf16-representable
  return v;
}
std::vector<Bf> to_bf(const std::vector<float>& v) {
  std::vector<Bf> o(v.size());
  for (size_t i = 0; i < v.size(); ++i) o[i] = __float2bfloat16_rn(v[i]);
  return o;
}
std::vector<float> to_f(const std::vector<Bf>& v) {
  std::vector<float> o(v.size());
  for (size_t i = 0; i < v.size(); ++i) o[i] = __bfloat162float(v[i]);
  return o;
}

void expect_close(const char* what, const std::vector<float>& ref, const std::vector<float>& got,
                  double tol) {
  ASSERT_EQ(ref.size(), got.size()) << what;
  double err = 0, norm = 0;
  size_t bad = 0, worst = 0;
  double worst_d = -1;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(got[i])) {
      ++bad;
      continue;
    }
    const double d = double(got[i]) - ref[i];
    err += d * d;
    norm += double(ref[i]) * ref[i];
    if (std::fabs(d) > worst_d) worst_d = std::fabs(d), worst = i;
  }
  EXPECT_EQ(bad, 0u) << what << ": non-finite outputs";
  EXPECT_LE(std::sqrt(err), tol * std::sqrt(norm) + 1e-6 * std::sqrt(double(ref.size())))
      << what << ": worst at " << worst << " gpu " << got[worst] << " ref " << ref[worst];
}

struct AttnShape {
  int64_t B, T, Hq, Hkv, D;
};

TEST(EmulatedKernels, AttentionForwardBackward) {
  TT_EMU_SKIP_IF_SANITIZED();
  std::mt19937 rng(11);
  for (bool vec : {false, true})
    for (AttnShape s : {AttnShape{1, 1, 1, 1, 64}, AttnShape{2, 37, 4, 2, 64}, AttnShape{1, 20, 6, 2, 128},
                        AttnShape{1, 19, 3, 3, 80}, AttnShape{1, 45, 6, 1, 32}, AttnShape{1, 70, 2, 1, 16},
                        AttnShape{1, 150, 2, 1, 64}, AttnShape{1, 97, 3, 1, 128}}) {
      SCOPED_TRACE(testing::Message() << "B=" << s.B << " T=" << s.T << " Hq=" << s.Hq << " Hkv=" << s.Hkv
                                      << " D=" << s.D << " vec=" << vec);
      if (vec && s.D % 8 != 0) continue;
      const size_t nq = size_t(s.B * s.T * s.Hq * s.D), nk = size_t(s.B * s.T * s.Hkv * s.D);
      const size_t nl = size_t(s.B * s.Hq * s.T);
      auto q = rnd(rng, nq, -2, 2), k = rnd(rng, nk, -2, 2), v = rnd(rng, nk, -1, 1),
           dout = rnd(rng, nq, -1, 1);
      std::vector<float> out_ref(nq), lse_ref(nl), scratch;
      cpu::attention_forward(out_ref.data(), lse_ref.data(), q.data(), k.data(), v.data(), s.B, s.T, s.Hq,
                             s.Hkv, s.D, scratch);

      auto qb = to_bf(q), kb = to_bf(k), vb = to_bf(v), dob = to_bf(dout);
      std::vector<Bf> out(nq, __float2bfloat16_rn(std::nanf("")));
      std::vector<float> lse(nl, std::nanf(""));
      {
        attn::Geom g = attn::make_geom(s.Hq, s.Hkv, s.D, s.T, s.T, 0, 0);
        g.vec_loads = vec;  // the 16-byte load path of the seed shape (D = 64) too
        tt::emu::launch(dim3(unsigned(s.B * s.Hq), unsigned((s.T + g.rows - 1) / g.rows)),
                        dim3(attn::kThreads), attn::smem_bytes(g, 0), [&] {
                          attn::attention_forward_kernel(out.data(), lse.data(), qb.data(), kb.data(),
                                                         vb.data(), g);
                        });
      }
      expect_close("out", out_ref, to_f(out), 1e-2);
      expect_close("lse", lse_ref, lse, 1e-5);

      // Backward from the reference's saved tensors (out rounded to bf16), as the op test does.
      std::vector<float> out_r = to_f(to_bf(out_ref));
      std::vector<float> dq_ref(nq), dk_ref(nk), dv_ref(nk);
      cpu::attention_backward(dq_ref.data(), dk_ref.data(), dv_ref.data(), dout.data(), out_r.data(),
                              lse_ref.data(), q.data(), k.data(), v.data(), s.B, s.T, s.Hq, s.Hkv, s.D,
                              scratch);
      auto outb = to_bf(out_r);
      std::vector<float> delta(nl, std::nanf(""));
      const Bf nanb = __float2bfloat16_rn(std::nanf(""));
      std::vector<Bf> dq(nq, nanb), dk(nk, nanb), dv(nk, nanb);
      const int64_t warps = s.B * s.T * s.Hq;
      tt::emu::launch(dim3(unsigned((warps * 32 + 255) / 256)), dim3(256), 0, [&] {
        attn::attention_delta_kernel(delta.data(), dob.data(), outb.data(), s.B * s.T, s.T, s.Hq, s.D);
      });
      {
        attn::Geom g = attn::make_geom(s.Hq, s.Hkv, s.D, s.T, s.T, 0, 0);
        g.vec_loads = vec;
        tt::emu::launch(dim3(unsigned(s.B * s.Hq), unsigned((s.T + g.rows - 1) / g.rows)),
                        dim3(attn::kThreads), attn::smem_bytes(g, 0), [&] {
                          attn::attention_backward_dq_kernel(dq.data(), delta.data(), lse_ref.data(),
                                                             dob.data(), qb.data(), kb.data(), vb.data(), g);
                        });
      }
      {
        attn::Geom g = attn::make_geom(s.Hq, s.Hkv, s.D, s.T, s.T, 0, 2);
        g.vec_loads = vec;
        tt::emu::launch(dim3(unsigned(s.B * s.Hkv), unsigned((s.T + g.rows - 1) / g.rows)),
                        dim3(attn::kThreads), attn::smem_bytes(g, 2), [&] {
                          attn::attention_backward_dkdv_kernel(dk.data(), dv.data(), delta.data(),
                                                               lse_ref.data(), dob.data(), qb.data(),
                                                               kb.data(), vb.data(), g);
                        });
      }
      expect_close("dq", dq_ref, to_f(dq), 2e-2);
      expect_close("dk", dk_ref, to_f(dk), 2e-2);
      expect_close("dv", dv_ref, to_f(dv), 2e-2);
    }
}

TEST(EmulatedKernels, AttentionInfer) {
  TT_EMU_SKIP_IF_SANITIZED();
  std::mt19937 rng(12);
  struct S {
    int64_t Tq, Tkv, Hq, Hkv, D;
  };
  for (S s : {S{1, 1, 2, 1, 64}, S{3, 17, 6, 2, 64}, S{5, 40, 4, 4, 128}, S{2, 70, 6, 3, 64},
              S{1, 300, 2, 1, 64}, S{40, 170, 2, 2, 64}}) {
    SCOPED_TRACE(testing::Message() << "Tq=" << s.Tq << " Tkv=" << s.Tkv);
    auto q = rnd(rng, size_t(s.Tq * s.Hq * s.D), -2, 2);
    auto k = rnd(rng, size_t(s.Tkv * s.Hkv * s.D), -2, 2), v = rnd(rng, size_t(s.Tkv * s.Hkv * s.D), -1, 1);
    std::vector<float> ref(q.size());
    cpu::attention_infer(ref.data(), q.data(), k.data(), v.data(), s.Tq, s.Tkv, s.Hq, s.Hkv, s.D);
    auto qb = to_bf(q), kb = to_bf(k), vb = to_bf(v);
    std::vector<Bf> out(q.size(), __float2bfloat16_rn(std::nanf("")));
    attn::Geom g = attn::make_geom(s.Hq, s.Hkv, s.D, s.Tq, s.Tkv, s.Tkv - s.Tq, 0);
    g.vec_loads = attn::can_vec_load(s.D, {kb.data(), vb.data()});
    tt::emu::launch(dim3(unsigned(s.Hq), unsigned((s.Tq + g.rows - 1) / g.rows)), dim3(attn::kThreads),
                    attn::smem_bytes(g, 0), [&] {
                      attn::attention_forward_kernel(out.data(), nullptr, qb.data(), kb.data(), vb.data(), g);
                    });
    expect_close("infer out", ref, to_f(out), 1e-2);
  }
}

TEST(EmulatedKernels, SoftmaxCrossEntropy) {
  TT_EMU_SKIP_IF_SANITIZED();
  std::mt19937 rng(13);
  for (int64_t V : {int64_t(11), int64_t(1000), int64_t(1001), int64_t(4096)}) {
    SCOPED_TRACE(testing::Message() << "V=" << V);
    const int64_t rows = 6;
    auto logits = rnd(rng, size_t(rows * V), -6, 6);
    std::vector<int32_t> targets(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) targets[size_t(r)] = r == 2 ? -1 : int32_t(rng() % uint32_t(V));
    const float scale = 0.25f;
    std::vector<float> loss_ref(static_cast<size_t>(rows)), grad_ref(logits.size());
    for (int64_t r = 0; r < rows; ++r) {
      const float* x = logits.data() + r * V;
      double mx = -1e30, sum = 0;
      for (int64_t i = 0; i < V; ++i) mx = std::max(mx, double(x[i]));
      for (int64_t i = 0; i < V; ++i) sum += std::exp(double(x[i]) - mx);
      const double lse = mx + std::log(sum);
      const int32_t t = targets[size_t(r)];
      loss_ref[size_t(r)] = t < 0 ? 0.f : float(lse - x[t]);
      for (int64_t i = 0; i < V; ++i)
        grad_ref[size_t(r * V + i)] = t < 0 ? 0.f : float((std::exp(x[i] - lse) - (i == t)) * scale);
    }
    auto buf = to_bf(logits);
    std::vector<float> losses(size_t(rows), std::nanf(""));
    if (V % 8 == 0)
      tt::emu::launch(dim3(unsigned(rows)), dim3(ce::kCeThreads), 0, [&] {
        ce::softmax_ce_kernel<true>(buf.data(), losses.data(), targets.data(), V, scale, true);
      });
    else
      tt::emu::launch(dim3(unsigned(rows)), dim3(ce::kCeThreads), 0, [&] {
        ce::softmax_ce_kernel<false>(buf.data(), losses.data(), targets.data(), V, scale, true);
      });
    expect_close("losses", loss_ref, losses, 1e-5);
    expect_close("dlogits", grad_ref, to_f(buf), 1e-2);
  }
}

TEST(EmulatedKernels, RmsNorm) {
  TT_EMU_SKIP_IF_SANITIZED();
  std::mt19937 rng(14);
  struct S {
    int64_t R, C;
  };
  for (S s : {S{1, 8}, S{37, 384}, S{70, 64}, S{5, 1000}}) {
    SCOPED_TRACE(testing::Message() << "R=" << s.R << " C=" << s.C);
    auto x = rnd(rng, size_t(s.R * s.C), -2, 2), w = rnd(rng, size_t(s.C), 0.5f, 1.5f);
    auto dy = rnd(rng, x.size(), -1, 1), dx0 = rnd(rng, x.size(), -0.5f, 0.5f),
         dw0 = rnd(rng, w.size(), -0.5f, 0.5f);
    std::vector<float> out_ref(x.size()), rstd_ref(static_cast<size_t>(s.R)), dx_ref = dx0, dw_ref = dw0;
    cpu::rmsnorm_forward(out_ref.data(), rstd_ref.data(), x.data(), w.data(), s.R, s.C, 1e-6);
    cpu::rmsnorm_backward(dx_ref.data(), dw_ref.data(), dy.data(), x.data(), w.data(), rstd_ref.data(), s.R,
                          s.C);

    auto xb = to_bf(x), wb = to_bf(w), dyb = to_bf(dy), dxb = to_bf(dx0);
    std::vector<Bf> out(x.size(), __float2bfloat16_rn(std::nanf("")));
    std::vector<float> rstd(size_t(s.R), std::nanf("")), dw = dw0;
    const unsigned blocks = unsigned((s.R + rms::kRowsPerBlock - 1) / rms::kRowsPerBlock);
    tt::emu::launch(dim3(blocks), dim3(32 * rms::kRowsPerBlock), 0, [&] {
      rms::rmsnorm_forward_kernel(out.data(), rstd.data(), xb.data(), wb.data(), s.R, s.C, 1e-6f);
    });
    expect_close("out", out_ref, to_f(out), 1e-2);
    expect_close("rstd", rstd_ref, rstd, 1e-5);
    tt::emu::launch(dim3(blocks), dim3(32 * rms::kRowsPerBlock), 0, [&] {
      rms::rmsnorm_backward_dinp_kernel(dxb.data(), dyb.data(), xb.data(), wb.data(), rstd.data(), s.R, s.C);
    });
    expect_close("dinp", dx_ref, to_f(dxb), 1e-2);
    const int64_t splits = 3, rows_per_split = (s.R + splits - 1) / splits;
    std::vector<float> partial(size_t(splits * s.C), std::nanf(""));
    tt::emu::launch(dim3(unsigned((s.C + 31) / 32), unsigned(splits)), dim3(32, 8), 0, [&] {
      rms::rmsnorm_dweight_partial_kernel(partial.data(), dyb.data(), xb.data(), rstd.data(), s.R, s.C,
                                          rows_per_split);
    });
    tt::emu::launch(dim3(unsigned((s.C + 255) / 256)), dim3(256), 0,
                    [&] { rms::rmsnorm_dweight_final_kernel(dw.data(), partial.data(), splits, s.C); });
    expect_close("dweight", dw_ref, dw, 1e-5);
  }
}

TEST(EmulatedKernels, Reductions) {
  TT_EMU_SKIP_IF_SANITIZED();
  std::mt19937 rng(15);
  for (int64_t n : {int64_t(1), int64_t(1000), int64_t(5000)}) {
    auto x = rnd(rng, size_t(n), -1, 3);
    double sum = 0, sq = 0;
    for (float v : x) sum += v, sq += double(v) * v;
    const int blocks = 3;
    std::vector<double> partial(blocks, std::nan(""));
    float out = std::nanf("");
    tt::emu::launch(dim3(blocks), dim3(opt::kReduceThreads), 0,
                    [&] { opt::reduce_partial_kernel<true>(partial.data(), x.data(), n); });
    tt::emu::launch(dim3(1), dim3(opt::kReduceThreads), 0,
                    [&] { opt::reduce_final_kernel(&out, partial.data(), blocks); });
    EXPECT_NEAR(out, sq, 1e-5 * sq) << "n=" << n;
    tt::emu::launch(dim3(blocks), dim3(opt::kReduceThreads), 0,
                    [&] { opt::reduce_partial_kernel<false>(partial.data(), x.data(), n); });
    tt::emu::launch(dim3(1), dim3(opt::kReduceThreads), 0,
                    [&] { opt::reduce_final_kernel(&out, partial.data(), blocks); });
    EXPECT_NEAR(out, sum, 1e-5 * std::fabs(sum) + 1e-5) << "n=" << n;
  }
}

TEST(EmulatedKernels, Rope) {
  TT_EMU_SKIP_IF_SANITIZED();
  std::mt19937 rng(16);
  struct S {
    int64_t N, T, H, D, offset;
  };
  for (S s : {S{1, 1, 1, 8, 0}, S{12, 4, 3, 64, 0}, S{40, 20, 2, 128, 7}, S{7, 7, 5, 6, 100}}) {
    SCOPED_TRACE(testing::Message() << "N=" << s.N << " T=" << s.T << " D=" << s.D << " off=" << s.offset);
    const double theta = 1e6;
    auto x = rnd(rng, size_t(s.N * s.H * s.D), -1, 1);
    for (float sign : {1.0f, -1.0f}) {
      std::vector<float> ref(x.size());
      if (sign > 0)
        cpu::rope_forward(ref.data(), x.data(), s.N, s.T, s.H, s.D, theta, s.offset);
      else
        cpu::rope_backward(ref.data(), x.data(), s.N, s.T, s.H, s.D, theta, s.offset);
      auto buf = to_bf(x);  // in place, as the model calls it
      tt::emu::launch(dim3(3), dim3(64), 0, [&] {
        rope::rope_kernel(buf.data(), buf.data(), s.N, s.T, s.H, s.D, std::log2(theta), s.offset, sign);
      });
      expect_close(sign > 0 ? "rope fwd" : "rope bwd", ref, to_f(buf), 1e-2);
    }
  }
}

TEST(EmulatedKernels, Swiglu) {
  TT_EMU_SKIP_IF_SANITIZED();
  std::mt19937 rng(17);
  for (int64_t n : {int64_t(1), int64_t(7), int64_t(1000)}) {
    auto g = rnd(rng, size_t(n), -4, 4), u = rnd(rng, size_t(n), -2, 2), dy = rnd(rng, size_t(n), -1, 1);
    std::vector<float> out_ref(g.size()), dg_ref(g.size()), du_ref(g.size());
    cpu::swiglu_forward(out_ref.data(), g.data(), u.data(), n);
    cpu::swiglu_backward(dg_ref.data(), du_ref.data(), dy.data(), g.data(), u.data(), n);
    auto gb = to_bf(g), ub = to_bf(u), dyb = to_bf(dy);
    std::vector<Bf> out(g.size()), dg(g.size()), du(g.size());
    tt::emu::launch(dim3(2), dim3(64), 0,
                    [&] { swi::swiglu_forward_kernel(out.data(), gb.data(), ub.data(), n); });
    expect_close("swiglu out", out_ref, to_f(out), 1e-2);
    if (n % 2 == 0) {
      std::vector<Bf> out2(g.size());
      tt::emu::launch(dim3(2), dim3(64), 0, [&] {
        swi::swiglu_forward_kernel2(reinterpret_cast<__nv_bfloat162*>(out2.data()),
                                    reinterpret_cast<const __nv_bfloat162*>(gb.data()),
                                    reinterpret_cast<const __nv_bfloat162*>(ub.data()), n / 2);
      });
      expect_close("swiglu out (bf16x2)", out_ref, to_f(out2), 1e-2);
    }
    tt::emu::launch(dim3(2), dim3(64), 0, [&] {
      swi::swiglu_backward_kernel(dg.data(), du.data(), dyb.data(), gb.data(), ub.data(), n);
    });
    expect_close("swiglu dgate", dg_ref, to_f(dg), 1e-2);
    expect_close("swiglu dup", du_ref, to_f(du), 1e-2);
  }
}

TEST(EmulatedKernels, Embedding) {
  TT_EMU_SKIP_IF_SANITIZED();
  std::mt19937 rng(18);
  struct S {
    int64_t N, C, V, id_range;
  };
  for (S s : {S{1, 8, 5, 5}, S{37, 64, 101, 101}, S{100, 40, 1000, 7}, S{200, 300, 50, 3}}) {
    SCOPED_TRACE(testing::Message() << "N=" << s.N << " C=" << s.C << " V=" << s.V);
    std::vector<int32_t> ids(static_cast<size_t>(s.N));
    for (auto& id : ids) id = int32_t(rng() % uint32_t(s.id_range));
    auto table = rnd(rng, size_t(s.V * s.C), -1, 1), dout = rnd(rng, size_t(s.N * s.C), -1, 1);
    auto dtable0 = rnd(rng, table.size(), -0.5f, 0.5f);
    std::vector<float> out_ref(size_t(s.N * s.C)), dtable_ref = dtable0;
    cpu::embedding_forward(out_ref.data(), ids.data(), table.data(), s.N, s.C, s.V);
    cpu::embedding_backward(dtable_ref.data(), ids.data(), dout.data(), s.N, s.C, s.V);
    auto tb = to_bf(table), db = to_bf(dout);
    std::vector<Bf> out(out_ref.size());
    tt::emu::launch(dim3(3), dim3(128), 0,
                    [&] { emb::embedding_forward_kernel(out.data(), ids.data(), tb.data(), s.N, s.C, s.V); });
    expect_close("embedding out", out_ref, to_f(out), 0.0);
    // Deterministic path: prep, a stable sort (CUB on the GPU; std::stable_sort here), segments.
    std::vector<int32_t> keys(ids.size()), vals(ids.size());
    tt::emu::launch(dim3(2), dim3(64), 0,
                    [&] { emb::embedding_sort_prep_kernel(keys.data(), vals.data(), ids.data(), s.N, s.V); });
    std::vector<size_t> order(ids.size());
    std::iota(order.begin(), order.end(), size_t(0));
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return keys[a] < keys[b]; });
    std::vector<int32_t> skeys(ids.size()), svals(ids.size());
    for (size_t i = 0; i < order.size(); ++i) skeys[i] = keys[order[i]], svals[i] = vals[order[i]];
    std::vector<float> dtable = dtable0;
    tt::emu::launch(dim3(unsigned((s.N * 32 + 255) / 256)), dim3(256), 0, [&] {
      emb::embedding_backward_segments_kernel(dtable.data(), skeys.data(), svals.data(), db.data(), s.N, s.C,
                                              s.V);
    });
    expect_close("embedding dtable (segments)", dtable_ref, dtable, 1e-6);
    std::vector<float> dtable_atomic = dtable0;
    tt::emu::launch(dim3(3), dim3(128), 0, [&] {
      emb::embedding_backward_atomic_kernel(dtable_atomic.data(), ids.data(), db.data(), s.N, s.C, s.V);
    });
    expect_close("embedding dtable (atomics)", dtable_ref, dtable_atomic, 1e-6);
  }
}

TEST(EmulatedKernels, AdamW) {
  TT_EMU_SKIP_IF_SANITIZED();
  std::mt19937 rng(19);
  for (bool decay : {true, false}) {
    const int64_t n = 1001;
    auto p = rnd(rng, size_t(n), -1, 1), g = rnd(rng, size_t(n), -5, 5),
         m = rnd(rng, size_t(n), -0.01f, 0.01f);
    auto v = rnd(rng, size_t(n), 0, 1e-4f);
    AdamWArgs a;
    a.lr = 1e-3f;
    a.weight_decay = 0.1f;
    a.step = 3;
    a.max_grad_norm = 1.0f;
    const float gn = float(cpu::grad_norm_sq(g.data(), n));
    std::vector<float> p_ref = p, m_ref = m, v_ref = v;
    cpu::adamw_update(p_ref.data(), g.data(), m_ref.data(), v_ref.data(), double(gn), n, a, decay);
    opt::AdamWParams ap;
    ap.lr = a.lr;
    ap.beta1 = a.beta1;
    ap.beta2 = a.beta2;
    ap.eps = a.eps;
    ap.decay_factor = decay ? float(1.0 - double(a.lr) * a.weight_decay) : 1.0f;
    ap.bias1 = float(1.0 - std::pow(double(a.beta1), 3.0));
    ap.bias2 = float(1.0 - std::pow(double(a.beta2), 3.0));
    ap.max_grad_norm = a.max_grad_norm;
    std::vector<Bf> compute(p.size());
    tt::emu::launch(dim3(2), dim3(128), 0, [&] {
      opt::adamw_kernel(p.data(), compute.data(), g.data(), m.data(), v.data(), &gn, n, ap);
    });
    expect_close("adamw p", p_ref, p, 1e-6);
    expect_close("adamw m", m_ref, m, 1e-6);
    expect_close("adamw v", v_ref, v, 1e-6);
    expect_close("adamw compute", p_ref, to_f(compute), 1e-2);
  }
}

TEST(EmulatedKernels, ConvertAddFill) {
  TT_EMU_SKIP_IF_SANITIZED();
  std::mt19937 rng(20);
  const int64_t n = 777;
  auto x = rnd(rng, size_t(n), -100, 100);
  std::vector<Bf> xb(x.size());
  tt::emu::launch(dim3(2), dim3(64), 0, [&] { ew::convert_kernel<Bf, float>(xb.data(), x.data(), n); });
  expect_close("f32->bf16", x, to_f(xb), 0.0);
  std::vector<int32_t> xi(x.size());
  tt::emu::launch(dim3(2), dim3(64), 0, [&] { ew::convert_kernel<int32_t, Bf>(xi.data(), xb.data(), n); });
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(xi[i], int32_t(x[i])) << i;  // truncation toward zero
  std::vector<double> xd(x.size());
  tt::emu::launch(dim3(2), dim3(64), 0,
                  [&] { ew::convert_kernel<double, int32_t>(xd.data(), xi.data(), n); });
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(xd[i], double(xi[i])) << i;
  std::vector<float> sum(x.size());
  tt::emu::launch(dim3(2), dim3(64), 0, [&] { ew::add_kernel<float>(sum.data(), x.data(), x.data(), n); });
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(sum[i], 2 * x[i]) << i;
  tt::emu::launch(dim3(2), dim3(64), 0, [&] { ew::fill_kernel<float>(sum.data(), 2.5f, n); });
  for (float f : sum) ASSERT_EQ(f, 2.5f);
}

}  // namespace
}  // namespace tt::cuda
