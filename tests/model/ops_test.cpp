// Gradient checks of every CPU op in double against central finite differences, plus the
// semantics the Backend contract promises (accumulate vs overwrite, chunking, KV-cache inference).
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <functional>
#include <limits>

#include "common/check.h"
#include "cpu/adamw.h"
#include "cpu/attention.h"
#include "cpu/cross_entropy.h"
#include "cpu/embedding.h"
#include "cpu/fast_math.h"
#include "cpu/matmul.h"
#include "cpu/parallel.h"
#include "cpu/qk_norm_rope.h"
#include "cpu/rmsnorm.h"
#include "cpu/rope.h"
#include "cpu/swiglu.h"
#include "gradcheck.h"
#include "model/backend.h"

using tt::test::expect_grad_close;
using tt::test::numeric_grad;
using tt::test::random_vec;
using Vec = std::vector<double>;

namespace {

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

}  // namespace

TEST(CpuOps, EmbeddingGradAccumulatesRepeatedIds) {
  const int64_t N = 6, C = 5, V = 4;
  const std::vector<int32_t> ids = {3, 0, 3, 1, 3, 2};
  Vec table = random_vec(V * C, 1), R = random_vec(N * C, 2), out(N * C);
  auto f = [&] {
    tt::cpu::embedding_forward(out.data(), ids.data(), table.data(), N, C, V);
    return dot(out, R);
  };
  Vec prior = random_vec(V * C, 3), dtable = prior;
  tt::cpu::embedding_backward(dtable.data(), ids.data(), R.data(), N, C, V);
  for (size_t i = 0; i < dtable.size(); ++i) dtable[i] -= prior[i];  // accumulated on top of `prior`
  expect_grad_close(dtable, numeric_grad(table, f), "dtable");
  std::vector<int32_t> bad = {0, 4};
  EXPECT_THROW(tt::cpu::embedding_forward(out.data(), bad.data(), table.data(), 2, C, V), tt::Error);
}

TEST(CpuOps, RmsNormGrads) {
  for (auto [R_, C] : {std::pair<int64_t, int64_t>{3, 7}, {1, 1}, {4, 16}}) {
    Vec x = random_vec(R_ * C, 10), w = random_vec(C, 11, 0.5, 1.5), R = random_vec(R_ * C, 12);
    Vec out(R_ * C), rstd(R_);
    const double eps = 1e-6;
    auto f = [&] {
      tt::cpu::rmsnorm_forward(out.data(), rstd.data(), x.data(), w.data(), R_, C, eps);
      return dot(out, R);
    };
    f();
    // value check against the definition
    double ss = 0;
    for (int64_t c = 0; c < C; ++c) ss += x[c] * x[c];
    EXPECT_NEAR(out[0], x[0] / std::sqrt(ss / C + eps) * w[0], 1e-14);
    Vec prior_dx = random_vec(R_ * C, 13), prior_dw = random_vec(C, 14);
    Vec dx = prior_dx, dw = prior_dw;
    tt::cpu::rmsnorm_backward(dx.data(), dw.data(), R.data(), x.data(), w.data(), rstd.data(), R_, C);
    for (size_t i = 0; i < dx.size(); ++i) dx[i] -= prior_dx[i];
    for (size_t i = 0; i < dw.size(); ++i) dw[i] -= prior_dw[i];
    if (C > 1) expect_grad_close(dx, numeric_grad(x, f), "rmsnorm dx C=" + std::to_string(C));
    expect_grad_close(dw, numeric_grad(w, f), "rmsnorm dw C=" + std::to_string(C));
  }
}

TEST(CpuOps, MatmulGradsAndAccumulateFlags) {
  const int64_t M = 3, K = 5, N = 4;
  Vec x = random_vec(M * K, 20), W = random_vec(N * K, 21), R = random_vec(M * N, 22), out(M * N);
  auto f = [&] {
    tt::cpu::matmul_forward(out.data(), x.data(), W.data(), M, K, N);
    return dot(out, R);
  };
  f();
  EXPECT_NEAR(out[1 * N + 2], x[5] * W[10] + x[6] * W[11] + x[7] * W[12] + x[8] * W[13] + x[9] * W[14],
              1e-14);
  Vec acc = out;
  tt::cpu::matmul_forward(acc.data(), x.data(), W.data(), M, K, N, /*accumulate=*/true);
  for (size_t i = 0; i < acc.size(); ++i) EXPECT_NEAR(acc[i], 2 * out[i], 1e-14);

  Vec dx(M * K, 123.0), dW = random_vec(N * K, 23), prior_dW = dW;
  tt::cpu::matmul_backward(dx.data(), dW.data(), R.data(), x.data(), W.data(), M, K, N,
                           false);  // dx overwrite
  for (size_t i = 0; i < dW.size(); ++i) dW[i] -= prior_dW[i];
  expect_grad_close(dx, numeric_grad(x, f), "matmul dx");
  expect_grad_close(dW, numeric_grad(W, f), "matmul dW");
  Vec dx2 = dx;
  tt::cpu::matmul_backward<double, double>(dx2.data(), nullptr, R.data(), x.data(), W.data(), M, K, N, true);
  for (size_t i = 0; i < dx.size(); ++i) EXPECT_NEAR(dx2[i], 2 * dx[i], 1e-14);
}

TEST(CpuOps, RopeGradIsTransposeAndOffsetsShiftPositions) {
  const int64_t B = 2, T = 5, H = 3, D = 6, N = B * T;
  const double theta = 1e4;
  const tt::RopeTables tab = tt::rope_tables(T, D, theta);
  const double *cos = tab.cos.data(), *sin = tab.sin.data();
  Vec x = random_vec(N * H * D, 30), R = random_vec(N * H * D, 31), out(N * H * D);
  auto f = [&] {
    tt::cpu::rope_forward(out.data(), x.data(), cos, sin, N, T, H, D);
    return dot(out, R);
  };
  f();
  // position 0 is the identity; row 1 of batch 1 sits at position 1
  for (int64_t i = 0; i < H * D; ++i) EXPECT_DOUBLE_EQ(out[T * H * D + i], x[T * H * D + i]);
  const double a = 1.0 * std::pow(theta, -2.0 * 1 / D);  // position 1, pair i = 1
  const size_t r1 = size_t((T + 1) * H * D);
  EXPECT_NEAR(out[r1 + 1], x[r1 + 1] * std::cos(a) - x[r1 + 1 + D / 2] * std::sin(a), 1e-14);
  Vec dx(N * H * D);
  tt::cpu::rope_backward(dx.data(), R.data(), cos, sin, N, T, H, D);
  expect_grad_close(dx, numeric_grad(x, f), "rope dx");
  // in place == out of place; table rows from p on rows 0..1 == rows p.. of a longer sequence
  f();  // numeric_grad left `out` at a perturbed x
  Vec inplace = x;
  tt::cpu::rope_forward(inplace.data(), inplace.data(), cos, sin, N, T, H, D);
  EXPECT_EQ(inplace, out);
  Vec tail(2 * H * D);
  tt::cpu::rope_forward(tail.data(), x.data() + 3 * H * D, cos + 3 * D / 2, sin + 3 * D / 2, 2, 2, H, D);
  for (int64_t i = 0; i < 2 * H * D; ++i) EXPECT_NEAR(tail[i], out[3 * H * D + i], 1e-15);
}

