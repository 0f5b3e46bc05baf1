// A small HTTP/1.1 server on 127.0.0.1 (an ephemeral port) for the download tests: it serves bodies
// held in memory by path, and can misbehave on purpose, per path and for the first N requests only,
// so that a test sees a failure and then the recovery. No test traffic leaves the loopback interface.
//
//   honour_range     answer "Range: bytes=N-" with 206 (and If-Range against the ETag), or ignore it (200)
//   close_after      send this many body bytes, then close the connection
//   stall_after      send this many body bytes, then nothing (until the client gives up or the server stops)
//   stall_headers    send nothing at all, not even the status line
//   announce_length  a Content-Length other than the body's
//   status/location  any status; a 3xx with Location makes redirects and redirect chains
//   content_type     e.g. text/html for an error page served with 200
// Every connection is closed after one response. Each accepted connection gets a thread; all are
// joined by the destructor, which also ends stalls.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tt::data::test {

struct Route {
  int status = 200;
  std::string body;
  std::string content_type = "application/octet-stream";
  std::string location;  // sent with a 3xx status
  std::string etag;      // sent when not empty; If-Range is compared with it
  bool honour_range = true;
  int64_t announce_length = -1;
  // Failures for the first `failing_requests` requests of this path:
  int failing_requests = 0;
  int64_t close_after = -1;
  int64_t stall_after = -1;
  bool stall_headers = false;
};

struct RequestLog {
  std::string path, range, if_range;
};

class TestHttpServer {
 public:
  TestHttpServer();
  ~TestHttpServer();
  TestHttpServer(const TestHttpServer&) = delete;
  TestHttpServer& operator=(const TestHttpServer&) = delete;

  void route(const std::string& path, Route r);
  std::string url(const std::string& path) const;  // "http://127.0.0.1:<port><path>"
  int port() const { return port_; }
  int requests(const std::string& path) const;
  std::vector<RequestLog> log() const;

 private:
  void accept_loop();
  void handle(int fd);
  bool wait_while_stalled(int fd);

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::map<std::string, Route> routes_;
  std::map<std::string, int> counts_;
  std::vector<RequestLog> log_;
  std::vector<std::thread> workers_;
  std::thread acceptor_;
};

// A 127.0.0.1 port that refuses connections (bound, never listening) while the object lives.
class RefusingPort {
 public:
  RefusingPort();
  ~RefusingPort();
  int port() const { return port_; }
  std::string url(const std::string& path) const;

 private:
  int fd_ = -1;
  int port_ = 0;
};

}  // namespace tt::data::test
