// How many cores this process may run on: its CPU affinity mask (sched_getaffinity), so a taskset,
// a cgroup cpuset or a Slurm binding counts and the machine's total does not. The default thread count
// of every multi-threaded part (tokenizer, CPU backend).
#pragma once

namespace tt {

int available_cores();

}  // namespace tt
