// Backend-neutral helpers: dtype names/sizes, Buf views, host dtype conversion, and the no-CUDA
// fallback factories (src/cuda/ provides the real ones when TT_HAVE_CUDA is defined).
#include "model/backend.h"

#include <cstdlib>

#include "common/check.h"
#include "model/dtype.h"

namespace tt {

size_t dtype_size(DType d) {
  switch (d) {
    case DType::F32:
      return 4;
    case DType::F64:
      return 8;
    case DType::BF16:
      return 2;
    case DType::I32:
      return 4;
  }
  TT_ASSERT(false) << "bad dtype " << int(d);
  return 0;
}

const char* dtype_name(DType d) {
  switch (d) {
    case DType::F32:
      return "F32";
    case DType::F64:
      return "F64";
    case DType::BF16:
      return "BF16";
    case DType::I32:
      return "I32";
  }
  return "?";
}

Buf Buf::at(size_t offset, size_t n) const {
  TT_ASSERT(offset + n <= numel) << "Buf::at(" << offset << ", " << n << ") outside a buffer of " << numel;
  Buf b;
  b.ptr = static_cast<char*>(ptr) + offset * dtype_size(dtype);
  b.dtype = dtype;
  b.numel = n;
  return b;
}

namespace {
template <class D>
void convert_to(D* dst, const void* src, DType sd, size_t n) {
  switch (sd) {
    case DType::F32:
      for (size_t i = 0; i < n; ++i) dst[i] = D(static_cast<const float*>(src)[i]);
      break;
    case DType::F64:
      for (size_t i = 0; i < n; ++i) dst[i] = D(static_cast<const double*>(src)[i]);
      break;
    case DType::I32:
      for (size_t i = 0; i < n; ++i) dst[i] = D(static_cast<const int32_t*>(src)[i]);
      break;
    case DType::BF16:
      for (size_t i = 0; i < n; ++i) dst[i] = D(bf16_to_f32(static_cast<const uint16_t*>(src)[i]));
      break;
  }
}
}  // namespace

void convert_host(void* dst, DType dd, const void* src, DType sd, size_t n) {
  if (dd == sd) {
    std::memcpy(dst, src, n * dtype_size(dd));
    return;
  }
  switch (dd) {
    case DType::F32:
      convert_to(static_cast<float*>(dst), src, sd, n);
      break;
    case DType::F64:
      convert_to(static_cast<double*>(dst), src, sd, n);
      break;
    case DType::I32:
      convert_to(static_cast<int32_t*>(dst), src, sd, n);
      break;
    case DType::BF16: {
      auto* out = static_cast<uint16_t*>(dst);
      if (sd == DType::F32) {
        const auto* in = static_cast<const float*>(src);
        for (size_t i = 0; i < n; ++i) out[i] = f32_to_bf16(in[i]);
      } else if (sd == DType::F64) {
        // Round the double straight to bf16 would need its own rounding; fp64 -> fp32 -> bf16 can
        // double-round, but only in ties that do not occur for model weights in practice.
        const auto* in = static_cast<const double*>(src);
        for (size_t i = 0; i < n; ++i) out[i] = f32_to_bf16(float(in[i]));
      } else {
        const auto* in = static_cast<const int32_t*>(src);
        for (size_t i = 0; i < n; ++i) out[i] = f32_to_bf16(float(in[i]));
      }
      break;
    }
  }
}

bool cuda_required_by_env() {
  const char* v = std::getenv("TT_REQUIRE_CUDA");
  return v != nullptr && *v != '\0' && std::string(v) != "0";
}

#ifndef TT_HAVE_CUDA
bool is_cuda_available() {
  return false;
}
std::string cuda_unavailable_reason() {
  return "this build has no CUDA backend";
}
std::unique_ptr<Backend> make_cuda_backend(int) {
  TT_FAIL() << "this build has no CUDA backend"
            << hint(
                   "rebuild on a machine with the CUDA toolkit (nvcc) and TT_ENABLE_CUDA=ON, or use the CPU "
                   "backend");
  return nullptr;
}
#endif

}  // namespace tt
