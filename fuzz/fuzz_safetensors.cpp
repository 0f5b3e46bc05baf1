// Fuzz the safetensors reader (src/model/safetensors.h) and the checkpoint loader on top of it.
// The input is written to a scratch file (the reader works on paths), parsed with read_safetensors,
// every tensor's bytes are read back, and the file is loaded into a tiny Qwen3 (vocab 50, hidden 16,
// 2 layers; seeds in fuzz/seeds/safetensors/ include a valid checkpoint of it, so the fuzzer starts
// from the names and shapes the loader expects).
// Invariants: bad input may raise tt::Error (a clear message for the user) but never crashes, hangs,
// reads out of bounds, throws anything else, or yields entries that do not lie inside the file.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "../tests/model/tiny_config.h"
#include "common/check.h"
#include "model/checkpoint_io.h"
#include "model/model.h"
#include "model/safetensors.h"

namespace {

tt::Qwen3Model& tiny_model() {
  static std::unique_ptr<tt::Backend> backend = tt::make_cpu_backend(tt::DType::F32);
  static std::unique_ptr<tt::Qwen3Model> model = [] {
    return std::make_unique<tt::Qwen3Model>(tt::test::tiny_config(), *backend, 1, 4);
  }();
  return *model;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/fuzz_safetensors." + std::to_string(getpid());
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) std::abort();
    if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
    std::fclose(f);
  }
  try {
    const tt::SafetensorsFile f = tt::read_safetensors(path);
    if (f.data_start < 8 || f.data_start > size) std::abort();
    std::vector<char> buf;
    for (const auto& e : f.tensors) {
      if (e.begin > e.end || f.data_start + e.end > size) std::abort();
      if (f.find(e.name) == nullptr) std::abort();
      buf.resize(e.end - e.begin);
      f.read(e, buf.data());
    }
  } catch (const tt::Error&) {
    return 0;  // expected for damaged input; the loader below would fail the same way
  }
  try {
    tt::load_safetensors(tiny_model(), path);
  } catch (const tt::Error&) {
    // expected: wrong names, shapes or dtypes for this model
  }
  return 0;
}
