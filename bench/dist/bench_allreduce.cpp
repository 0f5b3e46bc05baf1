// bench_allreduce: the CPU backend's gradient all-reduce (dist::Communicator::all_reduce_sum: MPI's
// non-blocking all-reduce, polled under --dist_timeout) against one blocking MPI_Allreduce of the same
// buffer, to see what the polling costs. Prints the median time and the rate of each.
//   mpirun --oversubscribe -np 2 build/bench/dist/bench_allreduce [MB = 283.7: the seed config's fp32
//   gradients] [reps = 5]
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "dist/communicator.h"

namespace {

double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The median of `reps` timed calls of fn, every rank starting together.
template <class Fn>
double median_s(int reps, Fn&& fn) {
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = seconds_now();
    fn();
    t.push_back(seconds_now() - t0);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const double mb = argc > 1 ? std::atof(argv[1]) : 283.7;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 5;
  const auto comm = tt::dist::connect_ranks(600.0);
  if (comm->size() < 2) {
    std::fprintf(stderr, "start it as several ranks: mpirun --oversubscribe -np 2 %s\n", argv[0]);
    return 2;
  }
  const int64_t n = int64_t(mb * 1e6 / 4);
  // Rank r contributes r + 1 everywhere: the sum is size (size + 1) / 2 in every element, on every rank.
  std::vector<float> grads(size_t(n), float(comm->rank() + 1));
  const tt::Tensor t{grads.data(), tt::DType::F32, 1, n};
  comm->all_reduce_sum(t, "the benchmark's check");
  const float want = float(comm->size() * (comm->size() + 1) / 2);
  if (std::count(grads.begin(), grads.end(), want) != n) {
    std::fprintf(stderr, "rank %d: the all-reduce did not sum to %g everywhere\n", comm->rank(),
                 double(want));
    return 1;
  }
  const double polled = median_s(reps, [&] { comm->all_reduce_sum(t, "the benchmark's all-reduce"); });
  const double blocking = median_s(reps, [&] {
    for (int64_t done = 0; done < n;) {
      const int count = int(std::min<int64_t>(n - done, int64_t(1) << 30));
      MPI_Allreduce(MPI_IN_PLACE, grads.data() + done, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      done += count;
    }
  });
  if (comm->is_root())
    std::printf(
        "%d ranks, %.1f MB of fp32: all_reduce_sum (polled) %.3f s = %.2f GB/s; blocking MPI_Allreduce "
        "%.3f s = %.2f GB/s (medians of %d)\n",
        comm->size(), mb, polled, mb / 1e3 / polled, blocking, mb / 1e3 / blocking, reps);
  return 0;
}
