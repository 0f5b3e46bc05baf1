// Emulated CUDA runtime API (tests only): the part of cuda_runtime.h that src/cuda uses, so the whole CUDA
// backend, host code included, builds with g++ and runs on the CPU (tests/cuda/CMakeLists.txt,
// cuda_emu_*_test). "Device" memory is host memory, every stream call completes before it returns, and
// kernel launches (rewritten by rewrite_launches.pl into tt::emu::Launch) run on the fiber emulator of
// cuda_emu.h. Launch limits are checked as CUDA checks them (block size, grid size, 48 KiB of dynamic
// shared memory without an opt-in) and reported through cudaGetLastError. Implemented in cuda_host_emu.cpp.
#pragma once

#include <cstddef>
#include <functional>
#include <tuple>
#include <type_traits>

#include "cuda_emu.h"

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevicePointer = 17,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorIllegalState = 401,
  cudaErrorNotReady = 600,
  cudaErrorIllegalAddress = 700,
  cudaErrorStreamCaptureUnsupported = 900,
  cudaErrorStreamCaptureInvalidated = 901,
};
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
constexpr unsigned cudaEventDefault = 0;
constexpr unsigned cudaEventDisableTiming = 2;

struct CUstream_st;
struct CUevent_st;
struct CUgraph_st;
struct CUgraphExec_st;
using cudaStream_t = CUstream_st*;
using cudaEvent_t = CUevent_st*;
using cudaGraph_t = CUgraph_st*;
using cudaGraphExec_t = CUgraphExec_st*;
enum cudaStreamCaptureStatus {
  cudaStreamCaptureStatusNone = 0,
  cudaStreamCaptureStatusActive = 1,
  cudaStreamCaptureStatusInvalidated = 2,
};
enum cudaStreamCaptureMode {
  cudaStreamCaptureModeGlobal = 0,
  cudaStreamCaptureModeThreadLocal = 1,
  cudaStreamCaptureModeRelaxed = 2,
};

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  size_t sharedMemPerBlock;
  size_t sharedMemPerBlockOptin;
  int multiProcessorCount;
  int major, minor;
};

cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaGetLastError();
const char* cudaGetErrorName(cudaError_t err);
const char* cudaGetErrorString(cudaError_t err);
cudaError_t cudaMalloc(void** ptr, size_t bytes);
cudaError_t cudaFree(void* ptr);
cudaError_t cudaMallocHost(void** ptr, size_t bytes);
cudaError_t cudaFreeHost(void* ptr);
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t s = nullptr);
cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t s = nullptr);
cudaError_t cudaStreamCreate(cudaStream_t* s);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaEventCreate(cudaEvent_t* e);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned flags);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventQuery(cudaEvent_t e);  // stream work completes as it is issued: recorded = done
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t stop);
// Stream capture and graphs: while a stream captures, the work issued to it is checked as always but kept,
// in order, in the graph instead of run; a launch of the instantiated graph runs it. As on a GPU, calls that
// would synchronise with or allocate on the device during a capture fail with
// cudaErrorStreamCaptureUnsupported and invalidate it (cudaStreamEndCapture then fails too).
cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* graph);
cudaError_t cudaStreamIsCapturing(cudaStream_t s, cudaStreamCaptureStatus* status);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long flags = 0);
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t s);
cudaError_t cudaGraphDestroy(cudaGraph_t graph);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec);

namespace tt::emu {
cudaError_t func_set_attribute(const void* kernel, cudaFuncAttribute attr, int value);
}
template <class Kernel>
cudaError_t cudaFuncSetAttribute(Kernel* kernel, cudaFuncAttribute attr, int value) {
  return tt::emu::func_set_attribute(reinterpret_cast<const void*>(kernel), attr, value);
}

namespace tt::emu {

// Checks a launch configuration as CUDA does (the dynamic shared memory limit is 48 KiB unless the kernel
// opted in through cudaFuncSetAttribute); on failure records the error for cudaGetLastError.
bool launch_config_ok(const void* kernel, dim3 grid, dim3 block, size_t dynamic_smem_bytes);
// Whether [p, p + bytes) lies inside one allocation from cudaMalloc.
bool device_range(const void* p, size_t bytes);
// TT_EMU_SKIP_COMPUTE=1: launches, GEMMs and sorts are checked as always but compute nothing, so a program
// runs its allocations and copies at full size in seconds (the memory accounting of a seed-config step:
// bench/cuda, cuda_emu_train_bench). Results are then meaningless (cudaMalloc memory is zeroed instead of
// NaN-poisoned, so losses stay finite and training loops run their course).
bool skip_compute();
// Records err for cudaGetLastError and returns it (every failing call of the emulated runtime does).
cudaError_t record_error(cudaError_t err);
// Stream-ordered work: runs it now, or appends it to the graph when `s` is capturing.
void enqueue(cudaStream_t s, std::function<void()> work);
// Calls that a capture forbids (allocation, synchronisation) call this first: during a capture it invalidates
// the capture and returns true (the caller then fails with cudaErrorStreamCaptureUnsupported).
bool refused_by_capture();
// Graph launches since the process started (tests check that recorded work was replayed).
long graph_launches();

// kernel<<<grid, block, smem, stream>>>(args...), as rewritten by rewrite_launches.pl.
struct Launch {
  dim3 grid, block;
  size_t smem;
  cudaStream_t stream;
  Launch(dim3 g, dim3 b, size_t dynamic_smem_bytes = 0, cudaStream_t st = nullptr)
      : grid(g), block(b), smem(dynamic_smem_bytes), stream(st) {}
  template <class... Params, class... Args>
  void run(void (*kernel)(Params...), Args&&... args) {
    if (!launch_config_ok(reinterpret_cast<const void*>(kernel), grid, block, smem)) return;
    bool pointers_ok = true;
    auto check = [&](const auto& a) {
      if constexpr (std::is_pointer_v<std::decay_t<decltype(a)>>)
        if (a != nullptr && !device_range(a, 1)) pointers_ok = false;
    };
    (check(args), ...);
    if (!pointers_ok) {  // a pointer that is not device memory: on a GPU the kernel would fault
      record_error(cudaErrorIllegalAddress);
      return;
    }
    if (skip_compute()) return;
    // The arguments by value, as a launch copies them (a captured launch runs later).
    enqueue(stream, [kernel, grid = grid, block = block, smem = smem,
                     saved = std::make_tuple(std::decay_t<Args>(args)...)] {
      std::apply([&](const auto&... a) { launch(grid, block, smem, [&] { kernel(a...); }); }, saved);
    });
  }
};

}  // namespace tt::emu
