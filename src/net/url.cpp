#include "net/url.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "common/check.h"
#include "common/sha256.h"

namespace tt::net {

namespace {

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  return true;
}

std::string url_part(CURLU* u, CURLUPart part) {
  char* v = nullptr;
  if (curl_url_get(u, part, &v, 0) != CURLUE_OK || !v) return "";
  std::string s(v);
  curl_free(v);
  return s;
}

// A URL path segment as a file name: bytes other than letters, digits and . - + ~ become _XX (hex), '_'
// itself included, so two segments never share a name ("a%2Cb" is "a_252Cb", "a_2Cb" is "a_5F2Cb"; they
// shared "a_2Cb", and the second URL was served the first one's cached file).
std::string safe_segment(std::string_view seg) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string s;
  for (char c : seg) {
    const auto b = static_cast<unsigned char>(c);
    if (std::isalnum(b) || c == '.' || c == '-' || c == '+' || c == '~') {
      s.push_back(c);
    } else {
      s.push_back('_');
      s.push_back(kHex[b >> 4]);
      s.push_back(kHex[b & 15]);
    }
  }
  return s;
}

}  // namespace

bool is_http_url(std::string_view s) {
  return starts_with_nocase(s, "http://") || starts_with_nocase(s, "https://");
}

UrlParts parse_url(const std::string& url) {
  CURLU* u = curl_url();
  TT_ASSERT(u) << "curl_url() failed";
  const CURLUcode rc = curl_url_set(u, CURLUPART_URL, url.c_str(), 0);
  UrlParts p;
  if (rc == CURLUE_OK) {
    p.scheme = url_part(u, CURLUPART_SCHEME);
    p.host = url_part(u, CURLUPART_HOST);
    p.port = url_part(u, CURLUPART_PORT);
    p.path = url_part(u, CURLUPART_PATH);
    p.query = url_part(u, CURLUPART_QUERY);
  }
  curl_url_cleanup(u);
  TT_CHECK(rc == CURLUE_OK) << without_credentials(url) << ": not a valid URL (" << curl_url_strerror(rc)
                            << ")";
  std::transform(p.scheme.begin(), p.scheme.end(), p.scheme.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  TT_CHECK(p.scheme == "http" || p.scheme == "https")
      << without_credentials(url) << ": unsupported URL scheme \"" << p.scheme << "\""
      << hint("sources can be http:// or https:// URLs");
  TT_CHECK(!p.host.empty()) << without_credentials(url) << ": URL without a host";
  if (p.path.empty()) p.path = "/";
  return p;
}

std::string url_file_name(const std::string& url) {
  const UrlParts p = parse_url(url);
  const size_t slash = p.path.rfind('/');
  std::string name = slash == std::string::npos ? p.path : p.path.substr(slash + 1);
  return name.empty() ? "index" : name;
}

std::string without_credentials(std::string_view url) {
  if (!is_http_url(url)) return std::string(url);
  const size_t authority = url.find("://") + 3;
  const size_t end = std::min(url.find_first_of("/?#", authority), url.size());
  const size_t at = url.substr(authority, end - authority).rfind('@');
  if (at == std::string_view::npos) return std::string(url);
  return std::string(url.substr(0, authority)) + "***" + std::string(url.substr(authority + at));
}

std::string join_url(std::string_view base, std::string_view rest) {
  while (!base.empty() && base.back() == '/') base.remove_suffix(1);
  while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
  return std::string(base) + "/" + std::string(rest);
}

fs::path cache_dir(const std::string& flag) {
  if (!flag.empty()) return fs::path(flag);
  auto env = [](const char* name) -> std::string {
    const char* v = std::getenv(name);
    return v ? std::string(v) : std::string();
  };
  if (std::string v = env("TT_CACHE_DIR"); !v.empty()) return fs::path(v);
  // XDG: a relative $XDG_CACHE_HOME is invalid and must be ignored.
  if (std::string v = env("XDG_CACHE_HOME"); !v.empty() && v[0] == '/')
    return fs::path(v) / "tiny-transformer";
  const std::string home = env("HOME");
  TT_CHECK(!home.empty()) << "no cache directory: $HOME, $XDG_CACHE_HOME and $TT_CACHE_DIR are all unset"
                          << hint("pass --cache_dir DIR");
  return fs::path(home) / ".cache" / "tiny-transformer";
}

fs::path cache_path_for_url(const fs::path& cache, const std::string& url) {
  const UrlParts p = parse_url(url);
  fs::path out = cache / "url" / (safe_segment(p.host) + (p.port.empty() ? "" : "_" + p.port));
  std::string_view path = p.path;
  std::string last;
  while (!path.empty()) {
    while (!path.empty() && path.front() == '/') path.remove_prefix(1);
    const size_t end = std::min(path.find('/'), path.size());
    const std::string_view seg = path.substr(0, end);
    path.remove_prefix(end);
    if (seg.empty()) continue;
    TT_CHECK(seg != "." && seg != "..")
        << without_credentials(url) << ": URL path with a \".\" or \"..\" segment";
    if (!last.empty()) out /= last;
    last = safe_segment(seg);
  }
  // A directory URL's listing is "_index" inside it: no segment escapes to that name ('_' is followed by
  // two hex digits), so "h/dir/" and "h/dir/index" stay apart.
  if (!p.path.empty() && p.path.back() == '/') {
    if (!last.empty()) out /= last;
    last = "_index";
  }
  if (last.empty()) last = "_index";
  if (!p.query.empty()) last += "-q" + sha256_hex(p.query).substr(0, 12);
  return out / last;
}

}  // namespace tt::net
