#include "net/http.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <mutex>
#include <thread>

#include "common/log.h"
#include "net/url.h"
#include "tt_version.h"

namespace tt::net {

void init_curl() {
  static std::once_flag once;
  std::call_once(once, [] {
    TT_CHECK(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK) << "libcurl: curl_global_init failed";
  });
}

std::string http_status_text(long status) {
  const char* reason = nullptr;
  switch (status) {
    case 301:
      reason = "Moved Permanently";
      break;
    case 302:
      reason = "Found";
      break;
    case 400:
      reason = "Bad Request";
      break;
    case 401:
      reason = "Unauthorized";
      break;
    case 403:
      reason = "Forbidden";
      break;
    case 404:
      reason = "Not Found";
      break;
    case 408:
      reason = "Request Timeout";
      break;
    case 410:
      reason = "Gone";
      break;
    case 416:
      reason = "Range Not Satisfiable";
      break;
    case 429:
      reason = "Too Many Requests";
      break;
    case 500:
      reason = "Internal Server Error";
      break;
    case 502:
      reason = "Bad Gateway";
      break;
    case 503:
      reason = "Service Unavailable";
      break;
    case 504:
      reason = "Gateway Timeout";
      break;
    default:
      break;
  }
  return "HTTP " + std::to_string(status) + (reason ? std::string(" ") + reason : std::string());
}

bool is_transient(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
      return true;
    default:
      return false;
  }
}

bool is_transient_status(long status) {
  return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

double backoff_seconds(const HttpOptions& o, int failures) {
  return std::min(30.0, o.retry_delay_s * std::ldexp(1.0, std::max(0, failures - 1)));
}

void sleep_polling(const HttpOptions& o, double seconds) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point end =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (;;) {
    if (o.poll) o.poll();
    const Clock::time_point now = Clock::now();
    if (now >= end) return;
    std::this_thread::sleep_for(std::min<Clock::duration>(end - now, std::chrono::milliseconds(50)));
  }
}

void configure_transfer(CURL* h, const std::string& url, const HttpOptions& o, char* error_buffer) {
  static const std::string agent = std::string("tiny-transformer/") + TT_VERSION + " (prepare-data) " +
                                   curl_version_info(CURLVERSION_NOW)->version;
  error_buffer[0] = '\0';
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, long(o.max_redirects));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, long(o.connect_timeout_s * 1000));
  // Stalls (no byte for stall_timeout_s) are detected by the callers: libcurl's low-speed check averages
  // over several seconds and would also count the time a reader spends away from a pulled download.
  curl_easy_setopt(h, CURLOPT_USERAGENT, agent.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
}

std::string transfer_error_text(CURLcode rc, const char* error_buffer) {
  std::string s = curl_easy_strerror(rc);
  if (error_buffer && error_buffer[0]) s += " (" + std::string(error_buffer) + ")";
  return s;
}

std::string stall_text(const HttpOptions& o) {
  char secs[32];
  std::snprintf(secs, sizeof secs, "%g", o.stall_timeout_s);
  return std::string("the transfer stalled: no data for ") + secs + " s";
}

namespace {

struct GetState {
  std::string body;
  size_t max_bytes = 0;
  bool too_large = false;
  const HttpOptions* opts = nullptr;
  std::exception_ptr poll_error;
  curl_off_t last_bytes = -1;
  std::chrono::steady_clock::time_point last_change = std::chrono::steady_clock::now();
  bool stalled = false;
};

size_t on_body(char* p, size_t size, size_t n, void* user) {
  auto* st = static_cast<GetState*>(user);
  const size_t bytes = size * n;
  if (st->body.size() + bytes > st->max_bytes) {
    st->too_large = true;
    return 0;
  }
  st->body.append(p, bytes);
  return bytes;
}

int on_progress(void* user, curl_off_t, curl_off_t dlnow, curl_off_t, curl_off_t) {
  auto* st = static_cast<GetState*>(user);
  const auto now = std::chrono::steady_clock::now();
  if (dlnow != st->last_bytes) {
    st->last_bytes = dlnow;
    st->last_change = now;
  } else if (std::chrono::duration<double>(now - st->last_change).count() >= st->opts->stall_timeout_s) {
    st->stalled = true;
    return 1;
  }
  if (!st->opts->poll) return 0;
  try {  // no exception may cross libcurl's C frames: keep it and stop the transfer
    st->opts->poll();
  } catch (...) {
    st->poll_error = std::current_exception();
    return 1;
  }
  return 0;
}

}  // namespace

std::string http_get(const std::string& url, const HttpOptions& o, size_t max_bytes) {
  const std::string shown_url = without_credentials(url);  // what messages name
  init_curl();
  int failures = 0;
  for (;;) {
    GetState st;
    st.max_bytes = max_bytes;
    st.opts = &o;
    char err[CURL_ERROR_SIZE];
    CURL* h = curl_easy_init();
    TT_ASSERT(h) << "curl_easy_init failed";
    configure_transfer(h, url, o, err);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &st);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &st);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    const CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    if (st.poll_error) std::rethrow_exception(st.poll_error);
    TT_CHECK(!st.too_large) << "GET " << shown_url << ": the response is larger than " << max_bytes
                            << " bytes, which is not what an index file is";
    std::string problem;
    bool transient = false;
    if (st.stalled) {
      problem = stall_text(o);
      transient = true;
    } else if (rc != CURLE_OK) {
      problem = transfer_error_text(rc, err);
      transient = is_transient(rc);
      TT_CHECK(transient) << "GET " << shown_url << ": " << problem;
    } else if (status >= 300) {
      problem = http_status_text(status);
      transient = is_transient_status(status);
      if (!transient) throw HttpStatusError("GET " + shown_url + ": " + problem, status);
    } else {
      return st.body;
    }
    ++failures;
    if (failures > o.retries) {
      const std::string msg =
          "GET " + shown_url + ": " + problem + " (gave up after " + std::to_string(failures) + " tries)";
      if (status >= 300) throw HttpStatusError(msg, status);
      TT_FAIL() << msg << hint("check the network connection and the URL; --net_retries sets the tries");
    }
    const double delay = backoff_seconds(o, failures);
    log_warn("GET ", shown_url, ": ", problem, "; retrying in ", delay, " s (try ", failures + 1, " of ",
             o.retries + 1, ")");
    sleep_polling(o, delay);
  }
}

}  // namespace tt::net
