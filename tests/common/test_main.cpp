// main() of every test executable: gtest's, after routing SIGINT/SIGTERM to a thread of their own as the
// tiny-transformer binary does first thing (common/stop_signal.h), so that a test's signal never lands on
// a thread that runs GEMMs, whatever threads the tests start before their first StopSignal.
#include <gtest/gtest.h>

#include "common/stop_signal.h"

int main(int argc, char** argv) {
  tt::route_stop_signals();
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
