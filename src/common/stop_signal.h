// Clean stop on SIGINT / SIGTERM, shared by every long-running command (train, prepare-data).
// While a StopSignal is alive, the first signal only records its number in an atomic flag and writes
// `message` to stderr (both async-signal-safe); the work loop polls requested() and stops cleanly
// (train: evaluate and save; prepare-data: remove the partial output). A second signal exits the process
// at once with _exit(128 + signo), for when the clean stop takes too long. Construction clears any
// earlier request; destruction restores the previous handlers. While no StopSignal is alive (tokenize,
// sample, eval), a signal ends the process as its default action would. Both ways out first remove the
// temporaries of files still being written (fs.h: remove_pending_temp_files).
//
// Which thread runs the handler: never one that runs GEMMs. route_stop_signals() starts one thread,
// "tt-signals", that accepts SIGINT and SIGTERM and only waits, then blocks them in the calling thread and
// so in every thread started after it (a thread inherits its creator's mask: OpenMP's team, oneDNN's, CUDA's,
// MPI's). Threads that libraries start before main() (OpenBLAS's idle pool: it runs with one thread, for the
// f64 reference) may take them too; they run no GEMM. Why: oneDNN 2.6's JIT f32 GEMM kernels point rsp into
// a heap buffer while they run, so a signal handled on such a thread gets its frame written by the kernel
// over the heap (oneDNN issue 4845; fixed upstream in 2026, PR 4855): Ctrl-C during CPU training aborted
// with "corrupted size vs. prev_size" in 1 try in 8-40. Only these two signals are routed: another handler
// (a profiler's SIGPROF) can still land on a GEMM thread.
#pragma once

#include <csignal>

namespace tt {

// Call first thing in main(), before any thread starts (the binary's and the tests' mains do); later calls
// in the same process do nothing. StopSignal calls it too, which protects the threads started after it.
void route_stop_signals();

class StopSignal {
 public:
  // `message` must be a string literal (or otherwise outlive the StopSignal).
  explicit StopSignal(const char* message);
  ~StopSignal();
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  bool requested() const { return signal_number() != 0; }
  static int signal_number();  // 0 while no signal arrived (static: also for code that holds no StopSignal)
  static void reset();         // forget a previous request

 private:
  struct sigaction old_int_ {
  }, old_term_{};
};

}  // namespace tt
