// Minimal safetensors reader/writer (https://github.com/huggingface/safetensors, format spec):
//
//   [8 bytes: little-endian u64 header length H][H bytes: JSON header][data]
//   header = {"__metadata__": {str: str}, "<name>": {"dtype": "F32", "shape": [..],
//             "data_offsets": [begin, end]}, ...}   offsets are relative to the start of data.
//
// The writer follows what the reference implementation writes: tensors sorted by dtype size
// (largest first) then name, laid out in that order, compact JSON with "__metadata__" first, and
// the header padded with spaces to a multiple of 8 bytes. The reader validates everything that can
// be wrong (length, JSON, dtype, shape, offsets within the file, data covered exactly without gaps
// or overlap) and names the file, the tensor and the byte offset in every tt::Error.
// Hand-written (~200 lines) because Debian packages no C++ safetensors library.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "model/backend.h"

namespace tt {

struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte offsets relative to the data section
};

struct SafetensorsFile {
  std::filesystem::path path;
  uint64_t data_start = 0;                // absolute file offset of the data section
  std::vector<SafetensorsEntry> tensors;  // in header order
  std::map<std::string, std::string> metadata;

  const SafetensorsEntry* find(const std::string& name) const;
  // Reads the raw bytes of one tensor (entry.end - entry.begin bytes) into dst.
  void read(const SafetensorsEntry& e, void* dst) const;
};

// Parses and validates the header of `path`. tt::Error on any problem.
SafetensorsFile read_safetensors(const std::filesystem::path& path);

// A tensor to write: `data` holds numel(shape) elements of `dtype` (host memory).
struct SafetensorsTensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
};

// Writes atomically (tt::AtomicFile): a crash never leaves a complete-looking partial file.
void write_safetensors(const std::filesystem::path& path, std::vector<SafetensorsTensor> tensors,
                       const std::map<std::string, std::string>& metadata);

// "F32" -> DType::F32 etc.; false for names this project does not handle.
bool dtype_from_name(const std::string& s, DType* out);

}  // namespace tt