TEST(CpuOps, SwigluGrads) {
  const int64_t N = 3, I = 5;  // gate_up [N, 2I]: gate in columns 0..I-1, up in I..2I-1
  Vec gu = random_vec(N * 2 * I, 40, -4, 4), R = random_vec(N * I, 42), out(N * I);
  auto f = [&] {
    tt::cpu::swiglu_forward(out.data(), gu.data(), N, I);
    return dot(out, R);
  };
  f();
  const double g = gu[1 * 2 * I + 3], u = gu[1 * 2 * I + I + 3];  // row 1, column 3
  EXPECT_NEAR(out[1 * I + 3], g / (1 + std::exp(-g)) * u, 1e-15);
  Vec dgu(N * 2 * I, 7.0);
  tt::cpu::swiglu_backward(dgu.data(), R.data(), gu.data(), N, I);
  expect_grad_close(dgu, numeric_grad(gu, f), "swiglu dgate_up");
}

// The fused q/k norm + RoPE is the two reference ops composed: its gradient (including the norm weights')
// against finite differences, and the value heads passed through.
TEST(CpuOps, QkNormRopeGradsAndValuePassThrough) {
  const int64_t N = 4, T = 2, Hq = 2, Hkv = 1, D = 6, W = (Hq + 2 * Hkv) * D;
  const tt::RopeTables tab = tt::rope_tables(T, D, 1e4);
  Vec qkv = random_vec(N * W, 50, -2, 2), qw = random_vec(D, 51, 0.5, 1.5), kw = random_vec(D, 52, 0.5, 1.5);
  const Vec Rq = random_vec(N * Hq * D, 53), Rk = random_vec(N * Hkv * D, 54),
            Rv = random_vec(N * Hkv * D, 55);
  Vec q(N * Hq * D), k(N * Hkv * D), v(N * Hkv * D), qr(N * Hq), kr(N * Hkv);
  tt::cpu::Scratch<double> scratch;
  auto f = [&] {
    tt::cpu::qk_norm_rope_forward(q.data(), k.data(), v.data(), qr.data(), kr.data(), qkv.data(), qw.data(),
                                  kw.data(), tab.cos.data(), tab.sin.data(), N, T, Hq, Hkv, D, 1e-6, scratch);
    return dot(q, Rq) + dot(k, Rk) + dot(v, Rv);
  };
  f();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < Hkv * D; ++c) EXPECT_EQ(v[n * Hkv * D + c], qkv[n * W + (Hq + Hkv) * D + c]);
  Vec dqkv(N * W, 9.0), dqw(D, 0.0), dkw(D, 0.0);
  tt::cpu::qk_norm_rope_backward(dqkv.data(), dqw.data(), dkw.data(), Rq.data(), Rk.data(), Rv.data(),
                                 qkv.data(), qw.data(), kw.data(), qr.data(), kr.data(), tab.cos.data(),
                                 tab.sin.data(), N, T, Hq, Hkv, D, scratch);
  expect_grad_close(dqkv, numeric_grad(qkv, f), "qk_norm_rope dqkv");
  expect_grad_close(dqw, numeric_grad(qw, f), "qk_norm_rope dq_norm");
  expect_grad_close(dkw, numeric_grad(kw, f), "qk_norm_rope dk_norm");
}

// Reference attention straight from the definition (softmax over j <= i), for values.
static Vec reference_attention(const Vec& q, const Vec& k, const Vec& v, int64_t B, int64_t T, int64_t Hq,
                               int64_t Hkv, int64_t D) {
  Vec out(B * T * Hq * D, 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < Hq; ++h)
      for (int64_t i = 0; i < T; ++i) {
        const int64_t g = h / (Hq / Hkv);
        Vec s(i + 1);
        double mx = -1e300, sum = 0;
        for (int64_t j = 0; j <= i; ++j) {
          double d = 0;
          for (int64_t c = 0; c < D; ++c)
            d += q[(b * T + i) * Hq * D + h * D + c] * k[(b * T + j) * Hkv * D + g * D + c];
          s[j] = d / std::sqrt(double(D));
          mx = std::max(mx, s[j]);
        }
        for (auto& x : s) sum += (x = std::exp(x - mx));
        for (int64_t j = 0; j <= i; ++j)
          for (int64_t c = 0; c < D; ++c)
            out[(b * T + i) * Hq * D + h * D + c] += s[j] / sum * v[(b * T + j) * Hkv * D + g * D + c];
      }
  return out;
}

class AttentionGrad : public ::testing::TestWithParam<std::tuple<int, int, int, int, int>> {};

TEST_P(AttentionGrad, MatchesFiniteDifferencesAndDefinition) {
  const auto [B, T, Hq, Hkv, D] = GetParam();
  tt::cpu::Scratch<double> scratch;
  Vec q = random_vec(B * T * Hq * D, 50), k = random_vec(B * T * Hkv * D, 51),
      v = random_vec(B * T * Hkv * D, 52);
  Vec R = random_vec(B * T * Hq * D, 53), out(B * T * Hq * D), lse(B * Hq * T);
  auto f = [&] {
    tt::cpu::attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), B, T, Hq, Hkv, D,
                               scratch);
    return dot(out, R);
  };
  f();
  const Vec ref = reference_attention(q, k, v, B, T, Hq, Hkv, D);
  for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], ref[i], 1e-13) << i;
  Vec o = out, l = lse;
  Vec dq(q.size(), 9.0), dk(k.size(), 9.0), dv(v.size(), 9.0);  // overwrite semantics
  tt::cpu::attention_backward(dq.data(), dk.data(), dv.data(), R.data(), o.data(), l.data(), q.data(),
                              k.data(), v.data(), B, T, Hq, Hkv, D, scratch);
  const std::string tag = " B" + std::to_string(B) + " T" + std::to_string(T) + " Hq" + std::to_string(Hq) +
                          " Hkv" + std::to_string(Hkv) + " D" + std::to_string(D);
  if (T > 1) {
    expect_grad_close(dq, numeric_grad(q, f), "attention dq" + tag);
    expect_grad_close(dk, numeric_grad(k, f), "attention dk" + tag);
  } else {  // one position: the output is v, independent of q and k
    for (double x : dq) EXPECT_NEAR(x, 0.0, 1e-15);
  }
  expect_grad_close(dv, numeric_grad(v, f), "attention dv" + tag);
  // Block-causal GEMMs in blocks of 1, 2 and 3 query rows (T is below the default block): the same values.
  for (int64_t block : {1, 2, 3}) {
    Vec out_b(out.size()), lse_b(lse.size()), dq_b(dq.size(), 9.0), dk_b(dk.size(), 9.0),
        dv_b(dv.size(), 9.0);
    tt::cpu::attention_forward(out_b.data(), lse_b.data(), q.data(), k.data(), v.data(), B, T, Hq, Hkv, D,
                               scratch, block);
    tt::cpu::attention_backward(dq_b.data(), dk_b.data(), dv_b.data(), R.data(), out_b.data(), lse_b.data(),
                                q.data(), k.data(), v.data(), B, T, Hq, Hkv, D, scratch, block);
    const std::string btag = tag + " block " + std::to_string(block);
    for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out_b[i], o[i], 1e-13) << i << btag;
    for (size_t i = 0; i < lse.size(); ++i) ASSERT_NEAR(lse_b[i], l[i], 1e-13) << i << btag;
    for (size_t i = 0; i < dq.size(); ++i) ASSERT_NEAR(dq_b[i], dq[i], 1e-12) << i << btag;
    for (size_t i = 0; i < dk.size(); ++i) ASSERT_NEAR(dk_b[i], dk[i], 1e-12) << i << btag;
    for (size_t i = 0; i < dv.size(); ++i) ASSERT_NEAR(dv_b[i], dv[i], 1e-12) << i << btag;
  }
}

