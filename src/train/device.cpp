#include "train/device.h"

namespace tt {

void declare_device_flag(OptionSet& o, std::string& device) {
  o.add("--device", device, "auto (cuda when available), cuda or cpu").one_of({"auto", "cpu", "cuda"});
}

std::unique_ptr<Backend> make_backend_for_device(const std::string& device, int gpu) {
  std::string checked = device;
  OptionSet declared;
  declare_device_flag(declared, checked);
  declared.check();
  if (device == "cuda" || (device == "auto" && is_cuda_available())) return make_cuda_backend(gpu);
  return make_cpu_backend(DType::F32);
}

}  // namespace tt
