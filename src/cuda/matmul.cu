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
// The algorithm: the heuristic's best kAlgoCandidates, of which only those that sum every output in the order
// the heuristic's first choice does may replace it, so that results do not depend on timing noise and a
// resumed run (which makes its plans again, on other operands) computes what an uninterrupted one does.
// cuBLASLt is deterministic for a given algorithm, but two algorithms may sum in different orders. Which
// candidates qualify, in two steps:
//  1. By their attributes (cublasLt.h): with CUBLASLT_ALGO_CONFIG_SPLITK_NUM > 1, parts of each dot product
//     are computed in parallel and added per CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, at split points the
//     kernel picks; with one part and REDUCTION_SCHEME_NONE "the dot-product shall be performed in one
//     sequence". CUBLASLT_ALGO_CAP_NUMERICAL_IMPL_FLAGS names the instruction family, accumulator and
//     input types ("details that affect numerical behavior"). A first choice that splits K is kept
//     without trying the others; otherwise only candidates in one sequence with the first's numerical flags
//     are tried.
//  2. By their results, since the attributes do not pin everything (a tensor-core instruction's internal
//     grouping, a kernel's own schedule): each candidate runs on the call's own operands and again on random
//     ones (A and B saved to the host, filled with full-mantissa values of spread exponents, restored), and
//     stays only if both output hashes equal the first's. The call's operands alone would not do: on zeros,
//     or sums that are exact in any order, every order agrees, and a resumed process plans on other operands.
//     On random operands a sum's rounding depends on its order, and two orders' fp32 sums differ in most
//     outputs (K >= 64) by a few fp32 ulps: an fp32 output shows that about every other time, a bf16 output
//     only where the two sums straddle a bf16 rounding point, ~(a few 2^-23) / 2^-8, a few in 10^5 (an
//     estimate). So plans with fewer than kMinComparedOutputs (2^12 fp32, 2^22 bf16: ~100 expected
//     differences or more) keep the first candidate untried. At the seed shape that leaves out only
//     attention's per-block bf16 products (0.5M-1.6M outputs, ~2% of the step's GEMM FLOPs).
// Among those, the fastest (kTimedRuns back to back on the call's operands, CUDA events) wins. Where D is
// also the accumulated input (beta = 1, C == D), D is saved to the host and restored before every trial run.
// During a stream capture (no timing, no host copies) the first candidate is taken untried.
// TT_CUDA_GEMM_LOG=1 prints each plan's candidates and times.
// If the heuristic has no algorithm (odd leading dimensions), the plan falls back to cublasGemmEx
// with the same column-major parameters (fp32 compute).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "common/check.h"
#include "common/env.h"
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
// The fewest outputs whose bits on random operands tell another order of summation (see the header).
constexpr int64_t kMinComparedOutputsF32 = int64_t(1) << 12;
constexpr int64_t kMinComparedOutputsBf16 = int64_t(1) << 22;

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

// How an algorithm sums each output's K products, from its attributes (see the header).
struct SumOrder {
  int32_t splitk_num = 1;
  uint32_t reduction_scheme = CUBLASLT_REDUCTION_SCHEME_NONE;
  uint64_t numerical_flags = 0;
  bool one_sequence() const { return splitk_num == 1 && reduction_scheme == CUBLASLT_REDUCTION_SCHEME_NONE; }
  bool operator==(const SumOrder& o) const {
    return splitk_num == o.splitk_num && reduction_scheme == o.reduction_scheme &&
           numerical_flags == o.numerical_flags;
  }
};

SumOrder sum_order_of(const cublasLtMatmulAlgo_t& algo) {
  SumOrder o;
  size_t written = 0;
  CUBLAS_CHECK(cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &o.splitk_num,
                                                    sizeof(o.splitk_num), &written));
  CUBLAS_CHECK(cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME,
                                                    &o.reduction_scheme, sizeof(o.reduction_scheme),
                                                    &written));
  CUBLAS_CHECK(cublasLtMatmulAlgoCapGetAttribute(&algo, CUBLASLT_ALGO_CAP_NUMERICAL_IMPL_FLAGS,
                                                 &o.numerical_flags, sizeof(o.numerical_flags), &written));
  return o;
}

