// The Backend contract, checked once for every backend (backend.h), and the backend-neutral helpers:
// dtype names and sizes, Tensor views, host dtype conversion, RoPE tables, and the no-CUDA factories
// (src/cuda/ provides the real ones when TT_HAVE_CUDA is defined).
#include "model/backend.h"

#include <cmath>
#include <cstdlib>
#include <sstream>

#include "common/check.h"
#include "common/env.h"
#include "model/dtype.h"

namespace tt {

size_t dtype_size(DType d) {
  switch (d) {
    case DType::F32:
      return 4;
    case DType::F64:
      return 8;
    case DType::BF16:
      return 2;
    case DType::I32:
      return 4;
  }
  TT_ASSERT(false) << "bad dtype " << int(d);
  return 0;
}

const char* dtype_name(DType d) {
  switch (d) {
    case DType::F32:
      return "F32";
    case DType::F64:
      return "F64";
    case DType::BF16:
      return "BF16";
    case DType::I32:
      return "I32";
  }
  return "?";
}

// ---- Tensor -------------------------------------------------------------------------------------

std::string describe(const Tensor& t) {
  std::ostringstream os;
  if (t.empty()) os << "empty ";
  os << dtype_name(t.dtype) << " [" << t.rows << ", " << t.cols << "]";
  return os.str();
}

Tensor Tensor::row_range(int64_t first, int64_t n) const {
  TT_ASSERT(first >= 0 && n >= 0 && first + n <= rows)
      << "rows [" << first << ", " << first + n << ") outside " << describe(*this);
  Tensor t = *this;
  t.ptr = static_cast<char*>(ptr) + size_t(first * cols) * dtype_size(dtype);
  t.rows = n;
  return t;
}

Tensor Tensor::flat_range(int64_t offset, int64_t n) const {
  TT_ASSERT(offset >= 0 && n >= 0 && offset + n <= numel())
      << "elements [" << offset << ", " << offset + n << ") outside " << describe(*this);
  Tensor t = *this;
  t.ptr = static_cast<char*>(ptr) + size_t(offset) * dtype_size(dtype);
  t.rows = n;
  t.cols = 1;
  return t;
}

Tensor Tensor::view(int64_t r, int64_t c) const {
  TT_ASSERT(r >= 0 && c >= 0 && r * c == numel())
      << "cannot view " << describe(*this) << " as [" << r << ", " << c << "]";
  Tensor t = *this;
  t.rows = r;
  t.cols = c;
  return t;
}

// ---- the contract ---------------------------------------------------------------------------------

namespace {

// The checks of one op call. A failure names the op and the argument: "matmul_forward: out must be
// BF16 [37, 96], got BF16 [37, 64]".
class Contract {
 public:
  explicit Contract(const char* op) : op_(op) {}

  // A present tensor of this dtype and exactly this shape.
  const Contract& matrix(const char* arg, const Tensor& t, DType dtype, int64_t rows, int64_t cols) const {
    present(arg, t, dtype);
    TT_ASSERT(t.rows == rows && t.cols == cols) << op_ << ": " << arg << " must be " << dtype_name(dtype)
                                                << " [" << rows << ", " << cols << "], got " << describe(t);
    return *this;
  }
  // A present tensor of this dtype with n elements (any [rows, cols] with rows * cols = n).
  const Contract& vector(const char* arg, const Tensor& t, DType dtype, int64_t n) const {
    present(arg, t, dtype);
    TT_ASSERT(t.numel() == n) << op_ << ": " << arg << " must hold " << n << " " << dtype_name(dtype)
                              << " elements, got " << describe(t);
    return *this;
  }
  // A present tensor of this dtype, any shape.
  const Contract& present(const char* arg, const Tensor& t, DType dtype) const {
    TT_ASSERT(!t.empty() || t.numel() == 0) << op_ << ": " << arg << " is empty";
    TT_ASSERT(t.dtype == dtype) << op_ << ": " << arg << " must be " << dtype_name(dtype) << ", got "
                                << describe(t);
    TT_ASSERT(t.rows >= 0 && t.cols >= 0) << op_ << ": " << arg << " has a negative dimension";
    return *this;
  }
  const Contract& rule(bool ok, const std::string& what) const {
    TT_ASSERT(ok) << op_ << ": " << what;
    return *this;
  }

