#include "common/check.h"

namespace tt {

namespace {
constexpr const char* kHintPrefix = "\n  hint: ";
}

std::string message_without_hint(const Error& e) {
  const std::string what = e.what();
  return what.substr(0, what.find(kHintPrefix));
}

namespace detail {

void CheckMessage::raise() const {
  std::string text = msg_.str();
  if (internal_) {
    std::ostringstream full;
    full << "internal error at " << file_ << ":" << line_ << ": check `" << cond_ << "` failed";
    if (!text.empty()) full << ": " << text;
    text = full.str();
  } else if (text.empty()) {
    text = std::string("check `") + cond_ + "` failed";
  }
  if (!hint_.empty()) text += kHintPrefix + hint_;
  throw Error(text);
}

}  // namespace detail
}  // namespace tt
