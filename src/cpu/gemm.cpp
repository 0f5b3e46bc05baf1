#include "cpu/gemm.h"

#include <cblas.h>

#include <cstring>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <sstream>
#include <unordered_map>
#include <vector>

#include "common/check.h"
#include "cpu/parallel.h"

namespace tt::cpu {
namespace {

// ---- oneDNN ------------------------------------------------------------------------------------

using dnnl::memory;

memory::data_type dnnl_type(DType d) {
  switch (d) {
    case DType::F32:
      return memory::data_type::f32;
    case DType::BF16:
      return memory::data_type::bf16;
    default:
      TT_ASSERT(false) << "oneDNN GEMMs take F32 or BF16, not " << dtype_name(d);
  }
  return memory::data_type::undef;
}

struct GemmShapeHash {
  size_t operator()(const GemmShape& s) const {
    size_t h = size_t(s.trans_a) | size_t(s.trans_b) << 1 | size_t(s.in) << 2 | size_t(s.out) << 5;
    for (int64_t v : {s.M, s.N, s.K, s.lda, s.ldb, s.ldc, int64_t(s.threads)}) h = h * 1000003u ^ size_t(v);
    for (float v : {s.alpha, s.beta}) h = h * 1000003u ^ std::hash<float>{}(v);
    return h;
  }
};

// A matmul primitive for one GEMM shape, made once (kernel generation takes ~0.1-1 ms) and reused:
// a training step calls the same few dozen shapes over and over.
struct Plan {
  dnnl::matmul matmul;
  memory::desc a, b, c, scratch;
  std::string impl;
};

class Engine {
 public:
  static Engine& get() {
    static Engine e;
    return e;
  }
  dnnl::engine& engine() { return engine_; }

  // The plan for s, made with s.threads threads (and the calling thread's OpenMP team size set to it, for
  // the run that follows). Stable reference: unordered_map nodes do not move on rehash.
  const Plan& plan(const GemmShape& s) {
    if (omp_get_max_threads() != s.threads) omp_set_num_threads(s.threads);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = plans_.find(s);
    if (it != plans_.end()) return it->second;
    return plans_.emplace(s, make_plan(s)).first->second;
  }

 private:
  Engine() : engine_(dnnl::engine::kind::cpu, 0) {}

  Plan make_plan(const GemmShape& s) {
    const memory::data_type in = dnnl_type(s.in), out = dnnl_type(s.out);
    // op(A) [M,K] and op(B) [K,N] as strided views of the row-major operands
    const memory::dims a_strides = s.trans_a ? memory::dims{1, s.lda} : memory::dims{s.lda, 1};
    const memory::dims b_strides = s.trans_b ? memory::dims{1, s.ldb} : memory::dims{s.ldb, 1};
    Plan p;
    p.a = memory::desc({s.M, s.K}, in, a_strides);
    p.b = memory::desc({s.K, s.N}, in, b_strides);
    p.c = memory::desc({s.M, s.N}, out, memory::dims{s.ldc, 1});
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);  // per-thread scratch: see gemm_dnnl
    if (s.alpha != 1.0f) attr.set_output_scales(0, {s.alpha});
    if (s.beta != 0.0f) {
      dnnl::post_ops ops;
      ops.append_sum(s.beta);  // C = alpha * AB + beta * C
      attr.set_post_ops(ops);
    }
    try {
      const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(p.a, p.b, p.c), attr, engine_);
      p.matmul = dnnl::matmul(pd);
      p.scratch = pd.scratchpad_desc();
      p.impl = pd.impl_info_str();
    } catch (const dnnl::error& e) {
      TT_CHECK(false) << "oneDNN has no " << dtype_name(s.in) << " GEMM for [" << s.M << " x " << s.K
                      << "] @ [" << s.K << " x " << s.N << "] on this CPU (" << e.what() << ")";
    }
    return p;
  }

  dnnl::engine engine_;
  std::mutex mu_;
  std::unordered_map<GemmShape, Plan, GemmShapeHash> plans_;
};

const char* isa_name(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41:
      return "sse41";
    case dnnl::cpu_isa::avx:
      return "avx";
    case dnnl::cpu_isa::avx2:
      return "avx2";
    case dnnl::cpu_isa::avx2_vnni:
      return "avx2_vnni";
    case dnnl::cpu_isa::avx512_core:
      return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx:
      return "avx512_core_amx";
    default:
      return "baseline";
  }
}

// ---- OpenBLAS (double) ------------------------------------------------------------------------------

void dgemm_one_thread(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha,
                      const double* A, int64_t lda, const double* B, int64_t ldb, double beta, double* C,
                      int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {  // no products: C = beta * C (OpenBLAS refuses lda < 1)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) C[m * ldc + n] = beta == 0 ? 0.0 : beta * C[m * ldc + n];
    return;
  }
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, int(M),
              int(N), int(K), alpha, A, int(lda), B, int(ldb), beta, C, int(ldc));
}

}  // namespace