 private:
  const char* op_;
};

}  // namespace

// ---- memory ---------------------------------------------------------------------------------------

Tensor Backend::alloc(int64_t rows, int64_t cols, DType dtype) {
  TT_ASSERT(rows >= 0 && cols >= 0) << "alloc: negative shape [" << rows << ", " << cols << "]";
  return alloc_impl(rows, cols, dtype);
}

void Backend::free(Tensor t) {
  if (!t.empty()) free_impl(t);
}

void Backend::copy_from_host(Tensor dst, const void* src) {
  Contract("copy_from_host")
      .rule(dst.numel() == 0 || (!dst.empty() && src), "needs a destination and a source");
  if (dst.numel() > 0) copy_from_host_impl(dst, src);
}

void Backend::copy_to_host(void* dst, Tensor src) {
  Contract("copy_to_host")
      .rule(src.numel() == 0 || (!src.empty() && dst), "needs a source and a destination");
  if (src.numel() > 0) copy_to_host_impl(dst, src);
}

void Backend::convert(Tensor dst, Tensor src) {
  Contract("convert").rule(dst.numel() == src.numel(),
                           "dst " + describe(dst) + " and src " + describe(src) + " differ in size");
  if (dst.numel() > 0) convert_impl(dst, src);
}

void Backend::fill(Tensor dst, double value) {
  if (dst.numel() > 0) fill_impl(dst, value);
}

void Backend::synchronize() {
  synchronize_impl();
}

// ---- ops ------------------------------------------------------------------------------------------

void Backend::embedding_forward(Tensor out, Tensor ids, Tensor table) {
  const int64_t N = ids.numel(), C = table.cols;
  Contract("embedding_forward")
      .vector("ids", ids, DType::I32, N)
      .present("table", table, act_dtype())
      .matrix("out", out, act_dtype(), N, C);
  if (N > 0) embedding_forward_impl(out, ids, table);
}

void Backend::embedding_backward(Tensor dtable, Tensor ids, Tensor dout) {
  const int64_t N = ids.numel();
  Contract("embedding_backward")
      .vector("ids", ids, DType::I32, N)
      .present("dtable", dtable, grad_dtype())
      .matrix("dout", dout, act_dtype(), N, dtable.cols);
  if (N > 0) embedding_backward_impl(dtable, ids, dout);
}

void Backend::rmsnorm_forward(Tensor out, Tensor rstd, Tensor inp, Tensor weight, float eps) {
  const int64_t R = inp.rows, C = inp.cols;
  Contract("rmsnorm_forward")
      .present("inp", inp, act_dtype())
      .matrix("out", out, act_dtype(), R, C)
      .vector("rstd", rstd, stat_dtype(), R)
      .vector("weight", weight, act_dtype(), C);
  if (R > 0) rmsnorm_forward_impl(out, rstd, inp, weight, eps);
}

void Backend::rmsnorm_backward(Tensor dinp, Tensor dweight, Tensor dout, Tensor inp, Tensor weight,
                               Tensor rstd) {
  const int64_t R = inp.rows, C = inp.cols;
  Contract("rmsnorm_backward")
      .present("inp", inp, act_dtype())
      .matrix("dinp", dinp, act_dtype(), R, C)
      .vector("dweight", dweight, grad_dtype(), C)
      .matrix("dout", dout, act_dtype(), R, C)
      .vector("weight", weight, act_dtype(), C)
      .vector("rstd", rstd, stat_dtype(), R);
  if (R > 0 && C > 0) rmsnorm_backward_impl(dinp, dweight, dout, inp, weight, rstd);
}

void Backend::matmul_forward(Tensor out, Tensor inp, Tensor weight, Tensor residual) {
  const int64_t M = inp.rows, K = inp.cols, N = weight.rows;
  const Contract c("matmul_forward");
  c.present("inp", inp, act_dtype())
      .matrix("weight", weight, act_dtype(), N, K)
      .matrix("out", out, act_dtype(), M, N);
  if (!residual.empty()) c.matrix("residual", residual, act_dtype(), M, N);
  if (M > 0 && N > 0) matmul_forward_impl(out, inp, weight, residual);
}

void Backend::matmul_backward(Tensor dinp, Tensor dweight, Tensor dout, Tensor inp, Tensor weight,
                              bool accumulate_dinp) {
  const int64_t M = dout.rows, N = dout.cols, K = weight.cols;
  const Contract c("matmul_backward");
  c.present("dout", dout, act_dtype()).matrix("weight", weight, act_dtype(), N, K);
  if (!dinp.empty()) c.matrix("dinp", dinp, act_dtype(), M, K);
  if (!dweight.empty())
    c.matrix("dweight", dweight, grad_dtype(), N, K).matrix("inp", inp, act_dtype(), M, K);
  if (M > 0 && N > 0 && K > 0 && !(dinp.empty() && dweight.empty()))
    matmul_backward_impl(dinp, dweight, dout, inp, weight, accumulate_dinp);
}

namespace {
// q and k hold whole heads of D columns (and k at least one).
void check_whole_heads(const Contract& c, const Tensor& q, const Tensor& k, int64_t D) {
  c.rule(
      D > 0 && q.cols % D == 0 && k.cols % D == 0 && k.cols > 0,
      "q " + describe(q) + " and k " + describe(k) + " are not whole heads of head_dim " + std::to_string(D));
}

// The head geometry of qk_norm_rope_*: D from the tables, head counts from q and k; qkv holds q|k|v heads.
void check_qk_norm_rope(const Backend& be, const Contract& c, const Tensor& q, const Tensor& k,
                        const Tensor& v, const Tensor& q_rstd, const Tensor& k_rstd, const Tensor& qkv,
                        const Tensor& q_norm, const Tensor& k_norm, const Tensor& cos, const Tensor& sin,
                        int64_t seq_len) {
  const DType act = be.act_dtype(), st = be.stat_dtype();
  const int64_t D = 2 * cos.cols, N = qkv.rows;
  c.present("cos", cos, st).matrix("sin", sin, st, cos.rows, cos.cols);
  check_whole_heads(c, q, k, D);
  const int64_t Hq = q.cols / std::max<int64_t>(1, D), Hkv = k.cols / std::max<int64_t>(1, D);
  c.matrix("qkv", qkv, act, N, (Hq + 2 * Hkv) * D)
      .matrix("q", q, act, N, Hq * D)
      .matrix("k", k, act, N, Hkv * D)
      .matrix("v", v, act, N, Hkv * D)
      .vector("q_rstd", q_rstd, st, N * Hq)
      .vector("k_rstd", k_rstd, st, N * Hkv)
      .vector("q_norm", q_norm, act, D)
      .vector("k_norm", k_norm, act, D)
      .rule(seq_len > 0 && seq_len <= cos.rows, "seq_len " + std::to_string(seq_len) + " outside the " +
                                                    std::to_string(cos.rows) + " positions of the tables");
}
}  // namespace

void Backend::qk_norm_rope_forward(Tensor q, Tensor k, Tensor v, Tensor q_rstd, Tensor k_rstd, Tensor qkv,
                                   Tensor q_norm, Tensor k_norm, Tensor cos, Tensor sin, int64_t seq_len,
                                   float eps) {
  check_qk_norm_rope(*this, Contract("qk_norm_rope_forward"), q, k, v, q_rstd, k_rstd, qkv, q_norm, k_norm,
                     cos, sin, seq_len);
  if (qkv.rows > 0)
    qk_norm_rope_forward_impl(q, k, v, q_rstd, k_rstd, qkv, q_norm, k_norm, cos, sin, seq_len, eps);
}

void Backend::qk_norm_rope_backward(Tensor dqkv, Tensor dq_norm, Tensor dk_norm, Tensor dq, Tensor dk,
                                    Tensor dv, Tensor qkv, Tensor q_norm, Tensor k_norm, Tensor q_rstd,
                                    Tensor k_rstd, Tensor cos, Tensor sin, int64_t seq_len) {
  const Contract c("qk_norm_rope_backward");
  check_qk_norm_rope(*this, c, dq, dk, dv, q_rstd, k_rstd, qkv, q_norm, k_norm, cos, sin, seq_len);
  c.matrix("dqkv", dqkv, act_dtype(), qkv.rows, qkv.cols)
      .vector("dq_norm", dq_norm, grad_dtype(), q_norm.numel())
      .vector("dk_norm", dk_norm, grad_dtype(), k_norm.numel());
  if (qkv.rows > 0)
    qk_norm_rope_backward_impl(dqkv, dq_norm, dk_norm, dq, dk, dv, qkv, q_norm, k_norm, q_rstd, k_rstd, cos,
                               sin, seq_len);
}

namespace {
// The geometry of an attention call, from q, k and head_dim: Hq = q.cols / D, Hkv = k.cols / D.
void check_heads(const Contract& c, const Tensor& q, const Tensor& k, int64_t D) {
  check_whole_heads(c, q, k, D);
  c.rule(q.cols / D % std::max<int64_t>(1, k.cols / D) == 0,
         "the query heads (" + std::to_string(q.cols / std::max<int64_t>(1, D)) +
             ") are not a multiple of the kv heads (" + std::to_string(k.cols / std::max<int64_t>(1, D)) +
             ")");
}
}  // namespace

namespace {
// The training attention's shapes: q [N, Hq*D], k, v [N, Hkv*D] and out [N, Hq*D] with N = B*T, where lse
// [B*Hq, T] gives B and T. Returns N.
int64_t check_attention(const Backend& be, const Contract& c, const Tensor& out, const Tensor& lse,
                        const Tensor& q, const Tensor& k, const Tensor& v, int64_t head_dim) {
  const DType act = be.act_dtype();
  c.present("q", q, act).present("k", k, act);
  check_heads(c, q, k, head_dim);
  const int64_t Hq = q.cols / head_dim, T = lse.cols;
  c.present("lse", lse, be.stat_dtype())
      .rule(T > 0 && lse.rows % Hq == 0,
            "lse " + describe(lse) + " is not [B*Hq, T] for Hq = " + std::to_string(Hq));
  const int64_t N = lse.rows / Hq * T;
  c.matrix("q", q, act, N, q.cols)
      .matrix("k", k, act, N, k.cols)
      .matrix("v", v, act, N, k.cols)
      .matrix("out", out, act, N, q.cols);
  return N;
}
}  // namespace

void Backend::attention_forward(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, int64_t head_dim) {
  if (check_attention(*this, Contract("attention_forward"), out, lse, q, k, v, head_dim) > 0)
    attention_forward_impl(out, lse, q, k, v, head_dim);
}

void Backend::attention_backward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor out, Tensor lse,
                                 Tensor q, Tensor k, Tensor v, int64_t head_dim) {
  const Contract c("attention_backward");
  const int64_t N = check_attention(*this, c, out, lse, q, k, v, head_dim);
  c.matrix("dout", dout, act_dtype(), N, q.cols)
      .matrix("dq", dq, act_dtype(), N, q.cols)
      .matrix("dk", dk, act_dtype(), N, k.cols)
      .matrix("dv", dv, act_dtype(), N, k.cols);
  if (N > 0) attention_backward_impl(dq, dk, dv, dout, out, lse, q, k, v, head_dim);
}

