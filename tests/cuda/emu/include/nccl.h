// Emulated NCCL (tests only): the part of nccl.h that src/cuda/nccl_communicator.cu uses, over MPI on the
// emulator's "device" memory (host memory, cuda_runtime.h here), so that the CUDA backend's data-parallel
// path runs under `mpirun -np N` on the CPU (tests/dist). A collective is stream-ordered work like any
// other (tt::emu::enqueue: it runs when issued, or when a captured graph is launched) and checks, as NCCL
// would fault, that its buffers are device memory. A communicator of one rank needs no MPI. Implemented
// in nccl_emu.cpp.
#pragma once

#include <climits>
#include <cstddef>

#include "cuda_runtime.h"

#define NCCL_MAJOR 2
#define NCCL_MINOR 18
#define NCCL_PATCH 0
#define NCCL_UNIQUE_ID_BYTES 128

typedef struct ncclComm* ncclComm_t;
typedef struct {
  char internal[NCCL_UNIQUE_ID_BYTES];
} ncclUniqueId;

typedef enum {
  ncclSuccess = 0,
  ncclUnhandledCudaError = 1,
  ncclSystemError = 2,
  ncclInternalError = 3,
  ncclInvalidArgument = 4,
  ncclInvalidUsage = 5,
  ncclRemoteError = 6,
  ncclInProgress = 7,
} ncclResult_t;

typedef enum { ncclSum = 0, ncclProd = 1, ncclMax = 2, ncclMin = 3 } ncclRedOp_t;

// The one attribute used; NCCL_CONFIG_INITIALIZER leaves it undefined (NCCL's default: blocking).
typedef struct {
  int blocking;
} ncclConfig_t;
#define NCCL_CONFIG_UNDEF_INT INT_MIN
#define NCCL_CONFIG_INITIALIZER \
  { NCCL_CONFIG_UNDEF_INT }
typedef enum { ncclFloat32 = 7, ncclFloat = 7, ncclFloat64 = 8, ncclDouble = 8 } ncclDataType_t;

ncclResult_t ncclGetVersion(int* version);
ncclResult_t ncclGetUniqueId(ncclUniqueId* id);
// Non-blocking (config->blocking == 0) as NCCL's: joining, ncclCommFinalize and a collective's enqueue
// return ncclInProgress, and ncclCommGetAsyncError says ncclInProgress until they are done; a collective
// on a communicator still joining is refused (ncclInvalidUsage). Joining, finalizing and destroying an
// unfinalized communicator are collective: done when every rank has called them.
ncclResult_t ncclCommInitRankConfig(ncclComm_t* comm, int nranks, ncclUniqueId id, int rank,
                                    ncclConfig_t* config);
ncclResult_t ncclCommFinalize(ncclComm_t comm);
ncclResult_t ncclCommDestroy(ncclComm_t comm);
ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t* async_error);
const char* ncclGetErrorString(ncclResult_t result);
const char* ncclGetLastError(ncclComm_t comm);
ncclResult_t ncclAllReduce(const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype,
                           ncclRedOp_t op, ncclComm_t comm, cudaStream_t stream);
