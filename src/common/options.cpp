#include "common/options.h"

#include <cstdio>

#include "common/check.h"
#include "common/utf8.h"

namespace tt {

namespace detail {

namespace {

// The first string in `v` (a string, or an array of them) that is not valid UTF-8, as a message, else "".
std::string broken_utf8(const std::string& flag, const nlohmann::json& v) {
  if (v.is_array()) {
    for (const auto& item : v)
      if (std::string m = broken_utf8(flag, item); !m.empty()) return m;
    return "";
  }
  if (!v.is_string()) return "";
  const std::string& text = v.get_ref<const std::string&>();
  size_t bad = 0;
  if (is_valid_utf8(text, false, &bad)) return "";
  char byte[8];
  std::snprintf(byte, sizeof byte, "0x%02X", unsigned(static_cast<unsigned char>(text[bad])));
  return flag + " is not valid UTF-8 (byte " + byte + " at offset " + std::to_string(bad) +
         "): every flag is recorded in JSON files (run_info.json, meta.json), which hold UTF-8 only";
}

}  // namespace

void check_entries(const std::deque<OptionEntry>& entries) {
  for (const auto& e : entries) {
    // Every value, whatever its rules: train would otherwise fail at its first save, its work lost.
    if (e.utf8 && e.value) {
      const std::string message = broken_utf8(e.flag, e.value());
      TT_CHECK(message.empty()) << message << hint("pass the value in UTF-8 (rename the file or directory)");
    }
    if (!e.broken_rule) continue;
    const std::string message = e.broken_rule();
    TT_CHECK(message.empty()) << message;
  }
}

std::string broken_number_text(const std::string& text, bool is_unsigned) {
  if (text.empty()) return "a number is required, got an empty value";
  if (is_unsigned && text.find('-') != std::string::npos) return "must not be negative, got " + text;
  return "";
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

bool OptionSet::assign(const std::string& name, const nlohmann::json& value, const std::string& where) {
  for (auto& e : *entries_) {
    if (e.name != name) continue;
    const nlohmann::json before = e.value();
    try {
      e.assign(value);
    } catch (const std::exception&) {  // nlohmann's type_error, or the type check above
      e.assign(before);
      TT_FAIL() << where << ": " << name << " is " << value.dump() << ", not a value of " << e.flag
                << " (like " << before.dump() << ")";
    }
    return true;
  }
  return false;
}

std::vector<std::string> OptionSet::given_names() const {
  std::vector<std::string> names;
  for (const auto& e : *entries_)
    if (e.cli->count() > 0) names.push_back(e.name);
  return names;
}

bool OptionSet::given(const std::string& name) const {
  for (const auto& e : *entries_)
    if (e.name == name) return e.cli->count() > 0;
  return false;
}

}  // namespace tt