void Backend::attention_infer(Tensor out, Tensor q, Tensor k_cache, Tensor v_cache, int64_t head_dim) {
  const Contract c("attention_infer");
  c.present("q", q, act_dtype()).present("k_cache", k_cache, act_dtype());
  check_heads(c, q, k_cache, head_dim);
  c.matrix("v_cache", v_cache, act_dtype(), k_cache.rows, k_cache.cols)
      .matrix("out", out, act_dtype(), q.rows, q.cols)
      .rule(q.rows <= k_cache.rows, "more queries (" + std::to_string(q.rows) + ") than cached positions (" +
                                        std::to_string(k_cache.rows) + ")");
  if (q.rows > 0) attention_infer_impl(out, q, k_cache, v_cache, head_dim);
}

void Backend::swiglu_forward(Tensor out, Tensor gate_up) {
  Contract("swiglu_forward")
      .present("gate_up", gate_up, act_dtype())
      .rule(gate_up.cols % 2 == 0, "gate_up " + describe(gate_up) + " is not [N, 2I]")
      .matrix("out", out, act_dtype(), gate_up.rows, gate_up.cols / 2);
  if (gate_up.numel() > 0) swiglu_forward_impl(out, gate_up);
}

void Backend::swiglu_backward(Tensor dgate_up, Tensor dout, Tensor gate_up) {
  Contract("swiglu_backward")
      .present("gate_up", gate_up, act_dtype())
      .rule(gate_up.cols % 2 == 0, "gate_up " + describe(gate_up) + " is not [N, 2I]")
      .matrix("dgate_up", dgate_up, act_dtype(), gate_up.rows, gate_up.cols)
      .matrix("dout", dout, act_dtype(), gate_up.rows, gate_up.cols / 2);
  if (gate_up.numel() > 0) swiglu_backward_impl(dgate_up, dout, gate_up);
}

