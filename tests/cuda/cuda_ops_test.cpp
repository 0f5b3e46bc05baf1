// The table-driven CUDA op test: every Backend op of the CUDA backend, forward and backward, against
// the CPU reference on fresh random inputs over a sweep of shapes (odd sizes, T = 1, GQA ratios
// 1/2/3/6, head_dim 64/128 and a generic one, row counts that are not multiples of block sizes, odd
// vocabularies). Tolerances suit bf16 (relative L2 ~1e-2; fp32-only ops much tighter).
// Skips (GTEST_SKIP) when no GPU is present; the coverage tests below run everywhere.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "backend_ops.h"
#include "common/check.h"
#include "common/env.h"
#include "cuda/cuda_backend.h"
#include "model/backend.h"
#include "model/dtype.h"
#include "op_harness.h"
#include "require_cuda.h"

namespace tt::test {
namespace {

constexpr double kTolBf16 = 1e-2;     // outputs stored in bf16
constexpr double kTolAttnBwd = 2e-2;  // bf16 outputs of a longer fp32 computation
constexpr double kTolF32 = 1e-5;      // fp32 in, fp32 out

struct OpCase {
  std::string name;
  std::vector<std::string> covers;  // Backend methods exercised
  std::function<void(Harness&)> run;
};

std::string shape(std::initializer_list<std::pair<const char*, int64_t>> kv) {
  std::ostringstream os;
  for (auto& [k, v] : kv) os << k << "=" << v << " ";
  return os.str();
}

cuda::CudaBackend* as_cuda(Backend& be) {
  return dynamic_cast<cuda::CudaBackend*>(&be);
}

// ---- cases ----------------------------------------------------------------------------------

void case_meta(Harness& h) {
  Backend& g = h.gpu();
  EXPECT_EQ(g.name(), "cuda-bf16");
  EXPECT_TRUE(g.is_cuda());
  EXPECT_EQ(g.act_dtype(), DType::BF16);
  EXPECT_EQ(g.grad_dtype(), DType::F32);
  EXPECT_EQ(g.stat_dtype(), DType::F32);
  EXPECT_EQ(g.master_dtype(), DType::F32);
}

void case_memory(Harness& h) {
  Backend& g = h.gpu();
  const size_t peak0 = g.peak_memory_bytes();
  bool first = true;
  // Lengths with a tail after the 16-byte units (1037), none (4096), and no whole unit at all (5).
  for (auto [dt, n] : {std::pair{DType::F32, size_t(1037)},
                       {DType::F64, size_t(1037)},
                       {DType::BF16, size_t(1037)},
                       {DType::I32, size_t(1037)},
                       {DType::F32, size_t(4096)},
                       {DType::BF16, size_t(4096)},
                       {DType::BF16, size_t(5)},
                       {DType::F64, size_t(5)}}) {
    SCOPED_TRACE(std::string(dtype_name(dt)) + " n=" + std::to_string(n));
    Tensor b = g.alloc(int64_t(n), 1, dt);
    if (first)
      EXPECT_GE(g.peak_memory_bytes(), peak0 + b.bytes()) << "peak_memory_bytes does not count alloc";
    first = false;
    std::vector<char> raw(b.bytes(), 'x');
    g.copy_to_host(raw.data(), b);
    EXPECT_TRUE(std::all_of(raw.begin(), raw.end(), [](char c) { return c == 0; })) << "alloc is not zeroed";
    g.fill(b, 3.0);
    std::vector<double> vals(n);
    g.copy_to_host(raw.data(), b);
    convert_host(vals.data(), DType::F64, raw.data(), dt, n);
    EXPECT_TRUE(std::all_of(vals.begin(), vals.end(), [](double v) { return v == 3.0; })) << "fill";
    // copy_from_host / copy_to_host round trip of arbitrary bytes of this dtype
    std::vector<double> src(n);
    for (size_t i = 0; i < n; ++i) src[i] = double(int64_t(i % 201) - 100) * 0.5;
    std::vector<char> src_raw(b.bytes());
    convert_host(src_raw.data(), dt, src.data(), DType::F64, n);
    g.copy_from_host(b, src_raw.data());
    std::vector<char> back(b.bytes());
    g.copy_to_host(back.data(), b);
    EXPECT_EQ(src_raw, back) << "copy round trip";
    // convert to every dtype, compare with the host conversion
    for (DType to : {DType::F32, DType::F64, DType::BF16, DType::I32}) {
      Tensor d = g.alloc(int64_t(n), 1, to);
      g.convert(d, b);
      g.synchronize();
      std::vector<char> got(d.bytes()), want(d.bytes());
      g.copy_to_host(got.data(), d);
      convert_host(want.data(), to, src_raw.data(), dt, n);
      EXPECT_EQ(got, want) << "convert " << dtype_name(dt) << " -> " << dtype_name(to);
      g.free(d);
    }
    g.free(b);
  }
  EXPECT_GT(g.peak_memory_bytes(), 0u);
  // what is left on the device (the memory check before a model is built) shrinks by what is allocated
  const std::optional<uint64_t> free0 = g.available_memory_bytes();
  ASSERT_TRUE(free0.has_value());
  Tensor big = g.alloc(int64_t(1) << 20, 1, DType::F32);
  const std::optional<uint64_t> free1 = g.available_memory_bytes();
  ASSERT_TRUE(free1.has_value());
  EXPECT_LE(*free1 + big.bytes(), *free0);
  g.free(big);
}

// One kernel launch of no consequence: the emulator reverses its block order on every other launch, so
// an op repeated after this runs its blocks the other way round (on a GPU the order is free anyway).
void flip_block_order(Harness& h) {
  Pair scratch = h.random(Kind::Act, 1, 8);
  h.gpu().fill(scratch.g, 1.0);
}

void case_embedding(Harness& h) {
  struct S {
    int64_t N, C, V, id_range;
  };
  // C % 8 == 0 takes the 16-byte units, 13 and 7 the scalar path.
  for (S s : {S{1, 8, 5, 5}, S{37, 64, 101, 101}, S{300, 384, 1000, 7}, S{513, 96, 50, 50}, S{29, 13, 40, 40},
              S{64, 7, 9, 3}}) {
    SCOPED_TRACE(shape({{"N", s.N}, {"C", s.C}, {"V", s.V}}));
    std::vector<int32_t> ids(size_t(s.N));
    for (auto& id : ids) id = int32_t(h.rng()() % uint64_t(s.id_range));
    Pair pid = h.ints(ids);
    Pair table = h.random(Kind::Act, s.V, s.C);
    Pair out = h.sentinel(Kind::Act, s.N, s.C);
    h.cpu().embedding_forward(out.c, pid.c, table.c);
    h.gpu().embedding_forward(out.g, pid.g, table.g);
    h.expect_close("embedding out", out, 0.0);

    Pair dout = h.random(Kind::Act, s.N, s.C);
    Pair dtable = h.prefilled(Kind::Grad, s.V, s.C);
    const std::vector<float> prefill = h.gpu_values(dtable);
    h.cpu().embedding_backward(dtable.c, pid.c, dout.c);
    h.gpu().embedding_backward(dtable.g, pid.g, dout.g);
    h.expect_close("embedding dtable (deterministic)", dtable, kTolF32);
    h.expect_close_delta("embedding dtable increment", dtable, prefill, kTolF32);
    // Deterministic path: bit-identical on a second run from the same prefill.
    const std::vector<float> first = h.gpu_values(dtable);
    h.upload(dtable, prefill);
    h.gpu().embedding_backward(dtable.g, pid.g, dout.g);
    EXPECT_EQ(first, h.gpu_values(dtable)) << "deterministic embedding backward differs between runs";
    // Atomic path: same values up to summation order.
    if (auto* cu = as_cuda(h.gpu())) {
      h.upload(dtable, prefill);
      cu->set_deterministic(false);
      h.gpu().embedding_backward(dtable.g, pid.g, dout.g);
      cu->set_deterministic(true);
      Harness::expect_close_values("embedding dtable (atomics)", first, h.gpu_values(dtable), kTolF32);
    }
  }
}

void case_rmsnorm(Harness& h) {
  struct S {
    int64_t R, C;
  };
  // C % 8 == 0 takes the 16-byte units, 37, 1001 and 3 the scalar path.
  for (S s : {S{1, 8}, S{37, 384}, S{130 * 6, 64}, S{5, 1000}, S{67, 128}, S{9, 37}, S{300, 1001}, S{2, 3}}) {
    SCOPED_TRACE(shape({{"R", s.R}, {"C", s.C}}));
    const float eps = 1e-6f;
    Pair inp = h.random(Kind::Act, s.R, s.C, -2.f, 2.f);
    Pair w = h.random(Kind::Act, s.C, 1, 0.5f, 1.5f);
    Pair out = h.sentinel(Kind::Act, s.R, s.C);
    Pair rstd = h.sentinel(Kind::Stat, s.R, 1);
    h.cpu().rmsnorm_forward(out.c, rstd.c, inp.c, w.c, eps);
    h.gpu().rmsnorm_forward(out.g, rstd.g, inp.g, w.g, eps);
    h.expect_close("rmsnorm out", out, kTolBf16);
    h.expect_close("rmsnorm rstd", rstd, 1e-5);

    Pair dout = h.random(Kind::Act, s.R, s.C);
    Pair dinp = h.prefilled(Kind::Act, s.R, s.C);
    Pair dw = h.prefilled(Kind::Grad, s.C, 1);
    const std::vector<float> dw_prefill = h.gpu_values(dw);
    // Same saved rstd on both sides (the CPU's).
    h.upload(rstd, h.cpu_values(rstd));
    h.cpu().rmsnorm_backward(dinp.c, dw.c, dout.c, inp.c, w.c, rstd.c);
    h.gpu().rmsnorm_backward(dinp.g, dw.g, dout.g, inp.g, w.g, rstd.g);
    h.expect_close("rmsnorm dinp (+=)", dinp, kTolBf16);
    h.expect_close("rmsnorm dweight (+=)", dw, 1e-4);
    h.expect_close_delta("rmsnorm dweight increment", dw, dw_prefill, 1e-4);
    // Deterministic: the same weight gradient again, bit for bit, in either of the emulator's block orders.
    const std::vector<float> first = h.gpu_values(dw);
    for (int odd_launch = 0; odd_launch < 2; ++odd_launch) {
      if (odd_launch) flip_block_order(h);
      h.upload(dw, dw_prefill);
      h.gpu().rmsnorm_backward(dinp.g, dw.g, dout.g, inp.g, w.g, rstd.g);
      EXPECT_EQ(first, h.gpu_values(dw)) << "rmsnorm dweight differs between runs";
    }
  }
}

void case_matmul(Harness& h) {
  struct S {
    int64_t M, K, N;
  };
  for (S s : {S{1, 8, 8}, S{37, 64, 96}, S{129, 384, 1024}, S{33, 17, 5}, S{200, 1024, 384}}) {
    SCOPED_TRACE(shape({{"M", s.M}, {"K", s.K}, {"N", s.N}}));
    Pair inp = h.random(Kind::Act, s.M, s.K);
    Pair w = h.random(Kind::Act, s.N, s.K, -0.2f, 0.2f);
    Pair out = h.sentinel(Kind::Act, s.M, s.N);
    h.cpu().matmul_forward(out.c, inp.c, w.c);
    h.gpu().matmul_forward(out.g, inp.g, w.g);
    h.expect_close("matmul out", out, kTolBf16);
    // The residual in the epilogue: a separate input, and the output itself (+=).
    Pair residual = h.random(Kind::Act, s.M, s.N);
    Pair with_residual = h.sentinel(Kind::Act, s.M, s.N);
    h.cpu().matmul_forward(with_residual.c, inp.c, w.c, residual.c);
    h.gpu().matmul_forward(with_residual.g, inp.g, w.g, residual.g);
    h.expect_close("matmul out + residual", with_residual, kTolBf16);
    EXPECT_EQ(h.cpu_values(residual), h.gpu_values(residual)) << "the residual input was written";
    Pair acc = h.prefilled(Kind::Act, s.M, s.N);
    h.cpu().matmul_forward(acc.c, inp.c, w.c, acc.c);
    h.gpu().matmul_forward(acc.g, inp.g, w.g, acc.g);
    h.expect_close("matmul out (+=)", acc, kTolBf16);

    Pair dout = h.random(Kind::Act, s.M, s.N);
    for (bool acc_dinp : {false, true}) {
      SCOPED_TRACE(acc_dinp ? "accumulate_dinp" : "overwrite dinp");
      Pair dinp = acc_dinp ? h.prefilled(Kind::Act, s.M, s.K) : h.sentinel(Kind::Act, s.M, s.K);
      Pair dw = h.prefilled(Kind::Grad, s.N, s.K);
      const std::vector<float> dw_prefill = h.gpu_values(dw);
      h.cpu().matmul_backward(dinp.c, dw.c, dout.c, inp.c, w.c, acc_dinp);
      h.gpu().matmul_backward(dinp.g, dw.g, dout.g, inp.g, w.g, acc_dinp);
      h.expect_close("matmul dinp", dinp, kTolBf16);
      h.expect_close("matmul dweight (+=)", dw, 1e-4);
      h.expect_close_delta("matmul dweight increment", dw, dw_prefill, 1e-4);
    }
    // Either output may be empty (the reference computes both).
    Pair dw_only = h.prefilled(Kind::Grad, s.N, s.K);
    Pair scratch_dinp = h.sentinel(Kind::Act, s.M, s.K);
    h.cpu().matmul_backward(scratch_dinp.c, dw_only.c, dout.c, inp.c, w.c, false);
    h.gpu().matmul_backward(Tensor{}, dw_only.g, dout.g, inp.g, w.g, false);
    h.expect_close("matmul dweight only", dw_only, 1e-4);
    Pair dinp_only = h.sentinel(Kind::Act, s.M, s.K);
    Pair scratch_dw = h.prefilled(Kind::Grad, s.N, s.K);
    h.cpu().matmul_backward(dinp_only.c, scratch_dw.c, dout.c, inp.c, w.c, false);
    h.gpu().matmul_backward(dinp_only.g, Tensor{}, dout.g, inp.g, w.g, false);
    h.expect_close("matmul dinp only", dinp_only, kTolBf16);
  }
}

// The RoPE tables as the graph makes them (rope_tables, rounded to the stat dtype), rows from `first`.
struct RopePair {
  Pair cos, sin;
};
RopePair rope_table_pair(Harness& h, int64_t positions, int64_t D, double theta) {
  const RopeTables t = rope_tables(positions, D, theta);
  return {h.from_host(Kind::Stat, positions, D / 2, std::vector<float>(t.cos.begin(), t.cos.end())),
          h.from_host(Kind::Stat, positions, D / 2, std::vector<float>(t.sin.begin(), t.sin.end()))};
}

void case_qk_norm_rope(Harness& h) {
  struct S {
    int64_t N, T, Hq, Hkv, D, offset;
  };
  // head_dim 16..256 (powers of two) takes the 16-byte units (D/8 lanes per head row), 8, 6 and 80 the
  // scalar path.
  for (S s : {S{1, 1, 1, 1, 8, 0}, S{12, 4, 4, 2, 64, 0}, S{40, 20, 2, 2, 128, 7}, S{7, 7, 3, 1, 6, 100},
              S{65, 13, 6, 2, 64, 0}, S{1024, 512, 6, 2, 64, 0}, S{10, 5, 2, 1, 16, 0}, S{6, 6, 4, 2, 32, 3},
              S{3, 3, 1, 1, 256, 0}, S{9, 3, 3, 1, 80, 0}}) {
    SCOPED_TRACE(
        shape({{"N", s.N}, {"T", s.T}, {"Hq", s.Hq}, {"Hkv", s.Hkv}, {"D", s.D}, {"offset", s.offset}}));
    const float eps = 1e-6f;
    const int64_t QD = s.Hq * s.D, KD = s.Hkv * s.D, W = QD + 2 * KD;
    // Positions offset .. offset+T-1: the tables' rows from `offset` (as forward_next passes them).
    const RopePair tab = rope_table_pair(h, s.offset + s.T, s.D, 1e6);
    const Tensor cc = tab.cos.c.row_range(s.offset, s.T), sc = tab.sin.c.row_range(s.offset, s.T);
    const Tensor cg = tab.cos.g.row_range(s.offset, s.T), sg = tab.sin.g.row_range(s.offset, s.T);
    Pair qkv = h.random(Kind::Act, s.N, W, -2.f, 2.f);
    Pair qw = h.random(Kind::Act, s.D, 1, 0.5f, 1.5f), kw = h.random(Kind::Act, s.D, 1, 0.5f, 1.5f);
    Pair q = h.sentinel(Kind::Act, s.N, QD), k = h.sentinel(Kind::Act, s.N, KD),
         v = h.sentinel(Kind::Act, s.N, KD);
    Pair qr = h.sentinel(Kind::Stat, s.N * s.Hq, 1), kr = h.sentinel(Kind::Stat, s.N * s.Hkv, 1);
    h.cpu().qk_norm_rope_forward(q.c, k.c, v.c, qr.c, kr.c, qkv.c, qw.c, kw.c, cc, sc, s.T, eps);
    h.gpu().qk_norm_rope_forward(q.g, k.g, v.g, qr.g, kr.g, qkv.g, qw.g, kw.g, cg, sg, s.T, eps);
    h.expect_close("qk_norm_rope q", q, kTolBf16);
    h.expect_close("qk_norm_rope k", k, kTolBf16);
    h.expect_close("qk_norm_rope v", v, 0.0);
    h.expect_close("qk_norm_rope q_rstd", qr, 1e-5);
    h.expect_close("qk_norm_rope k_rstd", kr, 1e-5);

    Pair dq = h.random(Kind::Act, s.N, QD), dk = h.random(Kind::Act, s.N, KD),
         dv = h.random(Kind::Act, s.N, KD);
    Pair dqkv = h.sentinel(Kind::Act, s.N, W);
    Pair dqw = h.prefilled(Kind::Grad, s.D, 1), dkw = h.prefilled(Kind::Grad, s.D, 1);
    const std::vector<float> dqw0 = h.gpu_values(dqw), dkw0 = h.gpu_values(dkw);
    h.upload(qr, h.cpu_values(qr));  // the same saved statistics on both sides
    h.upload(kr, h.cpu_values(kr));
    h.cpu().qk_norm_rope_backward(dqkv.c, dqw.c, dkw.c, dq.c, dk.c, dv.c, qkv.c, qw.c, kw.c, qr.c, kr.c, cc,
                                  sc, s.T);
    h.gpu().qk_norm_rope_backward(dqkv.g, dqw.g, dkw.g, dq.g, dk.g, dv.g, qkv.g, qw.g, kw.g, qr.g, kr.g, cg,
                                  sg, s.T);
    h.expect_close("qk_norm_rope dqkv", dqkv, kTolBf16);
    h.expect_close_delta("qk_norm_rope dq_norm increment", dqw, dqw0, 1e-4);
    h.expect_close_delta("qk_norm_rope dk_norm increment", dkw, dkw0, 1e-4);
    // Deterministic: the same gradient again, bit for bit, in either of the emulator's block orders.
    const std::vector<float> first = h.gpu_values(dqw);
    for (int odd_launch = 0; odd_launch < 2; ++odd_launch) {
      if (odd_launch) flip_block_order(h);
      h.upload(dqw, dqw0);
      h.gpu().qk_norm_rope_backward(dqkv.g, dqw.g, dkw.g, dq.g, dk.g, dv.g, qkv.g, qw.g, kw.g, qr.g, kr.g, cg,
                                    sg, s.T);
      EXPECT_EQ(first, h.gpu_values(dqw)) << "qk_norm_rope dq_norm differs between runs";
    }
  }
}

// Sets the attention scores budget (TT_CUDA_ATTENTION_SCORES_MB) for a scope: 0 selects the flash kernels,
// a small one splits the (batch, kv head) pairs into several chunks.
struct ScoresBudget {
  explicit ScoresBudget(const char* mb) { setenv("TT_CUDA_ATTENTION_SCORES_MB", mb, 1); }
  ~ScoresBudget() { unsetenv("TT_CUDA_ATTENTION_SCORES_MB"); }
};

// cuBLASLt calls made so far, which tell the two attention paths apart (the scores path is GEMMs, the flash
// path none); known on the emulator only (-1 elsewhere).
long cublaslt_calls() {
#ifdef TT_CUDA_EMULATION
  return emu::gemm_counts().lt;
#else
  return -1;
#endif
}

bool production_shapes() {
  const char* v = std::getenv("TT_OPS_PRODUCTION_SHAPES");
  return v != nullptr && std::string(v) == "1";
}

void case_attention(Harness& h) {
  enum class Path { kScores, kFlash };
  struct S {
    int64_t B, T, Hq, Hkv, D;
    Path path;
    const char* budget_mb;  // nullptr: the default
  };
  std::vector<S> shapes = {
      // Scores path: T = 1, T not a multiple of the 128-position query blocks (37, 65, 130 = 128 + 2,
      // 200 = 128 + 72), GQA ratios 1/2/3/6, head_dim 32/64/80/128.
      {1, 1, 1, 1, 64, Path::kScores, nullptr},
      {2, 37, 4, 2, 64, Path::kScores, nullptr},
      {1, 70, 6, 2, 128, Path::kScores, nullptr},
      {2, 65, 6, 1, 64, Path::kScores, nullptr},
      {1, 33, 3, 3, 80, Path::kScores, nullptr},
      {1, 130, 2, 2, 32, Path::kScores, nullptr},
      {1, 200, 6, 2, 64, Path::kScores, nullptr},
      {2, 150, 6, 3, 64, Path::kScores, nullptr},
      // The seed model's heads at its context length: 4 query blocks of 128.
      {2, 512, 6, 2, 64, Path::kScores, nullptr},
      // 1 MiB holds the forward scores of 3 pairs (of 4) and the backward scores of 1: chunks of 3 + 1 and 1.
      {2, 150, 6, 2, 64, Path::kScores, "1"},
      // Flash path: head_dim not a multiple of 8, or a zero budget.
      {1, 50, 4, 2, 20, Path::kFlash, nullptr},
      {2, 37, 4, 2, 64, Path::kFlash, "0"},
      {1, 1, 2, 1, 64, Path::kFlash, "0"},
      {1, 130, 2, 1, 64, Path::kFlash, "0"},
      {1, 70, 6, 3, 128, Path::kFlash, "0"},
  };
  if (production_shapes()) shapes.push_back({32, 512, 6, 2, 64, Path::kScores, nullptr});  // the seed step's
  for (const S& s : shapes) {
    SCOPED_TRACE(shape({{"B", s.B}, {"T", s.T}, {"Hq", s.Hq}, {"Hkv", s.Hkv}, {"D", s.D}}) +
                 (s.path == Path::kScores ? "scores path" : "flash path") +
                 (s.budget_mb ? std::string(" budget ") + s.budget_mb + " MiB" : std::string()));
    std::unique_ptr<ScoresBudget> budget;
    if (s.budget_mb != nullptr) budget = std::make_unique<ScoresBudget>(s.budget_mb);
    // Which path ran, where the GEMM calls can be counted.
    const bool count_calls = as_cuda(h.gpu()) != nullptr && cublaslt_calls() >= 0;
    auto expect_path = [&](long calls_before, const char* op) {
      if (!count_calls) return;
      if (s.path == Path::kScores)
        EXPECT_GT(cublaslt_calls(), calls_before) << op << " did not take the scores path";
      else
        EXPECT_EQ(cublaslt_calls(), calls_before) << op << " did not take the flash path";
    };
    const int64_t N = s.B * s.T, QD = s.Hq * s.D, KD = s.Hkv * s.D;
    Pair q = h.random(Kind::Act, N, QD, -2.f, 2.f);
    Pair k = h.random(Kind::Act, N, KD, -2.f, 2.f);
    Pair v = h.random(Kind::Act, N, KD);
    Pair out = h.sentinel(Kind::Act, N, QD);
    Pair lse = h.sentinel(Kind::Stat, s.B * s.Hq, s.T);
    h.cpu().attention_forward(out.c, lse.c, q.c, k.c, v.c, s.D);
    long calls = cublaslt_calls();
    h.gpu().attention_forward(out.g, lse.g, q.g, k.g, v.g, s.D);
    expect_path(calls, "attention_forward");
    h.expect_close("attention out", out, kTolBf16);
    h.expect_close("attention lse", lse, 1e-4);
    // Run to run identical.
    Pair out2 = h.sentinel(Kind::Act, N, QD), lse2 = h.sentinel(Kind::Stat, s.B * s.Hq, s.T);
    h.gpu().attention_forward(out2.g, lse2.g, q.g, k.g, v.g, s.D);
    EXPECT_TRUE(h.gpu_values(out2) == h.gpu_values(out)) << "attention out differs between two runs";
    EXPECT_TRUE(h.gpu_values(lse2) == h.gpu_values(lse)) << "attention lse differs between two runs";

    // Backward from identical saved tensors: the CPU's out (rounded to bf16) and lse on both sides.
    std::vector<float> out_ref = h.cpu_values(out);
    for (float& x : out_ref) x = round_bf16(x);
    h.upload(out, out_ref);
    h.upload(lse, h.cpu_values(lse));
    Pair dout = h.random(Kind::Act, N, QD);
    Pair dq = h.sentinel(Kind::Act, N, QD), dk = h.sentinel(Kind::Act, N, KD),
         dv = h.sentinel(Kind::Act, N, KD);
    h.cpu().attention_backward(dq.c, dk.c, dv.c, dout.c, out.c, lse.c, q.c, k.c, v.c, s.D);
    calls = cublaslt_calls();
    h.gpu().attention_backward(dq.g, dk.g, dv.g, dout.g, out.g, lse.g, q.g, k.g, v.g, s.D);
    expect_path(calls, "attention_backward");
    h.expect_close("attention dq", dq, kTolAttnBwd);
    h.expect_close("attention dk", dk, kTolAttnBwd);
    h.expect_close("attention dv", dv, kTolAttnBwd);
    Pair dq2 = h.sentinel(Kind::Act, N, QD), dk2 = h.sentinel(Kind::Act, N, KD),
         dv2 = h.sentinel(Kind::Act, N, KD);
    h.gpu().attention_backward(dq2.g, dk2.g, dv2.g, dout.g, out.g, lse.g, q.g, k.g, v.g, s.D);
    EXPECT_TRUE(h.gpu_values(dq2) == h.gpu_values(dq)) << "attention dq differs between two runs";
    EXPECT_TRUE(h.gpu_values(dk2) == h.gpu_values(dk)) << "attention dk differs between two runs";
    EXPECT_TRUE(h.gpu_values(dv2) == h.gpu_values(dv)) << "attention dv differs between two runs";
  }
  if (as_cuda(h.gpu()) != nullptr) {  // a budget that is no number is an error, not a silent default
    ScoresBudget bad("lots");
    Pair q = h.random(Kind::Act, 4, 64), kv = h.random(Kind::Act, 4, 64);
    Pair out = h.sentinel(Kind::Act, 4, 64), lse = h.sentinel(Kind::Stat, 1, 4);
    EXPECT_THROW(h.gpu().attention_forward(out.g, lse.g, q.g, kv.g, kv.g, 64), tt::Error);
  }
}

void case_attention_infer(Harness& h) {
  struct S {
    int64_t Tq, Tkv, Hq, Hkv, D;
  };
  for (S s :
       {S{1, 1, 2, 1, 64}, S{1, 50, 6, 2, 64}, S{5, 40, 4, 4, 128}, S{3, 3, 6, 3, 64}, S{7, 300, 6, 2, 64}}) {
    SCOPED_TRACE(shape({{"Tq", s.Tq}, {"Tkv", s.Tkv}, {"Hq", s.Hq}, {"Hkv", s.Hkv}, {"D", s.D}}));
    Pair q = h.random(Kind::Act, s.Tq, s.Hq * s.D, -2.f, 2.f);
    Pair kc = h.random(Kind::Act, s.Tkv, s.Hkv * s.D, -2.f, 2.f);
    Pair vc = h.random(Kind::Act, s.Tkv, s.Hkv * s.D);
    Pair out = h.sentinel(Kind::Act, s.Tq, s.Hq * s.D);
    h.cpu().attention_infer(out.c, q.c, kc.c, vc.c, s.D);
    h.gpu().attention_infer(out.g, q.g, kc.g, vc.g, s.D);
    h.expect_close("attention_infer out", out, kTolBf16);
  }
}

void case_swiglu(Harness& h) {
  struct S {
    int64_t N, I;
  };
  // I % 8 == 0 takes the 16-byte units, 1, 3 and 77 the scalar path.
  for (S s : {S{1, 1}, S{7, 3}, S{13, 77}, S{64, 1024}, S{5, 40}}) {
    SCOPED_TRACE(shape({{"N", s.N}, {"I", s.I}}));
    Pair gate_up = h.random(Kind::Act, s.N, 2 * s.I, -4.f, 4.f);
    Pair out = h.sentinel(Kind::Act, s.N, s.I);
    h.cpu().swiglu_forward(out.c, gate_up.c);
    h.gpu().swiglu_forward(out.g, gate_up.g);
    h.expect_close("swiglu out", out, kTolBf16);
    Pair dout = h.random(Kind::Act, s.N, s.I);
    Pair dgate_up = h.sentinel(Kind::Act, s.N, 2 * s.I);
    h.cpu().swiglu_backward(dgate_up.c, dout.c, gate_up.c);
    h.gpu().swiglu_backward(dgate_up.g, dout.g, gate_up.g);
    h.expect_close("swiglu dgate_up", dgate_up, kTolBf16);
  }
}

// Forces the LM head to use several row chunks for the duration of a scope.
struct ChunkBudget {
  explicit ChunkBudget(const char* mb) { setenv("TT_CUDA_LM_HEAD_CHUNK_MB", mb, 1); }
  ~ChunkBudget() { unsetenv("TT_CUDA_LM_HEAD_CHUNK_MB"); }
};

void case_lm_head(Harness& h) {
  struct S {
    int64_t N, C, V;
    bool small_chunks;
  };
  // The softmax kernel keeps up to ~227 KiB of a row on chip: the seed vocabulary (151936, 16-byte units)
  // and 120001 (odd, one element at a time) have rows longer than that, re-read past the cached head.
  // With a 1 MiB budget of bf16 logits a chunk holds at most 128 rows at V = 4096 (300 rows: three of 100;
  // 301: 101, 101 and a shorter last one, as at the seed shape) and 174 at V = 3003 (77 rows: one chunk).
  for (S s :
       {S{1, 8, 11, false}, S{37, 64, 1001, false}, S{64, 128, 4096, false}, S{300, 64, 4096, true},
        S{301, 64, 4096, true}, S{77, 96, 3003, true}, S{2, 32, 151936, false}, S{2, 16, 120001, false}}) {
    SCOPED_TRACE(shape({{"N", s.N}, {"C", s.C}, {"V", s.V}, {"small_chunks", s.small_chunks}}));
    std::unique_ptr<ChunkBudget> budget;
    if (s.small_chunks) budget = std::make_unique<ChunkBudget>("1");  // 1 MiB
    Pair hidden = h.random(Kind::Act, s.N, s.C, -2.f, 2.f);
    Pair table = h.random(Kind::Act, s.V, s.C, -0.5f, 0.5f);
    std::vector<int32_t> t(size_t(s.N));
    for (size_t i = 0; i < t.size(); ++i) t[i] = (i % 5 == 4) ? -1 : int32_t(h.rng()() % uint64_t(s.V));
    Pair targets = h.ints(t);
    const float scale = 1.0f / float(s.N);
    Pair losses = h.sentinel(Kind::Stat, s.N, 1);
    Pair dhidden = h.sentinel(Kind::Act, s.N, s.C);
    Pair dtable = h.prefilled(Kind::Grad, s.V, s.C);
    const std::vector<float> dtable_prefill = h.gpu_values(dtable);
    h.cpu().lm_head_loss(losses.c, dhidden.c, dtable.c, hidden.c, table.c, targets.c, scale);
    h.gpu().lm_head_loss(losses.g, dhidden.g, dtable.g, hidden.g, table.g, targets.g, scale);
    h.expect_close("lm_head losses", losses, kTolBf16);
    h.expect_close("lm_head dhidden", dhidden, kTolBf16);
    h.expect_close("lm_head dtable (+=)", dtable, kTolBf16);
    h.expect_close_delta("lm_head dtable increment", dtable, dtable_prefill, kTolBf16);
    const std::vector<float> gl = h.gpu_values(losses);
    for (size_t i = 0; i < t.size(); ++i)
      if (t[i] < 0) EXPECT_EQ(gl[i], 0.0f) << "row " << i << " has no target but loss " << gl[i];

    // dhidden without dtable.
    Pair dhidden2 = h.sentinel(Kind::Act, s.N, s.C);
    h.cpu().lm_head_loss(losses.c, dhidden2.c, Tensor{}, hidden.c, table.c, targets.c, scale);
    h.gpu().lm_head_loss(losses.g, dhidden2.g, Tensor{}, hidden.g, table.g, targets.g, scale);
    h.expect_close("lm_head dhidden (no dtable)", dhidden2, kTolBf16);

    // Loss only (evaluation).
    Pair losses2 = h.sentinel(Kind::Stat, s.N, 1);
    h.cpu().lm_head_loss(losses2.c, Tensor{}, Tensor{}, hidden.c, table.c, targets.c, 1.0f);
    h.gpu().lm_head_loss(losses2.g, Tensor{}, Tensor{}, hidden.g, table.g, targets.g, 1.0f);
    h.expect_close("lm_head losses (eval)", losses2, kTolBf16);

    Pair logits = h.sentinel(Kind::Stat, s.N, s.V);
    h.cpu().lm_head_logits(logits.c, hidden.c, table.c);
    h.gpu().lm_head_logits(logits.g, hidden.g, table.g);
    h.expect_close("lm_head_logits", logits, 1e-4);
  }
}

void case_reduce(Harness& h) {
  for (int64_t n : {int64_t(1), int64_t(1000), int64_t((1 << 20) + 3)}) {
    SCOPED_TRACE(shape({{"n", n}}));
    Pair x = h.random(Kind::Stat, n, 1, -1.f, 3.f);
    Pair out = h.sentinel(Kind::Stat, 1, 1);
    h.cpu().sum(out.c, x.c);
    h.gpu().sum(out.g, x.g);
    h.expect_close("sum", out, 1e-5);
    Pair sq = h.sentinel(Kind::Stat, 1, 1);
    Pair g = h.from_host(Kind::Grad, n, 1, h.cpu_values(x));
    h.cpu().grad_norm_sq(sq.c, g.c);
    h.gpu().grad_norm_sq(sq.g, g.g);
    h.expect_close("grad_norm_sq", sq, 1e-5);
  }
}

void case_adamw(Harness& h) {
  struct S {
    int64_t n;
    bool decay;
    float max_norm, grad_scale;
    int64_t step;
  };
  for (S s : {S{1, true, 1.0f, 1.0f, 1}, S{1001, true, 1.0f, 5.0f, 1}, S{70000, false, 0.0f, 1.0f, 10},
              S{4097, true, 1.0f, 1e-4f, 3}}) {
    SCOPED_TRACE(shape({{"n", s.n}, {"decay", s.decay}, {"step", s.step}}));
    Pair master = h.random(Kind::Master, s.n, 1);
    Pair grads = h.random(Kind::Grad, s.n, 1, -s.grad_scale, s.grad_scale);
    Pair m = h.random(Kind::Master, s.n, 1, -0.01f, 0.01f);
    Pair v = h.random(Kind::Master, s.n, 1, 0.0f, 1e-4f);
    Pair gn = h.sentinel(Kind::Stat, 1, 1);
    h.cpu().grad_norm_sq(gn.c, grads.c);
    h.gpu().grad_norm_sq(gn.g, grads.g);
    Pair compute = h.sentinel(Kind::Act, s.n, 1);
    AdamWConfig a;
    a.weight_decay = 0.1f;
    a.max_grad_norm = s.max_norm;
    Pair lr_step = h.from_host(Kind::Stat, 2, 1, {1e-3f, float(s.step)});
    h.cpu().adamw_update(master.c, compute.c, grads.c, m.c, v.c, gn.c, lr_step.c, a, s.decay);
    h.gpu().adamw_update(master.g, compute.g, grads.g, m.g, v.g, gn.g, lr_step.g, a, s.decay);
    h.expect_close("adamw master", master, 1e-5);
    h.expect_close("adamw m", m, 1e-5);
    h.expect_close("adamw v", v, 1e-5);
    h.expect_close("adamw compute (bf16)", compute, kTolBf16);
    // Without a compute copy.
    h.cpu().adamw_update(master.c, Tensor{}, grads.c, m.c, v.c, gn.c, lr_step.c, a, s.decay);
    h.gpu().adamw_update(master.g, Tensor{}, grads.g, m.g, v.g, gn.g, lr_step.g, a, s.decay);
    h.expect_close("adamw master (no compute)", master, 1e-5);
  }
}

// A recorded sequence (run_recorded) gives what the same ops give issued one by one, on every call: the
// first (issued), the second (captured, then launched) and later ones (launched), with inputs that change in
// device memory between calls; a new key records again. On CUDA the later calls are graph launches.
void case_recorded(Harness& h) {
  const int64_t M = 33, K = 64, N = 48;
  Pair inp = h.random(Kind::Act, M, K), w = h.random(Kind::Act, N, K, -0.2f, 0.2f);
  Pair mid = h.sentinel(Kind::Act, M, N), out = h.sentinel(Kind::Act, M, N / 2);
  std::unique_ptr<OpRecording> rec_cpu, rec_gpu;
  auto* cu = as_cuda(h.gpu());
  const int64_t launches0 = cu ? cu->graph_launches() : 0;
  for (int call = 0; call < 4; ++call) {
    SCOPED_TRACE("call " + std::to_string(call));
    h.upload(inp, h.uniform(size_t(M * K), -1.f, 1.f));  // new inputs each call, in device memory
    const uint64_t key = call < 3 ? 1 : 2;
    for (auto [be, rec, i, wt, m, o] : {std::tuple{&h.cpu(), &rec_cpu, inp.c, w.c, mid.c, out.c},
                                        std::tuple{&h.gpu(), &rec_gpu, inp.g, w.g, mid.g, out.g}})
      be->run_recorded(*rec, key, [&, be = be, i = i, wt = wt, m = m, o = o] {
        be->matmul_forward(m, i, wt);
        be->swiglu_forward(o, m);
      });
    h.expect_close("recorded matmul", mid, kTolBf16);
    h.expect_close("recorded matmul + swiglu", out, kTolBf16);
  }
  // Key 1: issued, captured + launched, launched; key 2: issued again (a new key is warmed up first). Under
  // TT_CUDA_SYNC_CHECK=1 (a sync after each launch, which a capture refuses) every call is issued.
  const int64_t graphs = env_flag("TT_CUDA_SYNC_CHECK", false) ? 0 : 2;
  if (cu) EXPECT_EQ(cu->graph_launches() - launches0, graphs) << "recorded calls replayed as graphs";
}

const std::vector<OpCase>& cases() {
  static const std::vector<OpCase> all = {
      {"meta", {"name", "is_cuda", "act_dtype", "grad_dtype", "stat_dtype", "master_dtype"}, case_meta},
      {"memory",
       {"alloc", "free", "copy_from_host", "copy_to_host", "convert", "fill", "synchronize",
        "peak_memory_bytes", "available_memory_bytes"},
       case_memory},
      {"embedding", {"embedding_forward", "embedding_backward"}, case_embedding},
      {"rmsnorm", {"rmsnorm_forward", "rmsnorm_backward"}, case_rmsnorm},
      {"matmul", {"matmul_forward", "matmul_backward"}, case_matmul},
      {"qk_norm_rope", {"qk_norm_rope_forward", "qk_norm_rope_backward"}, case_qk_norm_rope},
      {"attention", {"attention_forward", "attention_backward"}, case_attention},
      {"attention_infer", {"attention_infer"}, case_attention_infer},
      {"swiglu", {"swiglu_forward", "swiglu_backward"}, case_swiglu},
      {"lm_head", {"lm_head_loss", "lm_head_logits"}, case_lm_head},
      {"reduce", {"sum", "grad_norm_sq"}, case_reduce},
      {"adamw", {"adamw_update"}, case_adamw},
      {"recorded", {"run_recorded"}, case_recorded},
  };
  return all;
}

std::vector<std::string> case_names() {
  std::vector<std::string> names;
  for (const OpCase& c : cases()) names.push_back(c.name);
  return names;
}

// ---- the table-driven test -----------------------------------------------------------------

class CudaOpTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { TT_SKIP_WITHOUT_CUDA("CUDA op tests"); }
};

TEST_P(CudaOpTest, MatchesCpuReference) {
  const OpCase* c = nullptr;
  for (const OpCase& x : cases())
    if (x.name == GetParam()) c = &x;
  ASSERT_NE(c, nullptr);
  auto cpu = make_cpu_backend(DType::F32);
  auto gpu = make_cuda_backend(0);
  {
    Harness h(*cpu, *gpu, 0x5eed0000u + std::hash<std::string>{}(c->name) % 1000);
    c->run(h);
  }
  gpu->synchronize();
}

INSTANTIATE_TEST_SUITE_P(Ops, CudaOpTest, ::testing::ValuesIn(case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// ---- harness self-check (runs without a GPU) -------------------------------------------------
// The same cases with CPU<double> as the reference and CPU<float> standing in for the device, so
// the harness and the case code themselves are exercised in CI. meta and memory are CUDA-specific.
class HarnessSelfCheck : public ::testing::TestWithParam<std::string> {};

TEST_P(HarnessSelfCheck, CpuF32MatchesCpuF64) {
  const OpCase* c = nullptr;
  for (const OpCase& x : cases())
    if (x.name == GetParam()) c = &x;
  ASSERT_NE(c, nullptr);
  if (c->name == "meta" || c->name == "memory") GTEST_SKIP() << "CUDA-specific case";
  auto ref = make_cpu_backend(DType::F64);
  auto dev = make_cpu_backend(DType::F32);
  Harness h(*ref, *dev, 0x5eed0000u + std::hash<std::string>{}(c->name) % 1000);
  c->run(h);
}

// The CPU backend's bf16 mode (bf16 activations and GEMM inputs, fp32 otherwise: the CUDA policy) against
// CPU<double>, through the same cases and bf16 tolerances as the CUDA backend.
TEST_P(HarnessSelfCheck, CpuBf16MatchesCpuF64) {
  const OpCase* c = nullptr;
  for (const OpCase& x : cases())
    if (x.name == GetParam()) c = &x;
  ASSERT_NE(c, nullptr);
  if (c->name == "meta" || c->name == "memory") GTEST_SKIP() << "CUDA-specific case";
  std::unique_ptr<Backend> dev;
  try {
    dev = make_cpu_backend(DType::BF16);
  } catch (const Error& e) {
    GTEST_SKIP() << e.what();
  }
  auto ref = make_cpu_backend(DType::F64);
  Harness h(*ref, *dev, 0x5eed0000u + std::hash<std::string>{}(c->name) % 1000);
  c->run(h);
}

INSTANTIATE_TEST_SUITE_P(Ops, HarnessSelfCheck, ::testing::ValuesIn(case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// ---- cuBLASLt algorithm choice (emulator only: each test sets its candidates and slows some down) ----
#ifdef TT_CUDA_EMULATION
using emu::GemmAlgo;

// The emulated heuristic's candidates and their delays for one test; one undelayed candidate again after it.
struct Candidates {
  Candidates(std::initializer_list<GemmAlgo> algos, std::initializer_list<int> delay_us) {
    emu::set_gemm_candidates(algos);
    int i = 0;
    for (int d : delay_us) emu::set_gemm_algo_delay_us(i++, d);
  }
  ~Candidates() {
    emu::set_gemm_candidates({GemmAlgo::kOneSequence});
    for (int i = 0; i < emu::kGemmAlgos; ++i) emu::set_gemm_algo_delay_us(i, 0);
  }
};

// A CUDA backend with its CPU reference (plans are made per backend).
class CudaGemmAlgorithm : public ::testing::Test {
 protected:
  std::unique_ptr<Backend> cpu = make_cpu_backend(DType::F32), gpu = make_cuda_backend(0);
  Harness h{*cpu, *gpu, 0x5eed1234u};
};

// cublasLtMatmul calls of candidate `algo` between two counts.
long calls(const emu::GemmCounts& before, const emu::GemmCounts& after, int algo) {
  return after.by_algo[algo] - before.by_algo[algo];
}

// The three GEMMs of a linear layer (forward, dinp, dweight +=) on both backends, twice: the first call makes
// the plans (check_planned sees the calls it made), the second uses them (check_cached). The results must
// match the CPU, dweight having accumulated twice, and the inputs must come back unchanged (the candidates
// ran on random operands written over them).
void linear_twice(Harness& h, int64_t M, int64_t K, int64_t N, bool integers,
                  const std::function<void(const emu::GemmCounts&, const emu::GemmCounts&)>& check_planned,
                  const std::function<void(const emu::GemmCounts&, const emu::GemmCounts&)>& check_cached) {
  // Small integers: every product and sum is exact in fp32, whatever the order of summation.
  auto values = [&](int64_t rows, int64_t cols) {
    std::vector<float> v = h.uniform(size_t(rows * cols), -1.0f, 1.0f);
    if (integers)
      for (float& x : v) x = std::round(3.0f * x);
    return h.from_host(Kind::Act, rows, cols, v);
  };
  Pair inp = values(M, K), w = values(N, K), dout = values(M, N);
  Pair out = h.sentinel(Kind::Act, M, N), dinp = h.sentinel(Kind::Act, M, K);
  Pair dw = h.prefilled(Kind::Grad, N, K);
  const std::vector<float> dw_prefill = h.gpu_values(dw);
  const std::vector<std::vector<float>> inputs = {h.gpu_values(inp), h.gpu_values(w), h.gpu_values(dout)};
  for (int rep = 0; rep < 2; ++rep) {
    SCOPED_TRACE(rep == 0 ? "plans made" : "plans cached");
    const emu::GemmCounts before = emu::gemm_counts();
    h.gpu().matmul_forward(out.g, inp.g, w.g);
    h.gpu().matmul_backward(dinp.g, dw.g, dout.g, inp.g, w.g, false);
    (rep == 0 ? check_planned : check_cached)(before, emu::gemm_counts());
  }
  EXPECT_EQ(inputs, (std::vector<std::vector<float>>{h.gpu_values(inp), h.gpu_values(w), h.gpu_values(dout)}))
      << "an input differs after its GEMM plans were made";
  h.cpu().matmul_forward(out.c, inp.c, w.c);
  for (int rep = 0; rep < 2; ++rep) h.cpu().matmul_backward(dinp.c, dw.c, dout.c, inp.c, w.c, false);
  h.expect_close("matmul out", out, kTolBf16);
  h.expect_close("matmul dinp", dinp, kTolBf16);
  h.expect_close_delta("matmul dweight after two accumulations", dw, dw_prefill, 1e-4);
}

// A plan keeps the fastest candidate among those that sum in the first's order: for the fp32 dweight
// product (72 x 64 outputs, enough to compare) candidate 2, as 0 and 1 are slowed down. 3 reports split-K in
// its attributes and is never run; 4, whose attributes say one sequence, is tried and refused for its other
// bits. The bf16 products (under 2^22 outputs) keep the first untried. The trials leave no trace: an
// accumulating GEMM (dweight += ..., D is also C) still adds exactly once per call.
TEST_F(CudaGemmAlgorithm, FastestCandidateThatSumsInTheFirstsOrder) {
  Candidates candidates({GemmAlgo::kOneSequence, GemmAlgo::kOneSequence, GemmAlgo::kOneSequence,
                         GemmAlgo::kSplitK, GemmAlgo::kOtherOrder},
                        {20000, 20000, 0, 0, 0});
  linear_twice(
      h, 41, 64, 72, false,
      [](const emu::GemmCounts& before, const emu::GemmCounts& after) {
        for (int a : {1, 2, 4})
          EXPECT_GT(calls(before, after, a), 0) << "candidate " << a << " was never tried";
        EXPECT_EQ(calls(before, after, 3), 0) << "the split-K candidate was run";
      },
      [](const emu::GemmCounts& before, const emu::GemmCounts& after) {
        EXPECT_EQ(calls(before, after, 0), 2) << "the bf16 products' plans do not keep candidate 0";
        EXPECT_EQ(calls(before, after, 2), 1) << "the dweight plan does not use candidate 2";
        EXPECT_EQ(after.lt - before.lt, 3) << "a cached plan ran another candidate";
      });
}

// On operands whose sums are exact in any order (a fresh model's zeros, small integers) a candidate summing
// in another order matches the first bit for bit; the trial on random operands still refuses it, so a
// process that plans on other operands (a resumed run) cannot make another choice.
TEST_F(CudaGemmAlgorithm, ExactSumsDoNotHideAnotherOrder) {
  Candidates candidates({GemmAlgo::kOneSequence, GemmAlgo::kOtherOrder}, {20000, 0});
  linear_twice(
      h, 40, 64, 80, true,
      [](const emu::GemmCounts& before, const emu::GemmCounts& after) {
        EXPECT_GT(calls(before, after, 1), 0) << "the other-order candidate was never tried";
      },
      [](const emu::GemmCounts& before, const emu::GemmCounts& after) {
        EXPECT_EQ(calls(before, after, 0), 3) << "a cached plan uses the other-order candidate";
      });
}

// A candidate that adds C to the products in another rounding agrees with the first wherever C is zero, as
// an accumulated gradient is when a run makes its first plans; the trial on random operands, C included,
// refuses it, so a resumed run (planning on gradients that are not zero) cannot choose otherwise.
TEST_F(CudaGemmAlgorithm, ZeroAccumulatorDoesNotHideWhereCIsAdded) {
  Candidates candidates({GemmAlgo::kOneSequence, GemmAlgo::kCApart}, {20000, 0});
  const int64_t M = 40, K = 64, N = 80;  // dweight [80 x 64] += dout^T inp: 5120 fp32 outputs
  Pair inp = h.random(Kind::Act, M, K), w = h.random(Kind::Act, N, K), dout = h.random(Kind::Act, M, N);
  Pair dw = h.from_host(Kind::Grad, N, K, std::vector<float>(size_t(N * K), 0.0f));
  for (int rep = 0; rep < 2; ++rep) {
    const emu::GemmCounts before = emu::gemm_counts();
    h.gpu().matmul_backward(Tensor{}, dw.g, dout.g, inp.g, w.g, false);
    const emu::GemmCounts after = emu::gemm_counts();
    if (rep == 0)
      EXPECT_GT(calls(before, after, 1), 0) << "the candidate adding C apart was never tried";
    else
      EXPECT_EQ(calls(before, after, 0), 1) << "the plan made on a zero dweight uses the other candidate";
    h.cpu().matmul_backward(Tensor{}, dw.c, dout.c, inp.c, w.c, false);
  }
  h.expect_close("matmul dweight after two accumulations", dw, 1e-4);
}

// The trials write random values over the operands they read (A, B, a separate C, an accumulated D) and put
// them back. With several candidates on offer, the linear-layer, attention (strided batches: q and k in one
// buffer, P inside S) and LM-head cases still match the CPU; and a residual GEMM with enough bf16 outputs to
// be tried (2^22) leaves its inputs and residual as they were.
TEST_F(CudaGemmAlgorithm, TrialsPutEveryOperandBack) {
  Candidates candidates({GemmAlgo::kOneSequence, GemmAlgo::kOneSequence, GemmAlgo::kOtherOrder},
                        {20000, 0, 0});
  const emu::GemmCounts start = emu::gemm_counts();
  {
    SCOPED_TRACE("matmul");
    case_matmul(h);
  }
  {
    SCOPED_TRACE("attention");
    case_attention(h);
  }
  {
    SCOPED_TRACE("lm_head");
    case_lm_head(h);
  }
  EXPECT_GT(calls(start, emu::gemm_counts(), 2), 0) << "no plan tried the other candidates";
  const int64_t M = 2048, K = 64, N = 2048;
  Pair inp = h.random(Kind::Act, M, K), w = h.random(Kind::Act, N, K), res = h.random(Kind::Act, M, N);
  Pair out = h.sentinel(Kind::Act, M, N);
  const std::vector<std::vector<float>> inputs = {h.gpu_values(inp), h.gpu_values(w), h.gpu_values(res)};
  const emu::GemmCounts before = emu::gemm_counts();
  h.gpu().matmul_forward(out.g, inp.g, w.g, res.g);
  EXPECT_GT(calls(before, emu::gemm_counts(), 1), 0) << "the residual GEMM's plan tried no other candidate";
  EXPECT_EQ(inputs, (std::vector<std::vector<float>>{h.gpu_values(inp), h.gpu_values(w), h.gpu_values(res)}))
      << "an input or the residual differs after the GEMM's plan was made";
  h.cpu().matmul_forward(out.c, inp.c, w.c, res.c);
  h.expect_close("residual matmul", out, kTolBf16);
}

// A first choice that splits K is kept without trying the others: not even one with the same split-K
// attributes (its split points may differ) or one in one sequence.
TEST_F(CudaGemmAlgorithm, FirstCandidateThatSplitsKIsKeptUntried) {
  Candidates candidates({GemmAlgo::kSplitK, GemmAlgo::kSplitK, GemmAlgo::kOneSequence}, {20000, 0, 0});
  auto only_first = [](const emu::GemmCounts& before, const emu::GemmCounts& after) {
    EXPECT_EQ(calls(before, after, 0), 3);
    EXPECT_EQ(after.lt - before.lt, 3) << "another candidate was run";
  };
  linear_twice(h, 24, 64, 64, false, only_first, only_first);
}

// A bf16 output under 2^22 elements could hide another order (few differences survive rounding to bf16):
// such a plan keeps the first candidate untried, however slow it is.
TEST_F(CudaGemmAlgorithm, SmallBf16OutputKeepsTheFirstCandidateUntried) {
  Candidates candidates({GemmAlgo::kOneSequence, GemmAlgo::kOneSequence}, {20000, 0});
  Pair inp = h.random(Kind::Act, 64, 64), w = h.random(Kind::Act, 128, 64),
       out = h.sentinel(Kind::Act, 64, 128);
  const emu::GemmCounts before = emu::gemm_counts();
  h.gpu().matmul_forward(out.g, inp.g, w.g);
  const emu::GemmCounts after = emu::gemm_counts();
  EXPECT_EQ(calls(before, after, 0), 1);
  EXPECT_EQ(after.lt - before.lt, 1) << "another candidate was run";
  h.cpu().matmul_forward(out.c, inp.c, w.c);
  h.expect_close("matmul out", out, kTolBf16);
}

// A plan made while the stream is being captured into a graph takes the first candidate untried (events and
// host copies cannot be captured), and the graph computes the product: dweight [64 x 64] += dout^T inp, fp32.
TEST_F(CudaGemmAlgorithm, PlanMadeDuringACaptureTakesTheFirstCandidateUntried) {
  Candidates candidates({GemmAlgo::kOneSequence, GemmAlgo::kOneSequence}, {20000, 0});
  const int64_t M = 24, K = 64, N = 64;
  Pair inp = h.random(Kind::Act, M, K), w = h.random(Kind::Act, N, K), dout = h.random(Kind::Act, M, N);
  Pair dw = h.prefilled(Kind::Grad, N, K);
  const std::vector<float> dw_prefill = h.gpu_values(dw);
  const cudaStream_t stream = as_cuda(*gpu)->stream();
  const emu::GemmCounts before = emu::gemm_counts();
  ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal), cudaSuccess);
  EXPECT_NO_THROW(h.gpu().matmul_backward(Tensor{}, dw.g, dout.g, inp.g, w.g, false));
  cudaGraph_t graph = nullptr;  // the capture ends here even after a failure
  ASSERT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess);
  const emu::GemmCounts captured = emu::gemm_counts();
  EXPECT_EQ(calls(before, captured, 0), 1);
  EXPECT_EQ(captured.lt - before.lt, 1) << "a candidate was tried during the capture";
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
  h.gpu().synchronize();
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  h.gpu().matmul_backward(Tensor{}, dw.g, dout.g, inp.g, w.g, false);  // eagerly now: the plan stays as made
  EXPECT_EQ(calls(captured, emu::gemm_counts(), 0), 1);
  for (int rep = 0; rep < 2; ++rep) h.cpu().matmul_backward(Tensor{}, dw.c, dout.c, inp.c, w.c, false);
  h.expect_close_delta("matmul dweight after two accumulations", dw, dw_prefill, 1e-4);
}
#endif

// ---- coverage (runs without a GPU) ---------------------------------------------------------

TEST(CudaOpCoverage, EveryBackendOpHasACase) {
  std::set<std::string> covered;
  for (const OpCase& c : cases()) covered.insert(c.covers.begin(), c.covers.end());
  for (std::string_view op : kAllBackendOps)
    EXPECT_TRUE(covered.count(std::string(op))) << "Backend::" << op << " has no CUDA op test case";
  for (const std::string& op : covered)
    EXPECT_NE(std::find(kAllBackendOps.begin(), kAllBackendOps.end(), op), kAllBackendOps.end())
        << "a case claims to cover '" << op << "', which is not in kAllBackendOps";
}

TEST(CudaOpCoverage, OpListMatchesBackendHeader) {
  const std::string path = std::string(TT_SOURCE_DIR) + "/src/model/backend.h";
  std::ifstream in(path);
  ASSERT_TRUE(in) << "cannot read " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  // Every backend implements "virtual <type> <op>_impl(": the ops of the interface. The identity methods
  // ("virtual <type> name() const") are listed too.
  std::set<std::string> in_header;
  const std::regex impl(R"(virtual\s+[\w:<>\s\*&]+?\s*[\s\*&](\w+)_impl\s*\()");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), impl); it != std::sregex_iterator(); ++it)
    in_header.insert((*it)[1].str());
  const std::regex identity(R"(virtual\s+[\w:<>\s\*&]+?\s*[\s\*&](\w+)\s*\(\)\s*const)");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), identity); it != std::sregex_iterator(); ++it)
    in_header.insert((*it)[1].str());
  ASSERT_GT(in_header.size(), 20u) << "the patterns no longer match backend.h";
  std::set<std::string> listed;
  for (std::string_view op : kAllBackendOps) listed.insert(std::string(op));
  for (const std::string& op : in_header)
    EXPECT_TRUE(listed.count(op)) << "backend.h declares " << op
                                  << " but tests/cuda/backend_ops.h does not list it";
  for (const std::string& op : listed)
    EXPECT_TRUE(in_header.count(op)) << "tests/cuda/backend_ops.h lists " << op
                                     << " but backend.h has no such op";
}

}  // namespace
}  // namespace tt::test
