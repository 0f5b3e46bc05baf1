#include "common/fs.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <random>

#include "common/check.h"
#include "common/log.h"
#include "common/sha256.h"

namespace tt {

std::string read_file(const fs::path& path) {
  std::error_code ec;
  TT_CHECK(!fs::is_directory(path, ec)) << path.string() << ": is a directory, not a file";
  std::FILE* f = std::fopen(path.c_str(), "rb");
  TT_CHECK(f) << path.string() << ": cannot open for reading: " << std::strerror(errno);
  std::string out;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  const bool err = std::ferror(f);
  const int why = errno;
  std::fclose(f);
  TT_CHECK(!err) << path.string() << ": read error: " << std::strerror(why);
  return out;
}

namespace {

// The temporaries of live AtomicFiles, copied into fixed buffers so that a signal handler can read them
// without allocating: a slot is claimed, its path written, then marked ready; unmarked before it is freed.
struct PendingTemp {
  std::atomic<bool> claimed{false}, ready{false};
  char path[4096] = {};
};
PendingTemp g_pending[64];

int add_pending_temp(const fs::path& tmp) {
  const std::string& p = tmp.native();
  if (p.size() >= sizeof PendingTemp::path) return -1;  // too long to keep: left to the destructor alone
  for (int i = 0; i < int(std::size(g_pending)); ++i) {
    bool expected = false;
    if (!g_pending[i].claimed.compare_exchange_strong(expected, true)) continue;
    std::memcpy(g_pending[i].path, p.c_str(), p.size() + 1);
    g_pending[i].ready = true;
    return i;
  }
  return -1;  // more than 64 files being written at once: the rest are left to their destructors
}

void drop_pending_temp(int slot) {
  if (slot < 0) return;
  g_pending[slot].ready = false;
  g_pending[slot].claimed = false;
}

}  // namespace

void remove_pending_temp_files() noexcept {
  for (auto& t : g_pending)
    if (t.ready.load()) ::unlink(t.path);
}

// This host as a short file-name part (temporary directories carry it: see remove_stale_temp_dirs): 8 hex
// digits of its name's hash, since a full host name could push a name past 255 bytes.
static std::string this_host() {
  static const std::string tag = [] {
    char name[256] = {};
    if (gethostname(name, sizeof name - 1) != 0) name[0] = '\0';
    return sha256_hex(name).substr(0, 8);
  }();
  return tag;
}

static fs::path temp_sibling(const fs::path& path) {
  return path.string() + ".tmp." + std::to_string(getpid());
}

void write_file_atomic(const fs::path& path, std::string_view data) {
  AtomicFile f(path);
  f.write(data);
  f.commit();
}

fs::path symlink_target(const fs::path& link, const std::string& what) {
  std::error_code ec;
  const fs::path next = fs::read_symlink(link, ec);
  TT_CHECK(!ec) << what << ": cannot read the symlink " << link.string() << ": " << ec.message();
  return next.is_absolute() ? next : link.parent_path() / next;
}

// The descriptor a path names when it is one of this process's own (/dev/stdout, /dev/stderr, /dev/fd/N,
// /proc/self/fd/N), else -1. Such a path is written through the descriptor: reopening what it resolves to
// would truncate a file the shell appends to, and renaming over it would replace that file.
static int own_descriptor(const fs::path& p) {
  const std::string s = p.lexically_normal().string();
  if (s == "/dev/stdout") return 1;
  if (s == "/dev/stderr") return 2;
  for (const std::string& prefix :
       {std::string("/dev/fd/"), std::string("/proc/self/fd/"), std::string("/proc/thread-self/fd/"),
        "/proc/" + std::to_string(::getpid()) + "/fd/"})
    if (s.size() > prefix.size() && s.compare(0, prefix.size(), prefix) == 0 &&
        s.find_first_not_of("0123456789", prefix.size()) == std::string::npos && s.size() - prefix.size() < 9)
      return std::stoi(s.substr(prefix.size()));
  return -1;
}

// The kernel's protected_symlinks rule, which a rename beside the link's target would bypass: a symlink in
// a sticky world-writable directory (/tmp) is followed only when this user or the directory's owner owns it,
// so another user's planted /tmp/out -> ~/.bashrc is refused.
static bool may_follow(const fs::path& link) {
  struct stat l {
  }, d{};
  fs::path dir = link.parent_path();
  if (dir.empty()) dir = ".";
  if (::lstat(link.c_str(), &l) != 0 || ::stat(dir.c_str(), &d) != 0) return false;
  const bool sticky_world_writable = (d.st_mode & S_ISVTX) && (d.st_mode & S_IWOTH);
  return !sticky_world_writable || l.st_uid == ::geteuid() || l.st_uid == d.st_uid;
}

AtomicFile::AtomicFile(fs::path path) : path_(std::move(path)), target_(path_) {
  // Links are followed one at a time, so that each is checked as the kernel would check it, and a link to
  // one of this process's descriptors (/dev/stdout behind a symlink) is found as such.
  std::error_code ec;
  for (int hops = 0;; ++hops) {
    if (const int fd = own_descriptor(target_); fd >= 0) {
      const int copy = ::dup(fd);
      f_ = copy >= 0 ? ::fdopen(copy, "wb") : nullptr;  // fdopen neither truncates nor repositions
      const int err = errno;
      if (!f_ && copy >= 0) ::close(copy);
      TT_CHECK(f_) << path_.string() << ": cannot write to descriptor " << fd << ": " << std::strerror(err);
      return;
    }
    if (!fs::is_symlink(fs::symlink_status(target_, ec))) break;
    TT_CHECK(hops < 40) << path_.string() << ": too many levels of symlinks";
    TT_CHECK(may_follow(target_)) << path_.string() << ": refusing to follow " << target_.string()
                                  << ", a symlink that another user owns in a shared sticky directory"
                                  << hint("write somewhere else, or remove the link");
    target_ = symlink_target(target_, path_.string());
  }
  const fs::file_status existing = fs::status(target_, ec);  // not_found when there is none
  if (fs::exists(existing) && !fs::is_regular_file(existing) && !fs::is_directory(existing)) {
    f_ = std::fopen(target_.c_str(), "wb");
    TT_CHECK(f_) << path_.string() << ": cannot open for writing: " << std::strerror(errno);
    return;
  }
  tmp_ = temp_sibling(target_);
  pending_slot_ = add_pending_temp(tmp_);
  f_ = std::fopen(tmp_.c_str(), "wb");
  if (!f_) {
    const int err = errno;
    drop_pending_temp(pending_slot_);
    TT_FAIL() << path_.string() << ": cannot open for writing (via temporary " << tmp_.filename().string()
              << "): " << std::strerror(err) << hint("check that the directory exists and is writable");
  }
  if (fs::is_regular_file(existing)) fchmod(fileno(f_), mode_t(existing.permissions()));
}

AtomicFile::~AtomicFile() {
  if (f_) {
    std::fclose(f_);
    std::error_code ec;
    if (!tmp_.empty()) fs::remove(tmp_, ec);
  }
  drop_pending_temp(pending_slot_);
}

void AtomicFile::write(const void* data, size_t bytes) {
  TT_ASSERT(f_) << "write after commit";
  if (bytes == 0) return;
  size_t n = std::fwrite(data, 1, bytes, f_);
  TT_CHECK(n == bytes) << (tmp_.empty() ? path_ : tmp_).string() << ": write failed after " << written_ + n
                       << " bytes: " << std::strerror(errno) << hint("is the disk full?");
  written_ += bytes;
}

void AtomicFile::commit() {
  TT_ASSERT(f_) << "commit twice";
  TT_CHECK(std::fflush(f_) == 0) << (tmp_.empty() ? path_ : tmp_).string()
                                 << ": flush failed: " << std::strerror(errno);
  fsync(fileno(f_));  // fails harmlessly on a pipe or device
  std::fclose(f_);
  f_ = nullptr;
  if (tmp_.empty()) return;  // written directly
  std::error_code ec;
  fs::rename(tmp_, target_, ec);
  drop_pending_temp(pending_slot_);  // renamed, or removed just below
  pending_slot_ = -1;
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp_, ignored);
    TT_FAIL() << path_.string() << ": cannot rename temporary file into place: " << ec.message();
  }
}

