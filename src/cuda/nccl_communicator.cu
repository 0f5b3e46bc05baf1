// The NCCL communicator (dist/communicator.h): collectives on GPU memory, issued on the CUDA backend's
// stream, so that they are ordered with the ops around them without a host round trip. Between the
// recorded parts of a step (Backend::run_recorded: the micro-batches' graphs, then the optimizer's) the
// gradient all-reduce is issued as a plain stream operation: recorded ones are replayed with the same
// pointers, and a collective left outside the graphs keeps NCCL's error and timeout handling below simple.
//
// Connection: rank 0 makes the unique id, the host communicator (MPI, or the single process) broadcasts
// it, every rank joins with ncclCommInitRankConfig on the GPU of its local rank (the backend's).
// Bounded waiting: the communicator is non-blocking (config.blocking = 0), so joining, enqueueing and
// ncclCommFinalize return at once (ncclInProgress) and are polled to completion with
// ncclCommGetAsyncError under the timeout; after issuing a collective the host waits for it (an event
// on the stream), polling ncclCommGetAsyncError meanwhile. An error or the timeout ends the job through
// the host communicator (MPI_Abort; the process's end frees NCCL: ncclCommAbort involves the other ranks
// and can itself hang). The wait costs the overlap of the host's next enqueue with the GPU's all-reduce (the
// optimizer step is one graph launch, a few us).
#include <nccl.h>

#include <cstdlib>
#include <exception>
#include <string>

#include "common/check.h"
#include "common/log.h"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_check.h"
#include "dist/communicator.h"
#include "dist/poll.h"

namespace tt {
namespace cuda {
namespace {

ncclDataType_t nccl_type(DType dtype) {
  switch (dtype) {
    case DType::F32:
      return ncclFloat;
    case DType::F64:
      return ncclDouble;
    default:
      break;
  }
  TT_ASSERT(false) << "NCCL collective of " << dtype_name(dtype);
  return ncclFloat;
}

class NcclCommunicator final : public dist::Communicator {
 public:
  NcclCommunicator(dist::Communicator& host, CudaBackend& backend, double timeout_s)
      : host_(host), stream_(backend.stream()), timeout_s_(timeout_s) {
    ncclUniqueId id{};
    if (host_.is_root()) {
      const ncclResult_t rc = ncclGetUniqueId(&id);
      if (rc != ncclSuccess) fail("ncclGetUniqueId", rc);
    }
    host_.broadcast(&id, sizeof id, "the broadcast of the NCCL unique id");
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    settle(ncclCommInitRankConfig(&comm_, size(), id, rank(), &config),
           "the NCCL connection of the ranks (ncclCommInitRankConfig)");
    CUDA_CHECK(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming));
    int version = 0;
    ncclGetVersion(&version);
    name_ = "NCCL " + std::to_string(version / 10000) + "." + std::to_string(version / 100 % 100) + "." +
            std::to_string(version % 100) + " over " + host_.name();
  }
  ~NcclCommunicator() override {
    // ncclCommFinalize is collective: while an exception unwinds the stack, this rank is on its way to end
    // the job (run_training) and the others are not here, so it would wait for them until the timeout;
    // the process's end frees NCCL instead.
    if (comm_ != nullptr && std::uncaught_exceptions() == 0) {
      try {
        settle(ncclCommFinalize(comm_), "the NCCL disconnection of the ranks (ncclCommFinalize)");
        ncclCommDestroy(comm_);            // local once finalized
      } catch (const std::exception& e) {  // one rank (no MPI to end): the run is over anyway
        log_warn(e.what());
      }
    }
    if (done_ != nullptr) cudaEventDestroy(done_);
  }

  int rank() const override { return host_.rank(); }
  int size() const override { return host_.size(); }
  int local_rank() const override { return host_.local_rank(); }
  std::string name() const override { return name_; }
  void broadcast(void* data, size_t bytes, const std::string& what) override {
    host_.broadcast(data, bytes, what);
  }
  void all_reduce(double* data, size_t n, dist::ReduceOp op, const std::string& what) override {
    host_.all_reduce(data, n, op, what);
  }
  std::vector<std::string> all_gather(const std::string& mine, const std::string& what) override {
    return host_.all_gather(mine, what);
  }

  void barrier(const std::string& what) override { host_.barrier(what); }

  void all_reduce_sum(Tensor t, const std::string& what) override {
    settle(ncclAllReduce(t.ptr, t.ptr, size_t(t.numel()), nccl_type(t.dtype), ncclSum, comm_, stream_), what);
    wait(what);
  }

  [[noreturn]] void abort(const std::string& message) override {
    host_.abort(message);
    std::abort();  // not reached: the host communicator's abort does not return
  }

 private:
  [[noreturn]] void fail(const std::string& what, ncclResult_t rc) {
    abort("rank " + std::to_string(rank()) + ": " + what + ": NCCL " + ncclGetErrorString(rc) + " (" +
          ncclGetLastError(comm_) + ")");
  }

  // Waits until NCCL has done the call that returned `rc` (on the non-blocking communicator,
  // ncclInProgress while it goes on), at most the timeout.
  void settle(ncclResult_t rc, const std::string& what) {
    const bool done = dist::poll_until(
        [&] {
          if (rc == ncclInProgress && ncclCommGetAsyncError(comm_, &rc) != ncclSuccess)
            rc = ncclInternalError;
          return rc != ncclInProgress;
        },
        timeout_s_);
    if (!done) abort(dist::timeout_message(rank(), size(), what, timeout_s_));
    if (rc != ncclSuccess) fail(what, rc);
  }

  // Waits for the collective just issued on the stream, at most the timeout, watching NCCL's errors.
  void wait(const std::string& what) {
    CUDA_CHECK(cudaEventRecord(done_, stream_));
    const bool done = dist::poll_until(
        [&] {
          const cudaError_t e = cudaEventQuery(done_);
          if (e == cudaSuccess) return true;
          if (e != cudaErrorNotReady) CUDA_CHECK(e);
          ncclResult_t async = ncclSuccess;
          ncclCommGetAsyncError(comm_, &async);
          if (async != ncclSuccess && async != ncclInProgress) fail(what, async);
          return false;
        },
        timeout_s_);
    if (!done) abort(dist::timeout_message(rank(), size(), what, timeout_s_));
  }

  dist::Communicator& host_;
  cudaStream_t stream_;
  double timeout_s_;
  ncclComm_t comm_ = nullptr;
  cudaEvent_t done_ = nullptr;
  std::string name_;
};

}  // namespace
}  // namespace cuda

std::unique_ptr<dist::Communicator> dist::make_nccl_communicator(Communicator& host, Backend& backend,
                                                                 double timeout_s) {
  auto* cuda = dynamic_cast<cuda::CudaBackend*>(&backend);
  TT_ASSERT(cuda != nullptr) << "NCCL collectives need the CUDA backend, got " << backend.name();
  return std::make_unique<cuda::NcclCommunicator>(host, *cuda, timeout_s);
}

}  // namespace tt
