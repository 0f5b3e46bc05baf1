// The emulated CUDA runtime and cuBLAS(Lt) behind tests/cuda/emu/include (see cuda_runtime.h there).
// Everything a real GPU would refuse is refused here too, so that a host-side bug in src/cuda shows up in
// CI rather than on the first GPU run: copies and GEMM operands must lie inside one device allocation
// (bounds included), copy directions must match where the pointers live, kernel pointer arguments must be
// device memory, launch configurations must be legal.
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <map>
#include <thread>
#include <type_traits>
#include <vector>

#include "cublasLt.h"
#include "cuda_runtime.h"

namespace {

constexpr size_t kAlign = 256;  // cudaMalloc's alignment

struct DeviceMemory {
  std::map<uintptr_t, size_t> blocks;  // start -> bytes
  size_t used = 0;
  size_t capacity() const {
    const char* mb = std::getenv("TT_EMU_DEVICE_MEMORY_MB");
    return size_t(mb != nullptr ? std::strtoull(mb, nullptr, 10) : 4096) << 20;
  }
  // The allocation holding [p, p + bytes), or blocks.end().
  std::map<uintptr_t, size_t>::const_iterator find(const void* p, size_t bytes) const {
    const uintptr_t u = reinterpret_cast<uintptr_t>(p);
    auto it = blocks.upper_bound(u);
    if (it == blocks.begin()) return blocks.end();
    --it;
    if (u < it->first || u + bytes > it->first + it->second) return blocks.end();
    return it;
  }
};
DeviceMemory& memory() {
  static DeviceMemory m;
  return m;
}

cudaError_t g_last_error = cudaSuccess;
std::map<const void*, int>& smem_opt_in() {
  static std::map<const void*, int> m;
  return m;
}

// Name and text of each error code the emulator returns (what cudaGetErrorName / cudaGetErrorString and
// their cuBLASLt counterparts print).
template <class Code>
struct CodeText {
  Code code;
  const char* name;
  const char* text;
};
constexpr CodeText<cudaError_t> kCudaErrors[] = {
    {cudaSuccess, "cudaSuccess", "no error"},
    {cudaErrorInvalidValue, "cudaErrorInvalidValue", "invalid argument"},
    {cudaErrorMemoryAllocation, "cudaErrorMemoryAllocation", "out of memory"},
    {cudaErrorInvalidConfiguration, "cudaErrorInvalidConfiguration", "invalid configuration argument"},
    {cudaErrorInvalidDevicePointer, "cudaErrorInvalidDevicePointer", "invalid device pointer"},
    {cudaErrorNoDevice, "cudaErrorNoDevice", "no CUDA-capable device is detected"},
    {cudaErrorInvalidDevice, "cudaErrorInvalidDevice", "invalid device ordinal"},
    {cudaErrorInvalidResourceHandle, "cudaErrorInvalidResourceHandle", "invalid resource handle"},
    {cudaErrorNotReady, "cudaErrorNotReady", "device not ready"},
    {cudaErrorIllegalAddress, "cudaErrorIllegalAddress", "an illegal memory access was encountered"},
    {cudaErrorIllegalState, "cudaErrorIllegalState",
     "the operation cannot be performed in the present state"},
    {cudaErrorStreamCaptureUnsupported, "cudaErrorStreamCaptureUnsupported",
     "operation not permitted when stream is capturing"},
    {cudaErrorStreamCaptureInvalidated, "cudaErrorStreamCaptureInvalidated",
     "operation failed due to a previous error during capture"},
};
template <class Code, size_t N>
const char* describe(const CodeText<Code> (&table)[N], Code code, const char* unknown, bool text) {
  for (const auto& t : table)
    if (t.code == code) return text ? t.text : t.name;
  return unknown;
}

struct EventState {
  std::chrono::steady_clock::time_point t;
  bool recorded = false;
  bool timing = true;  // false for cudaEventDisableTiming: cudaEventElapsedTime refuses it
};

}  // namespace

struct CUstream_st {};
struct CUevent_st : EventState {};
// A captured graph and its executable form: the stream's work, in the order it was issued.
struct CUgraph_st {
  std::vector<std::function<void()>> work;
};
struct CUgraphExec_st {
  std::vector<std::function<void()>> work;
};

namespace {

// The one capture in progress (the backend captures one stream at a time).
struct Capture {
  cudaStream_t stream = nullptr;
  CUgraph_st* graph = nullptr;
  bool invalidated = false;
};
Capture g_capture;
long g_graph_launches = 0;

}  // namespace

