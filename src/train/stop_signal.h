// Clean stop on SIGINT / SIGTERM. While a StopSignal is alive, the first signal only sets a flag that
// the training loop polls (it then evaluates, saves runs/last and exits with a stop_reason); a second
// signal exits the process at once (_exit(128 + signo)), for when the clean stop takes too long.
// The previous handlers are restored when the StopSignal is destroyed.
#pragma once

#include <csignal>

namespace tt {

class StopSignal {
 public:
  StopSignal();
  ~StopSignal();
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  bool requested() const;
  int signal_number() const;  // 0 when none
  static void reset();        // forget a previous request (tests)

 private:
  struct sigaction old_int_ {
  }, old_term_{};
};

}  // namespace tt
