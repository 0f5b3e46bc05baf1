#include "common/host_memory.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

namespace tt {
namespace fs = std::filesystem;

namespace {

// The first whitespace-separated number of a file ("max" and anything unparsable: empty).
std::optional<uint64_t> read_number(const fs::path& file) {
  std::ifstream in(file);
  std::string word;
  if (!(in >> word) || word.empty() || word.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  try {
    return std::stoull(word);
  } catch (...) {
    return std::nullopt;
  }
}

// The value of `key` in a "key value [unit]" file (/proc/meminfo, memory.stat, /proc/self/status).
std::optional<uint64_t> read_keyed(const fs::path& file, const std::string& key) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string k;
    uint64_t value = 0;
    if (!(fields >> k >> value)) continue;
    if (!k.empty() && k.back() == ':') k.pop_back();
    if (k != key) continue;
    std::string unit;
    fields >> unit;
    return unit == "kB" ? value * 1024 : value;
  }
  return std::nullopt;
}

// This process's cgroup path for a v2 ("0::/path") or v1 memory ("N:memory:/path") hierarchy.
std::optional<std::string> cgroup_path(const fs::path& root, bool v2) {
  std::ifstream in(root / "proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    const size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    const bool match = v2 ? (line.compare(0, a, "0") == 0 && controllers.empty())
                          : (("," + controllers + ",").find(",memory,") != std::string::npos);
    if (match) return line.substr(b + 1);
  }
  return std::nullopt;
}

uint64_t room(uint64_t limit, uint64_t usage, uint64_t reclaimable) {
  const uint64_t used = usage - std::min(usage, reclaimable);
  return limit > used ? limit - used : 0;
}

// v2: the tightest memory.max from the process's cgroup up to the root, each with its own usage.
std::optional<uint64_t> cgroup_v2_room(const fs::path& root) {
  const auto path = cgroup_path(root, true);
  const fs::path mount = root / "sys/fs/cgroup";
  if (!path || !fs::exists(mount / "cgroup.controllers")) return std::nullopt;
  std::vector<fs::path> dirs{mount};
  for (const fs::path& part : fs::path(*path).relative_path())
    if (!part.empty()) dirs.push_back(dirs.back() / part);
  std::optional<uint64_t> best;
  for (const fs::path& dir : dirs) {
    const auto limit = read_number(dir / "memory.max");
    const auto usage = read_number(dir / "memory.current");
    if (!limit || !usage) continue;  // "max", or the root cgroup, which has neither file
    const uint64_t r = room(*limit, *usage, read_keyed(dir / "memory.stat", "inactive_file").value_or(0));
    best = best ? std::min(*best, r) : r;
  }
  return best;
}

// v1: memory.stat's hierarchical_memory_limit already folds in the ancestors' limits.
std::optional<uint64_t> cgroup_v1_room(const fs::path& root) {
  const auto path = cgroup_path(root, false);
  if (!path) return std::nullopt;
  for (const fs::path& dir :
       {root / "sys/fs/cgroup/memory" / fs::path(*path).relative_path(), root / "sys/fs/cgroup/memory"}) {
    const fs::path stat = dir / "memory.stat";
    const auto limit = read_keyed(stat, "hierarchical_memory_limit");
    const auto usage = read_number(dir / "memory.usage_in_bytes");
    if (!limit || !usage) continue;
    if (*limit >= (uint64_t(1) << 62)) return std::nullopt;  // "no limit" is 2^63 rounded down to a page
    return room(*limit, *usage, read_keyed(stat, "total_inactive_file").value_or(0));
  }
  return std::nullopt;
}

std::optional<uint64_t> rlimit_as_room(const fs::path& root) {
  if (root != "/") return std::nullopt;  // the limit belongs to this process, not to a fake tree
  rlimit limit{};
  if (getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return std::nullopt;
  const auto size = read_keyed(root / "proc/self/status", "VmSize");
  if (!size) return std::nullopt;
  return limit.rlim_cur > *size ? uint64_t(limit.rlim_cur) - *size : 0;
}

}  // namespace

std::optional<uint64_t> HostMemory::least(int sharing) const {
  std::optional<uint64_t> best;
  for (const auto& part : {mem_available, cgroup_room})
    if (part) best = best ? std::min(*best, *part) : *part;
  if (best) *best /= uint64_t(std::max(1, sharing));
  if (rlimit_room) best = best ? std::min(*best, *rlimit_room) : *rlimit_room;
  return best;
}

std::string HostMemory::describe() const {
  std::string s;
  auto add = [&](const std::optional<uint64_t>& part, const char* what) {
    if (!part) return;
    s += (s.empty() ? "" : ", ") + format_bytes(*part) + " " + what;
  };
  add(mem_available, with_swap ? "available on the machine (MemAvailable + SwapFree)"
                               : "available on the machine (MemAvailable)");
  add(cgroup_room, "left under the memory cgroup's limit");
  add(rlimit_room, "left under ulimit -v (RLIMIT_AS)");
  return s.empty() ? "unknown" : s;
}

HostMemory host_memory(const fs::path& root) {
  HostMemory m;
  m.mem_available = read_keyed(root / "proc/meminfo", "MemAvailable");
  const uint64_t swap = read_keyed(root / "proc/meminfo", "SwapFree").value_or(0);
  if (m.mem_available && swap > 0) {
    *m.mem_available += swap;
    m.with_swap = true;
  }
  m.cgroup_room = cgroup_v2_room(root);
  if (!m.cgroup_room) m.cgroup_room = cgroup_v1_room(root);
  m.rlimit_room = rlimit_as_room(root);
  return m;
}

std::optional<uint64_t> host_available_memory_bytes() {
  return host_memory().least();
}

std::string format_bytes(uint64_t bytes) {
  char buf[64];
  if (bytes < 1024) {
    std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(bytes));
  } else {
    const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = double(bytes) / 1024;
    int u = 0;
    while (v >= 1024 && u < 4) v /= 1024, ++u;
    std::snprintf(buf, sizeof buf, v < 10 ? "%.2f %s" : "%.1f %s", v, units[u]);
  }
  return buf;
}

}  // namespace tt
