#include "common/check.h"

namespace tt::detail {

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
  if (!hint_.empty()) text += "\n  hint: " + hint_;
  throw Error(text);
}

}  // namespace tt::detail
