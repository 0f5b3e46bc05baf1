#include "data/interrupt.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>

#include "common/log.h"

namespace tt::data {
namespace {

std::atomic<int> g_signal{0};

void on_signal(int signo) {
  int expected = 0;
  if (!g_signal.compare_exchange_strong(expected, signo)) _exit(128 + signo);
  static const char msg[] =
      "\n[prepare-data] interrupted: removing the partial output (signal again to exit now)\n";
  ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)ignored;
}

bool all_digits(const std::string& s) {
  if (s.empty() || s.size() > 9) return false;  // pids fit in 9 digits (pid_max <= 2^22)
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

}  // namespace

InterruptScope::InterruptScope() {
  g_signal = 0;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, &old_int_);
  sigaction(SIGTERM, &sa, &old_term_);
}

InterruptScope::~InterruptScope() {
  sigaction(SIGINT, &old_int_, nullptr);
  sigaction(SIGTERM, &old_term_, nullptr);
  g_signal = 0;
}

int InterruptScope::signal_number() const {
  return g_signal.load(std::memory_order_relaxed);
}

int remove_stale_temp_dirs(const std::filesystem::path& final_dir) {
  namespace fs = std::filesystem;
  fs::path parent = final_dir.parent_path();
  if (parent.empty()) parent = ".";
  const std::string prefix = "." + final_dir.filename().string() + ".tmp.";
  int removed = 0;
  std::error_code ec;
  if (final_dir.filename().empty() || !fs::is_directory(parent, ec)) return 0;
  for (const auto& e : fs::directory_iterator(parent, ec)) {
    const std::string name = e.path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const size_t dot = name.find('.', prefix.size());
    if (dot == std::string::npos) continue;
    const std::string pid_text = name.substr(prefix.size(), dot - prefix.size());
    std::error_code ec2;
    if (!all_digits(pid_text) || !e.is_directory(ec2) || e.is_symlink(ec2)) continue;
    const long pid = std::stol(pid_text);
    if (pid <= 0 || kill(pid_t(pid), 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to judge
    fs::remove_all(e.path(), ec2);
    if (ec2) {
      log_info("prepare-data: cannot remove the stale temporary directory ", e.path().string(), ": ",
               ec2.message());
    } else {
      log_info("prepare-data: removed ", e.path().string(), ", left by an interrupted run (pid ", pid,
               " is gone)");
      ++removed;
    }
  }
  return removed;
}

}  // namespace tt::data
