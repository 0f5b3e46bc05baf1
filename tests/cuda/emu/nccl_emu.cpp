// Emulated NCCL over MPI (include/nccl.h).
#include <mpi.h>

#include <climits>
#include <cstring>
#include <random>

#include "cuda_runtime.h"
#include "nccl.h"

struct ncclComm {
  MPI_Comm mpi = MPI_COMM_NULL;  // MPI_COMM_NULL: a communicator of one rank
  int rank = 0, size = 1;
  bool blocking = true;
  bool finalized = false;
  MPI_Request pending = MPI_REQUEST_NULL;  // the joining or the finalizing while it goes on
};

namespace {

// ncclSuccess once the joining or finalizing is done, else ncclInProgress.
ncclResult_t progress(ncclComm* c) {
  if (c->pending != MPI_REQUEST_NULL) {
    int done = 0;
    MPI_Test(&c->pending, &done, MPI_STATUS_IGNORE);
  }
  return c->pending == MPI_REQUEST_NULL ? ncclSuccess : ncclInProgress;
}

// What a call that started `c->pending` returns: a blocking communicator waits for it.
ncclResult_t started(ncclComm* c) {
  if (c->blocking) MPI_Wait(&c->pending, MPI_STATUS_IGNORE);
  return progress(c);
}

MPI_Datatype mpi_type(ncclDataType_t t) {
  return t == ncclFloat ? MPI_FLOAT : t == ncclDouble ? MPI_DOUBLE : MPI_DATATYPE_NULL;
}

size_t type_bytes(ncclDataType_t t) {
  return t == ncclDouble ? 8 : 4;
}

}  // namespace

ncclResult_t ncclGetVersion(int* version) {
  *version = NCCL_MAJOR * 10000 + NCCL_MINOR * 100 + NCCL_PATCH;
  return ncclSuccess;
}

ncclResult_t ncclGetUniqueId(ncclUniqueId* id) {
  std::random_device rd;
  for (char& c : id->internal) c = char(rd());
  return ncclSuccess;
}

ncclResult_t ncclCommInitRankConfig(ncclComm_t* comm, int nranks, ncclUniqueId, int rank,
                                    ncclConfig_t* config) {
  if (nranks < 1 || rank < 0 || rank >= nranks) return ncclInvalidArgument;
  auto* c = new ncclComm;
  c->rank = rank;
  c->size = nranks;
  c->blocking = config == nullptr || config->blocking != 0;
  if (nranks > 1) {
    int running = 0, size = 0, mpi_rank = 0;
    MPI_Initialized(&running);
    if (!running) return delete c, ncclInvalidUsage;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm_rank(MPI_COMM_WORLD, &mpi_rank);
    if (size != nranks || mpi_rank != rank) return delete c, ncclInvalidUsage;
    MPI_Comm_idup(MPI_COMM_WORLD, &c->mpi, &c->pending);
  }
  *comm = c;
  return started(c);
}

ncclResult_t ncclCommFinalize(ncclComm_t comm) {
  if (progress(comm) != ncclSuccess || comm->finalized) return ncclInvalidUsage;
  comm->finalized = true;
  if (comm->mpi != MPI_COMM_NULL) MPI_Ibarrier(comm->mpi, &comm->pending);
  return started(comm);
}

ncclResult_t ncclCommDestroy(ncclComm_t comm) {
  if (progress(comm) != ncclSuccess) return ncclInvalidUsage;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (comm->mpi != MPI_COMM_NULL && !finalized) {
    if (!comm->finalized) MPI_Barrier(comm->mpi);  // NCCL finalizes it first, waiting for every rank
    MPI_Comm_free(&comm->mpi);
  }
  delete comm;
  return ncclSuccess;
}

ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t* async_error) {
  *async_error = progress(comm);
  return ncclSuccess;
}

const char* ncclGetErrorString(ncclResult_t result) {
  switch (result) {
    case ncclSuccess:
      return "no error";
    case ncclInvalidArgument:
      return "invalid argument";
    case ncclInvalidUsage:
      return "invalid usage";
    default:
      return "unhandled error";
  }
}

const char* ncclGetLastError(ncclComm_t) {
  return "";
}

ncclResult_t ncclAllReduce(const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype,
                           ncclRedOp_t op, ncclComm_t comm, cudaStream_t stream) {
  const size_t bytes = count * type_bytes(datatype);
  if (!tt::emu::device_range(sendbuff, bytes) || !tt::emu::device_range(recvbuff, bytes))
    return ncclInvalidArgument;  // NCCL would fault on host memory
  if (op != ncclSum || mpi_type(datatype) == MPI_DATATYPE_NULL) return ncclInvalidArgument;
  if (count > size_t(INT_MAX)) return ncclInvalidArgument;  // the one MPI call below takes an int count
  if (progress(comm) != ncclSuccess || comm->finalized) return ncclInvalidUsage;
  tt::emu::enqueue(stream, [=] {
    if (comm->size == 1) {
      if (sendbuff != recvbuff) std::memmove(recvbuff, sendbuff, bytes);
      return;
    }
    MPI_Allreduce(sendbuff == recvbuff ? MPI_IN_PLACE : sendbuff, recvbuff, int(count), mpi_type(datatype),
                  MPI_SUM, comm->mpi);
  });
  return comm->blocking ? ncclSuccess : ncclInProgress;  // a non-blocking enqueue may say so; done here
}
