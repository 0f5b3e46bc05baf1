#include "train/metrics_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "common/check.h"
#include "common/fs.h"
#include "common/log.h"

namespace tt {

namespace {

template <class Json>
void add_to_curves(const Json& r, std::vector<LossPoint>& train, std::vector<LossPoint>& eval) {
  if (r.value("type", "") == "train") train.push_back({r.at("step"), r.value("loss", 0.0)});
  if (r.value("type", "") == "eval") eval.push_back({r.at("step"), r.value("eval_loss", 0.0)});
}

}  // namespace

bool MetricsLog::append(const nlohmann::ordered_json& record) {
  add_to_curves(record, train_, eval_);
  const std::string line = record.dump() + "\n";
  // One write(2) of the whole line, checked: an ofstream buffers it and reports a failure only when it is
  // flushed, after the check.
  const int fd = ::open(file_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  int error = fd < 0 ? errno : 0;
  if (fd >= 0) {
    struct stat before {};
    const bool sized = ::fstat(fd, &before) == 0;
    size_t done = 0;
    while (done < line.size()) {
      const ssize_t n = ::write(fd, line.data() + done, line.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        error = n < 0 ? errno : ENOSPC;
        if (sized && ::ftruncate(fd, before.st_size) != 0) {
          // the partial line stays; keep_up_to drops lines that are not JSON when a run resumes
        }
        break;
      }
      done += size_t(n);
    }
    if (::close(fd) != 0 && error == 0) error = errno;
  }
  if (error == 0) return true;
  log_warn(file_.string(), ": the ", record.value("type", "?"), " record of step ", record.value("step", -1),
           " could not be written (", std::strerror(error), "); the file misses it");
  return false;
}

void MetricsLog::keep_up_to(int64_t step) {
  train_.clear();
  eval_.clear();
  if (!std::filesystem::exists(file_)) return;
  std::istringstream in(read_file(file_));
  std::string line, kept;
  while (std::getline(in, line)) {
    nlohmann::json r = nlohmann::json::parse(line, nullptr, false);
    if (r.is_discarded() || !r.is_object() || r.value("step", int64_t(-1)) > step) continue;
    kept += line + "\n";
    add_to_curves(r, train_, eval_);
  }
  write_file_atomic(file_, kept);
}

}  // namespace tt
