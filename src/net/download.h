// One file fetched over HTTP(S) into the cache while it is being read: the reader pulls bytes with
// read(), which also drives the transfer (libcurl's multi interface, on the reading thread; no thread of
// its own). The file on disk gets at most 1 MiB ahead of the reader before the transfer pauses (the
// kernel's socket buffers keep receiving meanwhile), so a reader that stops early (prepare-data's
// --max_bytes) stops the transfer within about a megabyte of what it used.
//
//   <final>.part       the bytes received so far; a later Download of the same file resumes it with a
//                      Range request (If-Range with the validator kept below, so a file that changed on
//                      the server is fetched again from zero instead of being spliced)
//   <final>.part.json  the URL and the server's ETag / Last-Modified for that If-Range
//   <final>            renamed from .part only when complete and verified: size (the index's, and the
//                      server's Content-Length / Content-Range), and SHA-1 / MD5 when expected
//
// Resumes and retries: a transfer that fails transiently (see http.h) is retried from the byte it
// reached, with backoff, at most `retries` times in a row without progress. A server that ignores
// Range (200 instead of 206) is read from the start again: before the reader has seen any byte the
// partial file is simply restarted from zero; mid-read, the bytes already on disk are compared with
// the new response as it skips over them, so the reader's data stay consistent (a difference is an
// error: the file changed on the server).
//
// Refused (tt::Error naming the URL; the partial file is removed, since resuming it cannot help): an
// HTML page instead of the file (Content-Type text/html, or content that starts like one), a size
// other than the expected one, a checksum mismatch, content that changed on the server. HTTP
// statuses >= 400 and transport errors that survive the retries are errors too, but keep the partial
// file for a later run. Another process downloading the same file holds a lock on the .part: refused.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "net/http.h"

namespace tt::net {

namespace fs = std::filesystem;

struct Expected {
  uint64_t size = 0;  // 0 = unknown
  std::string sha1;   // lower-case hex; "" = not checked
  std::string md5;
  std::string source;  // where these values come from, for messages ("dumpstatus.json")
};

class Download {
 public:
  // A complete `final_path` already in the cache is read from there (no network). Otherwise the
  // transfer starts (or resumes) on the first read().
  Download(std::string url, fs::path final_path, Expected expected, HttpOptions options);
  ~Download();  // stops a transfer in progress, keeping the .part (logged) for a later run
  Download(const Download&) = delete;
  Download& operator=(const Download&) = delete;

  // Up to `cap` bytes of the file from the current position; 0 only at its (verified) end.
  size_t read(void* out, size_t cap);

  // Ends the transfer early on purpose (e.g. "--max_bytes reached"): the .part stays for resuming and
  // one log line says so. Nothing happens if the file is already complete.
  void stop(const std::string& why);
  // Removes what is cached for this URL (.part or final): for data that turned out to be unusable.
  void discard();

  const std::string& url() const { return url_; }
  const fs::path& final_path() const { return final_path_; }
  fs::path part_path() const;
  bool complete() const { return complete_; }
  bool from_cache() const { return from_cache_; }   // complete before this run
  bool transferring() const { return !complete_; }  // bytes still arrive over the network
  uint64_t total_size() const { return total_; }    // 0 while unknown
  bool failed() const { return failed_; }           // a read() threw (transfer error, interrupt)
  bool verified_by_checksum() const { return !expected_.sha1.empty() || !expected_.md5.empty(); }
  std::string later_run_note() const;

  struct Transfer;  // libcurl state of one try (implementation detail)

 private:
  void resume_partial();
  size_t read_some(void* out, size_t cap);
  void pump_now();  // lets libcurl handle what has arrived, without waiting
  void pump();      // advances the transfer a little (at most ~100 ms of waiting); throws on fatal errors
  void start_try();
  void finish_try(int curl_result);
  void begin_response();
  size_t on_body(const char* p, size_t n);
  void write_bytes(const char* p, size_t n);
  bool check_head(const char* p, size_t n);
  void flush_head();
  void schedule_retry(const std::string& problem);
  void verify_and_commit();
  void restart_from_zero();
  [[noreturn]] void refuse(const std::string& problem);  // integrity failure: remove the partial, throw
  void update_progress();
  void update_progress_to(uint64_t bytes);
  void save_validator(const std::string& etag, const std::string& last_modified);

  std::string url_;
  std::string shown_url_;  // url_ without a user name or password: what messages name
  fs::path final_path_;
  Expected expected_;
  HttpOptions opts_;

  int fd_ = -1;
  uint64_t on_disk_ = 0, read_offset_ = 0, total_ = 0;
  uint64_t resumed_at_ = 0;  // bytes on disk when this run's transfer started
  bool complete_ = false, from_cache_ = false, stopped_ = false, discarded_ = false, failed_ = false;
  bool validated_ = false;     // the bytes on disk belong to the response being received
  std::string validator_;      // ETag or Last-Modified of the file the .part holds, for If-Range
  std::string effective_url_;  // after redirects, for the log

  std::unique_ptr<Transfer> transfer_;
  int failures_ = 0;  // tries in a row that made no progress
  double retry_at_ = 0;
  std::string last_problem_;

  struct Hashes;
  std::unique_ptr<Hashes> hashes_;
  struct Bar;
  std::unique_ptr<Bar> bar_;
  double started_s_ = 0;
};

}  // namespace tt::net
