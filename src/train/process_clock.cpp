#include "train/process_clock.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

namespace tt {

double seconds_since_process_start() {
  std::ifstream stat_file("/proc/self/stat"), uptime_file("/proc/uptime");
  std::string stat;
  double uptime_s = 0;
  if (!std::getline(stat_file, stat) || !(uptime_file >> uptime_s)) return 0;
  // "pid (comm) state ppid ...": comm may hold spaces and ')', so fields are counted after the last
  // ')'; starttime is field 22 overall, the 20th after it.
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(stat.substr(close + 1));
  std::string field;
  for (int i = 0; i < 20; ++i)
    if (!(rest >> field)) return 0;
  const long ticks_per_s = sysconf(_SC_CLK_TCK);
  if (ticks_per_s <= 0) return 0;
  double start_s = 0;
  try {
    start_s = std::stod(field) / double(ticks_per_s);
  } catch (const std::exception&) {
    return 0;
  }
  return std::max(0.0, uptime_s - start_s);
}

}  // namespace tt
