// matmul: a bias-free nn.Linear on cuBLASLt (bf16 operands, fp32 accumulation). CPU: src/cpu/matmul.h.
//
//   forward : out[M,N]  = inp[M,K] @ weight[N,K]^T (+ residual[M,N], in the epilogue: C = residual, D = out)
//   backward: dinp[M,K] = dout[M,N] @ weight[N,K]           bf16, overwrite or += (accumulate_dinp)
//             dweight[N,K] += dout[M,N]^T @ inp[M,K]        fp32 (grad_dtype), always accumulate (beta=1)
//   Nothing is saved beyond the inputs.
//
// Row-major -> column-major (gemm_layout.h, unit-tested without a GPU): cuBLAS sees a row-major [r,c] matrix
// as a column-major [c,r] one (its transpose), so row-major C = op(A) op(B) is computed as column-major C^T =
// op(B)^T op(A)^T, i.e. cuBLAS "A" is our B and cuBLAS "B" is our A, with m = N, n = M. gemm_rm() does this
// mapping once; everything else speaks row-major. The accumulation (beta = 1 into C = D) is the one epilogue
// that removes a pass here (no bias, no activation in this model's linears).
//
// Each distinct problem (shape, transposes, output type, accumulate, pointer alignments) gets a
// plan: matmul descriptor, the four layouts and an algorithm, made once and cached, so a training step does
// no descriptor creation and no heuristic query after warm-up (plans are made before a step is recorded
// into a CUDA graph: CudaBackend::run_recorded issues the ops once eagerly first).
// The algorithm: the heuristic's best kAlgoCandidates, each run on the call's own operands when the plan is
// made; the fastest (kTimedRuns back to back, CUDA events) wins among those whose output is bit-identical
// to the heuristic's first choice (a device hash of the output). cuBLASLt is deterministic for a given
// algorithm, but two algorithms may sum in different orders (split-K, other tiles): restricting the choice
// to candidates that agree with the first keeps results independent of timing noise, so a resumed run
// computes what an uninterrupted one does. Where D is also the accumulated input (beta = 1, C == D), D is
// saved to the host before the candidates run and restored after. During a stream capture (no timing
// possible) the first candidate is taken. TT_CUDA_GEMM_LOG=1 prints each plan's candidates and times.
// If the heuristic has no algorithm (odd leading dimensions), the plan falls back to cublasGemmEx
// with the same column-major parameters (fp32 compute).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "common/check.h"
#include "cuda/common.cuh"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_check.h"
#include "cuda/gemm_layout.h"

namespace tt::cuda {
namespace {

struct PlanKey {
  cublasLtHandle_t handle;
  int64_t m, n, k;
  bool trans_a, trans_b;  // cuBLAS-side ops
  int c_type;
  bool accumulate;
  int align_a, align_b, align_c;
  auto tie() const {
    return std::tie(handle, m, n, k, trans_a, trans_b, c_type, accumulate, align_a, align_b, align_c);
  }
  bool operator<(const PlanKey& o) const { return tie() < o.tie(); }
};

struct Plan {
  bool fallback = false;  // no cuBLASLt algorithm: use cublasGemmEx (any leading dimension)
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
};

std::map<PlanKey, Plan>& plans() {
  static std::map<PlanKey, Plan> p;
  return p;
}

int alignment_of(const void* p) {
  const uintptr_t u = reinterpret_cast<uintptr_t>(p);
  if (u == 0) return 256;
  const uintptr_t low = u & (~u + 1);
  return int(low > 256 ? 256 : low);
}

constexpr int kAlgoCandidates = 8;  // heuristic results timed per plan
constexpr int kTimedRuns = 3;       // back-to-back runs per candidate

// The heuristic's best algorithms (up to kAlgoCandidates, best first) for operands with the given
// alignments; empty when it has none (status in *st).
std::vector<cublasLtMatmulAlgo_t> algo_candidates(Ctx& ctx, cublasLtMatmulDesc_t desc,
                                                  cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                                                  cublasLtMatrixLayout_t c, int align_a, int align_b,
                                                  int align_c, cublasStatus_t* st) {
  cublasLtMatmulPreference_t pref = nullptr;
  CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  const uint64_t ws = ctx.lt_workspace_bytes;
  CUBLAS_CHECK(
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
  const uint32_t aa = uint32_t(align_a), ab = uint32_t(align_b), ac = uint32_t(align_c);
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &aa,
                                                    sizeof(aa)));
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &ab,
                                                    sizeof(ab)));
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &ac,
                                                    sizeof(ac)));
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &ac,
                                                    sizeof(ac)));
  cublasLtMatmulHeuristicResult_t results[kAlgoCandidates] = {};
  int returned = 0;
  *st = cublasLtMatmulAlgoGetHeuristic(ctx.lt, desc, a, b, c, c, pref, kAlgoCandidates, results, &returned);
  cublasLtMatmulPreferenceDestroy(pref);
  std::vector<cublasLtMatmulAlgo_t> algos;
  if (*st == CUBLAS_STATUS_SUCCESS)
    for (int i = 0; i < returned; ++i)
      if (results[i].state == CUBLAS_STATUS_SUCCESS) algos.push_back(results[i].algo);
  return algos;
}

