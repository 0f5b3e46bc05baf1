#include "common/progress.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>

#include "common/log.h"

namespace tt {
namespace {
std::atomic<bool> g_bar_on_screen{false};
}

Progress::Progress(std::string label, uint64_t total, Unit unit, double plain_interval_s)
    : label_(std::move(label)),
      total_(total),
      unit_(unit),
      plain_interval_s_(plain_interval_s),
      tty_(isatty(fileno(stderr)) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

Progress::~Progress() {
  if (!finished_) finish();
}

void Progress::update(uint64_t done, const std::string& extra) {
  std::lock_guard<std::mutex> lock(mu_);
  done_ = done;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_draw_).count();
  if (since < (tty_ ? 0.1 : plain_interval_s_)) return;
  last_draw_ = now;
  draw(false, extra);
}

void Progress::finish(const std::string& extra) {
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_) return;
  finished_ = true;
  draw(true, extra);
}

void Progress::clear_line_for_log() {
  if (g_bar_on_screen.exchange(false)) std::fputs("\r\033[2K", stderr);
}

std::string Progress::format_amount(uint64_t v, Unit unit) {
  char buf[64];
  if (unit == Unit::Bytes) {
    if (v >= (1ull << 30))
      std::snprintf(buf, sizeof buf, "%.2f GB", v / 1e9);
    else if (v >= 1000000)
      std::snprintf(buf, sizeof buf, "%.1f MB", v / 1e6);
    else if (v >= 1000)
      std::snprintf(buf, sizeof buf, "%.1f kB", v / 1e3);
    else
      std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(v));
  } else {
    std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(v));
  }
  return buf;
}

std::string Progress::format_rate(double per_s, Unit unit) {
  char buf[64];
  if (unit == Unit::Bytes)
    std::snprintf(buf, sizeof buf, "%.1f MB/s", per_s / 1e6);
  else if (per_s >= 1e4)
    std::snprintf(buf, sizeof buf, "%.1fk/s", per_s / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.1f/s", per_s);
  return buf;
}

std::string Progress::format_duration(double s) {
  if (!(s >= 0) || s > 1e7) return "?";
  char buf[32];
  long t = static_cast<long>(s + 0.5);
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else if (t >= 60)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%lds", t);
  return buf;
}

void Progress::draw(bool final_line, const std::string& extra) {
  if (log_level() > LogLevel::Info)
    return;  // a progress line is info: --log_level warn, error, quiet hide it
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = elapsed > 0 ? done_ / elapsed : 0;
  std::string line = label_ + " " + format_amount(done_, unit_);
  if (total_ > 0) {
    char pct[16];
    std::snprintf(pct, sizeof pct, " (%.1f%%)", 100.0 * done_ / total_);
    line += "/" + format_amount(total_, unit_) + pct;
  }
  line += " " + format_rate(rate, unit_);
  if (total_ > 0 && !final_line && rate > 0 && done_ < total_)
    line += " ETA " + format_duration((total_ - done_) / rate);
  if (final_line) line += " in " + format_duration(elapsed);
  if (!extra.empty()) line += " | " + extra;
  if (tty_) {
    std::string bar;
    if (total_ > 0) {
      int width = 24, fill = static_cast<int>(width * std::min(1.0, double(done_) / total_));
      bar = "[" + std::string(fill, '#') + std::string(width - fill, '.') + "] ";
    }
    std::fprintf(stderr, "\r\033[2K%s%s%s", bar.c_str(), line.c_str(), final_line ? "\n" : "");
    g_bar_on_screen = !final_line;
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
}

}  // namespace tt