void gemm_dnnl(const GemmShape& shape, const void* A, const void* B, void* C) {
  if (shape.M == 0 || shape.N == 0) return;
  if (shape.K == 0) {  // no products: C = beta * C (oneDNN refuses empty reductions)
    TT_ASSERT(shape.beta == 0 || shape.beta == 1) << "empty GEMM with beta " << shape.beta;
    if (shape.beta == 0) {
      const size_t row_bytes = size_t(shape.N) * dtype_size(shape.out);
      for (int64_t m = 0; m < shape.M; ++m)
        std::memset(static_cast<char*>(C) + size_t(m * shape.ldc) * dtype_size(shape.out), 0, row_bytes);
    }
    return;
  }
  // oneDNN sizes its team from the calling thread's OpenMP setting when it makes a plan and when it runs
  // one (inside a parallel region it runs on the calling thread alone): plan() sets it.
  GemmShape s = shape;
  const double flops = 2.0 * double(s.M) * double(s.N) * double(s.K);
  s.threads = omp_in_parallel() || flops < kParallelGemmFlops || std::max(s.M, s.N) < kParallelGemmWidth
                  ? 1
                  : num_threads();
  if (s.in == DType::F32 && s.out == DType::F32) {
    // fp32: oneDNN's BLAS-style sgemm (its JIT GEMM kernels), 5-30% faster than the matmul primitive at the
    // LM head's shapes (bench_gemm). It takes its team size from the calling thread's OpenMP setting.
    if (omp_get_max_threads() != s.threads) omp_set_num_threads(s.threads);
    const dnnl_status_t status = dnnl_sgemm(
        s.trans_a ? 'T' : 'N', s.trans_b ? 'T' : 'N', s.M, s.N, s.K, s.alpha, static_cast<const float*>(A),
        s.lda, static_cast<const float*>(B), s.ldb, s.beta, static_cast<float*>(C), s.ldc);
    TT_ASSERT(status == dnnl_success) << "dnnl_sgemm failed (status " << int(status) << ") for [" << s.M
                                      << " x " << s.K << "] @ [" << s.K << " x " << s.N << "]";
    return;
  }
  Engine& e = Engine::get();
  const Plan& p = e.plan(s);
  thread_local std::vector<char> scratch;
  thread_local dnnl::stream stream(e.engine());
  if (scratch.size() < p.scratch.get_size()) scratch.resize(p.scratch.get_size());
  dnnl::engine& eng = e.engine();
  p.matmul.execute(stream, {{DNNL_ARG_SRC, memory(p.a, eng, const_cast<void*>(A))},
                            {DNNL_ARG_WEIGHTS, memory(p.b, eng, const_cast<void*>(B))},
                            {DNNL_ARG_DST, memory(p.c, eng, C)},
                            {DNNL_ARG_SCRATCHPAD, memory(p.scratch, eng, scratch.data())}});
  stream.wait();
}

void gemm_f64(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
              int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });  // threads come from parallel_for
  const double flops = 2.0 * double(M) * double(N) * double(K);
  const int64_t threads = omp_in_parallel() ? 1 : num_threads();
  if (threads <= 1 || flops < kParallelGemmFlops || std::max(M, N) < kParallelGemmWidth) {
    dgemm_one_thread(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  // one block of C per thread, along the larger of M and N, in multiples of 16 rows/columns
  const bool split_m = M >= N;
  const int64_t len = split_m ? M : N;
  const int64_t block = (len / threads + 15) / 16 * 16;
  parallel_for(threads, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t * block, e = t + 1 == threads ? len : std::min(len, b + block);
      if (b >= e) continue;
      if (split_m)
        dgemm_one_thread(trans_a, trans_b, e - b, N, K, alpha, trans_a ? A + b : A + b * lda, lda, B, ldb,
                         beta, C + b * ldc, ldc);
      else
        dgemm_one_thread(trans_a, trans_b, M, e - b, K, alpha, A, lda, trans_b ? B + b * ldb : B + b, ldb,
                         beta, C + b, ldc);
    }
  });
}

bool cpu_has_bf16() {
  const unsigned isa = unsigned(dnnl::get_effective_cpu_isa());
  const unsigned bf16_isa = unsigned(dnnl::cpu_isa::avx512_core_bf16);
  return (isa & bf16_isa) == bf16_isa;  // avx512_core_amx includes the avx512_core_bf16 bits
}

std::string gemm_kernel_description(bool bf16) {
  const dnnl_version_t* v = dnnl_version();
  std::ostringstream s;
  s << "oneDNN " << v->major << "." << v->minor << "." << v->patch << ", ISA "
    << isa_name(dnnl::get_effective_cpu_isa()) << ", " << num_threads() << " threads; ";
  s << "f32 GEMM: dnnl_sgemm";
  if (bf16) {  // the kernel of a layer GEMM of typical size, 512 x 1024 @ 1024 x 1024
    const GemmShape b{false, true, 512, 1024,        1024,        1024,         1024,
                      1024,  1,    0,   DType::BF16, DType::BF16, num_threads()};
    s << ", bf16 GEMM: " << Engine::get().plan(b).impl;
  }
  return s.str();
}

}  // namespace tt::cpu
