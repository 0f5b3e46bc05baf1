// Emulated cub::DeviceRadixSort::SortPairs (tests only): a stable sort on bits [begin_bit, end_bit) of the
// keys (signed keys ordered as cub orders them, sign bit flipped), with cub's two-call protocol: a null
// temp pointer asks for the temporary size, which is never zero. Keys, values and the temporary storage
// must be device memory (cudaMalloc), the storage as large as the first call said.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <type_traits>
#include <vector>

#include "../../cuda_runtime.h"

namespace cub {

struct DeviceRadixSort {
  template <class Key, class Value>
  static cudaError_t SortPairs(void* temp, size_t& temp_bytes, const Key* keys_in, Key* keys_out,
                               const Value* values_in, Value* values_out, int num_items, int begin_bit = 0,
                               int end_bit = int(sizeof(Key) * 8), cudaStream_t stream = nullptr) {
    static_assert(std::is_integral_v<Key> && sizeof(Key) <= 8, "integral keys only");
    const size_t needed = size_t(num_items < 0 ? 0 : num_items) * (sizeof(Key) + sizeof(Value)) + 256;
    if (temp == nullptr) {
      temp_bytes = needed;
      return cudaSuccess;
    }
    if (num_items < 0 || begin_bit < 0 || end_bit > int(sizeof(Key) * 8) || begin_bit > end_bit)
      return tt::emu::record_error(cudaErrorInvalidValue);
    // Like every device function: device memory only, and the temporary storage the first call asked for.
    const size_t n = size_t(num_items);
    if (temp_bytes < needed || !tt::emu::device_range(temp, temp_bytes) ||
        (n > 0 && (!tt::emu::device_range(keys_in, n * sizeof(Key)) ||
                   !tt::emu::device_range(keys_out, n * sizeof(Key)) ||
                   !tt::emu::device_range(values_in, n * sizeof(Value)) ||
                   !tt::emu::device_range(values_out, n * sizeof(Value)))))
      return tt::emu::record_error(cudaErrorInvalidValue);
    if (tt::emu::skip_compute()) return cudaSuccess;
    tt::emu::enqueue(stream,
                     [=] { sort(keys_in, keys_out, values_in, values_out, num_items, begin_bit, end_bit); });
    return cudaSuccess;
  }

 private:
  template <class Key, class Value>
  static void sort(const Key* keys_in, Key* keys_out, const Value* values_in, Value* values_out,
                   int num_items, int begin_bit, int end_bit) {
    using U = std::make_unsigned_t<Key>;
    const U flip = std::is_signed_v<Key> ? U(U(1) << (sizeof(Key) * 8 - 1)) : U(0);
    const int width = end_bit - begin_bit;
    const U mask = width >= int(sizeof(Key) * 8) ? U(~U(0)) : U((U(1) << width) - 1);
    auto digit = [&](Key k) { return U((U(k) ^ flip) >> begin_bit) & mask; };
    std::vector<int> order(static_cast<size_t>(num_items));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return digit(keys_in[a]) < digit(keys_in[b]); });
    std::vector<Key> k(static_cast<size_t>(num_items));
    std::vector<Value> v(static_cast<size_t>(num_items));
    for (size_t i = 0; i < order.size(); ++i) {
      k[i] = keys_in[order[i]];
      v[i] = values_in[order[i]];
    }
    std::copy(k.begin(), k.end(), keys_out);
    std::copy(v.begin(), v.end(), values_out);
  }
};

}  // namespace cub
