// How much more host memory this process can take before the kernel refuses it or the OOM killer ends it:
// the least of the machine's MemAvailable plus SwapFree (/proc/meminfo: a run that swaps is slow, not
// killed), the room left under its memory cgroup's limit
// (v2 memory.max up the hierarchy, or v1 memory.limit_in_bytes with hierarchical_memory_limit; reclaimable
// page cache counted as free) and the room left under RLIMIT_AS (ulimit -v). The backends compare a run's
// memory estimate with it before allocating (Backend::available_memory_bytes), so that a batch too large
// for the machine is an error that says so instead of an OOM kill.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace tt {

// Empty when nothing could be read (not Linux, /proc not mounted): unknown, not "none left".
std::optional<uint64_t> host_available_memory_bytes();

// The parts, for tests and for the error message. Each is empty when the limit does not apply or could
// not be read. `root` stands for "/" (tests point it at a fake tree with proc/ and sys/fs/cgroup/).
struct HostMemory {
  std::optional<uint64_t> mem_available;  // /proc/meminfo MemAvailable + SwapFree
  bool with_swap = false;                 // SwapFree was more than 0
  std::optional<uint64_t> cgroup_room;    // cgroup limit - (usage - inactive file pages)
  std::optional<uint64_t> rlimit_room;    // RLIMIT_AS - the process's current address space (VmSize)
  // The smallest present part, the machine's and the cgroup's room divided among `sharing` processes (the
  // ranks of a data-parallel run on one host); ulimit -v's room is each process's own.
  std::optional<uint64_t> least(int sharing = 1) const;
  std::string describe() const;  // e.g. "21.8 GiB available (MemAvailable); cgroup room 4.0 GiB"
};
HostMemory host_memory(const std::filesystem::path& root = "/");

// "1.50 GiB", "512.0 MiB", "12.0 KiB", "512 bytes": for messages.
std::string format_bytes(uint64_t bytes);

}  // namespace tt