fs::path directory_path(const fs::path& dir) {
  const auto trimmed = [](fs::path p) {
    p = p.lexically_normal();                                             // "out/./x/.." -> "out/"
    if (!p.has_filename() && p.has_relative_path()) p = p.parent_path();  // "out/" -> "out"
    return p;
  };
  fs::path p = trimmed(dir);
  if (p.filename() == "." || p.filename() == "..") p = trimmed(fs::absolute(p));
  return p;
}

DirLock::DirLock(const fs::path& dir, const std::string& holder_hint) {
  const fs::path path = dir / ".lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  TT_CHECK(fd_ >= 0) << path.string() << ": cannot open the lock file: " << std::strerror(errno);
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char pid[32] = {};
    const ssize_t n = ::pread(fd_, pid, sizeof pid - 1, 0);
    ::close(fd_);
    fd_ = -1;
    if (err == ENOLCK || err == ENOSYS || err == EOPNOTSUPP || err == EINVAL) {  // NFS without lockd, FUSE
      log_warn(path.string(), ": this filesystem cannot lock (", std::strerror(err),
               "); a second process writing ", dir.string(), " at the same time would not be noticed");
      return;
    }
    TT_CHECK(err != EWOULDBLOCK) << dir.string() << " is in use by another process"
                                 << (n > 0 ? std::string(" (pid ") + pid + ")" : std::string())
                                 << hint(holder_hint);
    TT_FAIL() << path.string() << ": cannot lock: " << std::strerror(err);
  }
  const std::string pid = std::to_string(getpid());
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != ssize_t(pid.size()))
    log_warn(path.string(), ": cannot record this process's pid: ", std::strerror(errno));
}

