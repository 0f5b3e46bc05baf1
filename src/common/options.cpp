#include "common/options.h"

#include "common/check.h"

namespace tt {

namespace detail {

void check_entries(const std::deque<OptionEntry>& entries) {
  for (const auto& e : entries) {
    if (!e.broken_rule) continue;
    const std::string message = e.broken_rule();
    TT_CHECK(message.empty()) << message;
  }
}

std::string one_of_text(const std::vector<std::string>& choices) {
  std::string s;
  for (size_t i = 0; i < choices.size(); ++i) {
    if (i > 0) s += i + 1 == choices.size() ? " or " : ", ";
    s += choices[i];
  }
  return s;
}

}  // namespace detail

OptionSet::OptionSet() : scratch_app_(std::make_unique<CLI::App>()), app_(scratch_app_.get()) {}

OptionSet::OptionSet(CLI::App* app) : app_(app) {
  // The final callback runs after CLI11's own checks (required options, --help) have passed.
  app_->callback([entries = entries_] { detail::check_entries(*entries); });
}

nlohmann::ordered_json OptionSet::to_json() const {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& e : *entries_) j[e.name] = e.value();
  return j;
}

std::string options_summary(const nlohmann::ordered_json& options_json) {
  std::string s;
  for (const auto& [name, value] : options_json.items()) {
    if (!s.empty()) s += ' ';
    s += name + "=" + (value.is_string() ? value.get<std::string>() : value.dump());
  }
  return s;
}

std::string OptionSet::summary() const {
  return options_summary(to_json());
}

bool OptionSet::given(const std::string& name) const {
  for (const auto& e : *entries_)
    if (e.name == name) return e.cli->count() > 0;
  return false;
}

}  // namespace tt
