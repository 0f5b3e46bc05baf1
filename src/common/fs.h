// File helpers with the project's rules: errors name the file; outputs are written under a
// temporary name and renamed into place only when complete, so a failed or killed run never
// leaves a complete-looking file behind.
#pragma once

#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>

namespace tt {

namespace fs = std::filesystem;

// Whole file into memory; tt::Error naming the path if it cannot be read.
std::string read_file(const fs::path& path);

// Write `data` to `path.tmp.<pid>`, fsync, rename over `path` (AtomicFile).
void write_file_atomic(const fs::path& path, std::string_view data);

// Streaming variant for large outputs. Writes go to a temporary sibling; commit() flushes,
// fsyncs and renames. If destroyed without commit() (error, exception), the temporary is removed.
// A symlink is written through: the file it points to is replaced, the link kept (not another user's link
// in a sticky directory such as /tmp: the kernel's protected_symlinks rule). An existing file keeps its
// permissions. /dev/stdout, /dev/stderr, /dev/fd/N and /proc/self/fd/N are written through the process's
// own descriptor; any other path that exists as something else than a regular file (a FIFO, /dev/null) is
// written directly: there is nothing to rename over it, and renaming would replace the device.
class AtomicFile {
 public:
  explicit AtomicFile(fs::path path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  void write(const void* data, size_t bytes);
  void write(std::string_view s) { write(s.data(), s.size()); }
  void commit();
  const fs::path& path() const { return path_; }

 private:
  fs::path path_, target_, tmp_;  // tmp_ empty: written directly
  std::FILE* f_ = nullptr;
  int pending_slot_ = -1;  // in remove_pending_temp_files()'s list while the temporary exists
  uint64_t written_ = 0;
};

// The directory `dir` names, as a path whose last component is its name: "out/", "out/." and "out/x/.."
// become "out"; ".", ".." and paths ending in them become absolute ("." -> the working directory's path).
// Temporary siblings and renames need that last component. Lexical only: a symlink stays the link (a
// checkpoint saved at a symlinked runs/b/last replaces the link, never the run it points to).
fs::path directory_path(const fs::path& dir);

// Where the symlink `link` points, one level (a relative target is taken from the link's directory); the
// target need not exist. `what` names the path in the error ("--out_dir data: cannot read the symlink ...").
fs::path symlink_target(const fs::path& link, const std::string& what);

// Removes the temporary files of every AtomicFile not yet committed or destroyed: for a signal that ends the
// process before their destructors can run (common/stop_signal.cpp). Async-signal-safe (unlink(2) only).
void remove_pending_temp_files() noexcept;

// A fresh temporary directory next to `final_dir` (same filesystem, so the rename is atomic).
fs::path make_temp_dir_beside(const fs::path& final_dir);

// Removes `dir` (recursively) on scope exit unless release() was called, i.e. unless the output it holds
// was committed (renamed into place): a failed or interrupted write leaves nothing behind.
class TempDirGuard {
 public:
  explicit TempDirGuard(fs::path dir) : dir_(std::move(dir)) {}
  ~TempDirGuard();
  TempDirGuard(const TempDirGuard&) = delete;
  TempDirGuard& operator=(const TempDirGuard&) = delete;
  const fs::path& dir() const { return dir_; }
  void release() { dir_.clear(); }

 private:
  fs::path dir_;
};

// An exclusive lock on a directory: flock(2) on `dir`/.lock, held until destruction (the kernel drops it
// when the process ends, however it ends). Two commands that write the same directory at once would
// interleave their outputs; the second is refused instead, with a tt::Error naming the directory, the
// holder's pid and `holder_hint`.
class DirLock {
 public:
  DirLock(const fs::path& dir, const std::string& holder_hint);
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  int fd_ = -1;
};

// The current time as UTC ISO 8601, e.g. "2026-12-01T10:10:39Z" (meta.json, run_info.json).
std::string utc_now();

// Removes temporary directories that make_temp_dir_beside() created in `parent`
// (".<name>.tmp.<pid>.<n>.<host>") on this host whose <pid> is no longer a live process (kill(pid, 0) fails
// with ESRCH): what a killed run left behind. Another host's are left alone (its pids are not this host's).
// With `name` given, only those for that final directory name. Directories of live processes (a
// concurrent run) and everything else are left alone. Returns how many were removed; each is logged.
int remove_stale_temp_dirs(const fs::path& parent, const std::string& name = "");

// Atomically put `tmp_dir` at `final_dir`: if final_dir exists the two are swapped in one step
// (renameat2 RENAME_EXCHANGE) and the old one is then removed, so a reader or a crash sees either
// the old or the new directory, never a half-written one.
void replace_dir_atomic(const fs::path& tmp_dir, const fs::path& final_dir);

}  // namespace tt