// splitmix64's finaliser: spreads every input bit over the output.
__device__ __forceinline__ unsigned long long mix64(unsigned long long x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// *out += sum over i of mix64(i, word i) for the n 16-bit words at w: a hash of the bytes and their
// positions. Integer addition is associative, so the atomics give the same hash every run (and one per
// thread is cheap enough for a kernel that runs once per plan).
__global__ void hash_words_kernel(unsigned long long* out, const uint16_t* w, int64_t n) {
  unsigned long long h = 0;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    h += mix64((static_cast<unsigned long long>(i) << 16) | w[i]);
  atomicAdd(out, h);
}

unsigned long long device_hash(Ctx& ctx, const void* p, size_t bytes) {
  auto* h = static_cast<unsigned long long*>(ctx.scratch(Slot::kGemmTuning, sizeof(unsigned long long)));
  CUDA_CHECK(cudaMemsetAsync(h, 0, sizeof(*h), ctx.stream));
  const int64_t n = int64_t(bytes / 2);
  // 4 blocks per SM keep HBM busy (a once-per-plan kernel) and the emulator's thread count low.
  const int blocks = std::min(grid_for(n, 256, ctx), 4 * ctx.sm_count);
  hash_words_kernel<<<blocks, 256, 0, ctx.stream>>>(h, static_cast<const uint16_t*>(p), n);
  CUDA_CHECK_LAUNCH();
  unsigned long long host = 0;
  CUDA_CHECK(cudaMemcpyAsync(&host, h, sizeof(host), cudaMemcpyDeviceToHost, ctx.stream));
  CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
  return host;
}

// The output of one GEMM call, for choose_algo: d_bytes at d, which is also an input (C == D, beta = 1) when
// d_is_input.
struct GemmOutput {
  void* d;
  size_t d_bytes;
  bool d_is_input;
};

// TT_CUDA_GEMM_LOG=1: one line per plan on stderr with every candidate's time (for the GPU's first runs).
bool gemm_log() {
  static const bool on = [] {
    const char* v = std::getenv("TT_CUDA_GEMM_LOG");
    return v != nullptr && std::string(v) == "1";
  }();
  return on;
}

// Index of the algorithm a plan keeps (see the header): `run` makes the call with a candidate; `what` names
// the problem in the log.
size_t choose_algo(Ctx& ctx, const std::vector<cublasLtMatmulAlgo_t>& algos,
                   const std::function<cublasStatus_t(const cublasLtMatmulAlgo_t&)>& run, GemmOutput out,
                   const std::string& what) {
  if (algos.size() < 2) return 0;
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  CUDA_CHECK(cudaStreamIsCapturing(ctx.stream, &capture));
  if (capture != cudaStreamCaptureStatusNone) return 0;
  std::vector<char> saved;
  auto restore = [&] {
    if (out.d_is_input)
      CUDA_CHECK(cudaMemcpyAsync(out.d, saved.data(), out.d_bytes, cudaMemcpyHostToDevice, ctx.stream));
  };
  if (out.d_is_input) {
    saved.resize(out.d_bytes);
    CUDA_CHECK(cudaMemcpyAsync(saved.data(), out.d, out.d_bytes, cudaMemcpyDeviceToHost, ctx.stream));
    CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
  }
  cudaEvent_t start = nullptr, stop = nullptr;
  CUDA_CHECK(cudaEventCreate(&start));
  CUDA_CHECK(cudaEventCreate(&stop));
  size_t best = 0;
  float best_ms = 0.0f;
  unsigned long long reference = 0;
  std::ostringstream log;
  for (size_t i = 0; i < algos.size(); ++i) {
    restore();
    if (run(algos[i]) != CUBLAS_STATUS_SUCCESS) {  // the first failing is left to the caller's fallback
      log << " [" << i << "] refused";
      if (i == 0) break;
      continue;
    }
    const unsigned long long hash = device_hash(ctx, out.d, out.d_bytes);
    if (i == 0) reference = hash;
    if (hash != reference) {  // another summation order: not interchangeable with the first
      log << " [" << i << "] other bits";
      continue;
    }
    CUDA_CHECK(cudaEventRecord(start, ctx.stream));
    for (int r = 0; r < kTimedRuns; ++r) CUBLAS_CHECK(run(algos[i]));
    CUDA_CHECK(cudaEventRecord(stop, ctx.stream));
    CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0.0f;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    log << " [" << i << "] " << ms / kTimedRuns << " ms";
    if (i == 0 || ms < best_ms) {
      best = i;
      best_ms = ms;
    }
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  restore();
  if (gemm_log()) std::fprintf(stderr, "gemm %s:%s -> [%zu]\n", what.c_str(), log.str().c_str(), best);
  return best;
}

// Sets a new plan's algorithm (Plan or BatchedPlan: desc, layouts a, b, c, algo) by choose_algo, `run`
// making the call with a plan. Returns the heuristic's status, NOT_SUPPORTED when it offered nothing.
template <class PlanT>
cublasStatus_t set_algo(Ctx& ctx, PlanT& p, int align_a, int align_b, int align_c,
                        const std::function<cublasStatus_t(const PlanT&)>& run, GemmOutput out, int64_t m,
                        int64_t n, int64_t k, int64_t batch) {
  cublasStatus_t st = CUBLAS_STATUS_SUCCESS;
  const std::vector<cublasLtMatmulAlgo_t> algos =
      algo_candidates(ctx, p.desc, p.a, p.b, p.c, align_a, align_b, align_c, &st);
  if (algos.empty()) return st == CUBLAS_STATUS_SUCCESS ? CUBLAS_STATUS_NOT_SUPPORTED : st;
  auto trial = [&](const cublasLtMatmulAlgo_t& algo) {
    PlanT t = p;
    t.algo = algo;
    return run(t);
  };
  const std::string what = "m=" + std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k) +
                           " batch=" + std::to_string(batch);
  p.algo = algos[choose_algo(ctx, algos, trial, out, what)];
  return CUBLAS_STATUS_SUCCESS;
}

// Releases a plan's cuBLASLt descriptors (none for a fallback plan) and leaves it empty.
void destroy_plan(Plan& p) {
  if (!p.fallback) {
    cublasLtMatrixLayoutDestroy(p.a);
    cublasLtMatrixLayoutDestroy(p.b);
    cublasLtMatrixLayoutDestroy(p.c);
    cublasLtMatmulDescDestroy(p.desc);
  }
  p = Plan{};
}

Plan& get_plan(Ctx& ctx, const PlanKey& key, const ColMajorGemm& cm,
               const std::function<cublasStatus_t(const Plan&)>& run, GemmOutput out) {
  auto it = plans().find(key);
  if (it != plans().end()) return it->second;
  Plan p;
  const cudaDataType_t ct = cudaDataType_t(key.c_type);
  CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t opa = key.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t opb = key.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof(opa)));
  CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof(opb)));
  // Stored (pre-op) shapes, column-major: op(A) is m x k, op(B) is k x n, C is m x n (gemm_layout.h).
  CUBLAS_CHECK(
      cublasLtMatrixLayoutCreate(&p.a, CUDA_R_16BF, uint64_t(cm.a_rows), uint64_t(cm.a_cols), cm.lda));
  CUBLAS_CHECK(
      cublasLtMatrixLayoutCreate(&p.b, CUDA_R_16BF, uint64_t(cm.b_rows), uint64_t(cm.b_cols), cm.ldb));
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.c, ct, uint64_t(cm.m), uint64_t(cm.n), cm.ldc));
  const cublasStatus_t st =
      set_algo(ctx, p, key.align_a, key.align_b, key.align_c, run, out, key.m, key.n, key.k, 1);
  if (st != CUBLAS_STATUS_SUCCESS) {
    // E.g. odd leading dimensions (2-byte alignment). Classic cuBLAS handles every layout.
    destroy_plan(p);
    p.fallback = true;
    TT_CHECK(ctx.blas != nullptr) << "cuBLASLt found no algorithm for a GEMM m=" << key.m << " n=" << key.n
                                  << " k=" << key.k << " (status " << cublasLtGetStatusName(st)
                                  << ") and no cuBLAS fallback handle exists";
  }
  return plans().emplace(key, p).first->second;
}

}  // namespace

