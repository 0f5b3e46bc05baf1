#include "train/device.h"

#include <algorithm>
#include <cstdlib>

#include "common/check.h"
#include "common/host_memory.h"
#include "common/log.h"

namespace tt {

void declare_device_flags(OptionSet& o, std::string& device, int& threads, std::string& memory_check) {
  o.add("--device", device, "auto (cuda when available), cuda or cpu").one_of({"auto", "cpu", "cuda"});
  o.add("--threads", threads, "CPU backend threads (0 = all cores this process may run on)")
      .in_range(0, 4096);
  o.add("--memory_check", memory_check,
        "refuse: a model larger than the memory left (MemAvailable and free swap, the memory cgroup's room, "
        "ulimit -v; on a GPU its free memory) is an error before anything is built; warn: say so and go on")
      .one_of({"refuse", "warn"});
}

std::unique_ptr<Backend> make_backend_for_device(const std::string& device, int threads, bool bf16, int gpu) {
  std::string checked_device = device, memory_check = "refuse";
  int checked_threads = threads;
  OptionSet declared;
  declare_device_flags(declared, checked_device, checked_threads, memory_check);
  declared.check();
  if (device == "cuda" || (device == "auto" && is_cuda_available())) return make_cuda_backend(gpu);
  return make_cpu_backend(bf16 ? DType::BF16 : DType::F32, threads);
}

int gpu_of_rank(int local_rank) {
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  const bool own_gpu =
      visible != nullptr && *visible != '\0' && std::string(visible).find(',') == std::string::npos;
  return own_gpu ? 0 : local_rank;
}

void check_model_fits(const Qwen3Config& cfg, Backend& backend, int64_t max_batch, int64_t max_seq,
                      ModelUse use, const FitCheck& check) {
  const Qwen3Model::MemoryNeed need = Qwen3Model::memory_need(cfg, backend, max_batch, max_seq, use);
  const char* memory = backend.is_cuda() ? "GPU memory" : "host memory";
  const std::string shape = check.what + " needs about " + format_bytes(need.total()) + " of " + memory +
                            " (tensors " + format_bytes(need.tensors) + ", op scratch " +
                            format_bytes(need.scratch) + ")";
  // Host memory is read once, in parts: the message names them, and ranks on one host share some of them.
  std::optional<uint64_t> available;
  std::string left;
  if (backend.is_cuda()) {
    available = backend.available_memory_bytes();
    left = available ? format_bytes(*available) + " free on the GPU" : "unknown";
  } else {
    const HostMemory host = host_memory();
    const int sharing = std::max(1, check.processes_sharing);
    available = host.least(sharing);
    left = host.describe();
    if (available && sharing > 1)
      left += ", shared by " + std::to_string(sharing) + " ranks on this host: " + format_bytes(*available) +
              " each";
  }
  log_debug("memory: ", shape, "; ", left);
  if (!available) return;
  if (need.total() > *available) {
    const std::string message = shape + ", more than this process can take: " + left;
    TT_CHECK(check.memory_check == "warn")
        << message << hint(check.advice + " (or pass --memory_check warn to try anyway)");
    log_warn(message, "; going on (--memory_check warn)");
  } else if (double(need.total()) > 0.8 * double(*available)) {
    log_warn(shape, ": most of what is left (", left, ")");
  }
}

}  // namespace tt