// Attention on random q, k, v (seeds from `seed`) and a random output gradient, with queries in blocks of
// `block`: the forward checked against the definition, then the backward.
struct AttentionRun {
  Vec q, k, v, dout, out, lse, dq, dk, dv;
};
static AttentionRun run_attention(int64_t B, int64_t T, int64_t Hq, int64_t Hkv, int64_t D, uint64_t seed,
                                  int64_t block = tt::cpu::kAttentionBlock) {
  tt::cpu::Scratch<double> scratch;
  AttentionRun r{.q = random_vec(B * T * Hq * D, seed),
                 .k = random_vec(B * T * Hkv * D, seed + 1),
                 .v = random_vec(B * T * Hkv * D, seed + 2),
                 .dout = random_vec(B * T * Hq * D, seed + 3)};
  r.out.resize(r.q.size());
  r.lse.resize(B * Hq * T);
  r.dq.resize(r.q.size());
  r.dk.resize(r.k.size());
  r.dv.resize(r.v.size());
  tt::cpu::attention_forward(r.out.data(), r.lse.data(), r.q.data(), r.k.data(), r.v.data(), B, T, Hq, Hkv, D,
                             scratch, block);
  const Vec ref = reference_attention(r.q, r.k, r.v, B, T, Hq, Hkv, D);
  for (size_t i = 0; i < r.out.size(); ++i) EXPECT_NEAR(r.out[i], ref[i], 1e-12) << i;
  tt::cpu::attention_backward(r.dq.data(), r.dk.data(), r.dv.data(), r.dout.data(), r.out.data(),
                              r.lse.data(), r.q.data(), r.k.data(), r.v.data(), B, T, Hq, Hkv, D, scratch,
                              block);
  return r;
}

// Past the default block: T = 2 blocks + 5 rows against the definition (forward) and against one block
// of the whole square (backward), where the masked triangle is computed and zeroed, not skipped.
TEST(CpuOps, BlockCausalAttentionEqualsTheWholeSquare) {
  const int64_t T = 2 * tt::cpu::kAttentionBlock + 5;
  const AttentionRun blocks = run_attention(1, T, 2, 1, 4, 70), square = run_attention(1, T, 2, 1, 4, 70, T);
  for (size_t i = 0; i < blocks.lse.size(); ++i) ASSERT_NEAR(blocks.lse[i], square.lse[i], 1e-12) << i;
  for (size_t i = 0; i < blocks.dq.size(); ++i) ASSERT_NEAR(blocks.dq[i], square.dq[i], 1e-12) << i;
  for (size_t i = 0; i < blocks.dk.size(); ++i) ASSERT_NEAR(blocks.dk[i], square.dk[i], 1e-12) << i;
  for (size_t i = 0; i < blocks.dv.size(); ++i) ASSERT_NEAR(blocks.dv[i], square.dv[i], 1e-12) << i;
}

INSTANTIATE_TEST_SUITE_P(Shapes, AttentionGrad,
                         ::testing::Values(std::make_tuple(2, 5, 4, 2, 4),    // GQA ratio 2
                                           std::make_tuple(1, 5, 3, 3, 6),    // ratio 1 (MHA)
                                           std::make_tuple(2, 3, 3, 1, 4),    // ratio 3 (MQA)
                                           std::make_tuple(1, 7, 6, 2, 2),    // ratio 3, odd T
                                           std::make_tuple(2, 1, 4, 2, 4)));  // T = 1

TEST(CpuOps, AttentionInferWithGrowingCacheEqualsForwardRows) {
  const int64_t T = 7, Hq = 6, Hkv = 2, D = 4;
  tt::cpu::Scratch<double> scratch;
  Vec q = random_vec(T * Hq * D, 60), k = random_vec(T * Hkv * D, 61), v = random_vec(T * Hkv * D, 62);
  Vec out(T * Hq * D), lse(Hq * T);
  tt::cpu::attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), 1, T, Hq, Hkv, D, scratch);
  // prompt of 3 at once, then one token at a time (the cache grows), as sampling does
  Vec got(T * Hq * D, 0.0);
  tt::cpu::attention_infer(got.data(), q.data(), k.data(), v.data(), 3, 3, Hq, Hkv, D);
  for (int64_t t = 3; t < T; ++t)
    tt::cpu::attention_infer(got.data() + t * Hq * D, q.data() + t * Hq * D, k.data(), v.data(), 1, t + 1, Hq,
                             Hkv, D);
  for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(got[i], out[i], 1e-13) << i;
}

TEST(CpuOps, CrossEntropyGradsIgnoredTargetsAndScale) {
  const int64_t N = 5, C = 3, V = 7;
  const std::vector<int32_t> tg = {2, -1, 6, 0, 2};
  const double scale = 0.7;
  tt::cpu::Scratch<double> scratch;
  Vec h = random_vec(N * C, 70), E = random_vec(V * C, 71), losses(N);
  auto f = [&] {
    tt::cpu::lm_head_loss<double, double>(losses.data(), nullptr, nullptr, h.data(), E.data(), tg.data(), N,
                                          C, V, 1.0, scratch);
    double s = 0;
    for (double x : losses) s += x;
    return scale * s;
  };
  f();
  EXPECT_EQ(losses[1], 0.0);
  {  // row 0 from the definition
    Vec logit(V);
    double mx = -1e300, sum = 0;
    for (int64_t j = 0; j < V; ++j) {
      logit[j] = h[0] * E[j * C] + h[1] * E[j * C + 1] + h[2] * E[j * C + 2];
      mx = std::max(mx, logit[j]);
    }
    for (double x : logit) sum += std::exp(x - mx);
    EXPECT_NEAR(losses[0], mx + std::log(sum) - logit[2], 1e-13);
  }
  Vec dh(N * C, 5.0), dE = random_vec(V * C, 72), prior = dE;
  tt::cpu::lm_head_loss(losses.data(), dh.data(), dE.data(), h.data(), E.data(), tg.data(), N, C, V, scale,
                        scratch);
  for (size_t i = 0; i < dE.size(); ++i) dE[i] -= prior[i];
  expect_grad_close(dh, numeric_grad(h, f), "CE dhidden");
  expect_grad_close(dE, numeric_grad(E, f), "CE dtable");
  for (int64_t c = 0; c < C; ++c) EXPECT_EQ(dh[1 * C + c], 0.0);  // ignored row
  const std::vector<int32_t> bad = {0, 0, 0, 0, 7};
  EXPECT_THROW((tt::cpu::lm_head_loss<double, double>(losses.data(), nullptr, nullptr, h.data(), E.data(),
                                                      bad.data(), N, C, V, 1.0, scratch)),
               tt::Error);
}

