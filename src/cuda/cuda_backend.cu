// CudaBackend: construction, memory, the op timing and the factories. The ops are in their family files.
#include <cuda_runtime.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>

#include "common/check.h"
#include "common/env.h"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_check.h"

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
  static const bool on = env_flag("TT_CUDA_SYNC_CHECK", false);
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
  ++scratch_generation_;
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

size_t& dynamic_smem_allowed(const void* kernel) {
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));  // the attribute is set per device: a second GPU needs its own call
  static std::map<std::pair<int, const void*>, size_t> allowed;
  return allowed[{device, kernel}];
}

void Ctx::note_alloc(size_t bytes) {
  current_bytes_ += bytes;
  if (current_bytes_ > peak_bytes_) peak_bytes_ = current_bytes_;
}

void Ctx::note_free(size_t bytes) {
  current_bytes_ -= bytes < current_bytes_ ? bytes : current_bytes_;
}

namespace {

constexpr std::array<const char*, size_t(Family::kCount)> kFamilyNames = {
    "memory",        "embedding", "rmsnorm",      "matmul",          "qk_norm_rope", "attention_fwd",
    "attention_bwd", "swiglu",    "lm_head_gemm", "lm_head_softmax", "reduce",       "adamw"};

constexpr size_t kStageLimit = 64u << 20;  // host->device copies above this go synchronously
constexpr size_t kLtWorkspaceBytes = 32u << 20;

}  // namespace

struct CudaBackend::Impl {
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

