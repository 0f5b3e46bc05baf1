// Emulated cuBLAS (tests only): cublasGemmEx, the fallback GEMM of src/cuda/matmul.cu. See cublasLt.h.
#pragma once
#include "cublasLt.h"