TEST(CpuOps, CrossEntropyChunkingMatchesRowByRow) {
  // Rows in several chunks (at most 64 rows each here): the chunked result must equal one call per row.
  const int64_t N = 300, C = 4, V = 9;
  std::vector<int32_t> tg(N);
  for (int64_t n = 0; n < N; ++n) tg[n] = int32_t((n * 7) % V) - (n % 13 == 0 ? V : 0);  // some ignored
  for (auto& t : tg) t = std::max(t, -1);
  tt::cpu::Scratch<double> scratch;
  Vec h = random_vec(N * C, 80), E = random_vec(V * C, 81), loss(N), dh(N * C), dE(V * C, 0.0);
  tt::cpu::lm_head_loss(loss.data(), dh.data(), dE.data(), h.data(), E.data(), tg.data(), N, C, V, 0.5,
                        scratch, /*max_chunk_rows=*/64);
  Vec loss1(1), dh1(C), dE1(V * C, 0.0);
  for (int64_t n = 0; n < N; ++n) {
    tt::cpu::lm_head_loss(loss1.data(), dh1.data(), dE1.data(), h.data() + n * C, E.data(), tg.data() + n, 1,
                          C, V, 0.5, scratch);
    ASSERT_NEAR(loss1[0], loss[n], 1e-13);
    for (int64_t c = 0; c < C; ++c) ASSERT_NEAR(dh1[c], dh[n * C + c], 1e-13);
  }
  for (size_t i = 0; i < dE.size(); ++i) EXPECT_NEAR(dE1[i], dE[i], 1e-11);
  Vec logits(N * V);
  tt::cpu::lm_head_logits(logits.data(), h.data(), E.data(), N, C, V);
  EXPECT_NEAR(logits[5 * V + 3], h[20] * E[12] + h[21] * E[13] + h[22] * E[14] + h[23] * E[15], 1e-14);
  // no rows: nothing to do, dtable untouched
  const Vec dE_before = dE1;
  tt::cpu::lm_head_loss(loss1.data(), dh1.data(), dE1.data(), h.data(), E.data(), tg.data(), 0, C, V, 0.5,
                        scratch);
  EXPECT_EQ(dE1, dE_before);
}

TEST(CpuOps, CrossEntropyForwardOnlyTilesMatchTheGradientPath) {
  // The forward-only loss (no dhidden: evaluation) runs tile by tile with an online log-sum-exp per
  // core. Enough rows for two row tiles and enough vocab for three column tiles (the last partial,
  // split unevenly over two cores); targets in the first, middle and last tile and ignored rows.
  // The row maxima move between tiles because the table rows grow with the index.
  const int64_t N = tt::cpu::kLossTileRows + 44, C = 5, V = 2 * tt::cpu::kLossTileCols + 476;
  std::vector<int32_t> tg(N);
  for (int64_t n = 0; n < N; ++n) tg[n] = n % 11 == 0 ? -1 : int32_t((n * 613) % V);
  tg[1] = 0;
  tg[2] = int32_t(V - 1);
  Vec h = random_vec(N * C, 60, -3, 3), E = random_vec(V * C, 61);
  for (int64_t v = 0; v < V; ++v)
    for (int64_t c = 0; c < C; ++c) E[v * C + c] *= 1.0 + 4.0 * double(v) / double(V);
  tt::cpu::Scratch<double> scratch;
  Vec fwd(N, -7.0), full(N), dh(N * C), dE(V * C);
  tt::cpu::lm_head_loss<double, double>(fwd.data(), nullptr, nullptr, h.data(), E.data(), tg.data(), N, C, V,
                                        1.0, scratch);
  tt::cpu::lm_head_loss(full.data(), dh.data(), dE.data(), h.data(), E.data(), tg.data(), N, C, V, 1.0,
                        scratch);
  for (int64_t n = 0; n < N; ++n) {
    if (tg[n] < 0) {
      ASSERT_EQ(fwd[n], 0.0) << n;
      continue;
    }
    ASSERT_GT(full[n], 0.0) << n;
    ASSERT_NEAR(fwd[n], full[n], 1e-12 * (1 + full[n])) << "row " << n << " target " << tg[n];
  }
  // fp32 (the per-ISA kernels) agrees with the double result
  std::vector<float> hf(h.begin(), h.end()), Ef(E.begin(), E.end()), lf(N);
  tt::cpu::Scratch<float> scratch_f;
  tt::cpu::lm_head_loss(lf.data(), static_cast<float*>(nullptr), static_cast<float*>(nullptr), hf.data(),
                        Ef.data(), tg.data(), N, C, V, 1.0, scratch_f);
  for (int64_t n = 0; n < N; ++n) ASSERT_NEAR(lf[n], full[n], 2e-5 * (1 + full[n])) << n;
}

TEST(CpuOps, AdamWMatchesHandComputedSteps) {
  // Two steps on three elements, written out by hand from torch.optim.AdamW's update rule.
  tt::AdamWArgs a;
  a.lr = 0.1f;
  a.weight_decay = 0.5f;
  a.max_grad_norm = 1.0f;
  Vec p = {1.0, -2.0, 0.5}, m(3, 0.0), v(3, 0.0);
  const Vec g = {3.0, 0.0, -4.0};  // global norm 5 -> clip 1/(5+1e-6)
  const double gn2 = tt::cpu::grad_norm_sq(g.data(), 3);
  EXPECT_DOUBLE_EQ(gn2, 25.0);
  Vec ep = p, em = m, ev = v;
  for (int64_t step = 1; step <= 2; ++step) {
    a.step = step;
    tt::cpu::adamw_update(p.data(), g.data(), m.data(), v.data(), gn2, 3, a, /*decay=*/true);
    const double clip = 1.0 / (5.0 + 1e-6);
    const double lr = double(a.lr), b1 = double(a.beta1), b2 = double(a.beta2), eps = double(a.eps);
    for (int i = 0; i < 3; ++i) {
      const double gi = g[i] * clip;
      ep[i] *= 1 - lr * double(a.weight_decay);
      em[i] = b1 * em[i] + (1 - b1) * gi;
      ev[i] = b2 * ev[i] + (1 - b2) * gi * gi;
      const double mhat = em[i] / (1 - std::pow(b1, step)), vhat = ev[i] / (1 - std::pow(b2, step));
      ep[i] -= lr * mhat / (std::sqrt(vhat) + eps);
      EXPECT_NEAR(p[i], ep[i], 1e-12) << "step " << step << " element " << i;
      EXPECT_NEAR(m[i], em[i], 1e-15);
      EXPECT_NEAR(v[i], ev[i], 1e-15);
    }
  }
  // step 1 of element 0 by hand: g' = 0.6, p = 1*(1-0.05) - 0.1 * 0.6/(0.6 + 1e-8) ~= 0.85
  Vec p1 = {1.0}, m1 = {0.0}, v1 = {0.0};
  const Vec g1 = {0.6};
  a.step = 1;
  tt::cpu::adamw_update(p1.data(), g1.data(), m1.data(), v1.data(), 0.36, 1, a, true);
  EXPECT_NEAR(p1[0], 0.85, 1e-7);
  // no decay, no clipping (norm below max): p = 1 - 0.1 * sign(g)
  Vec p2 = {1.0}, m2 = {0.0}, v2 = {0.0};
  tt::cpu::adamw_update(p2.data(), g1.data(), m2.data(), v2.data(), 0.36, 1, a, false);
  EXPECT_NEAR(p2[0], 0.9, 1e-7);
  EXPECT_NEAR(m2[0], 0.06, 1e-7);
}

