#include "train/device.h"

#include "common/check.h"
#include "common/log.h"

namespace tt {

void validate_device_flag(const std::string& device) {
  TT_CHECK(device == "auto" || device == "cpu" || device == "cuda")
      << "--device must be auto, cpu or cuda, got \"" << device << "\"";
}

std::unique_ptr<Backend> make_backend_for_device(const std::string& device) {
  validate_device_flag(device);
  if (device == "cuda" || (device == "auto" && is_cuda_available())) return make_cuda_backend(0);
  return make_cpu_backend(DType::F32);
}

}  // namespace tt
