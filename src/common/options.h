// Declare-once options. A command keeps its options in a plain struct with defaults and a
// `declare(OptionSet&)` that names each one once; that single declaration then drives
//   - parsing and --help (through CLI11),
//   - the log header (summary()),
//   - run_info.json / meta.json (to_json()).
//
//   struct TrainOptions {
//     int64_t steps = 2000;
//     void declare(tt::OptionSet& o) {
//       o.add("--steps", steps, "optimizer steps to run")->check(CLI::NonNegativeNumber);
//     }
//   };
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
#include <vector>

namespace tt {

class OptionSet {
 public:
  explicit OptionSet(CLI::App* app) : app_(app) {}

  template <class T>
  CLI::Option* add(const std::string& flag, T& value, const std::string& help) {
    CLI::Option* opt;
    if constexpr (std::is_same_v<T, bool>) {
      opt = app_->add_flag(flag, value, help);
    } else {
      opt = app_->add_option(flag, value, help)->capture_default_str();
    }
    std::string name = flag;
    while (!name.empty() && name[0] == '-') name.erase(0, 1);
    if (auto comma = name.find(','); comma != std::string::npos) name = name.substr(0, comma);
    entries_.push_back({name, [&value]() { return nlohmann::json(value); }, opt});
    return opt;
  }

  // {"name": value, ...} for every declared option, in declaration order.
  nlohmann::ordered_json to_json() const;
  // "name=value name=value ..." for the log header.
  std::string summary() const;
  // Whether the user gave this option on the command line (name without dashes).
  bool given(const std::string& name) const;

 private:
  struct Entry {
    std::string name;
    std::function<nlohmann::json()> get;
    CLI::Option* opt;
  };
  CLI::App* app_;
  std::vector<Entry> entries_;
};

}  // namespace tt