void gemm_rm(Ctx& ctx, void* c, DType c_dtype, const void* a, bool trans_a, const void* b, bool trans_b,
             int64_t M, int64_t N, int64_t K, bool accumulate, const void* c_in) {
  TT_ASSERT(c_dtype == DType::BF16 || c_dtype == DType::F32) << "gemm output must be BF16 or F32";
  if (M == 0 || N == 0) return;
  const size_t c_bytes = size_t(M * N) * dtype_size(c_dtype);
  if (c_in == nullptr) c_in = c;
  if (K == 0) {
    if (!accumulate)
      CUDA_CHECK(cudaMemsetAsync(c, 0, c_bytes, ctx.stream));
    else if (c_in != c)
      CUDA_CHECK(cudaMemcpyAsync(c, c_in, c_bytes, cudaMemcpyDeviceToDevice, ctx.stream));
    return;
  }
  const ColMajorGemm cm = map_row_major_gemm(trans_a, trans_b, M, N, K);
  PlanKey key;
  key.handle = ctx.lt;
  key.m = cm.m;
  key.n = cm.n;
  key.k = cm.k;
  key.trans_a = cm.trans_a;
  key.trans_b = cm.trans_b;
  key.c_type = int(c_dtype == DType::F32 ? CUDA_R_32F : CUDA_R_16BF);
  key.accumulate = accumulate;
  key.align_a = alignment_of(b);  // cuBLAS A is our B
  key.align_b = alignment_of(a);
  key.align_c = std::min(alignment_of(c), alignment_of(c_in));
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  // D = c, C = c_in: with a separate C the residual add happens in the epilogue (C and D share a layout).
  auto run = [&](const Plan& p) {
    return cublasLtMatmul(ctx.lt, p.desc, &alpha, b, p.a, a, p.b, &beta, c_in, p.c, c, p.c, &p.algo,
                          ctx.lt_workspace, ctx.lt_workspace_bytes, ctx.stream);
  };
  Plan& p = get_plan(ctx, key, cm, run, GemmOutput{c, c_bytes, accumulate && c_in == c});
  if (!p.fallback) {
    const cublasStatus_t st = run(p);
    if (st != CUBLAS_STATUS_NOT_SUPPORTED) {
      CUBLAS_CHECK(st);
      return;
    }
    // The heuristic offered an algorithm that the call then refuses (possible with odd leading dimensions):
    // this shape uses cublasGemmEx from now on.
    TT_CHECK(ctx.blas != nullptr) << "cuBLASLt refused its own algorithm for a GEMM m=" << key.m
                                  << " n=" << key.n << " k=" << key.k
                                  << " and no cuBLAS fallback handle exists";
    destroy_plan(p);
    p.fallback = true;
  }
  // cublasGemmEx has one C for input and output: start it from the residual.
  if (accumulate && c_in != c)
    CUDA_CHECK(cudaMemcpyAsync(c, c_in, c_bytes, cudaMemcpyDeviceToDevice, ctx.stream));
  CUBLAS_CHECK(cublasGemmEx(
      ctx.blas, cm.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, cm.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, int(cm.m),
      int(cm.n), int(cm.k), &alpha, b, CUDA_R_16BF, int(cm.lda), a, CUDA_R_16BF, int(cm.ldb), &beta, c,
      cudaDataType_t(key.c_type), int(cm.ldc), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

// ---- strided-batched GEMMs (attention.cu) ----------------------------------------------------------------
// The same row-major -> column-major mapping with explicit leading dimensions, and the batch as the layouts'
// BATCH_COUNT and STRIDED_BATCH_OFFSET. Plans are cached per problem like gemm_rm's; there is no cublasGemmEx
// fallback (the callers keep their operands 16-byte aligned, which every bf16 algorithm takes).
namespace {

struct BatchedPlanKey {
  cublasLtHandle_t handle;
  int64_t m, n, k, batch;
  bool trans_a, trans_b;  // cuBLAS-side ops
  int c_type;
  int64_t lda, ldb, ldc, stride_a, stride_b, stride_c;  // cuBLAS-side
  int align_a, align_b, align_c;
  auto tie() const {
    return std::tie(handle, m, n, k, batch, trans_a, trans_b, c_type, lda, ldb, ldc, stride_a, stride_b,
                    stride_c, align_a, align_b, align_c);
  }
  bool operator<(const BatchedPlanKey& o) const { return tie() < o.tie(); }
};

struct BatchedPlan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
};

std::map<BatchedPlanKey, BatchedPlan>& batched_plans() {
  static std::map<BatchedPlanKey, BatchedPlan> p;
  return p;
}

void destroy_batched_plan(BatchedPlan& p) {
  cublasLtMatrixLayoutDestroy(p.a);
  cublasLtMatrixLayoutDestroy(p.b);
  cublasLtMatrixLayoutDestroy(p.c);
  cublasLtMatmulDescDestroy(p.desc);
  p = BatchedPlan{};
}

cublasLtMatrixLayout_t batched_layout(cudaDataType_t type, int64_t rows, int64_t cols, int64_t ld,
                                      int64_t batch, int64_t stride) {
  cublasLtMatrixLayout_t l = nullptr;
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&l, type, uint64_t(rows), uint64_t(cols), ld));
  const int32_t count = int32_t(batch);
  CUBLAS_CHECK(
      cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)));
  CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride,
                                                sizeof(stride)));
  return l;
}