void Backend::lm_head_loss(Tensor losses, Tensor dhidden, Tensor dtable, Tensor hidden, Tensor table,
                           Tensor targets, float loss_scale) {
  const int64_t N = hidden.rows, C = hidden.cols, V = table.rows;
  const Contract c("lm_head_loss");
  c.present("hidden", hidden, act_dtype())
      .matrix("table", table, act_dtype(), V, C)
      .vector("targets", targets, DType::I32, N)
      .vector("losses", losses, stat_dtype(), N);
  if (!dhidden.empty()) c.matrix("dhidden", dhidden, act_dtype(), N, C);
  if (!dtable.empty()) {
    c.rule(!dhidden.empty(), "dtable without dhidden (the gradient needs both or neither)");
    c.matrix("dtable", dtable, grad_dtype(), V, C);
  }
  if (N > 0) lm_head_loss_impl(losses, dhidden, dtable, hidden, table, targets, loss_scale);
}

void Backend::lm_head_logits(Tensor logits, Tensor hidden, Tensor table) {
  Contract("lm_head_logits")
      .present("hidden", hidden, act_dtype())
      .matrix("table", table, act_dtype(), table.rows, hidden.cols)
      .matrix("logits", logits, stat_dtype(), hidden.rows, table.rows);
  if (hidden.rows > 0) lm_head_logits_impl(logits, hidden, table);
}

