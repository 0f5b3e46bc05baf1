// Picking the compute backend from a --device flag: "cpu", "cuda", or "auto" (= cuda when
// is_cuda_available(), else cpu). The CPU backend computes in fp32; the CUDA backend in bf16 mixed
// precision (fp32 master weights and optimizer state).
#pragma once

#include <memory>
#include <string>

#include "model/backend.h"

namespace tt {

std::unique_ptr<Backend> make_backend_for_device(const std::string& device);

// tt::Error unless device is auto, cpu or cuda.
void validate_device_flag(const std::string& device);

}  // namespace tt
