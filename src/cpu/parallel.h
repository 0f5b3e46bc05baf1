// The CPU backend's threads: one OpenMP team, shared by oneDNN's GEMMs (the Debian build threads
// through OpenMP) and the row loops below, so the two never compete for the cores.
//
// parallel_for splits [0, n) into one contiguous range per thread; parallel_tasks hands out tasks
// round-robin to dense worker ids (for per-worker scratch). Both run inline on the calling thread when
// the work is small (below `min_per_thread` items per thread) or when already inside a parallel region
// (no nested teams: a GEMM called from an attention task runs on that task's thread). Each range and
// each task runs on one thread with a fixed assignment, so results do not depend on scheduling.
// An exception thrown by fn on any thread is rethrown on the calling thread after the team has finished
// (one escaping an OpenMP region would end the process without its message).
// Every region names its team size (num_threads): oneDNN's GEMMs set the calling thread's OpenMP default
// to the size they run with (gemm.cpp), so a region relying on that default would get a stale one.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <exception>

namespace tt::cpu {

// Threads the backend uses: set_num_threads(n), else available_cores() (common/cores.h).
int num_threads();
void set_num_threads(int n);  // n >= 1

// fn(begin, end) is called on disjoint ranges covering [0, n).
template <class Fn>
void parallel_for(int64_t n, int64_t min_per_thread, Fn&& fn) {
  const int64_t threads =
      omp_in_parallel() ? 1 : std::min<int64_t>(num_threads(), n / std::max<int64_t>(1, min_per_thread));
  if (threads <= 1) {
    if (n > 0) fn(int64_t{0}, n);
    return;
  }
  const int64_t chunk = (n + threads - 1) / threads;
  std::exception_ptr error;
#pragma omp parallel for num_threads(int(threads)) schedule(static, 1)
  for (int64_t t = 0; t < threads; ++t) {
    const int64_t b = t * chunk, e = std::min(n, b + chunk);
    try {
      if (b < e) fn(b, e);
    } catch (...) {
#pragma omp critical(tt_parallel_for_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

// Workers parallel_tasks may use at most (the size of per-worker scratch).
inline int64_t max_workers() {
  return num_threads();
}

// fn(task, worker) for every task in [0, n_tasks), task t on worker t % workers, with up to
// max_workers() workers; inline as worker 0 when `parallel` is false.
template <class Fn>
void parallel_tasks(int64_t n_tasks, bool parallel, Fn&& fn) {
  const int64_t workers = parallel ? std::min<int64_t>(max_workers(), n_tasks) : 1;
  parallel_for(workers, 1, [&](int64_t w0, int64_t w1) {
    for (int64_t w = w0; w < w1; ++w)
      for (int64_t t = w; t < n_tasks; t += workers) fn(t, w);
  });
}

}  // namespace tt::cpu
