// CudaBackend: buffer management, argument validation, op-family timing and the factories.
// The kernels live one family per file (embedding, rmsnorm, rope, attention, swiglu, matmul,
// cross_entropy, adamw, elementwise); this file only checks arguments and forwards to them.
#include <cuda_runtime.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <unordered_map>

#include "common/check.h"
#include "cuda/adamw.cuh"
#include "cuda/attention.cuh"
#include "cuda/context.h"
#include "cuda/cross_entropy.cuh"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_check.h"
#include "cuda/elementwise.cuh"
#include "cuda/embedding.cuh"
#include "cuda/matmul.cuh"
#include "cuda/rmsnorm.cuh"
#include "cuda/rope.cuh"
#include "cuda/swiglu.cuh"

namespace tt {
namespace cuda {

void raise_cuda_error(const char* what, const char* stmt, const char* file, int line, const char* name,
                      const char* text) {
  std::ostringstream os;
  os << what << " call failed: " << stmt << " -> " << (name ? name : "?") << " (" << (text ? text : "?")
     << ") at " << file << ":" << line;
  throw Error(os.str());
}

bool sync_after_launch() {
  static const bool on = [] {
    const char* v = std::getenv("TT_CUDA_SYNC_CHECK");
    return v != nullptr && *v != '\0' && std::string(v) != "0";
  }();
  return on;
}

// ---- Ctx ------------------------------------------------------------------------------------

void* Ctx::scratch(Slot slot, size_t bytes) {
  const size_t i = size_t(slot);
  if (bytes == 0) bytes = 1;
  if (scratch_bytes_[i] >= bytes) return scratch_ptr_[i];
  if (scratch_ptr_[i] != nullptr) {
    CUDA_CHECK(cudaFree(scratch_ptr_[i]));  // waits for the device: earlier users are done
    note_free(scratch_bytes_[i]);
    scratch_ptr_[i] = nullptr;
    scratch_bytes_[i] = 0;
  }
  const size_t rounded = (bytes + 255) / 256 * 256;
  CUDA_CHECK(cudaMalloc(&scratch_ptr_[i], rounded));
  scratch_bytes_[i] = rounded;
  note_alloc(rounded);
  return scratch_ptr_[i];
}

void Ctx::release_scratch() {
  for (size_t i = 0; i < scratch_ptr_.size(); ++i) {
    if (scratch_ptr_[i] != nullptr) {
      cudaFree(scratch_ptr_[i]);
      note_free(scratch_bytes_[i]);
    }
    scratch_ptr_[i] = nullptr;
    scratch_bytes_[i] = 0;
  }
}

void Ctx::note_alloc(size_t bytes) {
  current_bytes_ += bytes;
  if (current_bytes_ > peak_bytes_) peak_bytes_ = current_bytes_;
}

void Ctx::note_free(size_t bytes) {
  current_bytes_ -= bytes < current_bytes_ ? bytes : current_bytes_;
}

namespace {

enum class Family : int {
  kMemory,
  kEmbedding,
  kRmsnorm,
  kMatmul,
  kRope,
  kAttention,
  kSwiglu,
  kAdd,
  kLmHead,
  kReduce,
  kAdamw,
  kCount
};
constexpr std::array<const char*, size_t(Family::kCount)> kFamilyNames = {
    "memory", "embedding", "rmsnorm", "matmul", "rope", "attention",
    "swiglu", "add",       "lm_head", "reduce", "adamw"};

constexpr size_t kStageLimit = 64u << 20;  // host->device copies above this go synchronously
constexpr size_t kLtWorkspaceBytes = 32u << 20;

std::string shape_str(size_t need, size_t have) {
  std::ostringstream os;
  os << "needs " << need << " elements, has " << have;
  return os.str();
}

}  // namespace

struct CudaBackend::Impl {
  Ctx ctx;
  std::unordered_map<void*, size_t> allocations;
  std::string device_name;

  struct Staging {
    void* host = nullptr;
    size_t cap = 0;
    cudaEvent_t done = nullptr;
    bool pending = false;
  };
  std::array<Staging, 2> staging;
  int next_staging = 0;

