// The MPI communicator (communicator.h): Open MPI, started once per process (MPI_Init_thread, FUNNELED:
// only the main thread calls MPI) and finalized at exit. Every collective is the non-blocking MPI call
// polled to completion under the timeout (poll.h); errors return (MPI_ERRORS_RETURN) and end the job
// with a message naming the operation.
#include <mpi.h>

#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "common/check.h"
#include "common/log.h"
#include "dist/communicator.h"
#include "dist/launch.h"
#include "dist/poll.h"

namespace tt::dist {

namespace {

bool mpi_running() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

void finalize_mpi() {
  if (mpi_running()) MPI_Finalize();
}

std::string mpi_error_text(int rc) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  return std::string(text, size_t(len));
}

void start_mpi() {
  if (mpi_running()) return;
  // Open MPI's non-blocking all-reduce (libnbc) as a ring unless the user chose otherwise: its default for
  // two ranks moved the seed config's 284 MB of gradients at 0.9 GB/s, the ring at 2.0 GB/s, as fast as the
  // blocking MPI_Allreduce (bench/dist/bench_allreduce). Read by Open MPI at MPI_Init; other MPIs ignore it.
  setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "1", /*overwrite=*/0);
  int provided = 0;
  const int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  TT_CHECK(rc == MPI_SUCCESS) << "MPI_Init_thread failed: " << mpi_error_text(rc);
  if (provided < MPI_THREAD_FUNNELED)
    log_warn("MPI provides thread level ", provided, ", below MPI_THREAD_FUNNELED (",
             int(MPI_THREAD_FUNNELED),
             "), while the CPU backend runs OpenMP threads; only the main thread calls MPI");
  std::atexit(finalize_mpi);
}

[[noreturn]] void abort_world(const std::string& message) {
  if (message.rfind("rank ", 0) == 0) set_log_prefix("");  // it names the rank itself
  log_error(message);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::_Exit(1);  // MPI_Abort does not return; should it, this rank still ends
}

MPI_Datatype mpi_type(DType dtype) {
  TT_ASSERT(dtype == DType::F32 || dtype == DType::F64)
      << "MPI all-reduce of " << dtype_name(dtype) << " (F32 or F64 expected)";
  return dtype == DType::F32 ? MPI_FLOAT : MPI_DOUBLE;
}

