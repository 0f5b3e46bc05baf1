#include "cpu/parallel.h"

#include <atomic>

#include "common/check.h"
#include "common/cores.h"

namespace tt::cpu {
namespace {
std::atomic<int> g_threads{0};  // 0: not chosen yet
}  // namespace

int num_threads() {
  int n = g_threads.load(std::memory_order_relaxed);
  if (n == 0) {
    set_num_threads(available_cores());
    n = g_threads.load(std::memory_order_relaxed);
  }
  return n;
}

void set_num_threads(int n) {
  TT_CHECK(n >= 1) << "the CPU backend needs at least 1 thread, not " << n;
  g_threads.store(n, std::memory_order_relaxed);
  omp_set_num_threads(n);  // oneDNN's GEMMs take their team size from OpenMP
}

}  // namespace tt::cpu
