// Emulated cuda_bf16.h (tests only): the bf16 type and conversions come from cuda_emu.h.
#pragma once
#include "cuda_emu.h"
