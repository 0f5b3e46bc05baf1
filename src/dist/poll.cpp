#include "dist/poll.h"

#include <algorithm>
#include <chrono>
#include <sstream>
#include <thread>

namespace tt::dist {

bool poll_until(const std::function<bool()>& done, double timeout_s) {
  using Clock = std::chrono::steady_clock;
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
  auto pause = std::chrono::microseconds(20);
  while (!done()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(1000));
  }
  return true;
}

std::string timeout_message(int rank, int size, const std::string& what, double timeout_s) {
  std::ostringstream m;
  m << "rank " << rank << " of " << size << ": " << what << " did not complete within " << timeout_s
    << " s (--dist_timeout): another rank died, hangs or is far behind; ending the job";
  return m.str();
}

}  // namespace tt::dist
