#include "net/download.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/fs.h"
#include "common/log.h"
#include "common/progress.h"
#include "common/text.h"
#include "net/digest.h"
#include "net/url.h"

namespace tt::net {

namespace {

constexpr size_t kHeadBytes = 512;  // first bytes of a file held back until they are known not to be HTML
// How far the file on disk may get ahead of the reader before the transfer pauses (the socket buffers
// then hold what the server sends meanwhile): bounds what a --max_bytes stop leaves downloaded.
constexpr uint64_t kReadAhead = 1 << 20;

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// "bytes 100-199/1000" -> first 100, total 1000; "bytes */1000" -> total only. false if unreadable.
bool parse_content_range(const std::string& v, int64_t* first, int64_t* total) {
  *first = -1;
  *total = -1;
  std::string s = ascii_lower(trim_ascii_space(v));
  if (s.rfind("bytes ", 0) != 0) return false;
  s = s.substr(6);
  const size_t slash = s.find('/');
  if (slash == std::string::npos) return false;
  const std::string range = s.substr(0, slash), size = s.substr(slash + 1);
  try {
    if (size != "*") *total = std::stoll(size);
    if (range != "*") *first = std::stoll(range.substr(0, range.find('-')));
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

std::string amount(uint64_t v) {
  return Progress::format_amount(v, Progress::Unit::Bytes);
}

}  // namespace

struct Download::Hashes {
  std::optional<Digest> sha1, md5;
  void update(const void* p, size_t n) {
    if (sha1) sha1->update(p, n);
    if (md5) md5->update(p, n);
  }
  void reset() {
    if (sha1) sha1->reset();
    if (md5) md5->reset();
  }
};

struct Download::Bar {
  Progress progress;
  Bar(const std::string& label, uint64_t total) : progress(label, total, Progress::Unit::Bytes) {}
};

// One try: an easy handle in its own multi handle, and what its callbacks saw.
struct Download::Transfer {
  Download* self = nullptr;
  CURLM* multi = nullptr;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  char err[CURL_ERROR_SIZE] = {};
  uint64_t request_offset = 0;  // the Range start asked for (= bytes on disk when the try began)
  bool began = false;           // begin_response() ran
  long status = 0;
  enum class Mode { Append, Compare, Discard } mode = Mode::Append;
  uint64_t compare_pos = 0;
  uint64_t received = 0;  // bytes that advanced the file in this try
  uint64_t activity = 0;  // header and body bytes seen, for the stall check
  double idle_s = 0;      // time spent waiting in pump() without any byte arriving
  bool stalled = false;
  bool paused = false;  // by on_body, because the reader is kReadAhead behind
  bool head_pending = false;
  std::string head;
  // Headers of the latest response (reset at each status line: redirects, 100 Continue).
  std::string content_type, content_range, etag, last_modified;
  std::string fatal;  // an error found inside a callback, raised after libcurl returns
  bool fatal_refuses = false;

  ~Transfer() {
    if (multi && easy) curl_multi_remove_handle(multi, easy);
    if (easy) curl_easy_cleanup(easy);
    if (multi) curl_multi_cleanup(multi);
    curl_slist_free_all(headers);
  }

  static size_t on_header(char* p, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    t->activity += size * n;
    const std::string_view line(p, size * n);
    if (line.rfind("HTTP/", 0) == 0) {
      t->content_type.clear();
      t->content_range.clear();
      t->etag.clear();
      t->last_modified.clear();
      return size * n;
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return size * n;
    const std::string name = ascii_lower(line.substr(0, colon));
    const std::string value(trim_ascii_space(line.substr(colon + 1)));
    if (name == "content-type") t->content_type = value;
    if (name == "content-range") t->content_range = value;
    if (name == "etag") t->etag = value;
    if (name == "last-modified") t->last_modified = value;
    return size * n;
  }

  static size_t on_body(char* p, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    t->activity += size * n;
    try {  // no exception may cross libcurl's C frames
      return t->self->on_body(p, size * n);
    } catch (const std::exception& e) {
      if (t->fatal.empty()) t->fatal = e.what();
      return 0;
    }
  }
};

Download::Download(std::string url, fs::path final_path, Expected expected, HttpOptions options)
    : url_(std::move(url)),
      shown_url_(without_credentials(url_)),
      final_path_(std::move(final_path)),
      expected_(std::move(expected)),
      opts_(std::move(options)),
      hashes_(new Hashes) {
  init_curl();
  std::error_code ec;
  if (fs::exists(final_path_, ec)) {
    const uint64_t size = fs::file_size(final_path_, ec);
    if (!ec && (expected_.size == 0 || size == expected_.size)) {
      fd_ = ::open(final_path_.c_str(), O_RDONLY | O_CLOEXEC);
      TT_CHECK(fd_ >= 0) << final_path_.string() << ": cannot open the cached copy of " << shown_url_ << ": "
                         << std::strerror(errno);
      complete_ = from_cache_ = validated_ = true;
      on_disk_ = total_ = size;
      return;
    }
    log_warn(final_path_.string(), ": the cached copy of ", shown_url_, " has ", size, " bytes, ",
             expected_.source, " says ", expected_.size, "; downloading it again");
    fs::remove(final_path_, ec);
  }
  fs::create_directories(final_path_.parent_path(), ec);
  TT_CHECK(!ec) << final_path_.parent_path().string()
                << ": cannot create the cache directory: " << ec.message()
                << hint("choose another with --cache_dir or $TT_CACHE_DIR");
  const fs::path part = part_path();
  fd_ = ::open(part.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  TT_CHECK(fd_ >= 0) << part.string() << ": cannot open for writing: " << std::strerror(errno);
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd_);
    fd_ = -1;
    TT_FAIL() << shown_url_ << ": another process is downloading it into " << part.string()
              << hint("wait for it to finish; its result is then read from the cache");
  }
  try {
    resume_partial();
  } catch (...) {  // no destructor runs for a constructor that throws
    ::close(fd_);
    throw;
  }
}

// What a later run does with the .part: resume it where the server named the file's version (ETag,
// Last-Modified) or checksums will check the whole file (resume_partial), else fetch it again.
std::string Download::later_run_note() const {
  return !validator_.empty() || verified_by_checksum() ? " and a later run resumes it"
                                                       : ", but a later run fetches the file again: the "
                                                         "server named no version (ETag, Last-Modified) to "
                                                         "resume it against";
}

// Takes over the bytes an earlier run left in the .part (checksums over them, the If-Range validator).
void Download::resume_partial() {
  const fs::path part = part_path();
  std::error_code ec;
  struct stat st {};
  TT_CHECK(::fstat(fd_, &st) == 0) << part.string() << ": " << std::strerror(errno);
  on_disk_ = uint64_t(st.st_size);

  const fs::path sidecar = part.string() + ".json";
  if (on_disk_ > 0 && fs::exists(sidecar, ec)) {
    auto j = nlohmann::json::parse(read_file(sidecar), nullptr, false);
    if (j.is_object() && j.value("url", "") == url_) {
      validator_ = j.value("etag", "");
      if (validator_.empty()) validator_ = j.value("last_modified", "");
    }
  }
  if (expected_.size && on_disk_ > expected_.size) restart_from_zero();
  if (!expected_.sha1.empty()) hashes_->sha1.emplace(Digest::Kind::Sha1);
  if (!expected_.md5.empty()) hashes_->md5.emplace(Digest::Kind::Md5);
  if (on_disk_ > 0 && validator_.empty() && !verified_by_checksum()) {
    // Without an ETag or Last-Modified for If-Range, nor a checksum to check the whole file, a file
    // changed on the server since would be spliced onto the old bytes without a sign.
    log_info(part.string(), ": the server gave no ETag or Last-Modified to show ", shown_url_,
             " is unchanged since; downloading it again from the start");
    restart_from_zero();
  }
  if (on_disk_ > 0 && verified_by_checksum()) {  // the resumed bytes count towards the checksums
    std::vector<char> buf(1 << 20);
    for (uint64_t off = 0; off < on_disk_;) {
      const ssize_t n = ::pread(fd_, buf.data(), std::min<uint64_t>(buf.size(), on_disk_ - off), off_t(off));
      TT_CHECK(n > 0) << part.string() << ": read error at offset " << off << ": " << std::strerror(errno);
      hashes_->update(buf.data(), size_t(n));
      off += uint64_t(n);
    }
  }
  validated_ = on_disk_ == 0;
  resumed_at_ = on_disk_;
  if (expected_.size && on_disk_ == expected_.size) {
    // Complete but not renamed (the run that fetched it was killed in between): check, no network.
    const bool sha1_ok = !hashes_->sha1 || hashes_->sha1->hex() == expected_.sha1;
    const bool md5_ok = !hashes_->md5 || hashes_->md5->hex() == expected_.md5;
    if (sha1_ok && md5_ok) {
      validated_ = true;
      verify_and_commit();
    } else {
      log_warn(part.string(), ": a complete-sized partial download of ", shown_url_,
               " fails its checksum; downloading it again");
      restart_from_zero();
    }
  }
}

Download::~Download() {
  const bool interrupted = !complete_ && !stopped_ && !discarded_ && started_s_ > 0 && on_disk_ > 0;
  transfer_.reset();
  if (!complete_ && !discarded_ && fd_ >= 0 && on_disk_ == 0) {  // nothing received: leave nothing behind
    std::error_code ec;
    fs::remove(part_path(), ec);
    fs::remove(part_path().string() + ".json", ec);
  }
  if (interrupted) {
    if (bar_) bar_->progress.finish("interrupted");
    log_info("download of ", shown_url_, " ended at ", amount(on_disk_),
             total_ ? " of " + amount(total_) : std::string(), "; the partial file ", part_path().string(),
             " is kept", later_run_note());
  }
  bar_.reset();
  if (fd_ >= 0) ::close(fd_);
}

fs::path Download::part_path() const {
  return final_path_.string() + ".part";
}

size_t Download::read(void* out, size_t cap) {
  TT_ASSERT(!stopped_ && !discarded_) << "Download::read after stop()/discard()";
  try {
    return read_some(out, cap);
  } catch (...) {
    failed_ = true;
    throw;
  }
}

size_t Download::read_some(void* out, size_t cap) {
  if (transfer_ && transfer_->paused && on_disk_ - read_offset_ < kReadAhead) {
    transfer_->paused = false;
    curl_easy_pause(transfer_->easy, CURLPAUSE_CONT);  // may deliver the held-back bytes right here
  }
  if (transfer_ && !transfer_->paused) pump_now();
  for (;;) {
    if ((validated_ || complete_) && read_offset_ < on_disk_) {
      const ssize_t n =
          ::pread(fd_, out, std::min<uint64_t>(cap, on_disk_ - read_offset_), off_t(read_offset_));
      TT_CHECK(n >= 0) << (complete_ ? final_path_ : part_path()).string() << ": read error at offset "
                       << read_offset_ << ": " << std::strerror(errno);
      if (n > 0) {
        read_offset_ += uint64_t(n);
        return size_t(n);
      }
    }
    if (complete_) return 0;
    pump();
  }
}

void Download::stop(const std::string& why) {
  if (complete_ || stopped_ || discarded_) return;
  stopped_ = true;
  transfer_.reset();
  if (bar_) {
    update_progress_to(on_disk_);
    bar_->progress.finish("stopped: " + why);
  }
  if (on_disk_ > 0)
    log_info("stopped downloading ", shown_url_, " at ", amount(on_disk_),
             total_ ? " of " + amount(total_) : "", " (", why, "); the partial file ", part_path().string(),
             " is kept", later_run_note());
}

void Download::discard() {
  transfer_.reset();
  bar_.reset();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  std::error_code ec;
  fs::remove(part_path(), ec);
  fs::remove(part_path().string() + ".json", ec);
  fs::remove(final_path_, ec);
  discarded_ = true;
  complete_ = false;
}

void Download::pump_now() {
  int running = 0;
  curl_multi_perform(transfer_->multi, &running);
  int queued = 0;
  while (CURLMsg* m = curl_multi_info_read(transfer_->multi, &queued)) {
    if (m->msg == CURLMSG_DONE) {
      finish_try(int(m->data.result));
      return;
    }
  }
}

void Download::pump() {
  if (!transfer_) {
    const double wait = retry_at_ - now_s();
    if (wait > 0) {
      sleep_polling(opts_, std::min(wait, 0.1));
      return;
    }
    start_try();
  }
  pump_now();
  if (transfer_) {
    // Only time spent waiting here counts towards a stall, not the time the reader spends elsewhere.
    const uint64_t seen = transfer_->activity;
    const double t0 = now_s();
    curl_multi_poll(transfer_->multi, nullptr, 0, 100, nullptr);
    pump_now();
    if (transfer_ && transfer_->activity == seen) {
      transfer_->idle_s += now_s() - t0;
      if (transfer_->idle_s >= opts_.stall_timeout_s) {
        transfer_->stalled = true;
        finish_try(int(CURLE_OPERATION_TIMEDOUT));
      }
    } else if (transfer_) {
      transfer_->idle_s = 0;
    }
  }
  if (opts_.poll) opts_.poll();
  update_progress();
}

void Download::start_try() {
  auto t = std::make_unique<Transfer>();
  t->self = this;
  t->request_offset = on_disk_;
  t->head_pending = on_disk_ == 0;
  t->easy = curl_easy_init();
  t->multi = curl_multi_init();
  TT_ASSERT(t->easy && t->multi) << "curl_easy_init / curl_multi_init failed";
  configure_transfer(t->easy, url_, opts_, t->err);
  curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, &Transfer::on_body);
  curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, t.get());
  curl_easy_setopt(t->easy, CURLOPT_HEADERFUNCTION, &Transfer::on_header);
  curl_easy_setopt(t->easy, CURLOPT_HEADERDATA, t.get());
  if (on_disk_ > 0) {
    const std::string range = std::to_string(on_disk_) + "-";
    curl_easy_setopt(t->easy, CURLOPT_RANGE, range.c_str());  // copied by libcurl
    if (!validator_.empty()) {
      t->headers = curl_slist_append(t->headers, ("If-Range: " + validator_).c_str());
      curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
    }
  }
  TT_ASSERT(curl_multi_add_handle(t->multi, t->easy) == CURLM_OK) << "curl_multi_add_handle failed";
  if (started_s_ == 0) started_s_ = now_s();
  transfer_ = std::move(t);
}

void Download::begin_response() {
  Transfer& t = *transfer_;
  t.began = true;
  curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &t.status);
  if (t.status < 200 || t.status >= 300) {
    t.mode = Transfer::Mode::Discard;  // an error page: its body is not the file
    return;
  }
  if (ascii_lower(t.content_type).rfind("text/html", 0) == 0) {
    t.fatal = "the server answered with an HTML page (HTTP " + std::to_string(t.status) + ", Content-Type " +
              t.content_type + "), not the file";
    t.fatal_refuses = true;
    return;
  }
  int64_t total = 0;
  if (t.status == 206) {
    int64_t first = -1, size = -1;
    if (!parse_content_range(t.content_range, &first, &size) || first != int64_t(t.request_offset)) {
      t.fatal = "asked for bytes " + std::to_string(t.request_offset) + "- and got Content-Range \"" +
                t.content_range + "\"";
      t.fatal_refuses = true;
      return;
    }
    total = std::max<int64_t>(size, 0);
  } else {
    curl_off_t length = -1;
    curl_easy_getinfo(t.easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
    total = std::max<curl_off_t>(length, 0);
    if (t.request_offset > 0) {
      if (!validated_) {
        log_info(shown_url_, ": the server did not resume the partial download (HTTP ", t.status,
                 " to a Range request); downloading it again from the start");
        restart_from_zero();
        t.request_offset = 0;
        t.head_pending = true;
      } else {
        log_warn(shown_url_, ": the server ignored the Range request of a retry (HTTP ", t.status,
                 "); reading from the start again and checking the ", on_disk_, " bytes already received");
        t.mode = Transfer::Mode::Compare;
      }
    }
    save_validator(t.etag, t.last_modified);
  }
  if (total > 0) {
    if (expected_.size && uint64_t(total) != expected_.size) {
      t.fatal = "the server's file has " + std::to_string(total) + " bytes, " + expected_.source + " says " +
                std::to_string(expected_.size);
      t.fatal_refuses = true;
      return;
    }
    total_ = uint64_t(total);
  } else if (expected_.size) {
    total_ = expected_.size;
  }
  validated_ = true;
  if (!bar_) {
    bar_ = std::make_unique<Bar>("download " + url_file_name(url_),
                                 total_ > resumed_at_ ? total_ - resumed_at_ : 0);
  }
}

size_t Download::on_body(const char* p, size_t n) {
  Transfer& t = *transfer_;
  if (!t.began) begin_response();
  if (!t.fatal.empty()) return 0;
  if (t.mode == Transfer::Mode::Discard) return n;
  size_t used = 0;
  if (t.mode == Transfer::Mode::Compare) {
    const size_t k = size_t(std::min<uint64_t>(n, t.request_offset - t.compare_pos));
    std::string disk(k, '\0');
    const ssize_t got = ::pread(fd_, disk.data(), k, off_t(t.compare_pos));
    if (got != ssize_t(k) || std::memcmp(disk.data(), p, k) != 0) {
      t.fatal =
          "the file changed on the server during the download (the new response differs from the bytes "
          "received before, within bytes " +
          std::to_string(t.compare_pos) + "-" + std::to_string(t.compare_pos + k) + ")";
      t.fatal_refuses = true;
      return 0;
    }
    t.compare_pos += k;
    used = k;
    if (t.compare_pos == t.request_offset) t.mode = Transfer::Mode::Append;
  }
  if (used == 0 && !t.head_pending && on_disk_ - read_offset_ >= kReadAhead) {
    t.paused = true;  // libcurl keeps these bytes and hands them over again after the unpause
    return CURL_WRITEFUNC_PAUSE;
  }
  if (used < n) {
    if (t.head_pending) {
      t.head.append(p + used, n - used);
      if (t.head.size() >= kHeadBytes) flush_head();
    } else {
      write_bytes(p + used, n - used);
    }
  }
  return t.fatal.empty() ? n : 0;
}

void Download::flush_head() {
  Transfer& t = *transfer_;
  t.head_pending = false;
  if (!check_head(t.head.data(), t.head.size())) return;
  std::string head = std::move(t.head);
  write_bytes(head.data(), head.size());
}

bool Download::check_head(const char* p, size_t n) {
  std::string_view s(p, n);
  if (s.substr(0, 3) == "\xEF\xBB\xBF") s.remove_prefix(3);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  const std::string start = ascii_lower(s.substr(0, 14));
  if (start.rfind("<!doctype html", 0) != 0 && start.rfind("<html", 0) != 0) return true;
  const std::string l = ascii_lower(s);
  std::string title;
  if (size_t b = l.find("<title>"); b != std::string::npos) {
    b += 7;
    title = std::string(trim_ascii_space(s.substr(b, std::min(l.find("</title>", b), b + 80) - b)));
  }
  Transfer& t = *transfer_;
  t.fatal = "the server answered with an HTML page" + (title.empty() ? "" : " (\"" + title + "\")") +
            " instead of the file (HTTP " + std::to_string(t.status) + ", Content-Type " +
            (t.content_type.empty() ? "not given" : t.content_type) + ")";
  t.fatal_refuses = true;
  return false;
}

void Download::write_bytes(const char* p, size_t n) {
  Transfer& t = *transfer_;
  if (expected_.size && on_disk_ + n > expected_.size) {
    t.fatal = "the server sent more than the " + std::to_string(expected_.size) + " bytes " +
              expected_.source + " gives for the file";
    t.fatal_refuses = true;
    return;
  }
  for (size_t done = 0; done < n;) {
    const ssize_t w = ::pwrite(fd_, p + done, n - done, off_t(on_disk_ + done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      t.fatal = "cannot write " + part_path().string() + ": " + std::strerror(errno);
      return;
    }
    done += size_t(w);
  }
  hashes_->update(p, n);
  on_disk_ += n;
  t.received += n;
}

void Download::finish_try(int curl_result) {
  const CURLcode rc = CURLcode(curl_result);
  if (rc == CURLE_OK && !transfer_->began) begin_response();  // a response without a body
  if (rc == CURLE_OK && transfer_->head_pending && transfer_->fatal.empty()) flush_head();
  std::unique_ptr<Transfer> t = std::move(transfer_);
  if (t->received > 0) failures_ = 0;
  if (char* effective = nullptr;
      curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &effective) == CURLE_OK && effective)
    effective_url_ = effective;
  const std::string keep_note = on_disk_ > 0
                                    ? "; the partial download " + part_path().string() + " (" +
                                          std::to_string(on_disk_) + " bytes) is kept" + later_run_note()
                                    : "";
  if (!t->fatal.empty()) {
    if (t->fatal_refuses) refuse(t->fatal);
    TT_FAIL() << "GET " << shown_url_ << ": " << t->fatal << keep_note;
  }
  if (rc != CURLE_OK) {
    std::string problem = transfer_error_text(rc, t->err);
    if (rc == CURLE_TOO_MANY_REDIRECTS)
      problem += " (more than " + std::to_string(opts_.max_redirects) + " redirects)";
    if (t->stalled) problem = stall_text(opts_);
    TT_CHECK(is_transient(rc)) << "GET " << shown_url_ << ": " << problem << keep_note;
    schedule_retry(problem);
    return;
  }
  const long status = t->status;
  if (status < 200 || status >= 300) {
    if (status == 416 && on_disk_ > 0) {
      // Range Not Satisfiable: the partial file is as long as the file (or longer than it).
      int64_t first = -1, size = -1;
      parse_content_range(t->content_range, &first, &size);
      if (size >= 0 && total_ && uint64_t(size) != total_)
        refuse("got " + std::to_string(on_disk_) + " bytes, the server announced " + std::to_string(total_) +
               " and then gave the size as " + std::to_string(size));
      if (size >= 0 && uint64_t(size) == on_disk_) {
        total_ = on_disk_;
        validated_ = true;
        verify_and_commit();
        return;
      }
      if (validated_) refuse("the file on the server is now shorter than the bytes already received");
      log_info(shown_url_,
               ": the partial download does not fit the file on the server (HTTP 416); starting again");
      restart_from_zero();
      schedule_retry("HTTP 416 Range Not Satisfiable");
      return;
    }
    const std::string problem = http_status_text(status);
    if (!is_transient_status(status))
      throw HttpStatusError("GET " + shown_url_ + ": " + problem + keep_note, status);
    schedule_retry(problem);
    return;
  }
  if (t->mode == Transfer::Mode::Compare)
    refuse("the file on the server is now shorter than the bytes already received");
  if (total_ && on_disk_ < total_) {
    schedule_retry("the transfer ended at byte " + std::to_string(on_disk_) + " of " +
                   std::to_string(total_));
    return;
  }
  verify_and_commit();
}

void Download::schedule_retry(const std::string& problem) {
  ++failures_;
  last_problem_ = problem;
  if (failures_ > opts_.retries) {
    TT_FAIL() << "GET " << shown_url_ << ": " << problem << " (gave up after " << failures_
              << " tries in a row without progress)"
              << (on_disk_ > 0 ? "; the partial download " + part_path().string() + " (" +
                                     std::to_string(on_disk_) + " bytes) is kept" + later_run_note()
                               : std::string())
              << hint(
                     "check the network connection and the URL; --net_retries and --net_timeout set the "
                     "tries and the stall timeout");
  }
  const double delay = backoff_seconds(opts_, failures_);
  log_warn("GET ", shown_url_, ": ", problem, "; retrying in ", delay, " s from byte ", on_disk_, " (try ",
           failures_ + 1, " of ", opts_.retries + 1, ")");
  retry_at_ = now_s() + delay;
}

void Download::verify_and_commit() {
  const std::string src = expected_.source.empty() ? "the index" : expected_.source;
  if (expected_.size && on_disk_ != expected_.size)
    refuse("got " + std::to_string(on_disk_) + " bytes, " + src + " says " + std::to_string(expected_.size));
  if (total_ && on_disk_ != total_)
    refuse("got " + std::to_string(on_disk_) + " bytes, the server announced " + std::to_string(total_));
  if (!expected_.size && !total_ && !verified_by_checksum())
    log_warn("GET ", shown_url_,
             ": the server sent no length and no checksum is known, so a connection cut "
             "short would look like the whole file; if the data looks short, remove ",
             final_path_.string(), " and run again");
  std::string checks;
  for (auto* d : {hashes_->sha1 ? &*hashes_->sha1 : nullptr, hashes_->md5 ? &*hashes_->md5 : nullptr}) {
    if (!d) continue;
    const std::string& want = d->kind() == Digest::Kind::Sha1 ? expected_.sha1 : expected_.md5;
    const std::string got = d->hex();
    if (got != want) refuse(std::string(d->name()) + " mismatch: got " + got + ", " + src + " says " + want);
    checks += std::string(", ") + d->name() + " ok";
  }
  TT_CHECK(::fsync(fd_) == 0) << part_path().string() << ": fsync failed: " << std::strerror(errno);
  std::error_code ec;
  fs::rename(part_path(), final_path_, ec);
  TT_CHECK(!ec) << "cannot rename " << part_path().string() << " to " << final_path_.string() << ": "
                << ec.message();
  fs::remove(part_path().string() + ".json", ec);
  complete_ = true;
  total_ = on_disk_;
  if (bar_) {
    update_progress_to(on_disk_);
    bar_->progress.finish();
  }
  const double secs = started_s_ > 0 ? now_s() - started_s_ : 0;
  log_info("fetched ", shown_url_,
           effective_url_.empty() || effective_url_ == url_
               ? ""
               : " (redirected to " + without_credentials(effective_url_) + ")",
           " (", on_disk_, " bytes", checks,
           resumed_at_ > 0 ? ", resumed at byte " + std::to_string(resumed_at_) : std::string(), ", ",
           Progress::format_duration(secs), "); cached as ", final_path_.string());
}

void Download::restart_from_zero() {
  TT_CHECK(::ftruncate(fd_, 0) == 0) << part_path().string() << ": cannot truncate: " << std::strerror(errno);
  on_disk_ = read_offset_ = resumed_at_ = 0;
  hashes_->reset();
  validated_ = true;  // nothing on disk: nothing can be stale
  validator_.clear();
}

void Download::refuse(const std::string& problem) {
  const fs::path part = part_path();
  discard();
  TT_FAIL() << "GET " << shown_url_ << ": " << problem << "; refused, and the partial download "
            << part.string() << " was removed"
            << hint("run again to download it afresh; if it keeps failing, try another mirror");
}

void Download::update_progress() {
  if (bar_ && !complete_) update_progress_to(on_disk_);
}

void Download::update_progress_to(uint64_t bytes) {
  bar_->progress.update(bytes - std::min(bytes, resumed_at_),
                        resumed_at_ > 0 ? "resumed at " + amount(resumed_at_) : std::string());
}

void Download::save_validator(const std::string& etag, const std::string& last_modified) {
  validator_ = !etag.empty() ? etag : last_modified;
  if (validator_.empty()) return;
  nlohmann::json j = {{"url", url_}, {"etag", etag}, {"last_modified", last_modified}};
  write_file_atomic(part_path().string() + ".json", j.dump(1) + "\n");
}

}  // namespace tt::net
