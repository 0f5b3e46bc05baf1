#include "common/options.h"

namespace tt {

nlohmann::ordered_json OptionSet::to_json() const {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& e : entries_) j[e.name] = e.get();
  return j;
}

std::string OptionSet::summary() const {
  std::string s;
  for (const auto& e : entries_) {
    if (!s.empty()) s += ' ';
    nlohmann::json v = e.get();
    s += e.name + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
  }
  return s;
}

bool OptionSet::given(const std::string& name) const {
  for (const auto& e : entries_)
    if (e.name == name) return e.opt->count() > 0;
  return false;
}

}  // namespace tt
