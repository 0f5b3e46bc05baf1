#include "train/device.h"

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

}  // namespace tt
