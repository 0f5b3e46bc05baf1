// Progress reporting for long work, on stderr.
//   On a terminal: one bar redrawn in place (at most 10x/s) with count, rate and ETA.
//   Otherwise (CI, pipes, log files): a plain line every `plain_interval_s` seconds.
// Usage:
//   tt::Progress bar("tokenize", total_bytes, tt::Progress::Unit::Bytes);
//   bar.update(done_bytes, "docs 1234");   // cheap; call as often as you like
//   bar.finish();
// total = 0 means unknown (no ETA, no percentage).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace tt {

class Progress {
 public:
  enum class Unit { Count, Bytes };
  Progress(std::string label, uint64_t total, Unit unit = Unit::Count, double plain_interval_s = 5.0);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void update(uint64_t done, const std::string& extra = "");
  void finish(const std::string& extra = "");

  // Formatting helpers, exposed for tests.
  static std::string format_rate(double per_s, Unit unit);
  static std::string format_duration(double seconds);
  static std::string format_amount(uint64_t v, Unit unit);

  // Called by the logger so log lines do not land in the middle of a bar.
  static void clear_line_for_log();

 private:
  void draw(bool final_line, const std::string& extra);

  std::string label_;
  uint64_t total_;
  Unit unit_;
  double plain_interval_s_;
  bool tty_;
  bool finished_ = false;
  uint64_t done_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
  std::mutex mu_;
};

}  // namespace tt