// The alignment every batch entry of an operand has: its base pointer's and its stride's.
int entries_alignment_of(const void* p, int64_t stride, size_t elem_bytes) {
  const int base = alignment_of(p);
  const int step = alignment_of(reinterpret_cast<const void*>(uintptr_t(stride) * elem_bytes));
  return base < step ? base : step;
}

BatchedPlan& get_batched_plan(Ctx& ctx, const BatchedPlanKey& key, const ColMajorGemm& cm,
                              const std::function<cublasStatus_t(const BatchedPlan&)>& run, GemmOutput out) {
  auto it = batched_plans().find(key);
  if (it != batched_plans().end()) return it->second;
  BatchedPlan p;
  CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t opa = key.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t opb = key.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof(opa)));
  CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof(opb)));
  p.a = batched_layout(CUDA_R_16BF, cm.a_rows, cm.a_cols, key.lda, key.batch, key.stride_a);
  p.b = batched_layout(CUDA_R_16BF, cm.b_rows, cm.b_cols, key.ldb, key.batch, key.stride_b);
  p.c = batched_layout(cudaDataType_t(key.c_type), cm.m, cm.n, key.ldc, key.batch, key.stride_c);
  const cublasStatus_t st =
      set_algo(ctx, p, key.align_a, key.align_b, key.align_c, run, out, key.m, key.n, key.k, key.batch);
  if (st != CUBLAS_STATUS_SUCCESS) {
    destroy_batched_plan(p);
    TT_FAIL() << "cuBLASLt found no algorithm for a strided-batched GEMM m=" << key.m << " n=" << key.n
              << " k=" << key.k << " batch=" << key.batch << " (status " << cublasLtGetStatusName(st)
              << "; operand alignments " << key.align_a << "/" << key.align_b << "/" << key.align_c
              << " bytes)";
  }
  return batched_plans().emplace(key, p).first->second;
}

}  // namespace

