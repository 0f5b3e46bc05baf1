// The CPU reference backend: implements tt::Backend for T = float ("cpu-f32") or double ("cpu-f64")
// by dispatching to the templated ops in this directory. All dtypes (act, grad, stat, master) are T;
// the compute copy of the weights is the master buffer itself. Scratch for attention and the LM
// head lives here and only grows, so steady-state training steps do not allocate.
#include <cstdlib>
#include <cstring>
#include <vector>

#include "common/check.h"
#include "cpu/adamw.h"
#include "cpu/attention.h"
#include "cpu/cross_entropy.h"
#include "cpu/embedding.h"
#include "cpu/matmul.h"
#include "cpu/rmsnorm.h"
#include "cpu/rope.h"
#include "cpu/swiglu.h"
#include "model/backend.h"
#include "model/dtype.h"

namespace tt {
namespace {

template <class T>
constexpr DType dtype_of() {
  return std::is_same_v<T, float> ? DType::F32 : DType::F64;
}

template <class T>
class CpuBackend final : public Backend {
 public:
  // GEMMs are threaded by cpu::gemm itself (one single-threaded BLAS call per core; see matmul.h).
  CpuBackend() { openblas_set_num_threads(1); }
  std::string name() const override { return std::is_same_v<T, float> ? "cpu-f32" : "cpu-f64"; }
  DType act_dtype() const override { return dtype_of<T>(); }
  DType grad_dtype() const override { return dtype_of<T>(); }
  DType stat_dtype() const override { return dtype_of<T>(); }
  DType master_dtype() const override { return dtype_of<T>(); }

  Buf alloc(size_t numel, DType dtype) override {
    Buf b;
    b.dtype = dtype;
    b.numel = numel;
    const size_t bytes = (std::max<size_t>(1, numel * dtype_size(dtype)) + 63) / 64 * 64;
    b.ptr = std::aligned_alloc(64, bytes);
    TT_CHECK(b.ptr) << "out of host memory allocating " << bytes << " bytes";
    std::memset(b.ptr, 0, bytes);
    current_ += bytes;
    peak_ = std::max(peak_, current_);
    return b;
  }
  void free(Buf b) override {
    if (!b.ptr) return;
    current_ -= (std::max<size_t>(1, b.bytes()) + 63) / 64 * 64;
    std::free(b.ptr);
  }
  void copy_from_host(Buf dst, const void* src) override { std::memcpy(dst.ptr, src, dst.bytes()); }
  void copy_to_host(void* dst, Buf src) override { std::memcpy(dst, src.ptr, src.bytes()); }
  void convert(Buf dst, Buf src) override {
    TT_ASSERT(dst.numel == src.numel) << "convert: " << dst.numel << " vs " << src.numel;
    convert_host(dst.ptr, dst.dtype, src.ptr, src.dtype, src.numel);
  }
  void fill(Buf dst, double value) override {
    switch (dst.dtype) {
      case DType::F32:
        std::fill_n(dst.as<float>(), dst.numel, float(value));
        break;
      case DType::F64:
        std::fill_n(dst.as<double>(), dst.numel, value);
        break;
      case DType::I32:
        std::fill_n(dst.as<int32_t>(), dst.numel, int32_t(value));
        break;
      case DType::BF16:
        std::fill_n(dst.as<uint16_t>(), dst.numel, f32_to_bf16(float(value)));
        break;
    }
  }
  void synchronize() override {}
  size_t peak_memory_bytes() const override { return peak_; }

