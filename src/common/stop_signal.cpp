#include "common/stop_signal.h"

#include <unistd.h>

#include <atomic>
#include <cstring>

namespace tt {
namespace {

std::atomic<int> g_signal{0};
std::atomic<const char*> g_message{""};

void on_signal(int signo) {
  int expected = 0;
  if (!g_signal.compare_exchange_strong(expected, signo)) _exit(128 + signo);
  const char* msg = g_message.load();
  ssize_t ignored = write(STDERR_FILENO, msg, std::strlen(msg));
  (void)ignored;
}

}  // namespace

StopSignal::StopSignal(const char* message) {
  g_signal = 0;
  g_message = message;
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

int StopSignal::signal_number() const {
  return g_signal.load(std::memory_order_relaxed);
}

void StopSignal::reset() {
  g_signal = 0;
}

}  // namespace tt
