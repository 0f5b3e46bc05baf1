#include "common/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "common/progress.h"

namespace tt {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::Info)};
std::mutex g_mutex;
std::string g_prefix;  // guarded by g_mutex
}  // namespace

void set_log_level(LogLevel level) {
  g_level = static_cast<int>(level);
}
LogLevel log_level() {
  return static_cast<LogLevel>(g_level.load());
}
void set_log_prefix(std::string prefix) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_prefix = std::move(prefix);
}

void log_write(LogLevel level, const std::string& msg) {
  static const char* names[] = {"debug", "info", "warn", "error", ""};
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  localtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%H:%M:%S", &tm);
  std::lock_guard<std::mutex> lock(g_mutex);
  Progress::clear_line_for_log();  // keep a live progress bar from mixing with log lines
  std::fprintf(stderr, "[%s %s] %s%s\n", stamp, names[static_cast<int>(level)], g_prefix.c_str(),
               msg.c_str());
  std::fflush(stderr);
}

}  // namespace tt