  bool timing = false;
  struct Record {
    Family family;
    cudaEvent_t start, stop;
  };
  std::vector<Record> records;
  std::vector<cudaEvent_t> event_pool;
  std::array<OpTiming, size_t(Family::kCount)> totals{};

  cudaEvent_t get_event() {
    if (!event_pool.empty()) {
      cudaEvent_t e = event_pool.back();
      event_pool.pop_back();
      return e;
    }
    cudaEvent_t e;
    CUDA_CHECK(cudaEventCreate(&e));
    return e;
  }
  void resolve_records() {
    if (records.empty()) return;
    CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
    for (const Record& r : records) {
      float ms = 0;
      CUDA_CHECK(cudaEventElapsedTime(&ms, r.start, r.stop));
      OpTiming& t = totals[size_t(r.family)];
      t.calls += 1;
      t.total_ms += ms;
      event_pool.push_back(r.start);
      event_pool.push_back(r.stop);
    }
    records.clear();
  }
};

namespace {

// Brackets one op call with events when timing is on.
class OpScope {
 public:
  OpScope(CudaBackend::Impl& impl, Family f) : impl_(impl), family_(f) {
    if (!impl_.timing) return;
    start_ = impl_.get_event();
    CUDA_CHECK(cudaEventRecord(start_, impl_.ctx.stream));
  }
  ~OpScope() noexcept(false) {
    // While an op's exception unwinds, a second throw from here would std::terminate and hide it.
    if (!impl_.timing || start_ == nullptr || std::uncaught_exceptions() > 0) return;
    cudaEvent_t stop = impl_.get_event();
    CUDA_CHECK(cudaEventRecord(stop, impl_.ctx.stream));
    impl_.records.push_back({family_, start_, stop});
    if (impl_.records.size() > 100000) impl_.resolve_records();
  }

