// A Qwen3Model's weights and optimizer state in safetensors files (safetensors.h):
//   model.safetensors  HF tensor names (tied head not duplicated), F32 or BF16: what
//                      Qwen3ForCausalLM.from_pretrained() loads.
//   optimizer state    "master.<name>", "exp_avg.<name>", "exp_avg_sq.<name>" in the master dtype, with
//                      the AdamW step in the metadata: everything an exact resume needs.
// Readers check every name, shape and dtype before anything is uploaded, so a bad file leaves the model
// untouched; a tt::Error names the file and the tensor.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "model/model.h"

namespace tt {

// The model's master weights copied to the host once, laid out like its table: a checkpoint checks and writes
// this one copy rather than downloading the weights for each.
struct HostWeights {
  DType dtype = DType::F32;
  std::vector<char> bytes;
};
HostWeights download_master_weights(Qwen3Model& model);

void save_safetensors(const ParamTable& table, const HostWeights& weights, const std::filesystem::path& file,
                      DType dtype = DType::F32);
void save_safetensors(Qwen3Model& model, const std::filesystem::path& file, DType dtype = DType::F32);
// F32, BF16 and F64 tensors are accepted (converted to the master dtype).
void load_safetensors(Qwen3Model& model, const std::filesystem::path& file);
// load_safetensors' checks of names, shapes and dtypes from the header alone, before a model of `cfg` is
// built: a config.json that does not describe its weights (10^3 layers beside a 2-layer file) is refused
// naming the file and tensor instead of first allocating a model that large.
void check_safetensors_tensors(const Qwen3Config& cfg, const std::filesystem::path& file);
void save_optimizer_state(Qwen3Model& model, const std::filesystem::path& file);
// Also refuses a negative exp_avg_sq (a sum of squares: the file is damaged).
void load_optimizer_state(Qwen3Model& model, const std::filesystem::path& file);

// A place where the model's master weights hold a NaN or infinity: the first such tensor (table order) and
// element. Checkpoints refuse to save such a model (a diverged run must not replace a good checkpoint).
struct NonFiniteWeight {
  std::string tensor;
  int64_t element = -1;
};
std::optional<NonFiniteWeight> first_non_finite_weight(const ParamTable& table, const HostWeights& weights);
std::optional<NonFiniteWeight> first_non_finite_weight(Qwen3Model& model);

// The first element where `file`'s weights differ from the model's master weights rounded to the file's
// dtype, as "tensor \"name\" element i: a in the file, b in the model"; empty when they agree. For a resume,
// whose weights come from the optimizer state's master copy, to notice a model.safetensors from elsewhere.
std::optional<std::string> first_difference_from_file(Qwen3Model& model, const std::filesystem::path& file);

}  // namespace tt