// The n 16-bit words at w become bf16 values of random sign, mantissa and exponent (magnitudes in [2^-8, 1)):
// products of two span 16 binary orders, so their fp32 sums round, and how depends on the order of summation.
__global__ void fill_random_bf16_kernel(uint16_t* w, int64_t n, unsigned long long seed) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const unsigned long long r = mix64(seed + static_cast<unsigned long long>(i));
    const unsigned sign = unsigned(r >> 63) << 15;
    const unsigned exponent = 119u + unsigned((r >> 32) & 7u);  // biased: 2^-8 .. 2^-1
    w[i] = uint16_t(sign | (exponent << 7) | unsigned(r & 0x7fu));
  }
}

// The same magnitudes in fp32 (an accumulated output: fp32 gradients).
__global__ void fill_random_f32_kernel(uint32_t* w, int64_t n, unsigned long long seed) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const unsigned long long r = mix64(seed + static_cast<unsigned long long>(i));
    const unsigned sign = unsigned(r >> 63) << 31;
    const unsigned exponent = 119u + unsigned((r >> 32) & 7u);
    w[i] = sign | (exponent << 23) | unsigned(r & 0x7fffffu);
  }
}

// A device range: where a GEMM operand's elements lie.
struct DeviceRange {
  void* p;
  size_t bytes;
};

void fill_random(Ctx& ctx, DeviceRange r, DType dtype, unsigned long long seed) {
  const int64_t n = int64_t(r.bytes / dtype_size(dtype));
  const int blocks = std::min(grid_for(n, 256, ctx), 4 * ctx.sm_count);
  if (dtype == DType::F32)
    fill_random_f32_kernel<<<blocks, 256, 0, ctx.stream>>>(static_cast<uint32_t*>(r.p), n, seed);
  else
    fill_random_bf16_kernel<<<blocks, 256, 0, ctx.stream>>>(static_cast<uint16_t*>(r.p), n, seed);
  CUDA_CHECK_LAUNCH();
}

// A device range's bytes kept on the host until restore() puts them back (stream-ordered). A range saved
// with `restore_on_exit` is also put back if the scope ends without restore() (an error in a trial): a
// trial's random values must never stay in the caller's weights or gradients.
class SavedRange {
 public:
  SavedRange(Ctx& ctx, DeviceRange r, bool restore_on_exit)
      : ctx_(ctx), range_(r), host_(r.bytes), armed_(restore_on_exit) {
    CUDA_CHECK(cudaMemcpyAsync(host_.data(), r.p, r.bytes, cudaMemcpyDeviceToHost, ctx.stream));
    CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
  }
  SavedRange(const SavedRange&) = delete;
  SavedRange& operator=(const SavedRange&) = delete;
  ~SavedRange() {
    if (armed_) {  // on the way out of an error: best effort, the error on its way says what went wrong
      (void)cudaMemcpyAsync(range_.p, host_.data(), range_.bytes, cudaMemcpyHostToDevice, ctx_.stream);
      (void)cudaStreamSynchronize(ctx_.stream);
    }
  }
  // Puts the bytes back, finished before it returns: host_ is pageable memory freed with this object, and a
  // copy from pageable memory is not promised to be done when cudaMemcpyAsync returns.
  void restore() {
    CUDA_CHECK(cudaMemcpyAsync(range_.p, host_.data(), range_.bytes, cudaMemcpyHostToDevice, ctx_.stream));
    CUDA_CHECK(cudaStreamSynchronize(ctx_.stream));
    armed_ = false;
  }
  // Puts the bytes back and keeps them for another restore().
  void restore_again() {
    CUDA_CHECK(cudaMemcpyAsync(range_.p, host_.data(), range_.bytes, cudaMemcpyHostToDevice, ctx_.stream));
  }

 private:
  Ctx& ctx_;
  DeviceRange range_;
  std::vector<char> host_;
  bool armed_;
};

// Two timing events, destroyed however the scope ends.
struct EventPair {
  cudaEvent_t start = nullptr, stop = nullptr;
  EventPair() {
    CUDA_CHECK(cudaEventCreate(&start));
    CUDA_CHECK(cudaEventCreate(&stop));
  }
  EventPair(const EventPair&) = delete;
  EventPair& operator=(const EventPair&) = delete;
  ~EventPair() {
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
  }
};