TEST(CpuOps, AdamWTakesOneMinusBetaInDoubleAsTorchDoes) {
  // torch.optim.AdamW: exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2), the Python float 1 - 0.999
  // rounded to fp32 (0.001f), not 1 - float(0.999) (0.00099998713f): optimizer.bin's moments are torch's.
  tt::AdamWArgs a;
  a.lr = 0;
  a.max_grad_norm = 0;
  a.step = 1;
  std::vector<float> p = {1.0f}, m = {0.0f}, v = {0.0f};
  const std::vector<float> g = {1.0f};
  tt::cpu::adamw_update(p.data(), g.data(), m.data(), v.data(), 1.0, 1, a, /*decay=*/false);
  EXPECT_EQ(v[0], float(1.0 - 0.999));
  EXPECT_NE(v[0], 1.0f - 0.999f);
  EXPECT_EQ(m[0], float(1.0 - 0.9));
}

TEST(CpuOps, FastExpAndRowReductionsAreAccurate) {
  double worst = 0;
  for (float x = -87.0f; x <= 88.0f; x += 0.0137f) {
    const double want = std::exp(double(x));
    worst = std::max(worst, std::abs(double(tt::cpu::exp_fast(x)) - want) / want);
  }
  EXPECT_LT(worst, 3e-7);  // ~2.5 ulp of fp32
  EXPECT_EQ(tt::cpu::exp_fast(0.0f), 1.0f);
  EXPECT_GT(tt::cpu::exp_fast(-1000.0f), 0.0f);  // clamped, never NaN/denormal
  std::vector<float> row(100003);
  double want = 0;
  float mx = -1e30f;
  for (size_t i = 0; i < row.size(); ++i) {
    row[i] = float(std::sin(double(i) * 0.37) * 3.0);
    want += double(row[i]);
    mx = std::max(mx, row[i]);
  }
  EXPECT_NEAR(tt::cpu::row_sum(row.data(), int64_t(row.size())), want, 1e-6 * double(row.size()));
  EXPECT_EQ(tt::cpu::row_max(row.data(), int64_t(row.size())), mx);
  EXPECT_EQ(tt::cpu::row_max(row.data() + 5, 3), std::max({row[5], row[6], row[7]}));
}

TEST(CpuOps, ParallelLoopsRethrowAWorkersErrorOnTheCaller) {
  // An exception escaping an OpenMP region ends the process; parallel_for hands it to the caller instead,
  // whichever thread threw, and the team is usable afterwards.
  const int before = tt::cpu::num_threads();
  tt::cpu::set_num_threads(2);
  for (int64_t bad : {0, 999}) {
    try {
      tt::cpu::parallel_for(1000, 1, [&](int64_t b, int64_t e) {
        if (bad >= b && bad < e) TT_CHECK(false) << "row " << bad << " is bad";
      });
      ADD_FAILURE() << "no error for row " << bad;
    } catch (const tt::Error& err) {
      EXPECT_NE(std::string(err.what()).find("row " + std::to_string(bad) + " is bad"), std::string::npos)
          << err.what();
    }
  }
  std::vector<int> seen(1000, 0);
  tt::cpu::parallel_for(1000, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) ++seen[size_t(i)];
  });
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), 1000);
  tt::cpu::set_num_threads(before);
}

TEST(CpuOps, ThreadedGemmSplitsMatchNaive) {
  // double (OpenBLAS): large enough that cpu::gemm splits the output over the cores (along M, then
  // along N), one-row products and an empty reduction (C = beta * C), with padded leading dimensions.
  for (auto [M, N, K] : {std::tuple<int64_t, int64_t, int64_t>{301, 200, 400},
                         {100, 333, 700},
                         {1, 5000, 300},
                         {1, 37, 20},
                         {7, 9, 0}})
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        const int64_t lda = ta ? M + 2 : K + 1, ldb = tb ? K + 3 : N + 1;
        const Vec A = random_vec(size_t((ta ? K : M) * lda), 90),
                  B = random_vec(size_t((tb ? N : K) * ldb), 91);
        Vec C = random_vec(size_t(M * N), 92), want = C;
        tt::cpu::gemm(ta, tb, M, N, K, 0.5, A.data(), lda, B.data(), ldb, 2.0, C.data(), N);
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < N; ++j) {
            double s = 0;
            for (int64_t k = 0; k < K; ++k)
              s += (ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? B[j * ldb + k] : B[k * ldb + j]);
            want[i * N + j] = 0.5 * s + 2.0 * want[i * N + j];
          }
        for (size_t i = 0; i < C.size(); ++i)
          ASSERT_NEAR(C[i], want[i], 1e-11) << M << "x" << N << " " << ta << tb;
      }
}

TEST(CpuOps, OneDnnGemmsMatchNaive) {
  // The float and bf16 GEMMs (oneDNN) against a double loop: both transposes, padded leading dimensions,
  // alpha, beta = 0 and 1 (overwrite, accumulate), one row, an empty reduction, and bf16 inputs with
  // float and bf16 outputs. bf16 inputs are rounded first, so only the accumulation and the output
  // rounding differ from the reference.
  using tt::cpu::bf16;
  const bool has_bf16 = tt::cpu::cpu_has_bf16();
  for (auto [M, N, K] :
       {std::tuple<int64_t, int64_t, int64_t>{67, 45, 130}, {1, 300, 64}, {33, 1, 17}, {5, 6, 0}})
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (float beta : {0.0f, 1.0f}) {
          const int64_t lda = ta ? M + 2 : K + 1, ldb = tb ? K + 3 : N + 1, ldc = N + 4;
          const Vec A = random_vec(size_t((ta ? K : M) * lda), 94),
                    B = random_vec(size_t((tb ? N : K) * ldb), 95);
          const Vec C0 = random_vec(size_t(M * ldc), 96);
          auto expected = [&](const Vec& a, const Vec& b, const Vec& c) {
            Vec want = c;
            for (int64_t i = 0; i < M; ++i)
              for (int64_t j = 0; j < N; ++j) {
                double s = 0;
                for (int64_t k = 0; k < K; ++k)
                  s += (ta ? a[k * lda + i] : a[i * lda + k]) * (tb ? b[j * ldb + k] : b[k * ldb + j]);
                want[i * ldc + j] = 0.75 * s + beta * c[i * ldc + j];
              }
            return want;
          };
          const std::string tag = std::to_string(M) + "x" + std::to_string(N) + "x" + std::to_string(K) +
                                  (ta ? " ta" : "") + (tb ? " tb" : "") + " beta " + std::to_string(beta);
          {  // float
            std::vector<float> a(A.begin(), A.end()), b(B.begin(), B.end()), c(C0.begin(), C0.end());
            tt::cpu::gemm(ta, tb, M, N, K, 0.75, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
            const Vec want = expected(Vec(a.begin(), a.end()), Vec(b.begin(), b.end()), C0);
            for (int64_t i = 0; i < M; ++i)
              for (int64_t j = 0; j < N; ++j)
                ASSERT_NEAR(c[i * ldc + j], want[i * ldc + j], 1e-4) << "f32 " << tag;
            for (int64_t i = 0; i < M; ++i)  // the padding between rows is never written
              for (int64_t j = N; j < ldc; ++j) ASSERT_EQ(c[i * ldc + j], float(C0[i * ldc + j])) << tag;
          }
          if (!has_bf16) continue;
          std::vector<bf16> a(A.size()), b(B.size()), c16(C0.size());
          tt::cpu::convert_n(a.data(), A.data(), int64_t(A.size()));
          tt::cpu::convert_n(b.data(), B.data(), int64_t(B.size()));
          tt::cpu::convert_n(c16.data(), C0.data(), int64_t(C0.size()));
          Vec ar(a.begin(), a.end()), br(b.begin(), b.end()), cr(c16.begin(), c16.end());
          std::vector<float> c32(C0.begin(), C0.end());
          tt::cpu::gemm(ta, tb, M, N, K, 0.75, a.data(), lda, b.data(), ldb, beta, c32.data(), ldc);
          tt::cpu::gemm(ta, tb, M, N, K, 0.75, a.data(), lda, b.data(), ldb, beta, c16.data(), ldc);
          const Vec want32 = expected(ar, br, C0), want16 = expected(ar, br, cr);
          for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < N; ++j) {
              ASSERT_NEAR(c32[i * ldc + j], want32[i * ldc + j], 1e-4) << "bf16 -> f32 " << tag;
              ASSERT_NEAR(float(c16[i * ldc + j]), want16[i * ldc + j],
                          8e-3 * (1 + std::fabs(want16[i * ldc + j])))
                  << "bf16 -> bf16 " << tag;
            }
        }
}

