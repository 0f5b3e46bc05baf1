// Test harness pairing a device backend (CUDA; "gpu") with a reference backend ("cpu").
//
// A Pair is one logical tensor on both backends, created from the same host values. Kind says what
// the tensor is (activation -> bf16 on the GPU, gradient/statistic/master -> fp32, index -> I32);
// activation values are rounded to bf16 on the host first, so both backends see identical inputs and
// only the op's own arithmetic differs. Outputs start as a NaN sentinel (an unwritten element fails
// the finiteness check) or, for accumulate outputs, as known random values (checks the +=).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "model/backend.h"
#include "model/dtype.h"

namespace tt::test {

enum class Kind { Act, Grad, Stat, Master, Index };

// The dtype a backend uses for a tensor of this kind (CUDA: act BF16, others F32; CPU<T>: all T).
inline DType dtype_for(const Backend& be, Kind k) {
  switch (k) {
    case Kind::Act:
      return be.act_dtype();
    case Kind::Grad:
      return be.grad_dtype();
    case Kind::Stat:
      return be.stat_dtype();
    case Kind::Master:
      return be.master_dtype();
    case Kind::Index:
      return DType::I32;
  }
  return DType::F32;
}

inline float round_bf16(float x) {
  return bf16_to_f32(f32_to_bf16(x));
}

// One logical tensor [rows, cols] on both backends.
struct Pair {
  Tensor c, g;  // CPU, GPU
  Kind kind = Kind::Act;
  size_t n = 0;  // rows * cols
};

class Harness {
 public:
  Harness(Backend& cpu, Backend& gpu, uint64_t seed) : cpu_(cpu), gpu_(gpu), rng_(seed) {}
  ~Harness() {
    for (Tensor t : cpu_bufs_) cpu_.free(t);
    for (Tensor t : gpu_bufs_) gpu_.free(t);
  }
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  Backend& cpu() { return cpu_; }
  Backend& gpu() { return gpu_; }
  std::mt19937_64& rng() { return rng_; }

  // [rows, cols] from rows * cols host values.
  Pair from_host(Kind kind, int64_t rows, int64_t cols, std::vector<float> v) {
    // Inputs are bf16-representable whenever either side computes in bf16.
    if (kind == Kind::Act && (cpu_.act_dtype() == DType::BF16 || gpu_.act_dtype() == DType::BF16))
      for (float& x : v) x = round_bf16(x);
    Pair p = alloc(kind, rows, cols);
    upload(p, v);
    return p;
  }
  // A vector [n, 1] of indices.
  Pair ints(const std::vector<int32_t>& v) {
    Pair p = alloc(Kind::Index, int64_t(v.size()), 1);
    if (!v.empty()) {
      cpu_.copy_from_host(p.c, v.data());
      gpu_.copy_from_host(p.g, v.data());
    }
    return p;
  }
  std::vector<float> uniform(size_t n, float lo, float hi) {
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (float& x : v) x = d(rng_);
    return v;
  }
  Pair random(Kind kind, int64_t rows, int64_t cols, float lo = -1.0f, float hi = 1.0f) {
    return from_host(kind, rows, cols, uniform(size_t(rows * cols), lo, hi));
  }
  Pair sentinel(Kind kind, int64_t rows, int64_t cols) {
    return from_host(kind, rows, cols, std::vector<float>(size_t(rows * cols), std::nanf("")));
  }
  // Accumulate targets: the same random prefill on both sides.
  Pair prefilled(Kind kind, int64_t rows, int64_t cols) { return random(kind, rows, cols, -0.5f, 0.5f); }

  // Overwrites both sides with the same host values (e.g. to feed one backend's output to both).
  void upload(const Pair& p, const std::vector<float>& v) {
    if (p.n == 0) return;
    for (auto [be, t] : {std::pair<Backend*, Tensor>{&cpu_, p.c}, std::pair<Backend*, Tensor>{&gpu_, p.g}}) {
      std::vector<char> raw(t.bytes());
      convert_host(raw.data(), t.dtype, v.data(), DType::F32, p.n);
      be->copy_from_host(t, raw.data());
    }
  }
  static std::vector<float> read(Backend& be, Tensor t) {
    std::vector<char> raw(t.bytes());
    be.copy_to_host(raw.data(), t);
    std::vector<float> out(size_t(t.numel()));
    convert_host(out.data(), DType::F32, raw.data(), t.dtype, out.size());
    return out;
  }
  std::vector<float> cpu_values(const Pair& p) { return read(cpu_, p.c); }
  std::vector<float> gpu_values(const Pair& p) { return read(gpu_, p.g); }

  // Relative L2 error of the GPU result against the CPU reference, plus finiteness of every GPU element.
  void expect_close(const std::string& what, const Pair& p, double tol) {
    const std::vector<float> ref = cpu_values(p), got = gpu_values(p);
    expect_close_values(what, ref, got, tol);
  }
  // For fp32 accumulate outputs: compares the increments (result - prefill), which the prefill
  // would otherwise dominate.
  void expect_close_delta(const std::string& what, const Pair& p, const std::vector<float>& prefill,
                          double tol) {
    std::vector<float> ref = cpu_values(p), got = gpu_values(p);
    for (size_t i = 0; i < ref.size() && i < prefill.size(); ++i) {
      ref[i] -= prefill[i];
      got[i] -= prefill[i];
    }
    expect_close_values(what, ref, got, tol);
  }
  static void expect_close_values(const std::string& what, const std::vector<float>& ref,
                                  const std::vector<float>& got, double tol) {
    ASSERT_EQ(ref.size(), got.size()) << what;
    double err = 0, norm = 0, worst = -1;
    size_t worst_i = 0, nonfinite = 0, first_bad = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      if (!std::isfinite(got[i])) {
        if (nonfinite++ == 0) first_bad = i;
        continue;
      }
      const double d = double(got[i]) - double(ref[i]);
      err += d * d;
      norm += double(ref[i]) * double(ref[i]);
      if (std::fabs(d) > worst) {
        worst = std::fabs(d);
        worst_i = i;
      }
    }
    EXPECT_EQ(nonfinite, 0u) << what << ": " << nonfinite << " non-finite GPU elements (first at "
                             << first_bad << ", value " << (ref.empty() ? 0.f : got[first_bad])
                             << "); NaN means an output element was never written";
    err = std::sqrt(err);
    norm = std::sqrt(norm);
    const double rel = err / std::max(norm, 1e-30);
    const double allowed = tol * norm + 1e-6 * std::sqrt(double(ref.size()));
    EXPECT_LE(err, allowed) << what << ": relative L2 error " << rel << " > " << tol << " (n=" << ref.size()
                            << ", worst |diff| " << worst << " at " << worst_i << ": gpu " << got[worst_i]
                            << " vs cpu " << ref[worst_i] << ")";
  }

 private:
  Pair alloc(Kind kind, int64_t rows, int64_t cols) {
    Pair p;
    p.kind = kind;
    p.n = size_t(rows * cols);
    p.c = cpu_.alloc(rows, cols, dtype_for(cpu_, kind));
    p.g = gpu_.alloc(rows, cols, dtype_for(gpu_, kind));
    if (p.c.ptr) cpu_bufs_.push_back(p.c);
    if (p.g.ptr) gpu_bufs_.push_back(p.g);
    return p;
  }

  Backend& cpu_;
  Backend& gpu_;
  std::mt19937_64 rng_;
  std::vector<Tensor> cpu_bufs_, gpu_bufs_;
};

}  // namespace tt::test