  void embedding_forward(Buf out, Buf ids, Buf table, int64_t N, int64_t C, int64_t V) override {
    cpu::embedding_forward(t(out), i32(ids), t(table), N, C, V);
  }
  void embedding_backward(Buf dtable, Buf ids, Buf dout, int64_t N, int64_t C, int64_t V) override {
    cpu::embedding_backward(t(dtable), i32(ids), t(dout), N, C, V);
  }
  void rmsnorm_forward(Buf out, Buf rstd, Buf inp, Buf weight, int64_t R, int64_t C, float eps) override {
    cpu::rmsnorm_forward(t(out), t(rstd), t(inp), t(weight), R, C, double(eps));
  }
  void rmsnorm_backward(Buf dinp, Buf dweight, Buf dout, Buf inp, Buf weight, Buf rstd, int64_t R,
                        int64_t C) override {
    cpu::rmsnorm_backward(t(dinp), t(dweight), t(dout), t(inp), t(weight), t(rstd), R, C);
  }
  void matmul_forward(Buf out, Buf inp, Buf weight, int64_t M, int64_t K, int64_t N,
                      bool accumulate) override {
    cpu::matmul_forward(t(out), t(inp), t(weight), M, K, N, accumulate);
  }
  void matmul_backward(Buf dinp, Buf dweight, Buf dout, Buf inp, Buf weight, int64_t M, int64_t K, int64_t N,
                       bool accumulate_dinp) override {
    cpu::matmul_backward(t_or_null(dinp), t_or_null(dweight), t(dout), t(inp), t(weight), M, K, N,
                         accumulate_dinp);
  }
  void rope_forward(Buf out, Buf inp, int64_t N, int64_t T_, int64_t H, int64_t D, double theta,
                    int64_t pos_offset) override {
    cpu::rope_forward(t(out), t(inp), N, T_, H, D, theta, pos_offset);
  }
  void rope_backward(Buf dinp, Buf dout, int64_t N, int64_t T_, int64_t H, int64_t D, double theta,
                     int64_t pos_offset) override {
    cpu::rope_backward(t(dinp), t(dout), N, T_, H, D, theta, pos_offset);
  }
  void attention_forward(Buf out, Buf lse, Buf q, Buf k, Buf v, int64_t B, int64_t T_, int64_t Hq,
                         int64_t Hkv, int64_t D) override {
    cpu::attention_forward(t(out), t(lse), t(q), t(k), t(v), B, T_, Hq, Hkv, D, scratch_);
  }
  void attention_backward(Buf dq, Buf dk, Buf dv, Buf dout, Buf out, Buf lse, Buf q, Buf k, Buf v, int64_t B,
                          int64_t T_, int64_t Hq, int64_t Hkv, int64_t D) override {
    cpu::attention_backward(t(dq), t(dk), t(dv), t(dout), t(out), t(lse), t(q), t(k), t(v), B, T_, Hq, Hkv, D,
                            scratch_);
  }
  void attention_infer(Buf out, Buf q, Buf k_cache, Buf v_cache, int64_t Tq, int64_t Tkv, int64_t Hq,
                       int64_t Hkv, int64_t D) override {
    cpu::attention_infer(t(out), t(q), t(k_cache), t(v_cache), Tq, Tkv, Hq, Hkv, D);
  }
  void swiglu_forward(Buf out, Buf gate, Buf up, int64_t n) override {
    cpu::swiglu_forward(t(out), t(gate), t(up), n);
  }
  void swiglu_backward(Buf dgate, Buf dup, Buf dout, Buf gate, Buf up, int64_t n) override {
    cpu::swiglu_backward(t(dgate), t(dup), t(dout), t(gate), t(up), n);
  }
  void add(Buf out, Buf a, Buf b, int64_t n) override {
    T* o = t(out);
    const T *x = t(a), *y = t(b);
    for (int64_t i = 0; i < n; ++i) o[i] = x[i] + y[i];
  }
  void lm_head_loss(Buf losses, Buf dhidden, Buf dtable, Buf hidden, Buf table, Buf targets, int64_t N,
                    int64_t C, int64_t V, float loss_scale) override {
    cpu::lm_head_loss(t(losses), dhidden.empty() ? nullptr : t(dhidden),
                      dhidden.empty() ? nullptr : t(dtable), t(hidden), t(table), i32(targets), N, C, V,
                      double(loss_scale), scratch_);
  }
  void lm_head_logits(Buf logits, Buf hidden, Buf table, int64_t N, int64_t C, int64_t V) override {
    cpu::lm_head_logits(t(logits), t(hidden), t(table), N, C, V);
  }
  void sum(Buf out, Buf x, int64_t n) override { t(out)[0] = T(cpu::sum(t(x), n)); }
  void grad_norm_sq(Buf out, Buf grads, int64_t n) override { t(out)[0] = T(cpu::grad_norm_sq(t(grads), n)); }
  void adamw_update(Buf master, Buf compute, Buf grads, Buf m, Buf v, Buf grad_norm_sq, int64_t n,
                    const AdamWArgs& args, bool decay) override {
    cpu::adamw_update(t(master), t(grads), t(m), t(v), double(t(grad_norm_sq)[0]), n, args, decay);
    if (!compute.empty() && compute.ptr != master.ptr) convert(compute, master.at(0, size_t(n)));
  }

 private:
  static T* t(Buf b) {
    TT_ASSERT(b.dtype == dtype_of<T>() && b.ptr)
        << "CPU backend: expected a non-empty " << dtype_name(dtype_of<T>()) << " buffer, got "
        << dtype_name(b.dtype);
    return b.as<T>();
  }
  // Outputs that backend.h allows to be empty() (to skip computing them).
  static T* t_or_null(Buf b) { return b.empty() ? nullptr : t(b); }
  static int32_t* i32(Buf b) {
    TT_ASSERT(b.dtype == DType::I32 && b.ptr) << "CPU backend: expected an I32 buffer";
    return b.as<int32_t>();
  }
  std::vector<T> scratch_;
  size_t current_ = 0, peak_ = 0;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(DType dtype) {
  TT_CHECK(dtype == DType::F32 || dtype == DType::F64)
      << "the CPU backend runs in F32 or F64, not " << dtype_name(dtype);
  if (dtype == DType::F32) return std::make_unique<CpuBackend<float>>();
  return std::make_unique<CpuBackend<double>>();
}

}  // namespace tt
