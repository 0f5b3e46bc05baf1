#include "dist/launch.h"

#include <cstdlib>

#include "common/check.h"

namespace tt::dist {

namespace {

struct Family {
  const char* source;
  const char* rank;
  const char* size;  // nullptr: the family does not tell
  const char* local_rank;
};

constexpr Family kFamilies[] = {
    {"OMPI_COMM_WORLD_*", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"},
    {"PMI_*", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID"},
    {"SLURM_* (srun)", "SLURM_PROCID", "SLURM_STEP_NUM_TASKS", "SLURM_LOCALID"},
    {"PMIX_RANK", "PMIX_RANK", nullptr, nullptr},
};

int number(const GetEnv& getenv, const char* name, int missing, int at_least) {
  const char* v = getenv(name);
  if (v == nullptr || *v == '\0') return missing;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  TT_CHECK(*end == '\0' && n >= at_least && n <= (1 << 24))
      << "environment variable " << name << "=\"" << v << "\" is not a valid number (>= " << at_least << ")";
  return int(n);
}

}  // namespace

Launch launch_from_environment(const GetEnv& getenv) {
  for (const Family& f : kFamilies) {
    const char* rank = getenv(f.rank);
    if (rank == nullptr || *rank == '\0') continue;
    // Slurm's rank variables also exist in a batch script outside any srun step: not launched as ranks.
    if (f.size != nullptr && getenv(f.size) == nullptr) continue;
    Launch l;
    l.as_ranks = true;
    l.source = f.source;
    l.rank = number(getenv, f.rank, 0, 0);
    l.size = f.size != nullptr ? number(getenv, f.size, 0, 1) : 0;
    l.local_rank = f.local_rank != nullptr ? number(getenv, f.local_rank, -1, 0) : -1;
    TT_CHECK(l.size == 0 || l.rank < l.size)
        << "environment: " << f.rank << "=" << l.rank << " is not below " << f.size << "=" << l.size;
    return l;
  }
  return Launch{};
}

Launch launch_from_environment() {
  return launch_from_environment([](const char* name) -> const char* { return std::getenv(name); });
}

}  // namespace tt::dist
