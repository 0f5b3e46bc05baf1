// For a GPU test's SetUp(): skip with the CUDA runtime's reason when no usable GPU is present, or fail
// when TT_REQUIRE_CUDA is set (scripts/gpu_session.sh sets it, so a GPU session cannot pass by skipping).
#pragma once

#include <gtest/gtest.h>

#include "model/backend.h"

#define TT_SKIP_WITHOUT_CUDA(what)                                                                  \
  do {                                                                                              \
    if (!::tt::is_cuda_available()) {                                                               \
      if (::tt::cuda_required_by_env())                                                             \
        FAIL() << "TT_REQUIRE_CUDA is set, but " << ::tt::cuda_unavailable_reason();                \
      GTEST_SKIP() << "no CUDA GPU available (" << ::tt::cuda_unavailable_reason() << "): " << what \
                   << " skipped";                                                                   \
    }                                                                                               \
  } while (0)