// MPI's start-up (MPI_Init, the communicator's duplication and split) waits for every rank with no time limit
// of its own: a rank that never arrives (stopped, or stuck loading the binary from a hung file system) would
// hold the others there for ever. This ends the process after --dist_timeout, naming the wait, unless the
// start-up is done by then.
class StartupWatchdog {
 public:
  StartupWatchdog(double timeout_s, int rank) {
    thread_ = std::thread([this, timeout_s, rank] {
      std::unique_lock<std::mutex> lock(mutex_);
      if (done_cv_.wait_for(lock, std::chrono::duration<double>(timeout_s), [this] { return done_; })) return;
      log_error("rank ", rank,
                ": MPI start-up (MPI_Init and the communicator's set-up) did not complete within ", timeout_s,
                " s (--dist_timeout): a rank did not start or is stuck before it");
      std::_Exit(1);
    });
  }
  ~StartupWatchdog() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    done_cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::thread thread_;
};

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator(const Launch& launch, double timeout_s) : timeout_s_(timeout_s) {
    const StartupWatchdog watchdog(timeout_s, launch.rank);
    start_mpi();
    MPI_Comm_dup(MPI_COMM_WORLD, &comm_);
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    local_rank_ =
        launch.local_rank;  // the launcher's placement when it tells, else the ranks sharing this host
    if (local_rank_ < 0) {
      MPI_Comm local;
      MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
      MPI_Comm_rank(local, &local_rank_);
      MPI_Comm_free(&local);
    }
    // A launcher of another MPI (or no MPI launcher at all) starts each process as a world of its own.
    TT_CHECK((launch.size == 0 || launch.size == size_) && launch.rank == rank_)
        << "the launcher started this process as rank " << launch.rank << " of "
        << (launch.size > 0 ? std::to_string(launch.size) : "several") << " (" << launch.source
        << "), but MPI sees rank " << rank_ << " of " << size_
        << hint("launch with the mpirun of the Open MPI this binary is built with, or srun --mpi=pmix");
    if (rank_ > 0) set_log_prefix("rank " + std::to_string(rank_) + ": ");
  }
  ~MpiCommunicator() override {
    if (mpi_running()) MPI_Comm_free(&comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  std::string name() const override {
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(version, &len);
    const std::string v(version, size_t(len));
    return "MPI (" + v.substr(0, v.find_first_of(",\n")) + ")";
  }

  void broadcast(void* data, size_t bytes, const std::string& what) override {
    TT_ASSERT(bytes <= INT_MAX) << "broadcast of " << bytes << " bytes";
    MPI_Request req;
    finish(MPI_Ibcast(data, int(bytes), MPI_BYTE, 0, comm_, &req), req, what);
  }

  void all_reduce(double* data, size_t n, ReduceOp op, const std::string& what) override {
    reduce_in_place(data, n, MPI_DOUBLE, op == ReduceOp::kSum ? MPI_SUM : MPI_MAX, what);
  }

  std::vector<std::string> all_gather(const std::string& mine, const std::string& what) override {
    TT_ASSERT(mine.size() <= INT_MAX) << "all_gather of " << mine.size() << " bytes";
    int len = int(mine.size());
    std::vector<int> lens(static_cast<size_t>(size_)), offsets(static_cast<size_t>(size_));
    MPI_Request req;
    finish(MPI_Iallgather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, comm_, &req), req, what);
    int64_t total = 0;
    for (int r = 0; r < size_; ++r) {
      offsets[size_t(r)] = int(total);
      total += lens[size_t(r)];
    }
    TT_ASSERT(total <= INT_MAX) << "all_gather of " << total << " bytes";
    std::string all(size_t(total), '\0');
    finish(MPI_Iallgatherv(mine.data(), len, MPI_CHAR, all.data(), lens.data(), offsets.data(), MPI_CHAR,
                           comm_, &req),
           req, what);
    std::vector<std::string> out;
    for (int r = 0; r < size_; ++r)
      out.push_back(all.substr(size_t(offsets[size_t(r)]), size_t(lens[size_t(r)])));
    return out;
  }

  void barrier(const std::string& what) override {
    MPI_Request req;
    finish(MPI_Ibarrier(comm_, &req), req, what);
  }

  void all_reduce_sum(Tensor t, const std::string& what) override {
    reduce_in_place(t.ptr, size_t(t.numel()), mpi_type(t.dtype), MPI_SUM, what);
  }

  [[noreturn]] void abort(const std::string& message) override { abort_world(message); }

 private:
  void reduce_in_place(void* data, size_t n, MPI_Datatype type, MPI_Op op, const std::string& what) {
    int type_bytes = 0;
    MPI_Type_size(type, &type_bytes);
    for (size_t done = 0; done < n;) {
      const int count = int(std::min<size_t>(n - done, size_t(1) << 30));
      MPI_Request req;
      finish(MPI_Iallreduce(MPI_IN_PLACE, static_cast<char*>(data) + done * size_t(type_bytes), count, type,
                            op, comm_, &req),
             req, what);
      done += size_t(count);
    }
  }

  // The request `rc` started, polled to completion under the timeout; the job ends on an error or timeout.
  void finish(int rc, MPI_Request& req, const std::string& what) {
    if (rc != MPI_SUCCESS) fail(what, rc);
    int status = MPI_SUCCESS;
    const bool done = poll_until(
        [&] {
          int flag = 0;
          status = MPI_Test(&req, &flag, MPI_STATUS_IGNORE);
          return flag != 0 || status != MPI_SUCCESS;
        },
        timeout_s_);
    if (!done) abort(timeout_message(rank_, size_, what, timeout_s_));
    if (status != MPI_SUCCESS) fail(what, status);
  }

  [[noreturn]] void fail(const std::string& what, int rc) {
    abort("rank " + std::to_string(rank_) + ": " + what + ": " + mpi_error_text(rc));
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1, local_rank_ = 0;
  double timeout_s_;
};

}  // namespace

std::unique_ptr<Communicator> connect_ranks(double timeout_s) {
  const Launch launch = launch_from_environment();
  if (!launch.as_ranks || launch.size == 1) return std::make_unique<SingleProcess>();
  return std::make_unique<MpiCommunicator>(launch, timeout_s);
}

}  // namespace tt::dist
