#include "common/env.h"

#include <charconv>
#include <cstdlib>
#include <string_view>

#include "common/check.h"

namespace tt {

bool env_flag(const char* name, bool fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  const std::string_view s(v);
  TT_CHECK(s == "0" || s == "1") << name << "=\"" << s << "\": expected 0 or 1";
  return s == "1";
}

int64_t env_int(const char* name, int64_t fallback, int64_t lo, int64_t hi, const char* meaning) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  const std::string_view s(v);
  int64_t n = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  TT_CHECK(ec == std::errc() && end == s.data() + s.size() && n >= lo && n <= hi)
      << name << "=\"" << s << "\": expected a whole number in [" << lo << ", " << hi << "] (" << meaning
      << "); unset, it is " << fallback;
  return n;
}

}  // namespace tt
