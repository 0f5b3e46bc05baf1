// The CPU backend: tt::Backend over the templated ops in this directory, for
//   "cpu-f32"  (T = A = float):  every dtype float; the reference for real training runs;
//   "cpu-f64"  (T = A = double): every dtype double; the reference the tests check against;
//   "cpu-bf16" (T = float, A = bf16): activations and the compute copy of the weights in bf16 (GEMMs on
//              bf16 inputs with fp32 accumulation), gradients, statistics, master weights and AdamW
//              moments in fp32: the CUDA backend's precision policy, for CPUs with native bf16 dot
//              products (AVX512-BF16 or AMX).
// act_dtype() is A's, every other dtype T's; when they agree the compute copy of the weights is the master
// buffer itself. The contract (shapes, dtypes) was checked by Backend before any *_impl runs, so these
// only unwrap the tensors. The ops' scratch lives here; each op grows it to its *_scratch() size (grow,
// scratch.h), so it reaches its size in the first step and steady-state steps do not allocate.
#include <cstdlib>
#include <cstring>
#include <vector>

#include "common/check.h"
#include "common/cores.h"
#include "common/host_memory.h"
#include "common/log.h"
#include "cpu/adamw.h"
#include "cpu/attention.h"
#include "cpu/cross_entropy.h"
#include "cpu/embedding.h"
#include "cpu/gemm.h"
#include "cpu/matmul.h"
#include "cpu/parallel.h"
#include "cpu/qk_norm_rope.h"
#include "cpu/rmsnorm.h"
#include "cpu/scratch.h"
#include "cpu/swiglu.h"
#include "model/backend.h"
#include "model/dtype.h"

namespace tt {
namespace {

using cpu::bf16;
using cpu::dtype_of;

template <class T, class A>
class CpuBackend final : public Backend {
 public:
  std::string name() const override {
    if constexpr (std::is_same_v<A, bf16>) return "cpu-bf16";
    return std::is_same_v<T, float> ? "cpu-f32" : "cpu-f64";
  }
  DType act_dtype() const override { return dtype_of<A>(); }
  DType grad_dtype() const override { return dtype_of<T>(); }
  DType stat_dtype() const override { return dtype_of<T>(); }
  DType master_dtype() const override { return dtype_of<T>(); }
  size_t peak_memory_bytes() const override {
    return peak_ + scratch_.values.capacity() * sizeof(T) + scratch_.act.capacity() * sizeof(A);
  }
  // The largest need of the ops that use the scratch (each grows it to exactly its need: cpu::grow), over an
  // evaluation and decoding of `s` and, with s.backward, a training step.
  size_t op_scratch_bytes(const OpShapes& s) const override {
    constexpr bool rounded = !std::is_same_v<A, T>;
    cpu::ScratchNeed need;
    for (const cpu::ScratchNeed op : {cpu::qk_norm_rope_forward_scratch(s.rows, s.q_heads, s.head_dim),
                                      cpu::attention_forward_scratch(s.seq_len, rounded),
                                      cpu::lm_head_loss_scratch(s.rows, s.vocab, false, rounded)})
      need = cpu::max(need, op);
    if (s.backward)
      for (const cpu::ScratchNeed op : {cpu::qk_norm_rope_backward_scratch(s.rows, s.q_heads, s.head_dim),
                                        cpu::attention_backward_scratch(s.seq_len, s.head_dim, rounded),
                                        cpu::lm_head_loss_scratch(s.rows, s.vocab, true, rounded)})
        need = cpu::max(need, op);
    return need.values * sizeof(T) + need.act * sizeof(A);
  }
  std::optional<uint64_t> available_memory_bytes() const override { return host_available_memory_bytes(); }

