// Picking the compute backend from the compute flags of train, eval and sample: --device "cpu", "cuda",
// or "auto" (= cuda when is_cuda_available(), else cpu), and --threads (the CPU backend's threads; 0 = the
// cores this process may run on, which under mpirun or srun is the cores the rank is bound to). train's
// --bf16 selects bf16 mixed precision on the CPU too (the CUDA backend always trains in bf16 mixed
// precision, fp32 master weights and optimizer state).
#pragma once

#include <memory>
#include <string>

#include "common/options.h"
#include "model/backend.h"
#include "model/model.h"

namespace tt {

// Declares --device, --threads and --memory_check for a command that computes (train, eval, sample).
void declare_device_flags(OptionSet& o, std::string& device, int& threads, std::string& memory_check);

// tt::Error naming the flag unless device is auto, cpu or cuda, threads >= 0, and bf16 is possible here.
// `gpu`: which GPU (a rank's local rank).
std::unique_ptr<Backend> make_backend_for_device(const std::string& device, int threads, bool bf16 = false,
                                                 int gpu = 0);

// The GPU of a rank: its local rank's among the host's GPUs, or the only one it sees when the launcher gives
// each rank its own (CUDA_VISIBLE_DEVICES naming one device, as srun --gpus-per-task=1 does).
int gpu_of_rank(int local_rank);

// Before a model for batches of max_batch rows of max_seq tokens is built on `backend`: its memory estimate
// (Qwen3Model::memory_need) against what the backend can still take, shared by `processes_sharing` processes
// (the ranks of a data-parallel run on one host, for host memory). More than that is a tt::Error that names
// `what` (the work and the options that size it, e.g. "--micro_batch_size 8 (rows of 512 tokens)"), the parts
// and `advice`, or a warning with --memory_check warn; more than 80 % of it a warning; the estimate is logged
// at debug level. Nothing is checked when the backend cannot tell what is available.
struct FitCheck {
  std::string what, advice;
  std::string memory_check = "refuse";  // --memory_check
  int processes_sharing = 1;
};
void check_model_fits(const Qwen3Config& cfg, Backend& backend, int64_t max_batch, int64_t max_seq,
                      ModelUse use, const FitCheck& check);

}  // namespace tt
