// Tensor: a typed view of a contiguous row-major matrix [rows, cols] in one backend's memory.
//
// Every op of the Backend interface (backend.h) takes Tensors, so the shapes travel with the data and
// are checked once, at the interface, instead of being passed again as loose integers. A Tensor does not
// own memory: Backend::alloc() hands one out and Backend::free() returns it. Conventions:
//   - a vector of n elements is [n, 1] (ops that take a vector check only numel());
//   - activations are [tokens, features]: [N = B*T, C], heads side by side as [N, H*D];
//   - views never copy: first_rows() / row_range() slice along the rows, flat_range() along the flat
//     element order, view() reinterprets the same elements as another [rows, cols].
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tt {

enum class DType : uint8_t { F32, F64, BF16, I32 };
size_t dtype_size(DType d);
const char* dtype_name(DType d);  // "F32", "F64", "BF16", "I32" (safetensors spelling)

struct Tensor {
  void* ptr = nullptr;
  DType dtype = DType::F32;
  int64_t rows = 0, cols = 0;

  bool empty() const { return ptr == nullptr; }
  int64_t numel() const { return rows * cols; }
  size_t bytes() const { return size_t(numel()) * dtype_size(dtype); }
  template <class T>
  T* data() const {
    return static_cast<T*>(ptr);
  }

  // Rows [first, first + n) of this tensor.
  Tensor row_range(int64_t first, int64_t n) const;
  Tensor first_rows(int64_t n) const { return row_range(0, n); }
  // Flat elements [offset, offset + n) as a vector [n, 1].
  Tensor flat_range(int64_t offset, int64_t n) const;
  // The same elements as [rows, cols]; rows * cols must equal numel().
  Tensor view(int64_t rows, int64_t cols) const;
  // The first rows * cols flat elements as [rows, cols] (a batch's slice of a buffer allocated for the
  // largest batch).
  Tensor prefix(int64_t rows, int64_t cols) const { return flat_range(0, rows * cols).view(rows, cols); }
};

// "BF16 [1024, 384]", for messages.
std::string describe(const Tensor& t);

}  // namespace tt