void gemm_batched_rm(Ctx& ctx, void* c, DType c_dtype, int64_t ldc, int64_t stride_c, StridedOperand a,
                     bool trans_a, StridedOperand b, bool trans_b, int64_t M, int64_t N, int64_t K,
                     int64_t batch, float alpha) {
  TT_ASSERT(c_dtype == DType::BF16 || c_dtype == DType::F32) << "gemm output must be BF16 or F32";
  TT_ASSERT(K > 0) << "gemm_batched_rm needs K > 0";
  if (M == 0 || N == 0 || batch == 0) return;
  const ColMajorGemm cm = map_row_major_gemm(trans_a, trans_b, M, N, K);
  BatchedPlanKey key;
  key.handle = ctx.lt;
  key.m = cm.m;
  key.n = cm.n;
  key.k = cm.k;
  key.batch = batch;
  key.trans_a = cm.trans_a;
  key.trans_b = cm.trans_b;
  key.c_type = int(c_dtype == DType::F32 ? CUDA_R_32F : CUDA_R_16BF);
  key.lda = b.ld;  // cuBLAS A is our B
  key.ldb = a.ld;
  key.ldc = ldc;
  key.stride_a = b.stride;
  key.stride_b = a.stride;
  key.stride_c = stride_c;
  key.align_a = entries_alignment_of(b.ptr, b.stride, sizeof(uint16_t));
  key.align_b = entries_alignment_of(a.ptr, a.stride, sizeof(uint16_t));
  key.align_c = entries_alignment_of(c, stride_c, dtype_size(c_dtype));
  const float beta = 0.0f;
  auto run = [&](const BatchedPlan& p) {
    return cublasLtMatmul(ctx.lt, p.desc, &alpha, b.ptr, p.a, a.ptr, p.b, &beta, c, p.c, c, p.c, &p.algo,
                          ctx.lt_workspace, ctx.lt_workspace_bytes, ctx.stream);
  };
  // The output's extent: the last entry's last row ends the range the candidates write.
  const size_t c_elems = size_t((batch - 1) * stride_c + (M - 1) * ldc + N);
  BatchedPlan& p = get_batched_plan(ctx, key, cm, run, GemmOutput{c, c_elems * dtype_size(c_dtype), false});
  CUBLAS_CHECK(run(p));
}