TEST(CpuOps, ParallelAttentionMatchesPerBatchSerial) {
  // B*Hq*T^2*D above the threading threshold; each batch row alone stays below it (serial path).
  const int64_t B = 2, T = 96, Hq = 6, Hkv = 2, D = 16;
  tt::cpu::Scratch<double> scratch;
  const auto [q, k, v, dout, out, lse, dq, dk, dv] = run_attention(B, T, Hq, Hkv, D, 100);
  for (int64_t b = 0; b < B; ++b) {
    const size_t oq = size_t(b * T * Hq * D), ok = size_t(b * T * Hkv * D);
    Vec dq1(T * Hq * D), dk1(T * Hkv * D), dv1(T * Hkv * D);
    tt::cpu::attention_backward(dq1.data(), dk1.data(), dv1.data(), dout.data() + oq, out.data() + oq,
                                lse.data() + b * Hq * T, q.data() + oq, k.data() + ok, v.data() + ok, 1, T,
                                Hq, Hkv, D, scratch);
    for (size_t i = 0; i < dq1.size(); ++i) ASSERT_NEAR(dq1[i], dq[oq + i], 1e-12);
    for (size_t i = 0; i < dk1.size(); ++i) ASSERT_NEAR(dk1[i], dk[ok + i], 1e-12);
    for (size_t i = 0; i < dv1.size(); ++i) ASSERT_NEAR(dv1[i], dv[ok + i], 1e-12);
  }
}

TEST(CpuOps, Fp32KernelsAgreeWithDouble) {
  // The fp32 paths (ISA-dispatched exp/sum/scale kernels) against the double reference.
  const int64_t N = 7, C = 24, V = 1003, B = 1, T = 40, Hq = 4, Hkv = 2, D = 8;
  const std::vector<int32_t> tg = {5, 1002, -1, 0, 17, 500, 3};
  const Vec h = random_vec(N * C, 110, -2, 2), E = random_vec(V * C, 111, -2, 2);
  std::vector<float> hf(h.begin(), h.end()), Ef(E.begin(), E.end()), lossf(N), dhf(N * C), dEf(V * C, 0.0f);
  tt::cpu::Scratch<float> scratchf;
  Vec loss(N), dh(N * C), dE(V * C, 0.0);
  tt::cpu::Scratch<double> scratch;
  tt::cpu::lm_head_loss(loss.data(), dh.data(), dE.data(), h.data(), E.data(), tg.data(), N, C, V, 0.25,
                        scratch);
  tt::cpu::lm_head_loss(lossf.data(), dhf.data(), dEf.data(), hf.data(), Ef.data(), tg.data(), N, C, V, 0.25,
                        scratchf);
  for (int64_t n = 0; n < N; ++n) EXPECT_NEAR(lossf[n], loss[n], 2e-5 * std::max(1.0, loss[n]));
  for (size_t i = 0; i < dh.size(); ++i) ASSERT_NEAR(dhf[i], dh[i], 1e-5);
  for (size_t i = 0; i < dE.size(); ++i) ASSERT_NEAR(dEf[i], dE[i], 1e-5);

  const Vec q = random_vec(T * Hq * D, 112, -3, 3), k = random_vec(T * Hkv * D, 113, -3, 3),
            v = random_vec(T * Hkv * D, 114);
  std::vector<float> qf(q.begin(), q.end()), kf(k.begin(), k.end()), vf(v.begin(), v.end()), of(q.size()),
      lf(Hq * T);
  Vec o(q.size()), l(Hq * T);
  tt::cpu::attention_forward(o.data(), l.data(), q.data(), k.data(), v.data(), B, T, Hq, Hkv, D, scratch);
  tt::cpu::attention_forward(of.data(), lf.data(), qf.data(), kf.data(), vf.data(), B, T, Hq, Hkv, D,
                             scratchf);
  for (size_t i = 0; i < o.size(); ++i) ASSERT_NEAR(of[i], o[i], 1e-5);
  for (size_t i = 0; i < l.size(); ++i) ASSERT_NEAR(lf[i], l[i], 1e-5);
}

