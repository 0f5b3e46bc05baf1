// HTTP(S) through libcurl: the options every transfer shares (timeouts, retries, redirects), and a
// GET of a small file into memory (a dump index, a directory listing). Large files go through
// net::Download (download.h), which streams to the cache instead.
//
// Every network operation is bounded: the connection by connect_timeout_s, a transfer that
// receives nothing for stall_timeout_s is abandoned, redirects are followed at most max_redirects
// times (http and https only), and transient failures (connection refused or reset, timeouts,
// a server closing early, HTTP 408/429/5xx) are retried with exponential backoff at most `retries`
// times in a row without progress. Errors are tt::Error naming the URL and the HTTP status or the
// transport error.
#pragma once

#include <curl/curl.h>

#include <cstdint>
#include <functional>
#include <string>

#include "common/check.h"

namespace tt::net {

struct HttpOptions {
  double connect_timeout_s = 30;
  double stall_timeout_s = 60;  // a transfer (or the wait for its response) receiving nothing this long
  int retries = 5;              // further tries after a failure that made no progress
  double retry_delay_s = 1;     // first backoff; doubles per try, at most 30 s
  int max_redirects = 10;
  // Called at least every 100 ms while waiting on the network or a backoff; it may throw to stop
  // (prepare-data's SIGINT/SIGTERM check).
  std::function<void()> poll;
};

// An HTTP status >= 400 (after redirects), so callers can tell "404: not there" from other errors.
class HttpStatusError : public Error {
 public:
  HttpStatusError(const std::string& what, long status) : Error(what), status_(status) {}
  long status() const { return status_; }

 private:
  long status_;
};

// "404 Not Found" for the common statuses, else just the number.
std::string http_status_text(long status);
// Whether a failed try is worth repeating: transport errors that a flaky network or a busy server
// cause, and HTTP 408, 429 and 5xx.
bool is_transient(CURLcode rc);
bool is_transient_status(long status);
// Seconds to wait before try number `failures + 1` (failures >= 1).
double backoff_seconds(const HttpOptions& o, int failures);
// Sleeps `seconds` in slices of at most 50 ms, calling o.poll between them.
void sleep_polling(const HttpOptions& o, double seconds);

// The libcurl settings every transfer shares: URL, protocols, redirects, timeouts, user agent,
// error buffer (CURL_ERROR_SIZE bytes, owned by the caller).
void configure_transfer(CURL* h, const std::string& url, const HttpOptions& o, char* error_buffer);
// "the transfer stalled: no data for 60 s".
std::string stall_text(const HttpOptions& o);
// "connection refused: Failed to connect to 127.0.0.1 port 1: Couldn't connect to server" style text.
std::string transfer_error_text(CURLcode rc, const char* error_buffer);

// GET `url` into memory, following redirects, with the retries above. tt::Error (HttpStatusError for
// an HTTP status >= 400) naming the URL; a body over `max_bytes` is refused.
std::string http_get(const std::string& url, const HttpOptions& o, size_t max_bytes = 64u << 20);

// Initialises libcurl once per process (thread-safe).
void init_curl();

}  // namespace tt::net