DirLock::~DirLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

fs::path make_temp_dir_beside(const fs::path& final_dir_in) {
  const fs::path final_dir = directory_path(final_dir_in);
  fs::path parent = final_dir.parent_path();
  if (parent.empty()) parent = ".";
  std::error_code ec;
  fs::create_directories(parent, ec);
  TT_CHECK(!ec) << parent.string() << ": cannot create directory: " << ec.message();
  std::random_device rd;
  for (int attempt = 0; attempt < 100; ++attempt) {
    fs::path p = parent / ("." + final_dir.filename().string() + ".tmp." + std::to_string(getpid()) + "." +
                           std::to_string(rd() % 1000000) + "." + this_host());
    if (fs::create_directory(p, ec)) return p;
    if (ec) break;  // a real error (permissions, read-only, no space), not a name clash
  }
  TT_FAIL() << parent.string() << ": cannot create a temporary directory for "
            << final_dir.filename().string() << (ec ? ": " + ec.message() : std::string())
            << hint("check that the directory is writable");
}

void replace_dir_atomic(const fs::path& tmp_dir, const fs::path& final_dir_in) {
  const fs::path final_dir = directory_path(final_dir_in);
  std::error_code ec;
  if (fs::exists(fs::symlink_status(final_dir, ec))) {  // a symlink, dangling or not, is exchanged as itself
    if (renameat2(AT_FDCWD, tmp_dir.c_str(), AT_FDCWD, final_dir.c_str(), RENAME_EXCHANGE) == 0) {
      fs::remove_all(tmp_dir, ec);  // tmp_dir now holds the old contents
      return;
    }
    // Filesystems without RENAME_EXCHANGE: move the old one aside first.
    fs::path old = final_dir.string() + ".old." + std::to_string(getpid());
    fs::rename(final_dir, old, ec);
    TT_CHECK(!ec) << final_dir.string() << ": cannot move aside: " << ec.message();
    fs::rename(tmp_dir, final_dir, ec);
    TT_CHECK(!ec) << final_dir.string() << ": cannot rename into place: " << ec.message();
    fs::remove_all(old, ec);
    return;
  }
  fs::rename(tmp_dir, final_dir, ec);
  TT_CHECK(!ec) << final_dir.string() << ": cannot rename into place: " << ec.message();
}

int remove_stale_temp_dirs(const fs::path& parent_in, const std::string& name) {
  const fs::path parent = parent_in.empty() ? fs::path(".") : parent_in;
  std::error_code ec;
  if (!fs::is_directory(parent, ec)) return 0;
  int removed = 0;
  for (const auto& e : fs::directory_iterator(parent, ec)) {
    const std::string entry = e.path().filename().string();
    // ".<name>.tmp.<pid>.<n>": the name may itself contain dots, so take the last ".tmp.".
    const size_t tag = entry.rfind(".tmp.");
    if (entry.size() < 2 || entry[0] != '.' || tag == std::string::npos || tag < 1) continue;
    if (!name.empty() && entry.compare(1, tag - 1, name) != 0) continue;
    if (!name.empty() && tag - 1 != name.size()) continue;
    const size_t pid_begin = tag + 5, pid_end = entry.find('.', pid_begin);
    if (pid_end == std::string::npos || pid_end == pid_begin || pid_end - pid_begin > 9) continue;
    if (entry.find_first_not_of("0123456789", pid_begin) != pid_end) continue;
    std::error_code ec2;
    if (!e.is_directory(ec2) || e.is_symlink(ec2)) continue;
    // On a shared filesystem another host's pid says nothing about this host's processes.
    const size_t host_begin = entry.find('.', pid_end + 1);
    if (host_begin != std::string::npos &&
        entry.compare(host_begin + 1, std::string::npos, this_host()) != 0) {
      log_info("leaving ", e.path().string(), ": made on another host, whose processes this one cannot see");
      continue;
    }
    const long pid = std::stol(entry.substr(pid_begin, pid_end - pid_begin));
    if (pid <= 0 || kill(pid_t(pid), 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to judge
    fs::remove_all(e.path(), ec2);
    if (ec2) {
      log_warn("cannot remove ", e.path().string(), ", left by an interrupted run: ", ec2.message());
    } else {
      log_info("removed ", e.path().string(), ", left by an interrupted run (pid ", pid, " is gone)");
      ++removed;
    }
  }
  return removed;
}

TempDirGuard::~TempDirGuard() {
  if (dir_.empty()) return;
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace tt
