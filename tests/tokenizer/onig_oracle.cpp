#include "onig_oracle.h"

#include <oniguruma.h>

#include <cstring>
#include <stdexcept>

namespace tt::test {

namespace {
const char* kRegex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
}

struct OnigOracle::Impl {
  regex_t* reg = nullptr;
  OnigRegion* region = nullptr;
};

OnigOracle::OnigOracle() : impl_(std::make_unique<Impl>()) {
  OnigEncoding enc = ONIG_ENCODING_UTF8;
  onig_initialize(&enc, 1);
  OnigErrorInfo info;
  const auto* p = reinterpret_cast<const UChar*>(kRegex);
  // ONIG_SYNTAX_RUBY / OPTION_NONE: what the `onig` crate's Regex::new uses in HF tokenizers.
  int r = onig_new(&impl_->reg, p, p + std::strlen(kRegex), ONIG_OPTION_NONE, ONIG_ENCODING_UTF8,
                   ONIG_SYNTAX_RUBY, &info);
  if (r != ONIG_NORMAL) throw std::runtime_error("onig_new failed");
  impl_->region = onig_region_new();
}

OnigOracle::~OnigOracle() {
  onig_region_free(impl_->region, 1);
  onig_free(impl_->reg);
}

std::vector<std::string> OnigOracle::split(const std::string& s) {
  std::vector<std::string> out;
  const auto* b = reinterpret_cast<const UChar*>(s.data());
  const UChar* e = b + s.size();
  size_t pos = 0, last = 0;
  while (pos <= s.size()) {
    int r = onig_search(impl_->reg, b, e, b + pos, e, impl_->region, ONIG_OPTION_NONE);
    if (r < 0) break;
    auto ms = static_cast<size_t>(impl_->region->beg[0]);
    auto me = static_cast<size_t>(impl_->region->end[0]);
    if (ms > last) out.push_back(s.substr(last, ms - last));
    if (me > ms) out.push_back(s.substr(ms, me - ms));
    last = me;
    pos = me > ms ? me : me + 1;
  }
  if (last < s.size()) out.push_back(s.substr(last));
  return out;
}

}  // namespace tt::test
