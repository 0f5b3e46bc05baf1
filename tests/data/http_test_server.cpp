#include "http_test_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace tt::data::test {

namespace {

// A socket bound to 127.0.0.1 on an ephemeral port; returns the fd and sets `port`.
int bind_loopback(int* port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    throw std::runtime_error(std::string("bind 127.0.0.1: ") + std::strerror(errno));
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

bool send_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= size_t(w);
  }
  return true;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

const char* reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 404:
      return "Not Found";
    case 416:
      return "Range Not Satisfiable";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

// libcurl honours http_proxy/https_proxy; requests to this server must never go anywhere else.
void bypass_proxies_for_loopback() {
  ::setenv("no_proxy", "127.0.0.1,localhost", 1);
  ::setenv("NO_PROXY", "127.0.0.1,localhost", 1);
}

}  // namespace

TestHttpServer::TestHttpServer() {
  bypass_proxies_for_loopback();
  listen_fd_ = bind_loopback(&port_);
  if (::listen(listen_fd_, 16) != 0) throw std::runtime_error(std::string("listen: ") + std::strerror(errno));
  acceptor_ = std::thread([this] { accept_loop(); });
}

TestHttpServer::~TestHttpServer() {
  stop_ = true;
  acceptor_.join();
  ::close(listen_fd_);
  std::vector<std::thread> workers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    workers.swap(workers_);
  }
  for (auto& t : workers) t.join();
}

void TestHttpServer::route(const std::string& path, Route r) {
  std::lock_guard<std::mutex> lock(mu_);
  routes_[path] = std::move(r);
}

std::string TestHttpServer::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

int TestHttpServer::requests(const std::string& path) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = counts_.find(path);
  return it == counts_.end() ? 0 : it->second;
}

std::vector<RequestLog> TestHttpServer::log() const {
  std::lock_guard<std::mutex> lock(mu_);
  return log_;
}

void TestHttpServer::accept_loop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::lock_guard<std::mutex> lock(mu_);
    workers_.emplace_back([this, fd] {
      handle(fd);
      ::close(fd);
    });
  }
}

// Waits until the server stops or the client closes its end (at most 60 s); false when stopping.
bool TestHttpServer::wait_while_stalled(int fd) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!stop_ && std::chrono::steady_clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) > 0) {
      char c;
      if (::recv(fd, &c, 1, MSG_DONTWAIT) <= 0) return true;  // the client gave up
    }
  }
  return false;
}

void TestHttpServer::handle(int fd) {
  timeval tv{5, 0};  // a client that never sends its request cannot hold a worker for long
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string req;
  char buf[4096];
  while (req.find("\r\n\r\n") == std::string::npos && req.size() < (64u << 10)) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return;
    req.append(buf, size_t(n));
  }
  const size_t sp1 = req.find(' '), sp2 = req.find(' ', sp1 + 1);
  if (sp1 == std::string::npos || sp2 == std::string::npos) return;
  const std::string path = req.substr(sp1 + 1, sp2 - sp1 - 1);
  std::map<std::string, std::string> headers;
  for (size_t pos = req.find("\r\n") + 2; pos < req.size();) {
    const size_t end = req.find("\r\n", pos);
    if (end == std::string::npos || end == pos) break;
    const std::string line = req.substr(pos, end - pos);
    const size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string v = line.substr(colon + 1);
      v.erase(0, v.find_first_not_of(' '));
      headers[lower(line.substr(0, colon))] = v;
    }
    pos = end + 2;
  }

  Route r;
  bool found = false, failing = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const int n = ++counts_[path];
    log_.push_back({path, headers["range"], headers["if-range"]});
    auto it = routes_.find(path);
    if (it != routes_.end()) {
      r = it->second;
      found = true;
      failing = n <= r.failing_requests;
    }
  }
  if (!found) {
    r = Route{};
    r.status = 404;
    r.body = "no such path: " + path + "\n";
    r.content_type = "text/plain";
  }
  if (failing && r.stall_headers) {
    wait_while_stalled(fd);
    return;
  }

  int status = r.status;
  size_t begin = 0;
  std::string extra;
  const std::string& range = headers["range"];
  if (status == 200 && r.honour_range && range.rfind("bytes=", 0) == 0) {
    const bool if_range_ok = !headers.count("if-range") || headers["if-range"] == r.etag;
    const size_t first = std::strtoull(range.c_str() + 6, nullptr, 10);
    if (if_range_ok && first >= r.body.size()) {
      status = 416;
      extra += "Content-Range: bytes */" + std::to_string(r.body.size()) + "\r\n";
    } else if (if_range_ok) {
      status = 206;
      begin = first;
      extra += "Content-Range: bytes " + std::to_string(first) + "-" + std::to_string(r.body.size() - 1) +
               "/" + std::to_string(r.body.size()) + "\r\n";
    }
  }
  const std::string_view body =
      status == 416 ? std::string_view() : std::string_view(r.body).substr(std::min(begin, r.body.size()));
  const int64_t length =
      r.announce_length >= 0 && status != 416 ? r.announce_length - int64_t(begin) : int64_t(body.size());
  std::string head = "HTTP/1.1 " + std::to_string(status) + " " + reason(status) + "\r\n";
  head += "Content-Length: " + std::to_string(length) + "\r\n";
  head += "Content-Type: " + r.content_type + "\r\n";
  if (r.honour_range) head += "Accept-Ranges: bytes\r\n";
  if (!r.etag.empty()) head += "ETag: " + r.etag + "\r\n";
  if (!r.location.empty()) head += "Location: " + r.location + "\r\n";
  head += extra + "Connection: close\r\n\r\n";
  if (!send_all(fd, head.data(), head.size())) return;

  size_t limit = body.size();
  if (failing && r.close_after >= 0) limit = std::min(limit, size_t(r.close_after));
  if (failing && r.stall_after >= 0) limit = std::min(limit, size_t(r.stall_after));
  for (size_t off = 0; off < limit && !stop_;) {
    const size_t n = std::min<size_t>(64 << 10, limit - off);
    if (!send_all(fd, body.data() + off, n)) return;
    off += n;
  }
  if (failing && r.stall_after >= 0) {
    wait_while_stalled(fd);
    return;
  }
  ::shutdown(fd, SHUT_WR);
}

RefusingPort::RefusingPort() {
  bypass_proxies_for_loopback();
  fd_ = bind_loopback(&port_);
}

RefusingPort::~RefusingPort() {
  ::close(fd_);
}

std::string RefusingPort::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

}  // namespace tt::data::test
