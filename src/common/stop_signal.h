// Clean stop on SIGINT / SIGTERM, shared by every long-running command (train, prepare-data).
// While a StopSignal is alive, the first signal only records its number in an atomic flag and writes
// `message` to stderr (both async-signal-safe); the work loop polls requested() and stops cleanly
// (train: evaluate and save; prepare-data: remove the partial output). A second signal exits the process
// at once with _exit(128 + signo), for when the clean stop takes too long. Construction clears any
// earlier request; destruction restores the previous handlers.
#pragma once

#include <csignal>

namespace tt {

class StopSignal {
 public:
  // `message` must be a string literal (or otherwise outlive the StopSignal).
  explicit StopSignal(const char* message);
  ~StopSignal();
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  bool requested() const { return signal_number() != 0; }
  int signal_number() const;  // 0 while no signal arrived
  static void reset();        // forget a previous request

 private:
  struct sigaction old_int_ {
  }, old_term_{};
};

}  // namespace tt
