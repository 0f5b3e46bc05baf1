#include "train/device.h"

#include "common/check.h"
#include "common/host_memory.h"
#include "common/log.h"

namespace tt {

void declare_device_flags(OptionSet& o, std::string& device, int& threads) {
  o.add("--device", device, "auto (cuda when available), cuda or cpu").one_of({"auto", "cpu", "cuda"});
  o.add("--threads", threads, "CPU backend threads (0 = all cores this process may run on)")
      .in_range(0, 4096);
}

std::unique_ptr<Backend> make_backend_for_device(const std::string& device, int threads, bool bf16, int gpu) {
  std::string checked_device = device;
  int checked_threads = threads;
  OptionSet declared;
  declare_device_flags(declared, checked_device, checked_threads);
  declared.check();
  if (device == "cuda" || (device == "auto" && is_cuda_available())) return make_cuda_backend(gpu);
  return make_cpu_backend(bf16 ? DType::BF16 : DType::F32, threads);
}

void check_model_fits(const Qwen3Config& cfg, Backend& backend, int64_t max_batch, int64_t max_seq,
                      ModelUse use, const std::string& what, const std::string& advice) {
  const Qwen3Model::MemoryNeed need = Qwen3Model::memory_need(cfg, backend, max_batch, max_seq, use);
  const std::optional<uint64_t> available = backend.available_memory_bytes();
  const char* memory = backend.is_cuda() ? "GPU memory" : "host memory";
  const std::string shape = what + " needs about " + format_bytes(need.total()) + " of " + memory +
                            " (tensors " + format_bytes(need.tensors) + ", op scratch " +
                            format_bytes(need.scratch) + ")";
  const std::string left = !available          ? std::string("unknown")
                           : backend.is_cuda() ? format_bytes(*available) + " free on the GPU"
                                               : host_memory().describe();
  log_debug("memory: ", shape, "; ", left);
  if (!available) return;
  TT_CHECK(need.total() <= *available)
      << shape << ", more than this process can take: " << left << hint(advice);
  if (double(need.total()) > 0.8 * double(*available)) log_warn(shape, ": most of what is left (", left, ")");
}

}  // namespace tt