namespace tt::emu {

bool device_range(const void* p, size_t bytes) {
  return memory().find(p, bytes) != memory().blocks.end();
}

bool skip_compute() {
  static const bool skip = [] {
    const char* v = std::getenv("TT_EMU_SKIP_COMPUTE");
    return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
  }();
  return skip;
}

cudaError_t record_error(cudaError_t err) {
  g_last_error = err;
  return err;
}

void enqueue(cudaStream_t s, std::function<void()> work) {
  if (g_capture.graph != nullptr && s == g_capture.stream) {
    g_capture.graph->work.push_back(std::move(work));
    return;
  }
  work();
}

bool refused_by_capture() {
  if (g_capture.graph == nullptr) return false;
  g_capture.invalidated = true;
  return true;
}

long graph_launches() {
  return g_graph_launches;
}

bool launch_config_ok(const void* kernel, dim3 grid, dim3 block, size_t dynamic_smem_bytes) {
  const uint64_t threads = uint64_t(block.x) * block.y * block.z;
  const bool block_ok =
      threads >= 1 && threads <= 1024 && block.x <= 1024 && block.y <= 1024 && block.z <= 64;
  const bool grid_ok = grid.x >= 1 && grid.x <= 0x7fffffffu && grid.y >= 1 && grid.y <= 65535 &&
                       grid.z >= 1 && grid.z <= 65535;
  if (!block_ok || !grid_ok) {
    g_last_error = cudaErrorInvalidConfiguration;
    return false;
  }
  auto it = smem_opt_in().find(kernel);
  const size_t limit = it != smem_opt_in().end() ? size_t(it->second) : 48 * 1024;
  if (dynamic_smem_bytes > limit) {
    g_last_error = cudaErrorInvalidValue;
    return false;
  }
  return true;
}

cudaError_t func_set_attribute(const void* kernel, cudaFuncAttribute attr, int value) {
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 || value > 227 * 1024)
    return record_error(cudaErrorInvalidValue);
  smem_opt_in()[kernel] = value;
  return cudaSuccess;
}

}  // namespace tt::emu

using tt::emu::device_range;
using tt::emu::record_error;

// ---- device, errors ---------------------------------------------------------------------------------

// TT_EMU_DEVICES=n: n devices (default 1), all the same host memory, for one "GPU" per rank of a
// data-parallel test on one host.
static int device_count() {
  static const int n = [] {
    const char* v = std::getenv("TT_EMU_DEVICES");
    return v != nullptr && std::atoi(v) > 0 ? std::atoi(v) : 1;
  }();
  return n;
}
cudaError_t cudaGetDeviceCount(int* count) {
  *count = device_count();
  return cudaSuccess;
}
// The current device, per host thread as in CUDA.
thread_local int g_current_device = 0;
cudaError_t cudaSetDevice(int device) {
  if (device < 0 || device >= device_count()) return record_error(cudaErrorInvalidDevice);
  g_current_device = device;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  *device = g_current_device;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device < 0 || device >= device_count()) return record_error(cudaErrorInvalidDevice);
  *prop = cudaDeviceProp{};
  std::strncpy(prop->name, "CUDA emulator on the CPU (tests/cuda/emu)", sizeof(prop->name) - 1);
  prop->totalGlobalMem = memory().capacity();
  prop->sharedMemPerBlock = 48 * 1024;
  prop->sharedMemPerBlockOptin = 227 * 1024;  // H100
  // Few SMs, so grid-stride launches have few blocks (every emulated thread costs a fiber); with compute off
  // (nothing runs) an H100's 132, so launch configurations are the ones a GPU would get.
  prop->multiProcessorCount = tt::emu::skip_compute() ? 132 : 2;
  prop->major = 9;
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() {
  if (tt::emu::refused_by_capture()) return record_error(cudaErrorStreamCaptureUnsupported);
  return cudaSuccess;
}
cudaError_t cudaGetLastError() {
  const cudaError_t e = g_last_error;
  g_last_error = cudaSuccess;
  return e;
}
const char* cudaGetErrorName(cudaError_t err) {
  return describe(kCudaErrors, err, "cudaErrorUnknown", false);
}
const char* cudaGetErrorString(cudaError_t err) {
  return describe(kCudaErrors, err, "unknown error", true);
}

// ---- memory -----------------------------------------------------------------------------------------

cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  if (tt::emu::refused_by_capture()) return record_error(cudaErrorStreamCaptureUnsupported);
  if (bytes == 0) {  // as CUDA: success and a null pointer
    *ptr = nullptr;
    return cudaSuccess;
  }
  DeviceMemory& m = memory();
  const size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
  if (m.used + rounded > m.capacity()) return record_error(cudaErrorMemoryAllocation);
  void* p = std::aligned_alloc(kAlign, rounded);
  if (p == nullptr) return record_error(cudaErrorMemoryAllocation);
  // cudaMalloc does not zero. All-ones bytes are NaN as fp32 and as bf16 (and -1 as int32), so a read of
  // memory nobody wrote (scratch, a partially written output) shows up in the tests' NaN checks.
  // With TT_EMU_SKIP_COMPUTE nothing is computed, so zeros instead: losses stay finite (0) and a training
  // run goes through its whole schedule.
  std::memset(p, tt::emu::skip_compute() ? 0 : 0xFF, rounded);
  m.blocks[reinterpret_cast<uintptr_t>(p)] = bytes;
  m.used += rounded;
  *ptr = p;
  return cudaSuccess;
}
cudaError_t cudaFree(void* ptr) {
  if (tt::emu::refused_by_capture()) return record_error(cudaErrorStreamCaptureUnsupported);
  if (ptr == nullptr) return cudaSuccess;
  DeviceMemory& m = memory();
  auto it = m.blocks.find(reinterpret_cast<uintptr_t>(ptr));
  if (it == m.blocks.end()) return record_error(cudaErrorInvalidDevicePointer);
  m.used -= (it->second + kAlign - 1) / kAlign * kAlign;
  m.blocks.erase(it);
  std::free(ptr);
  return cudaSuccess;
}
cudaError_t cudaMallocHost(void** ptr, size_t bytes) {
  if (tt::emu::refused_by_capture()) return record_error(cudaErrorStreamCaptureUnsupported);
  *ptr = std::malloc(bytes == 0 ? 1 : bytes);
  return *ptr != nullptr ? cudaSuccess : record_error(cudaErrorMemoryAllocation);
}
cudaError_t cudaFreeHost(void* ptr) {
  if (ptr != nullptr && device_range(ptr, 1)) return record_error(cudaErrorInvalidValue);
  std::free(ptr);
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  *total_bytes = memory().capacity();
  *free_bytes = *total_bytes - memory().used;
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s) {
  if (bytes == 0) return cudaSuccess;
  const bool dst_dev = device_range(dst, bytes), src_dev = device_range(src, bytes);
  const bool ok =
      (kind == cudaMemcpyHostToHost && !device_range(src, 1) && !device_range(dst, 1)) ||
      (kind == cudaMemcpyHostToDevice && dst_dev && !device_range(src, 1)) ||
      (kind == cudaMemcpyDeviceToHost && src_dev && !device_range(dst, 1)) ||
      (kind == cudaMemcpyDeviceToDevice && src_dev && dst_dev) ||
      (kind == cudaMemcpyDefault && (src_dev || !device_range(src, 1)) && (dst_dev || !device_range(dst, 1)));
  if (!ok) return record_error(cudaErrorInvalidValue);
  tt::emu::enqueue(s, [=] { std::memmove(dst, src, bytes); });
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t s) {
  if (bytes == 0) return cudaSuccess;
  if (!device_range(dst, bytes)) return record_error(cudaErrorInvalidValue);
  tt::emu::enqueue(s, [=] { std::memset(dst, value, bytes); });
  return cudaSuccess;
}

// ---- streams, events --------------------------------------------------------------------------------

cudaError_t cudaStreamCreate(cudaStream_t* s) {
  *s = new CUstream_st;
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  delete s;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) {
  if (tt::emu::refused_by_capture()) return record_error(cudaErrorStreamCaptureUnsupported);
  return cudaSuccess;
}
cudaError_t cudaEventCreate(cudaEvent_t* e) {
  *e = new CUevent_st;
  return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned flags) {
  *e = new CUevent_st;
  (*e)->timing = (flags & cudaEventDisableTiming) == 0;
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  tt::emu::enqueue(s, [e] {
    e->t = std::chrono::steady_clock::now();
    e->recorded = true;
  });
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t) {
  if (tt::emu::refused_by_capture()) return record_error(cudaErrorStreamCaptureUnsupported);
  return cudaSuccess;
}
cudaError_t cudaEventQuery(cudaEvent_t) {
  if (tt::emu::refused_by_capture()) return record_error(cudaErrorStreamCaptureUnsupported);
  return cudaSuccess;
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t stop) {
  if (!start->timing || !stop->timing) return record_error(cudaErrorInvalidResourceHandle);
  if (!start->recorded || !stop->recorded) return record_error(cudaErrorInvalidValue);
  *ms = std::chrono::duration<float, std::milli>(stop->t - start->t).count();
  return cudaSuccess;
}

// ---- stream capture, graphs -------------------------------------------------------------------------

cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode) {
  if (g_capture.graph != nullptr) return record_error(cudaErrorIllegalState);
  g_capture = Capture{s, new CUgraph_st, false};
  return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* graph) {
  if (g_capture.graph == nullptr || s != g_capture.stream) return record_error(cudaErrorIllegalState);
  const bool invalidated = g_capture.invalidated;
  *graph = invalidated ? nullptr : g_capture.graph;
  if (invalidated) delete g_capture.graph;
  g_capture = Capture{};
  return invalidated ? record_error(cudaErrorStreamCaptureInvalidated) : cudaSuccess;
}
cudaError_t cudaStreamIsCapturing(cudaStream_t s, cudaStreamCaptureStatus* status) {
  *status = g_capture.graph == nullptr || s != g_capture.stream ? cudaStreamCaptureStatusNone
            : g_capture.invalidated                             ? cudaStreamCaptureStatusInvalidated
                                                                : cudaStreamCaptureStatusActive;
  return cudaSuccess;
}
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  if (graph == nullptr) return record_error(cudaErrorInvalidValue);
  *exec = new CUgraphExec_st{graph->work};
  return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t s) {
  if (exec == nullptr) return record_error(cudaErrorInvalidValue);
  ++g_graph_launches;
  for (const auto& work : exec->work) tt::emu::enqueue(s, work);
  return cudaSuccess;
}
cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  delete graph;
  return cudaSuccess;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  delete exec;
  return cudaSuccess;
}

// ---- cuBLASLt / cuBLAS ------------------------------------------------------------------------------

struct cublasLtContext {};
struct cublasContext {
  cudaStream_t stream = nullptr;
};
struct cublasLtMatmulDescOpaque_t {
  cublasOperation_t trans_a = CUBLAS_OP_N, trans_b = CUBLAS_OP_N;
};
struct cublasLtMatrixLayoutOpaque_t {
  cudaDataType_t type;
  uint64_t rows, cols;
  int64_t ld;
  int32_t batch_count = 1;
  int64_t batch_stride = 0;  // elements from one batch entry to the next
};
struct cublasLtMatmulPreferenceOpaque_t {
  uint32_t min_align[4] = {256, 256, 256, 256};  // A, B, C, D (cuBLASLt's defaults)
  uint64_t max_workspace = 0;
};

namespace {

constexpr CodeText<cublasStatus_t> kCublasStatuses[] = {
    {CUBLAS_STATUS_SUCCESS, "CUBLAS_STATUS_SUCCESS", "success"},
    {CUBLAS_STATUS_NOT_INITIALIZED, "CUBLAS_STATUS_NOT_INITIALIZED", "the library was not initialized"},
    {CUBLAS_STATUS_INVALID_VALUE, "CUBLAS_STATUS_INVALID_VALUE", "an invalid value was used as an argument"},
    {CUBLAS_STATUS_NOT_SUPPORTED, "CUBLAS_STATUS_NOT_SUPPORTED",
     "the functionality requested is not supported"},
};

tt::emu::GemmCounts g_gemm_counts;
int g_algo_delay_us[tt::emu::kGemmAlgos] = {};
// The candidates the heuristic offers, best first (cublasLt.h).
std::vector<tt::emu::GemmAlgo> g_candidates{tt::emu::GemmAlgo::kOneSequence};

// The largest power of two (at most 256) dividing the address.
uint64_t alignment(const void* p) {
  const uintptr_t u = reinterpret_cast<uintptr_t>(p);
  return u == 0 ? 256 : std::min<uint64_t>(256, u & (~u + 1));
}

size_t type_bytes(cudaDataType_t t) {
  return t == CUDA_R_16BF ? 2 : 4;
}

// Column-major rows x cols with leading dimension ld lies inside one device allocation.
bool matrix_ok(const void* p, cudaDataType_t type, int64_t rows, int64_t cols, int64_t ld) {
  if (rows <= 0 || cols <= 0 || ld < rows || (type != CUDA_R_16BF && type != CUDA_R_32F)) return false;
  return device_range(p, size_t((cols - 1) * ld + rows) * type_bytes(type));
}

std::vector<float> load(const void* p, cudaDataType_t type, int64_t rows, int64_t cols, int64_t ld) {
  std::vector<float> out(size_t(rows * cols));
  for (int64_t j = 0; j < cols; ++j)
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t at = i + j * ld;
      out[size_t(i + j * rows)] = type == CUDA_R_16BF
                                      ? __bfloat162float(static_cast<const __nv_bfloat16*>(p)[at])
                                      : static_cast<const float*>(p)[at];
    }
  return out;
}

// Strided batches: every layout of a matmul has the same batch count (cuBLASLt refuses a mismatch as an
// invalid value); strides are not negative.
cublasStatus_t batch_status(std::initializer_list<cublasLtMatrixLayout_t> layouts) {
  const int32_t count = (*layouts.begin())->batch_count;
  for (auto* l : layouts)
    if (l->batch_count != count || l->batch_count < 1 || l->batch_stride < 0)
      return CUBLAS_STATUS_INVALID_VALUE;
  return CUBLAS_STATUS_SUCCESS;
}

