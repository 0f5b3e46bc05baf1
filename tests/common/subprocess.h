// A command run in the background by a test (the tiny-transformer binary, mpirun, a script): in a process
// group of its own, its output in files, waited for with a timeout, and killed together with whatever it
// started (mpirun's ranks included) when it runs past the timeout or the test is done with it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace tt::test {

struct Exit {
  int rc = -1;             // the exit status, 128 + the signal that ended it, or -1: killed at the timeout
  bool signalled = false;  // ended by a signal (rc is 128 + its number), not by exit()
  double seconds = 0;      // from the start
};

class Subprocess {
 public:
  // `argv` (argv[0] a path: no PATH lookup) with `env` ("VAR=value") added to this process's environment;
  // stdout into `out`, stderr into `err` (empty: into `out` too).
  Subprocess(const std::vector<std::string>& argv, const std::filesystem::path& out,
             const std::filesystem::path& err = {}, const std::vector<std::string>& env = {});
  // `line` run by /bin/sh as `exec line`, so that pid() is the command's own (a signal sent to it reaches
  // the command, not a shell).
  static Subprocess shell(const std::string& line, const std::filesystem::path& out,
                          const std::filesystem::path& err = {});
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  ~Subprocess();  // kills it if it still runs

  pid_t pid() const { return pid_; }
  bool running() const;  // without reaping it (wait() does)
  // Waits until it ends, at most until `timeout_s` after its start (then it is killed: rc -1).
  Exit wait(double timeout_s);

 private:
  void kill_all();

  pid_t pid_ = 0;
  std::chrono::steady_clock::time_point start_;
};

// The processes below `root` (children, grandchildren, ...), from /proc.
std::vector<pid_t> descendants(pid_t root);

// A thread of a process, from /proc/<pid>/task/<tid>: its name (comm) and blocked signals (SigBlk: bit
// signo - 1).
struct ThreadInfo {
  pid_t tid = 0;
  std::string name;
  uint64_t blocked = 0;
  bool blocks(int signo) const { return (blocked >> (signo - 1)) & 1; }
};
std::vector<ThreadInfo> threads_of(pid_t pid);
// How many threads of `pid` are the "tt-signals" thread accepting SIGINT and SIGTERM (common/stop_signal.h).
int stop_signal_takers(pid_t pid);

}  // namespace tt::test