 private:
  CudaBackend::Impl& impl_;
  Family family_;
  cudaEvent_t start_ = nullptr;
};

void need(const char* op, const char* arg, Buf b, DType dtype, size_t numel) {
  TT_CHECK(!b.empty() || numel == 0) << "CUDA " << op << ": " << arg << " is empty";
  TT_CHECK(b.dtype == dtype) << "CUDA " << op << ": " << arg << " must be " << dtype_name(dtype) << ", got "
                             << dtype_name(b.dtype);
  TT_CHECK(b.numel >= numel) << "CUDA " << op << ": " << arg << " too small (" << shape_str(numel, b.numel)
                             << ")";
}

void need_dims(const char* op, std::initializer_list<int64_t> dims) {
  for (int64_t d : dims) TT_CHECK(d >= 0) << "CUDA " << op << ": negative dimension " << d;
}

// rope_forward / rope_backward: the same shapes and rules for both directions.
void need_rope(const char* op, Buf dst, const char* dst_name, Buf src, const char* src_name, int64_t N,
               int64_t T, int64_t H, int64_t D, int64_t pos_offset) {
  need_dims(op, {N, T, H, D, pos_offset});
  TT_CHECK(D % 2 == 0 && T > 0) << "CUDA " << op << ": head_dim must be even and T > 0 (D=" << D
                                << ", T=" << T << ")";
  need(op, dst_name, dst, DType::BF16, size_t(N * H * D));
  need(op, src_name, src, DType::BF16, size_t(N * H * D));
}

}  // namespace

// ---- construction ---------------------------------------------------------------------------

CudaBackend::CudaBackend(int device) : impl_(std::make_unique<Impl>()) {
  const std::string why = cuda_unavailable_reason();
  TT_CHECK(why.empty()) << "no CUDA GPU is available: " << why
                        << hint("run on a machine with an NVIDIA GPU and driver, or use --device cpu");
  int count = 0;
  CUDA_CHECK(cudaGetDeviceCount(&count));
  TT_CHECK(device >= 0 && device < count)
      << "CUDA device " << device << " does not exist (" << count << " device(s) present)";
  CUDA_CHECK(cudaSetDevice(device));
  Ctx& ctx = impl_->ctx;
  ctx.device = device;
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  impl_->device_name = prop.name;
  ctx.sm_count = prop.multiProcessorCount;
  ctx.max_smem_per_block = prop.sharedMemPerBlockOptin;
  CUDA_CHECK(cudaStreamCreate(&ctx.stream));
  CUBLAS_CHECK(cublasLtCreate(&ctx.lt));
  CUBLAS_CHECK(cublasCreate(&ctx.blas));
  CUBLAS_CHECK(cublasSetStream(ctx.blas, ctx.stream));
  CUDA_CHECK(cudaMalloc(&ctx.lt_workspace, kLtWorkspaceBytes));
  ctx.lt_workspace_bytes = kLtWorkspaceBytes;
  ctx.note_alloc(kLtWorkspaceBytes);
  for (auto& s : impl_->staging) CUDA_CHECK(cudaEventCreateWithFlags(&s.done, cudaEventDisableTiming));
}

CudaBackend::~CudaBackend() {
  Impl& im = *impl_;
  Ctx& ctx = im.ctx;
  cudaStreamSynchronize(ctx.stream);
  gemm_cache_clear(ctx);
  ctx.release_scratch();
  for (auto& [ptr, bytes] : im.allocations) cudaFree(ptr);
  if (ctx.lt_workspace) cudaFree(ctx.lt_workspace);
  if (ctx.lt) cublasLtDestroy(ctx.lt);
  if (ctx.blas) cublasDestroy(ctx.blas);
  for (auto& s : im.staging) {
    if (s.host) cudaFreeHost(s.host);
    if (s.done) cudaEventDestroy(s.done);
  }
  for (auto& r : im.records) {
    cudaEventDestroy(r.start);
    cudaEventDestroy(r.stop);
  }
  for (auto e : im.event_pool) cudaEventDestroy(e);
  if (ctx.stream) cudaStreamDestroy(ctx.stream);
}

// ---- memory ---------------------------------------------------------------------------------

Buf CudaBackend::alloc(size_t numel, DType dtype) {
  Buf b;
  b.dtype = dtype;
  b.numel = numel;
  if (numel == 0) return b;
  const size_t bytes = numel * dtype_size(dtype);
  const cudaError_t err = cudaMalloc(&b.ptr, bytes);
  if (err != cudaSuccess) {
    cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    TT_FAIL() << "CUDA out of memory allocating " << bytes << " bytes (" << numel << " x "
              << dtype_name(dtype) << "); " << free_b << " of " << total_b << " bytes free, "
              << impl_->ctx.current_bytes() << " held by this backend"
              << hint("reduce the batch size or sequence length");
  }
  CUDA_CHECK(cudaMemsetAsync(b.ptr, 0, bytes, impl_->ctx.stream));
  impl_->allocations[b.ptr] = bytes;
  impl_->ctx.note_alloc(bytes);
  return b;
}

void CudaBackend::free(Buf b) {
  if (b.ptr == nullptr) return;
  auto it = impl_->allocations.find(b.ptr);
  TT_ASSERT(it != impl_->allocations.end()) << "CudaBackend::free of a pointer it did not allocate";
  CUDA_CHECK(cudaFree(b.ptr));
  impl_->ctx.note_free(it->second);
  impl_->allocations.erase(it);
}

void CudaBackend::copy_from_host(Buf dst, const void* src) {
  OpScope scope(*impl_, Family::kMemory);
  const size_t bytes = dst.bytes();
  if (bytes == 0) return;
  Ctx& ctx = impl_->ctx;
  if (bytes > kStageLimit) {
    CUDA_CHECK(cudaMemcpyAsync(dst.ptr, src, bytes, cudaMemcpyHostToDevice, ctx.stream));
    CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
    return;
  }
  // Small copies (token batches) go through a pinned double buffer, so the caller may reuse `src`
  // on return and the host never waits for the GPU to drain.
  Impl::Staging& s = impl_->staging[size_t(impl_->next_staging)];
  impl_->next_staging ^= 1;
  if (s.pending) CUDA_CHECK(cudaEventSynchronize(s.done));
  if (s.cap < bytes) {
    if (s.host) CUDA_CHECK(cudaFreeHost(s.host));
    s.host = nullptr;
    const size_t cap = bytes < (1u << 20) ? (1u << 20) : bytes;
    CUDA_CHECK(cudaMallocHost(&s.host, cap));
    s.cap = cap;
  }
  std::memcpy(s.host, src, bytes);
  CUDA_CHECK(cudaMemcpyAsync(dst.ptr, s.host, bytes, cudaMemcpyHostToDevice, ctx.stream));
  CUDA_CHECK(cudaEventRecord(s.done, ctx.stream));
  s.pending = true;
}

void CudaBackend::copy_to_host(void* dst, Buf src) {
  const size_t bytes = src.bytes();
  if (bytes == 0) return;
  {
    OpScope scope(*impl_, Family::kMemory);
    CUDA_CHECK(cudaMemcpyAsync(dst, src.ptr, bytes, cudaMemcpyDeviceToHost, impl_->ctx.stream));
  }
  CUDA_CHECK(cudaStreamSynchronize(impl_->ctx.stream));
}

void CudaBackend::convert(Buf dst, Buf src) {
  OpScope scope(*impl_, Family::kMemory);
  TT_CHECK(dst.numel == src.numel) << "CUDA convert: numel differs (" << dst.numel << " vs " << src.numel
                                   << ")";
  cuda::convert(impl_->ctx, dst, src);
}

void CudaBackend::fill(Buf dst, double value) {
  OpScope scope(*impl_, Family::kMemory);
  cuda::fill(impl_->ctx, dst, value);
}

void CudaBackend::synchronize() {
  CUDA_CHECK(cudaStreamSynchronize(impl_->ctx.stream));
}

size_t CudaBackend::peak_memory_bytes() const {
  return impl_->ctx.peak_bytes();
}
size_t CudaBackend::current_memory_bytes() const {
  return impl_->ctx.current_bytes();
}

// ---- ops ------------------------------------------------------------------------------------

void CudaBackend::embedding_forward(Buf out, Buf ids, Buf table, int64_t N, int64_t C, int64_t V) {
  OpScope scope(*impl_, Family::kEmbedding);
  need_dims("embedding_forward", {N, C, V});
  need("embedding_forward", "out", out, DType::BF16, size_t(N * C));
  need("embedding_forward", "ids", ids, DType::I32, size_t(N));
  need("embedding_forward", "table", table, DType::BF16, size_t(V * C));
  cuda::embedding_forward(impl_->ctx, out, ids, table, N, C, V);
}

void CudaBackend::embedding_backward(Buf dtable, Buf ids, Buf dout, int64_t N, int64_t C, int64_t V) {
  OpScope scope(*impl_, Family::kEmbedding);
  need_dims("embedding_backward", {N, C, V});
  need("embedding_backward", "dtable", dtable, DType::F32, size_t(V * C));
  need("embedding_backward", "ids", ids, DType::I32, size_t(N));
  need("embedding_backward", "dout", dout, DType::BF16, size_t(N * C));
  cuda::embedding_backward(impl_->ctx, dtable, ids, dout, N, C, V);
}

void CudaBackend::rmsnorm_forward(Buf out, Buf rstd, Buf inp, Buf weight, int64_t R, int64_t C, float eps) {
  OpScope scope(*impl_, Family::kRmsnorm);
  need_dims("rmsnorm_forward", {R, C});
  need("rmsnorm_forward", "out", out, DType::BF16, size_t(R * C));
  need("rmsnorm_forward", "rstd", rstd, DType::F32, size_t(R));
  need("rmsnorm_forward", "inp", inp, DType::BF16, size_t(R * C));
  need("rmsnorm_forward", "weight", weight, DType::BF16, size_t(C));
  cuda::rmsnorm_forward(impl_->ctx, out, rstd, inp, weight, R, C, eps);
}

void CudaBackend::rmsnorm_backward(Buf dinp, Buf dweight, Buf dout, Buf inp, Buf weight, Buf rstd, int64_t R,
                                   int64_t C) {
  OpScope scope(*impl_, Family::kRmsnorm);
  need_dims("rmsnorm_backward", {R, C});
  if (!dinp.empty()) need("rmsnorm_backward", "dinp", dinp, DType::BF16, size_t(R * C));
  if (!dweight.empty()) need("rmsnorm_backward", "dweight", dweight, DType::F32, size_t(C));
  need("rmsnorm_backward", "dout", dout, DType::BF16, size_t(R * C));
  need("rmsnorm_backward", "inp", inp, DType::BF16, size_t(R * C));
  need("rmsnorm_backward", "weight", weight, DType::BF16, size_t(C));
  need("rmsnorm_backward", "rstd", rstd, DType::F32, size_t(R));
  cuda::rmsnorm_backward(impl_->ctx, dinp, dweight, dout, inp, weight, rstd, R, C);
}

void CudaBackend::matmul_forward(Buf out, Buf inp, Buf weight, int64_t M, int64_t K, int64_t N,
                                 bool accumulate) {
  OpScope scope(*impl_, Family::kMatmul);
  need_dims("matmul_forward", {M, K, N});
  need("matmul_forward", "out", out, DType::BF16, size_t(M * N));
  need("matmul_forward", "inp", inp, DType::BF16, size_t(M * K));
  need("matmul_forward", "weight", weight, DType::BF16, size_t(N * K));
  cuda::matmul_forward(impl_->ctx, out, inp, weight, M, K, N, accumulate);
}

void CudaBackend::matmul_backward(Buf dinp, Buf dweight, Buf dout, Buf inp, Buf weight, int64_t M, int64_t K,
                                  int64_t N, bool accumulate_dinp) {
  OpScope scope(*impl_, Family::kMatmul);
  need_dims("matmul_backward", {M, K, N});
  if (!dinp.empty()) {
    need("matmul_backward", "dinp", dinp, DType::BF16, size_t(M * K));
    need("matmul_backward", "weight", weight, DType::BF16, size_t(N * K));
  }
  if (!dweight.empty()) {
    need("matmul_backward", "dweight", dweight, DType::F32, size_t(N * K));
    need("matmul_backward", "inp", inp, DType::BF16, size_t(M * K));
  }
  need("matmul_backward", "dout", dout, DType::BF16, size_t(M * N));
  cuda::matmul_backward(impl_->ctx, dinp, dweight, dout, inp, weight, M, K, N, accumulate_dinp);
}

void CudaBackend::rope_forward(Buf out, Buf inp, int64_t N, int64_t T, int64_t H, int64_t D, double theta,
                               int64_t pos_offset) {
  OpScope scope(*impl_, Family::kRope);
  need_rope("rope_forward", out, "out", inp, "inp", N, T, H, D, pos_offset);
  cuda::rope_forward(impl_->ctx, out, inp, N, T, H, D, theta, pos_offset);
}

void CudaBackend::rope_backward(Buf dinp, Buf dout, int64_t N, int64_t T, int64_t H, int64_t D, double theta,
                                int64_t pos_offset) {
  OpScope scope(*impl_, Family::kRope);
  need_rope("rope_backward", dinp, "dinp", dout, "dout", N, T, H, D, pos_offset);
  cuda::rope_backward(impl_->ctx, dinp, dout, N, T, H, D, theta, pos_offset);
}

void CudaBackend::attention_forward(Buf out, Buf lse, Buf q, Buf k, Buf v, int64_t B, int64_t T, int64_t Hq,
                                    int64_t Hkv, int64_t D) {
  OpScope scope(*impl_, Family::kAttention);
  need_dims("attention_forward", {B, T, Hq, Hkv, D});
  need("attention_forward", "out", out, DType::BF16, size_t(B * T * Hq * D));
  if (!lse.empty()) need("attention_forward", "lse", lse, DType::F32, size_t(B * Hq * T));
  need("attention_forward", "q", q, DType::BF16, size_t(B * T * Hq * D));
  need("attention_forward", "k", k, DType::BF16, size_t(B * T * Hkv * D));
  need("attention_forward", "v", v, DType::BF16, size_t(B * T * Hkv * D));
  cuda::attention_forward(impl_->ctx, out, lse, q, k, v, B, T, Hq, Hkv, D);
}

void CudaBackend::attention_backward(Buf dq, Buf dk, Buf dv, Buf dout, Buf out, Buf lse, Buf q, Buf k, Buf v,
                                     int64_t B, int64_t T, int64_t Hq, int64_t Hkv, int64_t D) {
  OpScope scope(*impl_, Family::kAttention);
  need_dims("attention_backward", {B, T, Hq, Hkv, D});
  const size_t nq = size_t(B * T * Hq * D), nk = size_t(B * T * Hkv * D);
  need("attention_backward", "dq", dq, DType::BF16, nq);
  need("attention_backward", "dk", dk, DType::BF16, nk);
  need("attention_backward", "dv", dv, DType::BF16, nk);
  need("attention_backward", "dout", dout, DType::BF16, nq);
  need("attention_backward", "out", out, DType::BF16, nq);
  need("attention_backward", "lse", lse, DType::F32, size_t(B * Hq * T));
  need("attention_backward", "q", q, DType::BF16, nq);
  need("attention_backward", "k", k, DType::BF16, nk);
  need("attention_backward", "v", v, DType::BF16, nk);
  cuda::attention_backward(impl_->ctx, dq, dk, dv, dout, out, lse, q, k, v, B, T, Hq, Hkv, D);
}

void CudaBackend::attention_infer(Buf out, Buf q, Buf k_cache, Buf v_cache, int64_t Tq, int64_t Tkv,
                                  int64_t Hq, int64_t Hkv, int64_t D) {
  OpScope scope(*impl_, Family::kAttention);
  need_dims("attention_infer", {Tq, Tkv, Hq, Hkv, D});
  need("attention_infer", "out", out, DType::BF16, size_t(Tq * Hq * D));
  need("attention_infer", "q", q, DType::BF16, size_t(Tq * Hq * D));
  need("attention_infer", "k_cache", k_cache, DType::BF16, size_t(Tkv * Hkv * D));
  need("attention_infer", "v_cache", v_cache, DType::BF16, size_t(Tkv * Hkv * D));
  cuda::attention_infer(impl_->ctx, out, q, k_cache, v_cache, Tq, Tkv, Hq, Hkv, D);
}

void CudaBackend::swiglu_forward(Buf out, Buf gate, Buf up, int64_t n) {
  OpScope scope(*impl_, Family::kSwiglu);
  need_dims("swiglu_forward", {n});
  need("swiglu_forward", "out", out, DType::BF16, size_t(n));
  need("swiglu_forward", "gate", gate, DType::BF16, size_t(n));
  need("swiglu_forward", "up", up, DType::BF16, size_t(n));
  cuda::swiglu_forward(impl_->ctx, out, gate, up, n);
}

void CudaBackend::swiglu_backward(Buf dgate, Buf dup, Buf dout, Buf gate, Buf up, int64_t n) {
  OpScope scope(*impl_, Family::kSwiglu);
  need_dims("swiglu_backward", {n});
  need("swiglu_backward", "dgate", dgate, DType::BF16, size_t(n));
  need("swiglu_backward", "dup", dup, DType::BF16, size_t(n));
  need("swiglu_backward", "dout", dout, DType::BF16, size_t(n));
  need("swiglu_backward", "gate", gate, DType::BF16, size_t(n));
  need("swiglu_backward", "up", up, DType::BF16, size_t(n));
  cuda::swiglu_backward(impl_->ctx, dgate, dup, dout, gate, up, n);
}

void CudaBackend::add(Buf out, Buf a, Buf b, int64_t n) {
  OpScope scope(*impl_, Family::kAdd);
  need_dims("add", {n});
  TT_CHECK(out.dtype == DType::BF16 || out.dtype == DType::F32)
      << "CUDA add: dtype must be BF16 or F32, got " << dtype_name(out.dtype);
  need("add", "out", out, out.dtype, size_t(n));
  need("add", "a", a, out.dtype, size_t(n));
  need("add", "b", b, out.dtype, size_t(n));
  cuda::add(impl_->ctx, out, a, b, n);
}

void CudaBackend::lm_head_loss(Buf losses, Buf dhidden, Buf dtable, Buf hidden, Buf table, Buf targets,
                               int64_t N, int64_t C, int64_t V, float loss_scale) {
  OpScope scope(*impl_, Family::kLmHead);
  need_dims("lm_head_loss", {N, C, V});
  need("lm_head_loss", "losses", losses, DType::F32, size_t(N));
  if (!dhidden.empty()) {
    need("lm_head_loss", "dhidden", dhidden, DType::BF16, size_t(N * C));
    if (!dtable.empty()) need("lm_head_loss", "dtable", dtable, DType::F32, size_t(V * C));
  }
  need("lm_head_loss", "hidden", hidden, DType::BF16, size_t(N * C));
  need("lm_head_loss", "table", table, DType::BF16, size_t(V * C));
  need("lm_head_loss", "targets", targets, DType::I32, size_t(N));
  cuda::lm_head_loss(impl_->ctx, losses, dhidden, dtable, hidden, table, targets, N, C, V, loss_scale);
}

void CudaBackend::lm_head_logits(Buf logits, Buf hidden, Buf table, int64_t N, int64_t C, int64_t V) {
  OpScope scope(*impl_, Family::kLmHead);
  need_dims("lm_head_logits", {N, C, V});
  need("lm_head_logits", "logits", logits, DType::F32, size_t(N * V));
  need("lm_head_logits", "hidden", hidden, DType::BF16, size_t(N * C));
  need("lm_head_logits", "table", table, DType::BF16, size_t(V * C));
  cuda::lm_head_logits(impl_->ctx, logits, hidden, table, N, C, V);
}

void CudaBackend::sum(Buf out, Buf x, int64_t n) {
  OpScope scope(*impl_, Family::kReduce);
  need_dims("sum", {n});
  need("sum", "out", out, DType::F32, 1);
  need("sum", "x", x, DType::F32, size_t(n));
  cuda::sum(impl_->ctx, out, x, n);
}

void CudaBackend::grad_norm_sq(Buf out, Buf grads, int64_t n) {
  OpScope scope(*impl_, Family::kReduce);
  need_dims("grad_norm_sq", {n});
  need("grad_norm_sq", "out", out, DType::F32, 1);
  need("grad_norm_sq", "grads", grads, DType::F32, size_t(n));
  cuda::grad_norm_sq(impl_->ctx, out, grads, n);
}

void CudaBackend::adamw_update(Buf master, Buf compute, Buf grads, Buf m, Buf v, Buf grad_norm_sq, int64_t n,
                               const AdamWArgs& args, bool decay) {
  OpScope scope(*impl_, Family::kAdamw);
  need_dims("adamw_update", {n});
  need("adamw_update", "master", master, DType::F32, size_t(n));
  if (!compute.empty()) need("adamw_update", "compute", compute, DType::BF16, size_t(n));
  need("adamw_update", "grads", grads, DType::F32, size_t(n));
  need("adamw_update", "m", m, DType::F32, size_t(n));
  need("adamw_update", "v", v, DType::F32, size_t(n));
  need("adamw_update", "grad_norm_sq", grad_norm_sq, DType::F32, 1);
  cuda::adamw_update(impl_->ctx, master, compute, grads, m, v, grad_norm_sq, n, args, decay);
}

// ---- extras ---------------------------------------------------------------------------------

void CudaBackend::set_op_timing(bool on) {
  impl_->timing = on;
}

std::vector<OpTiming> CudaBackend::op_timings() {
  impl_->resolve_records();
  std::vector<OpTiming> out;
  for (size_t i = 0; i < impl_->totals.size(); ++i) {
    OpTiming t = impl_->totals[i];
    t.family = kFamilyNames[i];
    if (t.calls > 0) out.push_back(t);
  }
  return out;
}

void CudaBackend::reset_op_timings() {
  impl_->resolve_records();
  impl_->totals = {};
}

void CudaBackend::set_deterministic(bool on) {
  impl_->ctx.deterministic = on;
}

std::string CudaBackend::device_name() const {
  return impl_->device_name;
}

}  // namespace cuda

// ---- factories (model/backend.h) --------------------------------------------------------------

bool is_cuda_available() {
  return cuda_unavailable_reason().empty();
}

std::string cuda_unavailable_reason() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the (non-sticky) error so later calls start clean
    return std::string("cudaGetDeviceCount: ") + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")";
  }
  return count > 0 ? "" : "cudaGetDeviceCount found no device";
}

std::unique_ptr<Backend> make_cuda_backend(int device) {
  // CudaBackend's constructor says why when no GPU is usable.
  return std::make_unique<cuda::CudaBackend>(device);
}

}  // namespace tt
