// SIGINT / SIGTERM handling for prepare-data, and clean-up of temporary output directories left by
// runs that were killed outright (SIGKILL, power loss, a second signal).
//
// While an InterruptScope is alive, the first SIGINT/SIGTERM only records the signal number in an
// atomic flag (async-signal-safe); the pipeline polls interrupted() once per document and throws a
// tt::Error, so its TempDirGuard removes the partial output while unwinding. A second signal
// _exit(128 + signo)s at once (for when the clean stop hangs); its temp directory is then removed by
// remove_stale_temp_dirs() at the start of the next run. The previous handlers are restored when
// the scope ends. The signal handling itself is tt::StopSignal (common/stop_signal.h), shared with train.
#pragma once

#include <csignal>
#include <filesystem>
#include <string>

#include "common/check.h"
#include "common/stop_signal.h"

namespace tt::data {

// What the pipeline throws when it stops for a signal; the CLI exits with 128 + signo, as a process
// killed by the signal would (and as `train` does after its clean stop).
class InterruptedError : public Error {
 public:
  InterruptedError(const std::string& what, int signo) : Error(what), signo_(signo) {}
  int signal_number() const { return signo_; }

 private:
  int signo_;
};

class InterruptScope {
 public:
  InterruptScope()
      : stop_("\n[prepare-data] interrupted: removing the partial output (signal again to exit now)\n") {}
  ~InterruptScope() { StopSignal::reset(); }
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

  int signal_number() const { return stop_.signal_number(); }  // 0 while no signal arrived
  bool interrupted() const { return stop_.requested(); }

 private:
  StopSignal stop_;
};

// Removes directories named ".<final_dir name>.tmp.<pid>.<n>.<host>" beside final_dir (the names
// make_temp_dir_beside() gives) made on this host whose <pid> is not a live process (kill(pid, 0) fails
// with ESRCH).
// Directories of live processes — e.g. a concurrent prepare-data into the same --out_dir — and
// everything else are left alone. Returns the number removed.
int remove_stale_temp_dirs(const std::filesystem::path& final_dir);

}  // namespace tt::data