TEST(CpuOps, SoftmaxRowKernelsAgreeWithDouble) {
  // The LM head's softmax / cross-entropy row, as dispatched on this CPU (AVX-512 where it has it) and
  // portable, fp32 dlogits in place and bf16 dlogits, against double: row lengths around the kernels'
  // 16 / 32 / 64-lane steps and 4096-logit sum blocks, the target first, last and inside, logits far below
  // the max (exps that underflow to 0) and a -inf logit.
  using tt::cpu::bf16;
  int checked = 0;
  for (const int64_t n : {int64_t(1), int64_t(15), int64_t(16), int64_t(33), int64_t(64), int64_t(100),
                          int64_t(4097), int64_t(151936)}) {
    for (const int64_t tgt : {int64_t(0), n / 2, n - 1}) {
      const Vec base = random_vec(n, uint64_t(300 + n + tgt), -8, 8);
      std::vector<float> l(base.begin(), base.end());
      if (n > 2) {
        l[size_t(n / 3)] = -150.0f;  // exp(-150 - max) underflows
        l[size_t(n / 4 + 1)] = -std::numeric_limits<float>::infinity();
      }
      const double scale = 0.25;
      double mx = -1e300, sum = 0;
      for (float x : l) mx = std::max(mx, double(x));
      for (float x : l) sum += std::exp(double(x) - mx);
      const double lse = mx + std::log(sum), want_loss = lse - double(l[size_t(tgt)]);
      auto want = [&](int64_t i) {
        return scale * (std::exp(double(l[size_t(i)]) - lse) - (i == tgt ? 1.0 : 0.0));
      };
      for (const bool fast : {true, false}) {
        std::vector<float> a = l;  // fp32, in place
        const double loss32 =
            fast ? tt::cpu::softmax_xent_row(a.data(), a.data(), n, int32_t(tgt), scale)
                 : tt::cpu::softmax_xent_row_portable(a.data(), a.data(), n, int32_t(tgt), scale);
        std::vector<float> b = l;
        std::vector<bf16> d16(static_cast<size_t>(n));
        const double loss16 =
            fast ? tt::cpu::softmax_xent_row(b.data(), d16.data(), n, int32_t(tgt), scale)
                 : tt::cpu::softmax_xent_row_portable(b.data(), d16.data(), n, int32_t(tgt), scale);
        const std::string where = (fast ? "dispatched" : "portable") + std::string(", n ") +
                                  std::to_string(n) + ", target " + std::to_string(tgt);
        EXPECT_NEAR(loss32, want_loss, 2e-6 * (1 + want_loss)) << where;
        EXPECT_NEAR(loss16, want_loss, 2e-6 * (1 + want_loss)) << where;
        for (int64_t i = 0; i < n; ++i) {
          // fp32 rounding of the softmax itself: ~1e-7 of the probability, which dominates near p = 1
          const double w = want(i),
                       fp32 = 1e-6 * (std::abs(w) + scale * std::exp(double(l[size_t(i)]) - lse));
          ASSERT_NEAR(a[size_t(i)], w, fp32 + 1e-12) << where << ", fp32 dlogit " << i;
          ASSERT_NEAR(float(d16[size_t(i)]), w, std::ldexp(std::abs(w), -8) + fp32 + 1e-12)
              << where << ", bf16 dlogit " << i;
          ASSERT_FALSE(std::isnan(a[size_t(i)]) || std::isnan(float(d16[size_t(i)]))) << where << " " << i;
        }
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 8 * 3 * 2);
  // A NaN logit (a diverged model) makes the loss NaN on both paths, wherever it sits in the row.
  for (const int64_t at : {int64_t(0), int64_t(70), int64_t(99)}) {
    std::vector<float> l(100, 0.5f);
    std::vector<bf16> d16(l.size());
    l[size_t(at)] = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> l2 = l, l3 = l, l4 = l;
    EXPECT_TRUE(std::isnan(tt::cpu::softmax_xent_row(l.data(), l.data(), 100, 3, 1.0))) << at;
    EXPECT_TRUE(std::isnan(tt::cpu::softmax_xent_row(l2.data(), d16.data(), 100, 3, 1.0))) << at;
    EXPECT_TRUE(std::isnan(tt::cpu::softmax_xent_row_portable(l3.data(), l3.data(), 100, 3, 1.0))) << at;
    EXPECT_TRUE(std::isnan(tt::cpu::softmax_xent_row_portable(l4.data(), d16.data(), 100, 3, 1.0))) << at;
  }
  if (!tt::cpu::softmax_xent_row_avx512_ok(true))
    std::printf("note: no AVX-512 with AVX512-BF16 here; the dispatched path is the portable one\n");
}

TEST(CpuOps, Bf16LmHeadAgreesWithDouble) {
  // The bf16 path (bf16 hidden, table and dhidden; fp32 logits, losses and dtable; dlogits rounded to bf16)
  // against the double reference on the same bf16-rounded inputs. The vocab-wide GEMMs run in slices of 128
  // here (forced: 8 slices, the last partial) and the rows in two chunks. Each gradient is allowed what
  // rounding dlogits (and dhidden) to bf16 can cost: 2^-8 of the sum of its terms' magnitudes.
  if (!tt::cpu::cpu_has_bf16()) GTEST_SKIP() << "this CPU has no AVX512-BF16 or AMX";
  using tt::cpu::bf16;
  const int64_t N = 7, C = 24, V = 1003, slice = 128;
  const std::vector<int32_t> tg = {5, 1002, -1, 0, 129, 640, 3};
  Vec h = random_vec(N * C, 120, -2, 2), E = random_vec(V * C, 121, -1, 1);
  std::vector<bf16> h16(h.size()), E16(E.size()), dh16(N * C);
  for (size_t i = 0; i < h.size(); ++i) h[i] = float(h16[i] = bf16(float(h[i])));
  for (size_t i = 0; i < E.size(); ++i) E[i] = float(E16[i] = bf16(float(E[i])));
  const Vec prior = random_vec(V * C, 122);
  Vec loss(N), dh(N * C), dE = prior;
  tt::cpu::Scratch<double> scratch;
  tt::cpu::lm_head_loss(loss.data(), dh.data(), dE.data(), h.data(), E.data(), tg.data(), N, C, V, 0.25,
                        scratch);
  std::vector<float> loss16(N), dE16(prior.begin(), prior.end());
  tt::cpu::Scratch<float, bf16> scratch16;
  tt::cpu::lm_head_loss(loss16.data(), dh16.data(), dE16.data(), h16.data(), E16.data(), tg.data(), N, C, V,
                        0.25, scratch16, /*max_chunk_rows=*/4, slice);
  // dlogits from the definition, for the error bounds
  Vec logits(N * V), dl(N * V, 0.0);
  tt::cpu::lm_head_logits(logits.data(), h.data(), E.data(), N, C, V);
  for (int64_t n = 0; n < N; ++n) {
    if (tg[n] < 0) continue;
    double mx = -1e300, sum = 0;
    for (int64_t v = 0; v < V; ++v) mx = std::max(mx, logits[n * V + v]);
    for (int64_t v = 0; v < V; ++v) sum += std::exp(logits[n * V + v] - mx);
    for (int64_t v = 0; v < V; ++v) dl[n * V + v] = 0.25 * std::exp(logits[n * V + v] - mx) / sum;
    dl[n * V + tg[n]] -= 0.25;
  }
  for (int64_t n = 0; n < N; ++n) EXPECT_NEAR(loss16[n], loss[n], 1e-4 * (1 + loss[n])) << n;
  EXPECT_EQ(loss16[2], 0.0f);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      double terms = 0;
      for (int64_t v = 0; v < V; ++v) terms += std::abs(dl[n * V + v] * E[v * C + c]);
      const double want = dh[n * C + c];
      ASSERT_NEAR(float(dh16[n * C + c]), want, std::ldexp(terms + std::abs(want), -8) + 1e-7)
          << "dhidden row " << n << " column " << c;
    }
  for (int64_t v = 0; v < V; ++v)
    for (int64_t c = 0; c < C; ++c) {
      double terms = 0;
      for (int64_t n = 0; n < N; ++n) terms += std::abs(dl[n * V + v] * h[n * C + c]);
      ASSERT_NEAR(dE16[v * C + c], dE[v * C + c], std::ldexp(terms, -8) + 1e-6)
          << "dtable row " << v << " (slice " << v / slice << ") column " << c;
    }
  // the logits alone (sampling): sliced for several rows, one GEMV for one row
  std::vector<float> logits16(N * V);
  tt::cpu::lm_head_logits(logits16.data(), h16.data(), E16.data(), N, C, V, slice);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t v = 0; v < V; ++v) {
      double terms = 0;
      for (int64_t c = 0; c < C; ++c) terms += std::abs(h[n * C + c] * E[v * C + c]);
      ASSERT_NEAR(logits16[n * V + v], logits[n * V + v], 1e-5 * terms + 1e-6) << n << ", " << v;
    }
  std::vector<float> row16(V);
  tt::cpu::lm_head_logits(row16.data(), h16.data() + 3 * C, E16.data(), 1, C, V, slice);
  for (int64_t v = 0; v < V; ++v) ASSERT_NEAR(row16[v], logits16[3 * V + v], 1e-4) << v;
  // Without a forced slice: bf16 products of many rows are sliced; few rows (slices too small to thread),
  // one row (decoding) and other types are one GEMM.
  const int64_t Vq = 151936;
  EXPECT_EQ(tt::cpu::vocab_slice<bf16>(0, 1024, 128, Vq), tt::cpu::kBf16VocabSlice);
  EXPECT_EQ(tt::cpu::vocab_slice<bf16>(0, 4, 128, Vq), Vq);
  EXPECT_EQ(tt::cpu::vocab_slice<bf16>(slice, 1, 128, Vq), Vq);
  EXPECT_EQ(tt::cpu::vocab_slice<float>(slice, 1024, 128, Vq), Vq);
}