void Backend::sum(Tensor out, Tensor x) {
  Contract("sum").vector("out", out, stat_dtype(), 1).present("x", x, stat_dtype());
  sum_impl(out, x);
}

void Backend::grad_norm_sq(Tensor out, Tensor grads) {
  Contract("grad_norm_sq").vector("out", out, stat_dtype(), 1).present("grads", grads, grad_dtype());
  grad_norm_sq_impl(out, grads);
}

void Backend::adamw_update(Tensor master, Tensor compute, Tensor grads, Tensor exp_avg, Tensor exp_avg_sq,
                           Tensor grad_norm_sq, Tensor lr_step, const AdamWConfig& config, bool decay) {
  const int64_t n = master.numel();
  const Contract c("adamw_update");
  c.present("master", master, master_dtype())
      .vector("grads", grads, grad_dtype(), n)
      .vector("exp_avg", exp_avg, master_dtype(), n)
      .vector("exp_avg_sq", exp_avg_sq, master_dtype(), n)
      .vector("grad_norm_sq", grad_norm_sq, stat_dtype(), 1)
      .vector("lr_step", lr_step, stat_dtype(), 2);
  if (!compute.empty()) c.vector("compute", compute, act_dtype(), n);
  if (n > 0)
    adamw_update_impl(master, compute, grads, exp_avg, exp_avg_sq, grad_norm_sq, lr_step, config, decay);
}

