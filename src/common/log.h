// A small logger: `tt::log_info("loaded ", n, " rows")`. Messages go to stderr with a
// timestamp and level; stdout is kept for results (ids, JSON, samples) so it can be piped.
#pragma once

#include <sstream>
#include <string>

namespace tt {

enum class LogLevel { Debug = 0, Info = 1, Warn = 2, Error = 3, Quiet = 4 };

void set_log_level(LogLevel level);
LogLevel log_level();
// Put before every message (e.g. "rank 1: " on the other ranks of a data-parallel run).
void set_log_prefix(std::string prefix);
void log_write(LogLevel level, const std::string& msg);

template <class... A>
void log_at(LogLevel level, const A&... args) {
  if (level < log_level()) return;
  std::ostringstream s;
  (s << ... << args);
  log_write(level, s.str());
}
template <class... A>
void log_debug(const A&... a) {
  log_at(LogLevel::Debug, a...);
}
template <class... A>
void log_info(const A&... a) {
  log_at(LogLevel::Info, a...);
}
template <class... A>
void log_warn(const A&... a) {
  log_at(LogLevel::Warn, a...);
}
template <class... A>
void log_error(const A&... a) {
  log_at(LogLevel::Error, a...);
}

}  // namespace tt
