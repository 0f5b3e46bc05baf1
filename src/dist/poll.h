// Bounded waiting for a collective that completes asynchronously (a non-blocking MPI request, a NCCL
// kernel on a stream): poll it, sleeping between polls, until it is done or the timeout has passed.
#pragma once

#include <functional>
#include <string>

namespace tt::dist {

// Calls `done` until it returns true (then true) or `timeout_s` has passed (then false). Sleeps between
// calls from 20 us growing to 1 ms, so a collective that completes at once costs no sleep and a long
// wait costs little CPU.
bool poll_until(const std::function<bool()>& done, double timeout_s);

// "rank R of N: WHAT did not complete within T s (--dist_timeout): ..." for a collective that timed out.
std::string timeout_message(int rank, int size, const std::string& what, double timeout_s);

}  // namespace tt::dist