// backend.h: either output of matmul_backward may be empty() to skip it; the CPU backend honours that
// and computes the other one exactly as when both are requested.
TEST(CpuBackend, MatmulBackwardSkipsEmptyOutputs) {
  auto be = tt::make_cpu_backend(tt::DType::F64);
  const int64_t M = 3, K = 4, N = 5;
  auto up = [&](const Vec& host, int64_t rows, int64_t cols) {
    tt::Tensor t = be->alloc(rows, cols, tt::DType::F64);
    be->copy_from_host(t, host.data());
    return t;
  };
  tt::Tensor x = up(random_vec(M * K, 11), M, K), W = up(random_vec(N * K, 12), N, K),
             dout = up(random_vec(M * N, 13), M, N);
  tt::Tensor dx_both = be->alloc(M, K, tt::DType::F64), dW_both = be->alloc(N, K, tt::DType::F64);
  tt::Tensor dx_only = be->alloc(M, K, tt::DType::F64), dW_only = be->alloc(N, K, tt::DType::F64);
  be->matmul_backward(dx_both, dW_both, dout, x, W, false);
  be->matmul_backward(dx_only, tt::Tensor{}, dout, x, W, false);
  be->matmul_backward(tt::Tensor{}, dW_only, dout, x, W, false);
  Vec a(M * K), b(M * K), c(N * K), d(N * K);
  be->copy_to_host(a.data(), dx_both);
  be->copy_to_host(b.data(), dx_only);
  be->copy_to_host(c.data(), dW_both);
  be->copy_to_host(d.data(), dW_only);
  EXPECT_EQ(a, b);
  EXPECT_EQ(c, d);
  EXPECT_NE(a, Vec(M * K, 0.0));
}

// The Backend interface checks every op's contract before any backend runs it: a wrong shape or dtype is
// an error naming the op and the argument, not a silent out-of-bounds access.
TEST(CpuBackend, ContractIsCheckedAtTheInterface) {
  for (tt::DType dt : {tt::DType::F32, tt::DType::F64}) {
    auto be = tt::make_cpu_backend(dt);
    const tt::DType other = dt == tt::DType::F32 ? tt::DType::F64 : tt::DType::F32;
    tt::Tensor x = be->alloc(4, 8, dt), w = be->alloc(6, 8, dt), out = be->alloc(4, 6, dt);
    be->matmul_forward(out, x, w);  // the contract holds
    auto expect_refused = [](const std::function<void()>& call, const std::string& text) {
      try {
        call();
        ADD_FAILURE() << "not refused: " << text;
      } catch (const tt::Error& e) {
        EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
      }
    };
    tt::Tensor wrong_cols = be->alloc(4, 5, dt), wrong_dtype = be->alloc(4, 6, other);
    expect_refused([&] { be->matmul_forward(wrong_cols, x, w); }, "matmul_forward: out must be");
    expect_refused([&] { be->matmul_forward(wrong_dtype, x, w); }, "matmul_forward: out must be");
    expect_refused([&] { be->matmul_forward(out, x, w.view(8, 6)); }, "matmul_forward: weight must be");
    tt::Tensor rstd = be->alloc(3, 1, dt), ones = be->alloc(8, 1, dt);
    expect_refused([&] { be->rmsnorm_forward(x, rstd, x, ones, 1e-6f); },
                   "rmsnorm_forward: rstd must hold 4");
    tt::Tensor lse = be->alloc(2, 2, dt), q = be->alloc(4, 8, dt), k = be->alloc(4, 4, dt);
    // head_dim 4: 2 query heads, 1 kv head; lse [B*Hq, T] = [2, 2] means B = 1, T = 2, but q has 4 rows
    expect_refused([&] { be->attention_forward(q, lse, q, k, k, 4); }, "attention_forward: q must be");
    expect_refused([&] { be->attention_forward(q, lse, q, k, k, 3); }, "not whole heads");
    // qkv [4, 16] = 2 q heads + 1 k + 1 v head of D = 4 (tables [2, 2]); a table of 2 positions, seq_len 3
    tt::Tensor cos = be->alloc(2, 2, dt), qkv = be->alloc(4, 16, dt), qr = be->alloc(8, 1, dt),
               kr = be->alloc(4, 1, dt);
    tt::Tensor norm_w = be->alloc(4, 1, dt);
    expect_refused(
        [&] { be->qk_norm_rope_forward(q, k, k, qr, kr, qkv, norm_w, norm_w, cos, cos, 3, 1e-6f); },
        "seq_len 3 outside");
    expect_refused([&] { be->qk_norm_rope_forward(q, k, k, qr, kr, x, norm_w, norm_w, cos, cos, 2, 1e-6f); },
                   "qk_norm_rope_forward: qkv must be");
    for (tt::Tensor t : {x, w, out, wrong_cols, wrong_dtype, rstd, ones, lse, q, k, cos, qkv, qr, kr, norm_w})
      be->free(t);
  }
}

TEST(CpuBackend, ATensorBeyondUlimitVIsAClearErrorNamingWhatIsLeft) {
  // In a child under ulimit -v with 256 MiB of room: a 1 GiB tensor is refused, and the message says how
  // much was asked for and how much is left; a small one still works. (aligned_alloc fails here too: the
  // check before it matters where overcommit grants what the memset cannot touch, which no test may risk.)
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto be = tt::make_cpu_backend(tt::DType::F32, 1);
    FILE* f = std::fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (!f || std::fscanf(f, "%lu", &pages) != 1) _exit(2);
    std::fclose(f);
    const rlimit limit{pages * uint64_t(sysconf(_SC_PAGESIZE)) + (256u << 20), RLIM_INFINITY};
    if (setrlimit(RLIMIT_AS, &limit) != 0) _exit(3);
    try {
      be->alloc(1 << 18, 1 << 10, tt::DType::F32);  // 1 GiB
      _exit(4);
    } catch (const tt::Error& e) {
      const std::string m = e.what();
      if (m.find("out of host memory allocating 1.00 GiB (F32 [262144, 1024])") == std::string::npos)
        _exit(5);
      if (m.find(" available, ") == std::string::npos) _exit(6);
    }
    tt::Tensor small = be->alloc(1 << 10, 1 << 10, tt::DType::F32);  // 4 MiB
    be->free(small);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the child's check that failed (see the test's exit codes)";
}
