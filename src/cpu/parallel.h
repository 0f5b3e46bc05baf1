// A minimal fork-join helper for the CPU reference backend: split [0, n) into one contiguous range
// per core and run them on std::threads (the calling thread takes the first range). Used for the
// row loops of softmax/attention/cross-entropy that sit between BLAS calls; OpenBLAS threads its
// own GEMMs, and the two never run at the same time, so the cores are not oversubscribed.
// Work below `min_per_thread` items per thread runs inline (thread start costs ~20-50 us).
#pragma once

#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

namespace tt::cpu {

inline int num_threads() {
  static const int n = std::max(1u, std::thread::hardware_concurrency());
  return n;
}

// fn(begin, end) is called on disjoint ranges covering [0, n).
template <class Fn>
void parallel_for(int64_t n, int64_t min_per_thread, Fn&& fn) {
  int64_t threads = std::min<int64_t>(num_threads(), n / std::max<int64_t>(1, min_per_thread));
  if (threads <= 1) {
    if (n > 0) fn(int64_t{0}, n);
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  const int64_t chunk = (n + threads - 1) / threads;
  for (int64_t t = 1; t < threads; ++t) {
    const int64_t b = t * chunk, e = std::min(n, b + chunk);
    if (b < e) pool.emplace_back([&fn, b, e] { fn(b, e); });
  }
  fn(int64_t{0}, std::min(n, chunk));
  for (auto& th : pool) th.join();
}

// fn(task, worker) for every task in [0, n_tasks), spread round-robin over up to num_threads()
// workers (worker ids are dense from 0, so callers can index per-worker scratch). Runs inline as
// worker 0 when `parallel` is false.
template <class Fn>
void parallel_tasks(int64_t n_tasks, bool parallel, Fn&& fn) {
  const int64_t workers = parallel ? std::min<int64_t>(num_threads(), n_tasks) : 1;
  parallel_for(workers, 1, [&](int64_t w0, int64_t w1) {
    for (int64_t w = w0; w < w1; ++w)
      for (int64_t t = w; t < n_tasks; t += workers) fn(t, w);
  });
}

inline int64_t max_workers() {
  return num_threads();
}

}  // namespace tt::cpu
