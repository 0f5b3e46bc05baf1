// Picking the compute backend from a --device flag: "cpu", "cuda", or "auto" (= cuda when
// is_cuda_available(), else cpu). The CPU backend computes in fp32; the CUDA backend in bf16 mixed
// precision (fp32 master weights and optimizer state).
#pragma once

#include <memory>
#include <string>

#include "common/options.h"
#include "model/backend.h"

namespace tt {

// Declares --device for a command that computes (train, eval, sample).
void declare_device_flag(OptionSet& o, std::string& device);

// tt::Error naming --device unless device is auto, cpu or cuda. `gpu`: which GPU (a rank's local rank).
std::unique_ptr<Backend> make_backend_for_device(const std::string& device, int gpu = 0);

}  // namespace tt
