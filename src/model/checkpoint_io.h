// A Qwen3Model's weights and optimizer state in safetensors files (safetensors.h):
//   model.safetensors  HF tensor names (tied head not duplicated), F32 or BF16: what
//                      Qwen3ForCausalLM.from_pretrained() loads.
//   optimizer state    "master.<name>", "exp_avg.<name>", "exp_avg_sq.<name>" in the master dtype, with
//                      the AdamW step in the metadata: everything an exact resume needs.
// Readers check every name, shape and dtype before anything is uploaded, so a bad file leaves the model
// untouched; a tt::Error names the file and the tensor.
#pragma once

#include <filesystem>

#include "model/model.h"

namespace tt {

void save_safetensors(Qwen3Model& model, const std::filesystem::path& file, DType dtype = DType::F32);
// F32, BF16 and F64 tensors are accepted (converted to the master dtype).
void load_safetensors(Qwen3Model& model, const std::filesystem::path& file);
void save_optimizer_state(Qwen3Model& model, const std::filesystem::path& file);
void load_optimizer_state(Qwen3Model& model, const std::filesystem::path& file);

}  // namespace tt