void CudaBackend::matmul_forward_impl(Tensor out, Tensor inp, Tensor weight, Tensor residual) {
  OpScope scope(*this, Family::kMatmul);
  gemm_rm(ctx_, out.ptr, out.dtype, inp.ptr, false, weight.ptr, true, inp.rows, weight.rows, inp.cols,
          !residual.empty(), residual.ptr);
}

void CudaBackend::matmul_backward_impl(Tensor dinp, Tensor dweight, Tensor dout, Tensor inp, Tensor weight,
                                       bool accumulate_dinp) {
  OpScope scope(*this, Family::kMatmul);
  const int64_t M = dout.rows, N = dout.cols, K = weight.cols;
  // dinp[M,K] = dout[M,N] @ weight[N,K]
  if (!dinp.empty())
    gemm_rm(ctx_, dinp.ptr, dinp.dtype, dout.ptr, false, weight.ptr, false, M, K, N, accumulate_dinp);
  // dweight[N,K] += dout[M,N]^T @ inp[M,K]
  if (!dweight.empty())
    gemm_rm(ctx_, dweight.ptr, dweight.dtype, dout.ptr, true, inp.ptr, false, N, K, M, true);
}

void gemm_cache_clear(Ctx& ctx) {
  auto& m = plans();
  for (auto it = m.begin(); it != m.end();) {
    if (it->first.handle == ctx.lt) {
      destroy_plan(it->second);
      it = m.erase(it);
    } else {
      ++it;
    }
  }
  auto& bm = batched_plans();
  for (auto it = bm.begin(); it != bm.end();) {
    if (it->first.handle == ctx.lt) {
      destroy_batched_plan(it->second);
      it = bm.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace tt::cuda
