#include "common/stop_signal.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <future>
#include <mutex>
#include <thread>

#include "common/fs.h"

namespace tt {
namespace {

std::atomic<int> g_signal{0};
std::atomic<const char*> g_message{""};

void on_signal(int signo) {
  int expected = 0;
  if (!g_signal.compare_exchange_strong(expected, signo)) {
    remove_pending_temp_files();
    _exit(128 + signo);
  }
  const char* msg = g_message.load();
  ssize_t ignored = write(STDERR_FILENO, msg, std::strlen(msg));
  (void)ignored;
}

// While no StopSignal is alive: the signal's default action, after removing the temporaries of the files
// being written (an interrupted `tokenize --output F` left F.tmp.<pid> behind).
void end_process(int signo) {
  remove_pending_temp_files();
  signal(signo, SIG_DFL);
  raise(signo);  // pending until this handler returns, then the default action: the process ends as by the
                 // signal
}

sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

}  // namespace

void route_stop_signals() {
  // Once per process: a child made by fork() has no "tt-signals" thread, so it starts its own.
  static std::mutex mu;
  static pid_t routed = 0;
  std::lock_guard<std::mutex> lock(mu);
  if (routed == getpid()) return;
  const sigset_t set = stop_signals();
  std::promise<void> accepting;
  std::future<void> ready = accepting.get_future();
  std::thread([set, accepting = std::move(accepting)]() mutable {
    pthread_setname_np(pthread_self(), "tt-signals");  // as top, gdb and /proc/<pid>/task show it
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    accepting.set_value();
    for (;;) pause();  // the handlers run here: a StopSignal's, or end_process
  }).detach();         // a thread that cannot start throws here, before anything is blocked
  ready.wait();        // returns once the thread accepts the signals: none is left without a taker
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  for (int signo : {SIGINT, SIGTERM}) {
    struct sigaction current {};
    sigaction(signo, nullptr, &current);
    // ignored (SIGINT of a background job started by a non-interactive shell) or handled by the embedding
    // program
    if (current.sa_handler != SIG_DFL) continue;
    struct sigaction sa {};
    sa.sa_handler = end_process;
    sigemptyset(&sa.sa_mask);
    sigaction(signo, &sa, nullptr);
  }
  routed = getpid();
}

StopSignal::StopSignal(const char* message) {
  route_stop_signals();
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

int StopSignal::signal_number() {
  return g_signal.load(std::memory_order_relaxed);
}

void StopSignal::reset() {
  g_signal = 0;
}

}  // namespace tt