 protected:
  Tensor alloc_impl(int64_t rows, int64_t cols, DType dtype) override {
    Tensor t{nullptr, dtype, rows, cols};
    const size_t bytes = padded(t.bytes());
    // The memset below touches every page, so a tensor larger than what is left would end in the OOM
    // killer rather than in a null pointer: check large ones first (reading /proc costs ~10 us).
    std::optional<uint64_t> available;
    if (bytes >= (size_t(64) << 20)) available = host_available_memory_bytes();
    const bool fits = !available || bytes <= *available;
    t.ptr = fits ? std::aligned_alloc(64, bytes) : nullptr;
    TT_CHECK(t.ptr) << "out of host memory allocating " << format_bytes(bytes) << " (" << dtype_name(dtype)
                    << " [" << rows << ", " << cols << "]); "
                    << (available ? format_bytes(*available) + " available, " : std::string())
                    << format_bytes(current_) << " held by this backend"
                    << hint("reduce the batch size or sequence length");
    std::memset(t.ptr, 0, bytes);
    current_ += bytes;
    peak_ = std::max(peak_, current_);
    return t;
  }
  void free_impl(Tensor t) override {
    current_ -= padded(t.bytes());
    std::free(t.ptr);
  }
  void copy_from_host_impl(Tensor dst, const void* src) override { std::memcpy(dst.ptr, src, dst.bytes()); }
  void copy_to_host_impl(void* dst, Tensor src) override { std::memcpy(dst, src.ptr, src.bytes()); }
  void convert_impl(Tensor dst, Tensor src) override {
    convert_host(dst.ptr, dst.dtype, src.ptr, src.dtype, size_t(src.numel()));
  }
  void fill_impl(Tensor dst, double value) override {
    const size_t n = size_t(dst.numel());
    switch (dst.dtype) {
      case DType::F32:
        std::fill_n(dst.data<float>(), n, float(value));
        break;
      case DType::F64:
        std::fill_n(dst.data<double>(), n, value);
        break;
      case DType::I32:
        std::fill_n(dst.data<int32_t>(), n, int32_t(value));
        break;
      case DType::BF16:
        std::fill_n(dst.data<uint16_t>(), n, f32_to_bf16(float(value)));
        break;
    }
  }
  void synchronize_impl() override {}

  void embedding_forward_impl(Tensor out, Tensor ids, Tensor table) override {
    cpu::embedding_forward(a(out), i32(ids), a(table), ids.numel(), table.cols, table.rows);
  }
  void embedding_backward_impl(Tensor dtable, Tensor ids, Tensor dout) override {
    cpu::embedding_backward(t(dtable), i32(ids), a(dout), ids.numel(), dtable.cols, dtable.rows);
  }
  void rmsnorm_forward_impl(Tensor out, Tensor rstd, Tensor inp, Tensor weight, float eps) override {
    cpu::rmsnorm_forward(a(out), t(rstd), a(inp), a(weight), inp.rows, inp.cols, double(eps));
  }
  void rmsnorm_backward_impl(Tensor dinp, Tensor dweight, Tensor dout, Tensor inp, Tensor weight,
                             Tensor rstd) override {
    cpu::rmsnorm_backward(a(dinp), t(dweight), a(dout), a(inp), a(weight), t(rstd), inp.rows, inp.cols);
  }
  void matmul_forward_impl(Tensor out, Tensor inp, Tensor weight, Tensor residual) override {
    // out = residual, then out += inp @ weight^T (the GEMM's beta = 1)
    if (!residual.empty() && residual.ptr != out.ptr) std::memcpy(out.ptr, residual.ptr, out.bytes());
    cpu::matmul_forward(a(out), a(inp), a(weight), inp.rows, inp.cols, weight.rows, !residual.empty());
  }
  void matmul_backward_impl(Tensor dinp, Tensor dweight, Tensor dout, Tensor inp, Tensor weight,
                            bool accumulate_dinp) override {
    cpu::matmul_backward(a_or_null(dinp), t_or_null(dweight), a(dout), a_or_null(inp), a(weight), dout.rows,
                         weight.cols, weight.rows, accumulate_dinp);
  }
  void qk_norm_rope_forward_impl(Tensor q, Tensor k, Tensor v, Tensor q_rstd, Tensor k_rstd, Tensor qkv,
                                 Tensor q_norm, Tensor k_norm, Tensor cos, Tensor sin, int64_t seq_len,
                                 float eps) override {
    const int64_t D = 2 * cos.cols;
    cpu::qk_norm_rope_forward(a(q), a(k), a(v), t(q_rstd), t(k_rstd), a(qkv), a(q_norm), a(k_norm), t(cos),
                              t(sin), qkv.rows, seq_len, q.cols / D, k.cols / D, D, double(eps), scratch_);
  }
  void qk_norm_rope_backward_impl(Tensor dqkv, Tensor dq_norm, Tensor dk_norm, Tensor dq, Tensor dk,
                                  Tensor dv, Tensor qkv, Tensor q_norm, Tensor k_norm, Tensor q_rstd,
                                  Tensor k_rstd, Tensor cos, Tensor sin, int64_t seq_len) override {
    const int64_t D = 2 * cos.cols;
    cpu::qk_norm_rope_backward(a(dqkv), t(dq_norm), t(dk_norm), a(dq), a(dk), a(dv), a(qkv), a(q_norm),
                               a(k_norm), t(q_rstd), t(k_rstd), t(cos), t(sin), qkv.rows, seq_len,
                               dq.cols / D, dk.cols / D, D, scratch_);
  }
  void attention_forward_impl(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, int64_t D) override {
    const int64_t Hq = q.cols / D, T_ = lse.cols;
    cpu::attention_forward(a(out), t(lse), a(q), a(k), a(v), lse.rows / Hq, T_, Hq, k.cols / D, D, scratch_);
  }
  void attention_backward_impl(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor out, Tensor lse, Tensor q,
                               Tensor k, Tensor v, int64_t D) override {
    const int64_t Hq = q.cols / D, T_ = lse.cols;
    cpu::attention_backward(a(dq), a(dk), a(dv), a(dout), a(out), t(lse), a(q), a(k), a(v), lse.rows / Hq, T_,
                            Hq, k.cols / D, D, scratch_);
  }
  void attention_infer_impl(Tensor out, Tensor q, Tensor k_cache, Tensor v_cache, int64_t D) override {
    cpu::attention_infer(a(out), a(q), a(k_cache), a(v_cache), q.rows, k_cache.rows, q.cols / D,
                         k_cache.cols / D, D);
  }
  void swiglu_forward_impl(Tensor out, Tensor gate_up) override {
    cpu::swiglu_forward(a(out), a(gate_up), gate_up.rows, gate_up.cols / 2);
  }
  void swiglu_backward_impl(Tensor dgate_up, Tensor dout, Tensor gate_up) override {
    cpu::swiglu_backward(a(dgate_up), a(dout), a(gate_up), gate_up.rows, gate_up.cols / 2);
  }
  void lm_head_loss_impl(Tensor losses, Tensor dhidden, Tensor dtable, Tensor hidden, Tensor table,
                         Tensor targets, float loss_scale) override {
    cpu::lm_head_loss(t(losses), a_or_null(dhidden), t_or_null(dtable), a(hidden), a(table), i32(targets),
                      hidden.rows, hidden.cols, table.rows, double(loss_scale), scratch_);
  }
  void lm_head_logits_impl(Tensor logits, Tensor hidden, Tensor table) override {
    cpu::lm_head_logits(t(logits), a(hidden), a(table), hidden.rows, hidden.cols, table.rows);
  }
  void sum_impl(Tensor out, Tensor x) override { t(out)[0] = T(cpu::sum(t(x), x.numel())); }
  void grad_norm_sq_impl(Tensor out, Tensor grads) override {
    t(out)[0] = T(cpu::grad_norm_sq(t(grads), grads.numel()));
  }
  void adamw_update_impl(Tensor master, Tensor compute, Tensor grads, Tensor exp_avg, Tensor exp_avg_sq,
                         Tensor grad_norm_sq, Tensor lr_step, const AdamWConfig& config,
                         bool decay) override {
    AdamWArgs args;
    static_cast<AdamWConfig&>(args) = config;
    args.lr = float(t(lr_step)[0]);
    args.step = int64_t(t(lr_step)[1]);
    A* to_compute = compute.empty() || compute.ptr == master.ptr ? nullptr : a(compute);
    cpu::adamw_update(t(master), t(grads), t(exp_avg), t(exp_avg_sq), double(t(grad_norm_sq)[0]),
                      master.numel(), args, decay, to_compute);
  }

