// Where this process sits among the ranks of a launch, read from the launcher's environment before any
// MPI call (the rank count decides whether MPI is started at all):
//   Open MPI mpirun        OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE, OMPI_COMM_WORLD_LOCAL_RANK
//   MPICH / Intel MPI      PMI_RANK, PMI_SIZE, MPI_LOCALRANKID
//   Slurm srun             SLURM_PROCID, SLURM_STEP_NUM_TASKS, SLURM_LOCALID (a job step's variables: a
//                          batch script outside srun has SLURM_PROCID but no SLURM_STEP_NUM_TASKS)
//   PMIx (srun --mpi=pmix, prterun)  PMIX_RANK (the rank count then comes from MPI)
// The first family present wins; the MPI library's own view is checked against it once MPI has started.
#pragma once

#include <functional>
#include <string>

namespace tt::dist {

struct Launch {
  bool as_ranks = false;  // started by a launcher as one of several ranks
  int rank = 0;
  int size = 1;        // 0 = not told by the environment (PMIx alone): MPI's count
  int local_rank = 0;  // rank among the ranks on this host (-1 = not told: MPI's)
  std::string source;  // the variables read, e.g. "OMPI_COMM_WORLD_*" ("" when not launched as ranks)
};

using GetEnv = std::function<const char*(const char*)>;

// tt::Error naming the variable when one holds no valid number.
Launch launch_from_environment(const GetEnv& getenv);
Launch launch_from_environment();  // the process environment

}  // namespace tt::dist