  int64_t graph_launches = 0;

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
  void resolve_records(cudaStream_t stream) {
    if (records.empty()) return;
    CUDA_CHECK(cudaStreamSynchronize(stream));
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

// ---- op timing ------------------------------------------------------------------------------

CudaBackend::OpScope::OpScope(CudaBackend& be, Family family) : be_(be), family_(family) {
  if (!be_.impl_->timing) return;
  start_ = be_.impl_->get_event();
  CUDA_CHECK(cudaEventRecord(start_, be_.ctx_.stream));
}

CudaBackend::OpScope::~OpScope() noexcept(false) {
  // While an op's exception unwinds, a second throw from here would std::terminate and hide it.
  Impl& im = *be_.impl_;
  if (!im.timing || start_ == nullptr || std::uncaught_exceptions() > 0) return;
  cudaEvent_t stop = im.get_event();
  CUDA_CHECK(cudaEventRecord(stop, be_.ctx_.stream));
  im.records.push_back({family_, start_, stop});
  if (im.records.size() > 100000) im.resolve_records(be_.ctx_.stream);
}

void CudaBackend::set_op_timing(bool on) {
  impl_->timing = on;
}

std::vector<OpTiming> CudaBackend::op_timings() {
  impl_->resolve_records(ctx_.stream);
  std::vector<OpTiming> out;
  for (size_t i = 0; i < impl_->totals.size(); ++i) {
    OpTiming t = impl_->totals[i];
    t.family = kFamilyNames[i];
    if (t.calls > 0) out.push_back(t);
  }
  return out;
}

void CudaBackend::reset_op_timings() {
  impl_->resolve_records(ctx_.stream);
  impl_->totals = {};
}

void CudaBackend::set_deterministic(bool on) {
  ctx_.deterministic = on;
}

std::string CudaBackend::device_name() const {
  return impl_->device_name;
}

// ---- recorded op sequences (CUDA graphs) ----------------------------------------------------------

namespace {

bool graphs_enabled() {
  static const bool on = env_flag("TT_CUDA_GRAPHS", true);
  return on;
}

struct GraphRecording final : OpRecording {
  uint64_t key = 0;
  uint64_t scratch_generation = 0;
  bool warmed_up = false;  // issued once eagerly with this key
  cudaGraphExec_t exec = nullptr;
  void drop() {
    if (exec != nullptr) cudaGraphExecDestroy(exec);
    exec = nullptr;
    warmed_up = false;
  }
  ~GraphRecording() override { drop(); }
};

}  // namespace

void CudaBackend::run_recorded_impl(std::unique_ptr<OpRecording>& recording, uint64_t key,
                                    const std::function<void()>& ops) {
  // Timed ops and TT_CUDA_SYNC_CHECK's synchronise after each launch, which a stream capture refuses (every
  // recorded step failed under the GPU session's sync check): they run the ops eagerly.
  if (!graphs_enabled() || impl_->timing || sync_after_launch()) {
    ops();
    return;
  }
  auto* r = dynamic_cast<GraphRecording*>(recording.get());
  if (r == nullptr) {
    recording = std::make_unique<GraphRecording>();
    r = static_cast<GraphRecording*>(recording.get());
  }
  if (r->key != key || r->scratch_generation != ctx_.scratch_generation()) {
    r->drop();
    r->key = key;
    r->scratch_generation = ctx_.scratch_generation();
  }
  if (!r->warmed_up) {  // scratch grows and GEMM plans are made outside any capture
    ops();
    r->warmed_up = true;
    r->scratch_generation = ctx_.scratch_generation();
    return;
  }
  if (r->exec == nullptr) {
    CUDA_CHECK(cudaStreamBeginCapture(ctx_.stream, cudaStreamCaptureModeThreadLocal));
    try {
      ops();
    } catch (...) {
      cudaGraph_t partial = nullptr;
      cudaStreamEndCapture(ctx_.stream, &partial);
      if (partial != nullptr) cudaGraphDestroy(partial);
      cudaGetLastError();
      throw;
    }
    cudaGraph_t graph = nullptr;
    CUDA_CHECK(cudaStreamEndCapture(ctx_.stream, &graph));
    const cudaError_t err = cudaGraphInstantiate(&r->exec, graph, 0);
    cudaGraphDestroy(graph);
    CUDA_CHECK(err);
  }
  CUDA_CHECK(cudaGraphLaunch(r->exec, ctx_.stream));
  ++impl_->graph_launches;
}

int64_t CudaBackend::graph_launches() const {
  return impl_->graph_launches;
}

// ---- construction ---------------------------------------------------------------------------

CudaBackend::CudaBackend(int device) : impl_(std::make_unique<Impl>()) {
  const std::string why = cuda_unavailable_reason();
  TT_CHECK(why.empty()) << "no CUDA GPU is available: " << why
                        << hint("run on a machine with an NVIDIA GPU and driver, or use --device cpu");
  int count = 0;
  CUDA_CHECK(cudaGetDeviceCount(&count));
  TT_CHECK(device >= 0 && device < count)
      << "CUDA device " << device << " does not exist (" << count << " device(s) present)"
      << hint("a data-parallel run uses one GPU per rank: start at most as many ranks per host as GPUs");
  CUDA_CHECK(cudaSetDevice(device));
  ctx_.device = device;
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  impl_->device_name = prop.name;
  ctx_.sm_count = prop.multiProcessorCount;
  ctx_.max_smem_per_block = prop.sharedMemPerBlockOptin;
  CUDA_CHECK(cudaStreamCreate(&ctx_.stream));
  CUBLAS_CHECK(cublasLtCreate(&ctx_.lt));
  CUBLAS_CHECK(cublasCreate(&ctx_.blas));
  CUBLAS_CHECK(cublasSetStream(ctx_.blas, ctx_.stream));
  CUDA_CHECK(cudaMalloc(&ctx_.lt_workspace, kLtWorkspaceBytes));
  ctx_.lt_workspace_bytes = kLtWorkspaceBytes;
  ctx_.note_alloc(kLtWorkspaceBytes);
  for (auto& s : impl_->staging) CUDA_CHECK(cudaEventCreateWithFlags(&s.done, cudaEventDisableTiming));
}

CudaBackend::~CudaBackend() {
  Impl& im = *impl_;
  cudaStreamSynchronize(ctx_.stream);
  gemm_cache_clear(ctx_);
  ctx_.release_scratch();
  for (auto& [ptr, bytes] : im.allocations) cudaFree(ptr);
  if (ctx_.lt_workspace) cudaFree(ctx_.lt_workspace);
  if (ctx_.lt) cublasLtDestroy(ctx_.lt);
  if (ctx_.blas) cublasDestroy(ctx_.blas);
  for (auto& s : im.staging) {
    if (s.host) cudaFreeHost(s.host);
    if (s.done) cudaEventDestroy(s.done);
  }
  for (auto& r : im.records) {
    cudaEventDestroy(r.start);
    cudaEventDestroy(r.stop);
  }
  for (auto e : im.event_pool) cudaEventDestroy(e);
  if (ctx_.stream) cudaStreamDestroy(ctx_.stream);
}

// ---- memory ---------------------------------------------------------------------------------

Tensor CudaBackend::alloc_impl(int64_t rows, int64_t cols, DType dtype) {
  Tensor t{nullptr, dtype, rows, cols};
  const size_t bytes = t.bytes();
  if (bytes == 0) return t;
  const cudaError_t err = cudaMalloc(&t.ptr, bytes);
  if (err != cudaSuccess) {
    cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    TT_FAIL() << "CUDA out of memory allocating " << bytes << " bytes (" << describe(t) << "); " << free_b
              << " of " << total_b << " bytes free, " << ctx_.current_bytes() << " held by this backend"
              << hint("reduce the batch size or sequence length");
  }
  CUDA_CHECK(cudaMemsetAsync(t.ptr, 0, bytes, ctx_.stream));
  impl_->allocations[t.ptr] = bytes;
  ctx_.note_alloc(bytes);
  return t;
}

void CudaBackend::free_impl(Tensor t) {
  auto it = impl_->allocations.find(t.ptr);
  TT_ASSERT(it != impl_->allocations.end()) << "CudaBackend::free of a pointer it did not allocate";
  CUDA_CHECK(cudaFree(t.ptr));
  ctx_.note_free(it->second);
  impl_->allocations.erase(it);
}

void CudaBackend::copy_from_host_impl(Tensor dst, const void* src) {
  OpScope scope(*this, Family::kMemory);
  const size_t bytes = dst.bytes();
  if (bytes > kStageLimit) {
    CUDA_CHECK(cudaMemcpyAsync(dst.ptr, src, bytes, cudaMemcpyHostToDevice, ctx_.stream));
    CUDA_CHECK(cudaStreamSynchronize(ctx_.stream));
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
  CUDA_CHECK(cudaMemcpyAsync(dst.ptr, s.host, bytes, cudaMemcpyHostToDevice, ctx_.stream));
  CUDA_CHECK(cudaEventRecord(s.done, ctx_.stream));
  s.pending = true;
}

void CudaBackend::copy_to_host_impl(void* dst, Tensor src) {
  {
    OpScope scope(*this, Family::kMemory);
    CUDA_CHECK(cudaMemcpyAsync(dst, src.ptr, src.bytes(), cudaMemcpyDeviceToHost, ctx_.stream));
  }
  CUDA_CHECK(cudaStreamSynchronize(ctx_.stream));
}

void CudaBackend::synchronize_impl() {
  CUDA_CHECK(cudaStreamSynchronize(ctx_.stream));
}

size_t CudaBackend::peak_memory_bytes() const {
  return ctx_.peak_bytes();
}

std::optional<std::string> CudaBackend::unsupported(const OpShapes& s) const {
  if (auto why = qk_norm_rope_unsupported(s.head_dim)) return why;
  if (auto why = attention_unsupported(s.head_dim)) return why;
  if (s.backward)
    if (auto why = rmsnorm_backward_unsupported(ctx_, s.hidden)) return why;
  return std::nullopt;
}

size_t CudaBackend::op_scratch_bytes(const OpShapes& s) const {
  const int64_t N = s.rows, B = s.seq_len > 0 ? s.rows / s.seq_len : 0;
  SlotBytes most{};
  auto take = [&](const SlotBytes& op) {
    for (size_t i = 0; i < most.size(); ++i) most[i] = std::max(most[i], op[i]);
  };
  // evaluation (its loss sum reduces too) and decoding; the GEMM tuning's slot whether or not a GEMM has
  // several algorithms to compare
  for (const SlotBytes& op : {lm_head_scratch(N, s.vocab),
                              attention_scratch(B, s.seq_len, s.q_heads, s.kv_heads, s.head_dim, s.backward),
                              reduce_scratch(), gemm_scratch()})
    take(op);
  if (s.backward)
    for (const SlotBytes& op : {embedding_scratch(ctx_, N, s.vocab), rmsnorm_scratch(ctx_, N, s.hidden),
                                qk_norm_rope_scratch(ctx_, N, s.head_dim)})
      take(op);
  size_t total = 0;
  for (size_t bytes : most)
    if (bytes > 0) total += (bytes + 255) / 256 * 256;
  return total;
}

std::optional<uint64_t> CudaBackend::available_memory_bytes() const {
  size_t free_b = 0, total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
    cudaGetLastError();
    return std::nullopt;
  }
  return free_b;
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