// Batch entry e of the matrix at p.
template <class P>
P batch_entry(P p, cublasLtMatrixLayout_t l, int64_t e) {
  using Byte = std::conditional_t<std::is_const_v<std::remove_pointer_t<P>>, const char, char>;
  return static_cast<P>(static_cast<Byte*>(p) + e * l->batch_stride * int64_t(type_bytes(l->type)));
}

// The alignment every batch entry of the matrix at p has.
uint64_t entries_alignment(const void* p, cublasLtMatrixLayout_t l) {
  if (l->batch_count == 1) return alignment(p);
  const void* stride_bytes = reinterpret_cast<const void*>(uintptr_t(l->batch_stride) * type_bytes(l->type));
  return std::min(alignment(p), alignment(stride_bytes));
}

// For the m x n sums of K products (column-major A and B as cblas_sgemm takes them): how much each changes
// when the two halves of K are summed apart and then added, in fp32; 0 where the sum is exact in both orders.
std::vector<float> other_order_shift(bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                                     const std::vector<float>& a, int64_t lda, const std::vector<float>& b,
                                     int64_t ldb) {
  const int64_t k1 = k / 2;
  std::vector<float> whole(size_t(m * n)), first(size_t(m * n), 0.0f), second(size_t(m * n));
  auto sgemm = [&](int64_t kk, const float* pa, const float* pb, float* out) {
    if (kk > 0)
      cblas_sgemm(CblasColMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m),
                  int(n), int(kk), 1.0f, pa, int(lda), pb, int(ldb), 0.0f, out, int(m));
  };
  sgemm(k, a.data(), b.data(), whole.data());
  sgemm(k1, a.data(), b.data(), first.data());
  sgemm(k - k1, a.data() + (ta ? k1 : k1 * lda), b.data() + (tb ? k1 * ldb : k1), second.data());
  for (size_t i = 0; i < whole.size(); ++i) whole[i] = (first[i] + second[i]) - whole[i];
  return whole;
}

// Writes `value` to buf as cuBLASLt's attribute getters do: sizes must match; size 0 asks for the size.
template <class T>
cublasStatus_t get_attribute(T value, void* buf, size_t size, size_t* written) {
  if (size == 0) {
    if (written == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
    *written = sizeof(T);
    return CUBLAS_STATUS_SUCCESS;
  }
  if (buf == nullptr || size != sizeof(T)) return CUBLAS_STATUS_INVALID_VALUE;
  std::memcpy(buf, &value, sizeof(T));
  if (written != nullptr) *written = sizeof(T);
  return CUBLAS_STATUS_SUCCESS;
}

// D = alpha op(A) op(B) + beta C, column-major, fp32 accumulation; C and D share shape and type. With
// other_order, an algorithm that sums in another order: each output moves by alpha times its sum's
// other_order_shift before it is stored.
cublasStatus_t gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const void* A,
                    cudaDataType_t at, int64_t a_rows, int64_t a_cols, int64_t lda, const void* B,
                    cudaDataType_t bt, int64_t b_rows, int64_t b_cols, int64_t ldb, float beta, const void* C,
                    void* D, cudaDataType_t ct, int64_t ldc, cudaStream_t stream, bool other_order = false,
                    bool c_apart = false) {
  if (at != CUDA_R_16BF || bt != CUDA_R_16BF) return CUBLAS_STATUS_INVALID_VALUE;  // not emulated
  if ((ta ? a_cols : a_rows) != m || (ta ? a_rows : a_cols) != k || (tb ? b_cols : b_rows) != k ||
      (tb ? b_rows : b_cols) != n)
    return CUBLAS_STATUS_INVALID_VALUE;
  if (!matrix_ok(A, at, a_rows, a_cols, lda) || !matrix_ok(B, bt, b_rows, b_cols, ldb) ||
      !matrix_ok(D, ct, m, n, ldc) || (beta != 0.0f && !matrix_ok(C, ct, m, n, ldc)))
    return CUBLAS_STATUS_INVALID_VALUE;
  if (tt::emu::skip_compute()) return CUBLAS_STATUS_SUCCESS;
  tt::emu::enqueue(stream, [=] {
    const std::vector<float> a = load(A, at, a_rows, a_cols, lda), b = load(B, bt, b_rows, b_cols, ldb);
    std::vector<float> c = beta != 0.0f ? load(C, ct, m, n, ldc) : std::vector<float>(size_t(m * n), 0.0f);
    cblas_sgemm(CblasColMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n),
                int(k), alpha, a.data(), int(a_rows), b.data(), int(b_rows), beta, c.data(), int(m));
    if (other_order) {
      const std::vector<float> shift = other_order_shift(ta, tb, m, n, k, a, a_rows, b, b_rows);
      for (size_t i = 0; i < c.size(); ++i)
        if (shift[i] != 0.0f) c[i] += alpha * shift[i];
    }
    if (c_apart && beta != 0.0f) {  // t = alpha * AB as the reference sums it; then (beta C + t/2) + t/2
      const std::vector<float> c0 = load(C, ct, m, n, ldc);
      std::vector<float> t(size_t(m * n), 0.0f);
      cblas_sgemm(CblasColMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m),
                  int(n), int(k), alpha, a.data(), int(a_rows), b.data(), int(b_rows), 0.0f, t.data(),
                  int(m));
      for (size_t i = 0; i < c.size(); ++i) c[i] = (beta * c0[i] + 0.5f * t[i]) + 0.5f * t[i];
    }
    for (int64_t j = 0; j < n; ++j)
      for (int64_t i = 0; i < m; ++i) {
        const float v = c[size_t(i + j * m)];
        if (ct == CUDA_R_16BF)
          static_cast<__nv_bfloat16*>(D)[i + j * ldc] = __float2bfloat16_rn(v);
        else
          static_cast<float*>(D)[i + j * ldc] = v;
      }
  });
  return CUBLAS_STATUS_SUCCESS;
}

}  // namespace

