// Emulated NCCL over MPI (include/nccl.h).
#include <mpi.h>

#include <cstring>
#include <random>

#include "cuda_runtime.h"
#include "nccl.h"

struct ncclComm {
  MPI_Comm mpi = MPI_COMM_NULL;  // MPI_COMM_NULL: a communicator of one rank
  int rank = 0, size = 1;
};

namespace {

MPI_Datatype mpi_type(ncclDataType_t t) {
  switch (t) {
    case ncclInt32:
      return MPI_INT;
    case ncclFloat:
      return MPI_FLOAT;
    case ncclDouble:
      return MPI_DOUBLE;
    default:
      return MPI_DATATYPE_NULL;  // bf16: MPI has no such type; unused by the project
  }
}

size_t type_bytes(ncclDataType_t t) {
  return t == ncclDouble ? 8 : t == ncclBfloat16 ? 2 : 4;
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

ncclResult_t ncclCommInitRank(ncclComm_t* comm, int nranks, ncclUniqueId, int rank) {
  if (nranks < 1 || rank < 0 || rank >= nranks) return ncclInvalidArgument;
  auto* c = new ncclComm;
  c->rank = rank;
  c->size = nranks;
  if (nranks > 1) {
    int running = 0, size = 0, mpi_rank = 0;
    MPI_Initialized(&running);
    if (!running) return delete c, ncclInvalidUsage;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm_rank(MPI_COMM_WORLD, &mpi_rank);
    if (size != nranks || mpi_rank != rank) return delete c, ncclInvalidUsage;
    MPI_Comm_dup(MPI_COMM_WORLD, &c->mpi);
  }
  *comm = c;
  return ncclSuccess;
}

// Collective, as NCCL's is among the ranks of a host: returns when every rank has called it.
ncclResult_t ncclCommDestroy(ncclComm_t comm) {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (comm->mpi != MPI_COMM_NULL && !finalized) {
    MPI_Barrier(comm->mpi);
    MPI_Comm_free(&comm->mpi);
  }
  delete comm;
  return ncclSuccess;
}

ncclResult_t ncclCommGetAsyncError(ncclComm_t, ncclResult_t* async_error) {
  *async_error = ncclSuccess;
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
  if (op != ncclSum || (comm->size > 1 && mpi_type(datatype) == MPI_DATATYPE_NULL))
    return ncclInvalidArgument;
  tt::emu::enqueue(stream, [=] {
    if (comm->size == 1) {
      if (sendbuff != recvbuff) std::memmove(recvbuff, sendbuff, bytes);
      return;
    }
    MPI_Allreduce(sendbuff == recvbuff ? MPI_IN_PLACE : sendbuff, recvbuff, int(count), mpi_type(datatype),
                  MPI_SUM, comm->mpi);
  });
  return ncclSuccess;
}
