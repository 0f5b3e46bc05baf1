// URLs and where their downloads are kept.
//
// Cache directory: --cache_dir when given, else $TT_CACHE_DIR, else $XDG_CACHE_HOME/tiny-transformer,
// else $HOME/.cache/tiny-transformer (the XDG base-directory rule). A plain URL is cached under
// <cache>/url/<host>[_<port>]/<path>; Wikimedia dump files under <cache>/wikimedia/<wiki>/<run>/<name>
// (see data/wikimedia_dumps.h), so the same dump file is found again whichever mirror served it.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace tt::net {

namespace fs = std::filesystem;

struct UrlParts {
  std::string scheme;  // "http" or "https"
  std::string host;
  std::string port;   // "" when the URL names none
  std::string path;   // "/a/b.bz2" (at least "/")
  std::string query;  // without the "?"
};

// Whether `s` starts with http:// or https:// (case-insensitive).
bool is_http_url(std::string_view s);
// Parsed by libcurl's URL parser; tt::Error naming the URL if it is malformed or not http(s).
UrlParts parse_url(const std::string& url);
// The last path segment ("enwiki-...-p1p41242.bz2"), "index" for a URL that ends in "/".
std::string url_file_name(const std::string& url);
// `url` with the user name and password of an http(s) URL replaced by "***" ("https://***@host/a"), for what
// is logged or recorded (meta.json); anything else is returned unchanged.
std::string without_credentials(std::string_view url);
// `base` without trailing slashes + "/" + `rest` without leading slashes.
std::string join_url(std::string_view base, std::string_view rest);

// The cache directory (see above); `flag` is --cache_dir ("" = not given).
fs::path cache_dir(const std::string& flag = "");
// Where a plain URL's download is kept under `cache`. Characters outside [A-Za-z0-9._+~-] become "_",
// "." and ".." segments are refused, and a query string is kept as a hash suffix of the name.
fs::path cache_path_for_url(const fs::path& cache, const std::string& url);

}  // namespace tt::net