namespace tt::emu {
GemmCounts gemm_counts() {
  return g_gemm_counts;
}
void set_gemm_algo_delay_us(int algo, int us) {
  g_algo_delay_us[algo] = us;
}
void set_gemm_candidates(std::initializer_list<GemmAlgo> algos) {
  if (algos.size() < 1 || algos.size() > size_t(kGemmAlgos)) {
    std::fprintf(stderr, "tt::emu::set_gemm_candidates: 1 to %d candidates, not %zu\n", kGemmAlgos,
                 algos.size());
    std::abort();
  }
  g_candidates.assign(algos.begin(), algos.end());
}
}  // namespace tt::emu

cublasStatus_t cublasLtCreate(cublasLtHandle_t* handle) {
  *handle = new cublasLtContext;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtDestroy(cublasLtHandle_t handle) {
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}
const char* cublasLtGetStatusName(cublasStatus_t status) {
  return describe(kCublasStatuses, status, "CUBLAS_STATUS_UNKNOWN", false);
}
const char* cublasLtGetStatusString(cublasStatus_t status) {
  return describe(kCublasStatuses, status, "unknown error", true);
}
cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t* desc, cublasComputeType_t compute,
                                        cudaDataType_t scale_type) {
  if (compute != CUBLAS_COMPUTE_32F || scale_type != CUDA_R_32F) return CUBLAS_STATUS_NOT_SUPPORTED;
  *desc = new cublasLtMatmulDescOpaque_t;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t desc) {
  delete desc;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attr,
                                              const void* buf, size_t size) {
  if (size != sizeof(cublasOperation_t)) return CUBLAS_STATUS_INVALID_VALUE;
  const cublasOperation_t op = *static_cast<const cublasOperation_t*>(buf);
  if (attr == CUBLASLT_MATMUL_DESC_TRANSA)
    desc->trans_a = op;
  else if (attr == CUBLASLT_MATMUL_DESC_TRANSB)
    desc->trans_b = op;
  else
    return CUBLAS_STATUS_INVALID_VALUE;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t* layout, cudaDataType_t type, uint64_t rows,
                                          uint64_t cols, int64_t ld) {
  if (ld < int64_t(rows)) return CUBLAS_STATUS_INVALID_VALUE;
  *layout = new cublasLtMatrixLayoutOpaque_t{type, rows, cols, ld};
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t layout) {
  delete layout;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatrixLayoutSetAttribute(cublasLtMatrixLayout_t layout,
                                                cublasLtMatrixLayoutAttribute_t attr, const void* buf,
                                                size_t size) {
  if (layout == nullptr || buf == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  if (attr == CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT && size == sizeof(int32_t)) {
    std::memcpy(&layout->batch_count, buf, size);
    return CUBLAS_STATUS_SUCCESS;
  }
  if (attr == CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET && size == sizeof(int64_t)) {
    std::memcpy(&layout->batch_stride, buf, size);
    return CUBLAS_STATUS_SUCCESS;
  }
  return CUBLAS_STATUS_INVALID_VALUE;  // a size that does not match the attribute, or one not emulated
}
cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t* pref) {
  *pref = new cublasLtMatmulPreferenceOpaque_t;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref) {
  delete pref;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t pref,
                                                    cublasLtMatmulPreferenceAttributes_t attr,
                                                    const void* buf, size_t size) {
  if (attr == CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES) {
    if (size != 8) return CUBLAS_STATUS_INVALID_VALUE;
    pref->max_workspace = *static_cast<const uint64_t*>(buf);
    return CUBLAS_STATUS_SUCCESS;
  }
  if (size != 4 || attr < CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES ||
      attr > CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES)
    return CUBLAS_STATUS_INVALID_VALUE;
  pref->min_align[attr - CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES] = *static_cast<const uint32_t*>(buf);
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t, cublasLtMatmulDesc_t,
                                              cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                                              cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d,
                                              cublasLtMatmulPreference_t pref, int requested,
                                              cublasLtMatmulHeuristicResult_t* results, int* returned) {
  *returned = 0;
  if (requested < 1) return CUBLAS_STATUS_INVALID_VALUE;
  for (uint32_t al : pref->min_align)
    if (al < 16) return CUBLAS_STATUS_NOT_SUPPORTED;
  for (auto* l : {a, b, c, d})
    if (l->ld * int64_t(type_bytes(l->type)) % 16 != 0) return CUBLAS_STATUS_NOT_SUPPORTED;
  if (const cublasStatus_t st = batch_status({a, b, c, d}); st != CUBLAS_STATUS_SUCCESS) return st;
  for (auto* l : {a, b, c, d})  // batch entries less than 16-byte aligned, like columns
    if (l->batch_count > 1 && l->batch_stride * int64_t(type_bytes(l->type)) % 16 != 0)
      return CUBLAS_STATUS_NOT_SUPPORTED;
  *returned = std::min(requested, int(g_candidates.size()));
  for (int r = 0; r < *returned; ++r) {
    results[r] = cublasLtMatmulHeuristicResult_t{};
    results[r].state = CUBLAS_STATUS_SUCCESS;
    // The algorithm remembers what it was chosen for: cublasLtMatmul refuses pointers less aligned than the
    // preference promised, and a larger workspace than it allowed (as a real algorithm may fail on them).
    for (int i = 0; i < 4; ++i) results[r].algo.data[i] = pref->min_align[i];
    results[r].algo.data[4] = pref->max_workspace;
    results[r].algo.data[5] = uint64_t(r);  // which candidate
    results[r].algo.data[6] = uint64_t(g_candidates[size_t(r)]);
  }
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulAlgoConfigGetAttribute(const cublasLtMatmulAlgo_t* algo,
                                                    cublasLtMatmulAlgoConfigAttributes_t attr, void* buf,
                                                    size_t size, size_t* written) {
  if (algo == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  const bool split = tt::emu::GemmAlgo(algo->data[6]) == tt::emu::GemmAlgo::kSplitK;
  if (attr == CUBLASLT_ALGO_CONFIG_SPLITK_NUM)
    return get_attribute(int32_t(split ? 2 : 1), buf, size, written);
  if (attr == CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME)
    return get_attribute(
        uint32_t(split ? CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE : CUBLASLT_REDUCTION_SCHEME_NONE), buf, size,
        written);
  return CUBLAS_STATUS_INVALID_VALUE;  // not emulated
}
cublasStatus_t cublasLtMatmulAlgoCapGetAttribute(const cublasLtMatmulAlgo_t* algo,
                                                 cublasLtMatmulAlgoCapAttributes_t attr, void* buf,
                                                 size_t size, size_t* written) {
  if (algo == nullptr || attr != CUBLASLT_ALGO_CAP_NUMERICAL_IMPL_FLAGS) return CUBLAS_STATUS_INVALID_VALUE;
  return get_attribute(
      uint64_t(CUBLASLT_NUMERICAL_IMPL_FLAGS_HMMA | CUBLASLT_NUMERICAL_IMPL_FLAGS_ACCUMULATOR_32F |
               CUBLASLT_NUMERICAL_IMPL_FLAGS_INPUT_16BF),
      buf, size, written);
}
cublasStatus_t cublasLtMatmul(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc, const void* alpha,
                              const void* A, cublasLtMatrixLayout_t al, const void* B,
                              cublasLtMatrixLayout_t bl, const void* beta, const void* C,
                              cublasLtMatrixLayout_t cl, void* D, cublasLtMatrixLayout_t dl,
                              const cublasLtMatmulAlgo_t* algo, void* workspace, size_t workspace_bytes,
                              cudaStream_t stream) {
  if (handle == nullptr || algo == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  if (workspace_bytes > 0 && !device_range(workspace, workspace_bytes)) return CUBLAS_STATUS_INVALID_VALUE;
  if (workspace_bytes > algo->data[4]) return CUBLAS_STATUS_INVALID_VALUE;
  if (const cublasStatus_t st = batch_status({al, bl, cl, dl}); st != CUBLAS_STATUS_SUCCESS) return st;
  const void* operands[4] = {A, B, C, D};
  const cublasLtMatrixLayout_t layouts[4] = {al, bl, cl, dl};
  for (int i = 0; i < 4; ++i)
    if (entries_alignment(operands[i], layouts[i]) < algo->data[i]) return CUBLAS_STATUS_INVALID_VALUE;
  // C and D may be different matrices (the residual of an epilogue) of the same layout; different layouts are
  // not emulated, and a C that overlaps D without being D would be read while written. Refused as invalid,
  // not NOT_SUPPORTED, which matmul.cu would quietly answer with its cublasGemmEx fallback.
  if (cl->type != dl->type || cl->rows != dl->rows || cl->cols != dl->cols || cl->ld != dl->ld)
    return CUBLAS_STATUS_INVALID_VALUE;
  if (C != D && C != nullptr) {
    const size_t bytes = size_t(dl->ld) * dl->cols * (dl->type == CUDA_R_16BF ? 2 : 4);
    const uintptr_t c = reinterpret_cast<uintptr_t>(C), d = reinterpret_cast<uintptr_t>(D);
    if (c < d + bytes && d < c + bytes) return CUBLAS_STATUS_INVALID_VALUE;
  }
  const bool ta = desc->trans_a == CUBLAS_OP_T, tb = desc->trans_b == CUBLAS_OP_T;
  const int64_t k = ta ? int64_t(al->rows) : int64_t(al->cols);
  const float alpha_f = *static_cast<const float*>(alpha), beta_f = *static_cast<const float*>(beta);
  const int64_t count = dl->batch_count;
  // Batch entries of D that share elements would race on a GPU: refused. Then every entry of every operand
  // inside one allocation before anything is computed, as a single operand is.
  if (count > 1 && dl->batch_stride < int64_t(dl->cols - 1) * dl->ld + int64_t(dl->rows))
    return CUBLAS_STATUS_INVALID_VALUE;
  for (int64_t e = 0; e < count; ++e)
    if (!matrix_ok(batch_entry(A, al, e), al->type, int64_t(al->rows), int64_t(al->cols), al->ld) ||
        !matrix_ok(batch_entry(B, bl, e), bl->type, int64_t(bl->rows), int64_t(bl->cols), bl->ld) ||
        !matrix_ok(batch_entry(D, dl, e), dl->type, int64_t(dl->rows), int64_t(dl->cols), dl->ld) ||
        (beta_f != 0.0f &&
         !matrix_ok(batch_entry(C, cl, e), cl->type, int64_t(cl->rows), int64_t(cl->cols), cl->ld)))
      return CUBLAS_STATUS_INVALID_VALUE;
  const uint64_t which = algo->data[5];
  if (which >= uint64_t(tt::emu::kGemmAlgos)) return CUBLAS_STATUS_INVALID_VALUE;
  const auto kind = tt::emu::GemmAlgo(algo->data[6]);
  const bool other_order = kind == tt::emu::GemmAlgo::kSplitK || kind == tt::emu::GemmAlgo::kOtherOrder;
  const bool c_apart = kind == tt::emu::GemmAlgo::kCApart;
  ++g_gemm_counts.lt;
  ++g_gemm_counts.by_algo[which];
  if (const int us = g_algo_delay_us[which]; us > 0)
    tt::emu::enqueue(stream, [us] { std::this_thread::sleep_for(std::chrono::microseconds(us)); });
  for (int64_t e = 0; e < count; ++e) {
    const cublasStatus_t st =
        gemm(ta, tb, int64_t(dl->rows), int64_t(dl->cols), k, alpha_f, batch_entry(A, al, e), al->type,
             int64_t(al->rows), int64_t(al->cols), al->ld, batch_entry(B, bl, e), bl->type, int64_t(bl->rows),
             int64_t(bl->cols), bl->ld, beta_f, batch_entry(C, cl, e), batch_entry(D, dl, e), dl->type,
             dl->ld, stream, other_order, c_apart);
    if (st != CUBLAS_STATUS_SUCCESS) return st;
  }
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  *handle = new cublasContext;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m,
                            int n, int k, const void* alpha, const void* A, cudaDataType_t a_type, int lda,
                            const void* B, cudaDataType_t b_type, int ldb, const void* beta, void* C,
                            cudaDataType_t c_type, int ldc, cublasComputeType_t compute, cublasGemmAlgo_t) {
  if (handle == nullptr || compute != CUBLAS_COMPUTE_32F) return CUBLAS_STATUS_INVALID_VALUE;
  const bool ta = transa == CUBLAS_OP_T, tb = transb == CUBLAS_OP_T;
  ++g_gemm_counts.gemm_ex;
  return gemm(ta, tb, m, n, k, *static_cast<const float*>(alpha), A, a_type, ta ? k : m, ta ? m : k, lda, B,
              b_type, tb ? n : k, tb ? k : n, ldb, *static_cast<const float*>(beta), C, C, c_type, ldc,
              handle->stream);
}