// The operands of one GEMM call, for choose_algo: the ranges A's and B's elements lie in (bf16), and D's
// (`outputs` elements of d_dtype), which is also an input (C == D, beta = 1) when d_is_input; c_in, a
// separate C (a residual added in the epilogue, D's dtype), when there is one.
struct GemmOperands {
  DeviceRange a, b, d;
  int64_t outputs;
  DType d_dtype;
  bool d_is_input;
  DeviceRange c_in{nullptr, 0};
};

// TT_CUDA_GEMM_LOG=1: one line per plan on stderr with every candidate's time (for the GPU's first runs).
bool gemm_log() {
  static const bool on = env_flag("TT_CUDA_GEMM_LOG", false);
  return on;
}

// Index of the algorithm a plan keeps (see the header): `run` makes the call with a candidate; `what` names
// the problem in the log.
size_t choose_algo(Ctx& ctx, const std::vector<cublasLtMatmulAlgo_t>& algos,
                   const std::function<cublasStatus_t(const cublasLtMatmulAlgo_t&)>& run, GemmOperands ops,
                   const std::string& what) {
  if (algos.size() < 2) return 0;
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  CUDA_CHECK(cudaStreamIsCapturing(ctx.stream, &capture));
  if (capture != cudaStreamCaptureStatusNone) return 0;
  std::ostringstream log;
  auto chosen = [&](size_t best) {
    if (gemm_log()) std::fprintf(stderr, "gemm %s:%s -> [%zu]\n", what.c_str(), log.str().c_str(), best);
    return best;
  };
  if (ops.outputs < (ops.d_dtype == DType::F32 ? kMinComparedOutputsF32 : kMinComparedOutputsBf16)) {
    log << " " << ops.outputs << " outputs, too few to compare: [0] kept untried";
    return chosen(0);
  }
  // Step 1: the attributes.
  const SumOrder order = sum_order_of(algos[0]);
  if (!order.one_sequence()) {
    log << " [0] splits K in " << order.splitk_num << ": kept untried";
    return chosen(0);
  }
  std::vector<size_t> tried{0};
  for (size_t i = 1; i < algos.size(); ++i) {
    if (sum_order_of(algos[i]) == order)
      tried.push_back(i);
    else
      log << " [" << i << "] splits K or other numerics";
  }
  if (tried.size() < 2) return chosen(0);
  // Step 2: the results on the call's operands (timed too), then on random ones.
  std::optional<SavedRange> d_saved;
  if (ops.d_is_input) d_saved.emplace(ctx, ops.d, /*restore_on_exit=*/true);
  auto restore_d = [&] {
    if (d_saved) d_saved->restore_again();
  };
  std::vector<std::pair<size_t, float>> agreed;  // candidate, total ms of its timed runs
  unsigned long long reference = 0;
  EventPair events;
  for (size_t i : tried) {
    restore_d();
    if (run(algos[i]) != CUBLAS_STATUS_SUCCESS) {  // the first failing is left to the caller's fallback
      log << " [" << i << "] refused";
      if (i == 0) break;
      continue;
    }
    const unsigned long long hash = device_hash(ctx, ops.d.p, ops.d.bytes);
    if (i == 0) reference = hash;
    if (hash != reference) {
      log << " [" << i << "] other bits";
      continue;
    }
    CUDA_CHECK(cudaEventRecord(events.start, ctx.stream));
    for (int r = 0; r < kTimedRuns; ++r) CUBLAS_CHECK(run(algos[i]));
    CUDA_CHECK(cudaEventRecord(events.stop, ctx.stream));
    CUDA_CHECK(cudaEventSynchronize(events.stop));
    float ms = 0.0f;
    CUDA_CHECK(cudaEventElapsedTime(&ms, events.start, events.stop));
    log << " [" << i << "] " << ms / kTimedRuns << " ms";
    agreed.emplace_back(i, ms);
  }
  if (agreed.size() > 1) {
    // Random A and B, and a random C where the call adds one: candidates that add C at another point of the
    // sum agree wherever C is zero (the first plans of a run are made on zeroed gradients).
    SavedRange a_saved(ctx, ops.a, true), b_saved(ctx, ops.b, true);  // before any is filled: may overlap
    std::optional<SavedRange> c_saved;
    if (ops.c_in.bytes > 0) c_saved.emplace(ctx, ops.c_in, /*restore_on_exit=*/true);
    fill_random(ctx, ops.a, DType::BF16, 0x5eed0a11ull);
    fill_random(ctx, ops.b, DType::BF16, 0x5eed0b22ull);
    if (c_saved) fill_random(ctx, ops.c_in, ops.d_dtype, 0x5eed0c33ull);
    std::optional<SavedRange> d_random;
    if (ops.d_is_input) {
      fill_random(ctx, ops.d, ops.d_dtype, 0x5eed0d44ull);
      d_random.emplace(ctx, ops.d, /*restore_on_exit=*/false);
    }
    std::vector<std::pair<size_t, float>> kept;
    for (const auto& [i, ms] : agreed) {
      if (d_random) d_random->restore_again();
      CUBLAS_CHECK(run(algos[i]));
      const unsigned long long hash = device_hash(ctx, ops.d.p, ops.d.bytes);
      if (i == 0) reference = hash;
      if (hash == reference)
        kept.emplace_back(i, ms);
      else
        log << " [" << i << "] other bits on random operands";
    }
    a_saved.restore();
    b_saved.restore();
    if (c_saved) c_saved->restore();
    agreed = kept;
  }
  if (d_saved) d_saved->restore();
  size_t best = 0;
  float best_ms = 0.0f;
  for (const auto& [i, ms] : agreed)
    if (i == 0 || ms < best_ms) {
      best = i;
      best_ms = ms;
    }
  return chosen(best);
}