 private:
  static size_t padded(size_t bytes) { return (std::max<size_t>(1, bytes) + 63) / 64 * 64; }
  // The contract guarantees the dtype; the pointer may be null only for a zero-sized tensor.
  static T* t(Tensor x) { return x.data<T>(); }
  static T* t_or_null(Tensor x) { return x.empty() ? nullptr : x.data<T>(); }
  static A* a(Tensor x) { return x.data<A>(); }
  static A* a_or_null(Tensor x) { return x.empty() ? nullptr : x.data<A>(); }
  static int32_t* i32(Tensor x) { return x.data<int32_t>(); }

  cpu::Scratch<T, A> scratch_;
  size_t current_ = 0, peak_ = 0;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(DType act, int threads) {
  cpu::set_num_threads(threads > 0 ? threads : available_cores());
  if (act == DType::BF16) {
    TT_CHECK(cpu::cpu_has_bf16())
        << "bf16 on the CPU needs native bf16 dot products (AVX512-BF16 or AMX), "
           "which this CPU lacks ("
        << cpu::gemm_kernel_description(false) << ")"
        << hint("train without --bf16 (--bf16=false where a resumed run had it): fp32 runs on every CPU");
  }
  if (log_level() <= LogLevel::Debug)
    log_debug("CPU backend ", dtype_name(act), ": ", cpu::gemm_kernel_description(act == DType::BF16));
  switch (act) {
    case DType::F32:
      return std::make_unique<CpuBackend<float, float>>();
    case DType::F64:
      return std::make_unique<CpuBackend<double, double>>();
    case DType::BF16:
      return std::make_unique<CpuBackend<float, bf16>>();
    default:
      TT_CHECK(false) << "the CPU backend computes in F32, F64 or BF16, not " << dtype_name(act);
  }
  return nullptr;
}

}  // namespace tt
