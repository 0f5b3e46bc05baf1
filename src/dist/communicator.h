// The ranks of a data-parallel run and the collectives between them.
//
//   SingleProcess   one rank; every collective is the identity (the default: no launcher, no MPI).
//   MPI             Open MPI (mpi_communicator.cpp): starts the ranks' connection (mpirun, srun) and does
//                   the host collectives; on the CPU backend also the gradient all-reduce, in place on the
//                   host buffer.
//   NCCL            (src/cuda/nccl_communicator.cu) the collectives on GPU memory, on the CUDA backend's
//                   stream, one GPU per rank (by local rank); its unique id travels over the host
//                   communicator, which also keeps doing the host collectives.
//
// Every rank calls the same collectives in the same order. No collective waits forever: each has the
// timeout given to connect_ranks(); a rank that waits longer (another rank died or hangs) ends the whole job
// with a message naming itself and the operation (`what`), through MPI_Abort, so that the launcher stops
// every rank. A rank that dies outright is noticed by the launcher itself, which then ends the job. A rank
// that fails (an exception) ends the job through abort() with its message, from a scope where the host
// communicator still lives (run_training); NCCL's teardown is skipped on the way, since it would wait for
// the other ranks.
#pragma once

#include <cstddef>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/backend.h"

namespace tt::dist {

enum class ReduceOp { kSum, kMax };

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual int local_rank() const = 0;  // rank among the ranks on this host (its GPU)
  virtual std::string name() const = 0;
  bool is_root() const { return rank() == 0; }

  // ---- host memory -----------------------------------------------------------------------------------
  // `bytes` from rank 0 to every rank.
  virtual void broadcast(void* data, size_t bytes, const std::string& what) = 0;
  // Element-wise over the ranks, the result on every rank.
  virtual void all_reduce(double* data, size_t n, ReduceOp op, const std::string& what) = 0;
  // Every rank's string, by rank.
  virtual std::vector<std::string> all_gather(const std::string& mine, const std::string& what) = 0;
  // Returns when every rank has called it.
  virtual void barrier(const std::string& what) = 0;

  // ---- the backend's memory ----------------------------------------------------------------------------
  // t += the other ranks' t, in place (the gradients of a data-parallel step). F32 or F64.
  virtual void all_reduce_sum(Tensor t, const std::string& what) = 0;

  // Ends every rank of the job after logging `message` as an error; never returns (one process: throws it
  // as a tt::Error).
  [[noreturn]] virtual void abort(const std::string& message) = 0;
};

// One rank: the collectives of a run that was not launched as several.
class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  std::string name() const override { return "single process"; }
  void broadcast(void*, size_t, const std::string&) override {}
  void all_reduce(double*, size_t, ReduceOp, const std::string&) override {}
  std::vector<std::string> all_gather(const std::string& mine, const std::string&) override { return {mine}; }
  void barrier(const std::string&) override {}
  void all_reduce_sum(Tensor, const std::string&) override {}
  [[noreturn]] void abort(const std::string& message) override;
};

// The host communicator of this process: MPI when a launcher started it as one of several ranks
// (launch.h; MPI's own count must agree), else SingleProcess. MPI is started once per process and
// finalized at exit. `timeout_s` bounds every collective.
std::unique_ptr<Communicator> connect_ranks(double timeout_s);

// NCCL over `host` (which must outlive it) for a model on the CUDA `backend` (created on the GPU of
// host.local_rank()); defined by the CUDA backend (src/cuda/nccl_communicator.cu). tt::Error when this
// build has no CUDA backend.
std::unique_ptr<Communicator> make_nccl_communicator(Communicator& host, Backend& backend, double timeout_s);

// Refuses, with the same tt::Error on every rank, a start in which the ranks differ in any item of
// `mine` ({name: value}: flags, hashes of the config and the data, ...); the message names each item
// that differs with rank 0's value and the other ranks'.
void check_same_on_every_rank(Communicator& comm, const nlohmann::ordered_json& mine);

}  // namespace tt::dist