// Sets a new plan's algorithm (Plan or BatchedPlan: desc, layouts a, b, c, algo) by choose_algo, `run`
// making the call with a plan. Returns the heuristic's status, NOT_SUPPORTED when it offered nothing.
template <class PlanT>
cublasStatus_t set_algo(Ctx& ctx, PlanT& p, int align_a, int align_b, int align_c,
                        const std::function<cublasStatus_t(const PlanT&)>& run, GemmOperands ops, int64_t m,
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
  p.algo = algos[choose_algo(ctx, algos, trial, ops, what)];
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
               const std::function<cublasStatus_t(const Plan&)>& run, GemmOperands ops) {
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
      set_algo(ctx, p, key.align_a, key.align_b, key.align_c, run, ops, key.m, key.n, key.k, 1);
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
  // The candidates may write random values into A and B (restored before the plan is returned).
  const GemmOperands ops{
      {const_cast<void*>(a), size_t(M * K) * 2},
      {const_cast<void*>(b), size_t(K * N) * 2},
      {c, c_bytes},
      M * N,
      c_dtype,
      accumulate && c_in == c,
      accumulate && c_in != c ? DeviceRange{const_cast<void*>(c_in), c_bytes} : DeviceRange{nullptr, 0}};
  Plan& p = get_plan(ctx, key, cm, run, ops);
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
                              const std::function<cublasStatus_t(const BatchedPlan&)>& run,
                              GemmOperands ops) {
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
      set_algo(ctx, p, key.align_a, key.align_b, key.align_c, run, ops, key.m, key.n, key.k, key.batch);
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
  // Each operand's extent: its last entry's last row ends it (the candidates may write random values into A's
  // and B's, restored before the plan is returned).
  auto range = [batch](const void* p, int64_t rows, int64_t cols, int64_t ld, int64_t stride, size_t elem) {
    return DeviceRange{const_cast<void*>(p), size_t((batch - 1) * stride + (rows - 1) * ld + cols) * elem};
  };
  const GemmOperands ops{range(a.ptr, trans_a ? K : M, trans_a ? M : K, a.ld, a.stride, 2),
                         range(b.ptr, trans_b ? N : K, trans_b ? K : N, b.ld, b.stride, 2),
                         range(c, M, N, ldc, stride_c, dtype_size(c_dtype)),
                         batch * M * N,
                         c_dtype,
                         false};
  BatchedPlan& p = get_batched_plan(ctx, key, cm, run, ops);
  CUBLAS_CHECK(run(p));
}

SlotBytes gemm_scratch() {
  SlotBytes s{};
  s[size_t(Slot::kGemmTuning)] = sizeof(unsigned long long);  // device_hash's sum
  return s;
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
