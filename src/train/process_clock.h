// Wall time since this process started, so that `train --max_train_minutes` can count process
// start-up (dynamic loading, CUDA/driver init, flag parsing) against the cap, not only what happens
// after the trainer exists. Linux: /proc/self/stat field 22 (starttime, clock ticks since boot)
// against /proc/uptime (seconds since boot); resolution is one clock tick (10 ms at USER_HZ 100).
#pragma once

namespace tt {

// Seconds since the process started; 0 when /proc is unavailable or unreadable.
double seconds_since_process_start();

}  // namespace tt
