#include "subprocess.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace tt::test {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

Subprocess::Subprocess(const std::vector<std::string>& argv, const fs::path& out, const fs::path& err,
                       const std::vector<std::string>& env) {
  std::vector<std::string> args = argv, envs = env;
  for (char** e = environ; *e != nullptr; ++e) envs.emplace_back(*e);
  std::vector<char*> argp, envp;
  for (std::string& a : args) argp.push_back(a.data());
  argp.push_back(nullptr);
  for (std::string& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, STDOUT_FILENO, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (err.empty())
    posix_spawn_file_actions_adddup2(&files, STDOUT_FILENO, STDERR_FILENO);
  else
    posix_spawn_file_actions_addopen(&files, STDERR_FILENO, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // A group of its own (killable as a whole); no signal blocked and SIGINT/SIGTERM at their defaults,
  // whatever this test process did with them (tt::route_stop_signals() blocks them in the calling thread).
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none, defaults;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  const int rc = posix_spawn(&pid_, argp[0], &files, &attr, argp.data(), envp.data());
  posix_spawn_file_actions_destroy(&files);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
  start_ = Clock::now();
}

Subprocess Subprocess::shell(const std::string& line, const fs::path& out, const fs::path& err) {
  return Subprocess({"/bin/sh", "-c", "exec " + line}, out, err);
}

Subprocess::~Subprocess() {
  if (pid_ > 0) kill_all();
}

bool Subprocess::running() const {
  siginfo_t info{};
  return pid_ > 0 && waitid(P_PID, id_t(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == 0;
}

Exit Subprocess::wait(double timeout_s) {
  Exit e;
  int status = 0;
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::duration<double>(Clock::now() - start_).count() > timeout_s) {
      kill_all();
      e.seconds = timeout_s;
      return e;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = 0;
  e.signalled = WIFSIGNALED(status);
  e.rc = e.signalled ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
  e.seconds = std::chrono::duration<double>(Clock::now() - start_).count();
  return e;
}

void Subprocess::kill_all() {
  for (pid_t p : descendants(pid_)) ::kill(p, SIGKILL);  // also those that left the group
  ::kill(-pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = 0;
}

std::vector<pid_t> descendants(pid_t root) {
  std::map<pid_t, pid_t> parent;
  DIR* proc = opendir("/proc");
  for (dirent* e; proc != nullptr && (e = readdir(proc)) != nullptr;) {
    const pid_t pid = pid_t(std::atoi(e->d_name));
    if (pid <= 0) continue;
    std::ifstream stat("/proc/" + std::string(e->d_name) + "/stat");
    std::string line;
    std::getline(stat, line);
    const size_t end = line.rfind(')');  // "pid (comm) state ppid ..."; comm may hold spaces
    if (end == std::string::npos) continue;
    std::istringstream rest(line.substr(end + 2));
    char state = 0;
    pid_t ppid = 0;
    rest >> state >> ppid;
    parent[pid] = ppid;
  }
  if (proc != nullptr) closedir(proc);
  std::vector<pid_t> out;
  for (const auto& [pid, ppid] : parent)
    for (pid_t p = ppid; p > 1; p = parent.count(p) ? parent[p] : 0)
      if (p == root) {
        out.push_back(pid);
        break;
      }
  return out;
}

std::vector<ThreadInfo> threads_of(pid_t pid) {
  std::vector<ThreadInfo> out;
  std::error_code ec;
  for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    ThreadInfo t;
    t.tid = pid_t(std::atoi(task.path().filename().c_str()));
    std::ifstream comm(task.path() / "comm");
    std::getline(comm, t.name);
    std::ifstream status(task.path() / "status");
    for (std::string line; std::getline(status, line);)
      if (line.rfind("SigBlk:", 0) == 0) t.blocked = std::stoull(line.substr(7), nullptr, 16);
    out.push_back(t);
  }
  return out;
}

int stop_signal_takers(pid_t pid) {
  int takers = 0;
  for (const ThreadInfo& t : threads_of(pid))
    if (t.name == "tt-signals" && !t.blocks(SIGINT) && !t.blocks(SIGTERM)) ++takers;
  return takers;
}

}  // namespace tt::test
