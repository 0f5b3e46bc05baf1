#include "train/stop_signal.h"

#include <unistd.h>

#include <atomic>
#include <cstring>

namespace tt {
namespace {

std::atomic<int> g_signal{0};

void on_signal(int signo) {
  int expected = 0;
  if (!g_signal.compare_exchange_strong(expected, signo)) _exit(128 + signo);
  static const char msg[] =
      "\n[train] stop requested: finishing the step, evaluating and saving (signal again to exit now)\n";
  ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)ignored;
}

}  // namespace

StopSignal::StopSignal() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, &old_int_);
  sigaction(SIGTERM, &sa, &old_term_);
}

StopSignal::~StopSignal() {
  sigaction(SIGINT, &old_int_, nullptr);
  sigaction(SIGTERM, &old_term_, nullptr);
}

bool StopSignal::requested() const {
  return g_signal.load() != 0;
}
int StopSignal::signal_number() const {
  return g_signal.load();
}
void StopSignal::reset() {
  g_signal = 0;
}

}  // namespace tt