void Backend::run_recorded(std::unique_ptr<OpRecording>& recording, uint64_t key,
                           const std::function<void()>& ops) {
  run_recorded_impl(recording, key, ops);
}

// ---- helpers --------------------------------------------------------------------------------------

RopeTables rope_tables(int64_t positions, int64_t head_dim, double theta) {
  const int64_t half = head_dim / 2;
  RopeTables t;
  t.cos.resize(size_t(positions * half));
  t.sin.resize(size_t(positions * half));
  for (int64_t p = 0; p < positions; ++p)
    for (int64_t i = 0; i < half; ++i) {
      const double angle = double(p) * std::pow(theta, -2.0 * double(i) / double(head_dim));
      t.cos[size_t(p * half + i)] = std::cos(angle);
      t.sin[size_t(p * half + i)] = std::sin(angle);
    }
  return t;
}

namespace {
template <class D>
void convert_to(D* dst, const void* src, DType sd, size_t n) {
  switch (sd) {
    case DType::F32:
      for (size_t i = 0; i < n; ++i) dst[i] = D(static_cast<const float*>(src)[i]);
      break;
    case DType::F64:
      for (size_t i = 0; i < n; ++i) dst[i] = D(static_cast<const double*>(src)[i]);
      break;
    case DType::I32:
      for (size_t i = 0; i < n; ++i) dst[i] = D(static_cast<const int32_t*>(src)[i]);
      break;
    case DType::BF16:
      for (size_t i = 0; i < n; ++i) dst[i] = D(bf16_to_f32(static_cast<const uint16_t*>(src)[i]));
      break;
  }
}
}  // namespace

void convert_host(void* dst, DType dd, const void* src, DType sd, size_t n) {
  if (dd == sd) {
    std::memcpy(dst, src, n * dtype_size(dd));
    return;
  }
  switch (dd) {
    case DType::F32:
      convert_to(static_cast<float*>(dst), src, sd, n);
      break;
    case DType::F64:
      convert_to(static_cast<double*>(dst), src, sd, n);
      break;
    case DType::I32:
      convert_to(static_cast<int32_t*>(dst), src, sd, n);
      break;
    case DType::BF16: {
      auto* out = static_cast<uint16_t*>(dst);
      if (sd == DType::F32) {
        const auto* in = static_cast<const float*>(src);
        for (size_t i = 0; i < n; ++i) out[i] = f32_to_bf16(in[i]);
      } else if (sd == DType::F64) {
        // fp64 -> fp32 -> bf16 can double-round, but only in ties that do not occur for model weights.
        const auto* in = static_cast<const double*>(src);
        for (size_t i = 0; i < n; ++i) out[i] = f32_to_bf16(float(in[i]));
      } else {
        const auto* in = static_cast<const int32_t*>(src);
        for (size_t i = 0; i < n; ++i) out[i] = f32_to_bf16(float(in[i]));
      }
      break;
    }
  }
}

bool cuda_required_by_env() {
  return env_flag("TT_REQUIRE_CUDA", false);
}

#ifndef TT_HAVE_CUDA
bool is_cuda_available() {
  return false;
}
std::string cuda_unavailable_reason() {
  return "this build has no CUDA backend";
}
std::unique_ptr<Backend> make_cuda_backend(int) {
  TT_FAIL() << "this build has no CUDA backend"
            << hint(
                   "rebuild on a machine with the CUDA toolkit (nvcc) and TT_ENABLE_CUDA=ON, or use the CPU "
                   "backend");
  return nullptr;
}
#endif

}  // namespace tt
