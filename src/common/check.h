// Error conventions used everywhere in tiny-transformer.
//
//   TT_CHECK(cond) << "what was expected" << tt::hint("how to fix it");
//       Always on. For user and data errors (bad flags, bad files). Throws tt::Error, whose
//       message is shown to the user as-is by the CLI ("error: ..."), so say which file, line
//       or offset, and what was expected.
//   TT_FAIL() << "...";                 unconditional TT_CHECK(false)
//   TT_ASSERT(cond) << "...";          internal invariant: the message also names file:line,
//                                       because reaching it is a bug in this program.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace tt {

// The one exception type for errors a user can act on.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// e.what() without its "\n  hint: ..." line: for a warning that goes on past the error.
std::string message_without_hint(const Error& e);

struct Hint {
  std::string text;
};
inline Hint hint(std::string text) {
  return Hint{std::move(text)};
}

namespace detail {

class CheckMessage {
 public:
  CheckMessage(const char* file, int line, const char* cond, bool internal)
      : file_(file), line_(line), cond_(cond), internal_(internal) {}
  template <class T>
  CheckMessage& operator<<(const T& v) {
    msg_ << v;
    return *this;
  }
  CheckMessage& operator<<(const Hint& h) {
    hint_ = h.text;
    return *this;
  }
  [[noreturn]] void raise() const;

 private:
  const char* file_;
  int line_;
  const char* cond_;
  bool internal_;
  std::ostringstream msg_;
  std::string hint_;
};

// `Raiser() & msg`: & binds more loosely than <<, so the whole message is streamed before raise().
struct Raiser {
  [[noreturn]] void operator&(const CheckMessage& m) const { m.raise(); }
};

}  // namespace detail
}  // namespace tt

#define TT_CHECK(cond)           \
  if (static_cast<bool>(cond)) { \
  } else                         \
    ::tt::detail::Raiser() & ::tt::detail::CheckMessage(__FILE__, __LINE__, #cond, false)

#define TT_FAIL() ::tt::detail::Raiser() & ::tt::detail::CheckMessage(__FILE__, __LINE__, "", false)

#define TT_ASSERT(cond)          \
  if (static_cast<bool>(cond)) { \
  } else                         \
    ::tt::detail::Raiser() & ::tt::detail::CheckMessage(__FILE__, __LINE__, #cond, true)
