// Declare-once options. A command keeps its options in a plain struct with defaults and a
// `declare(OptionSet&)` that names each option once, with its help and the values it accepts. That one
// declaration drives
//   - parsing and --help (through CLI11),
//   - the value rules: checked when the command line has been parsed, and again by
//     check_declared_rules() on a struct that code filled in (a test calling the library directly),
//   - the log header (summary()) and the "flags" of run_info.json / meta.json (to_json()).
// Only rules that span several flags are written by hand, in the struct's validate():
//
//   struct PrepareDataOptions {
//     int64_t seq_len = 512;
//     double val_fraction = 0.005;
//     std::string tokenizer;
//     void declare(tt::OptionSet& o) {
//       o.add("--seq_len", seq_len, "tokens per row").in_range(2, int64_t(1) << 24);
//       o.add("--val_fraction", val_fraction, "fraction for validation").in_range(0.0, 0.5);
//       o.add("--tokenizer", tokenizer, "tokenizer directory")->check(CLI::ExistingPath);
//     }
//     void validate() const {
//       tt::check_declared_rules(*this);  // e.g. "--seq_len must be in [2, 16777216], got 1"
//       // TT_CHECKs for rules that span flags
//     }
//   };
//
// Rules on what add() returns (each returns the same object, so they chain):
//   numbers  positive(), at_least(lo), above(lo), at_most(hi), below(hi), in_range(lo, hi) ([lo, hi]);
//            the bounds combine into one rule and one message ("--adam_beta1 must be in [0, 1), got 1");
//            a floating-point value must also be finite. On the command line a number may not be empty,
//            nor negative for an unsigned option.
// Every option: its value (each string of a list) must be valid UTF-8, since to_json() goes into JSON files;
// any_bytes() exempts a string option of a command that records no flags.
//   strings  one_of({"train", "val"}), non_empty(), required() (also given to CLI11: the flag must be on the
//            command line).
//   anything else: `->` is the CLI11 option (->check(CLI::ExistingFile), ...), applied when parsing only.
// A broken rule is a tt::Error naming the flag. When parsing, it is thrown out of CLI::App::parse (from
// the app's final callback, which OptionSet takes: one OptionSet per CLI::App).
#pragma once

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <deque>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace tt {

namespace detail {

struct OptionEntry {
  std::string name;  // without dashes: the key in to_json() and given()
  std::string flag;  // as declared, e.g. "--steps"
  std::function<nlohmann::json()> value;
  std::function<void(const nlohmann::json&)> assign;  // value() read back (throws nlohmann's type_error)
  std::function<std::string()> broken_rule;           // the message when the value breaks its rule, else ""
  bool utf8 = true;                                   // the value must be UTF-8 (any_bytes() clears it)
  CLI::Option* cli = nullptr;
};

// Throws tt::Error with the first broken rule.
void check_entries(const std::deque<OptionEntry>& entries);

// A number as the shortest text that reads back as it (1.0000001, not ostream's "1").
template <class T>
std::string number_text(T v) {
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}

std::string one_of_text(const std::vector<std::string>& choices);  // "a, b or c"

// The message for a number's command-line text that CLI11 would take but should not, else "": an empty value
// (CLI11 reads it as 0: a script passing "$UNSET") and, for unsigned options, a minus sign (it wraps around).
// OptionSet::add also refuses a decimal integer too large for its type (CLI11 saturates it).
std::string broken_number_text(const std::string& text, bool is_unsigned);

}  // namespace detail

// What OptionSet::add returns: the place to state the values an option accepts.
template <class T>
class DeclaredOption {
 public:
  DeclaredOption(detail::OptionEntry& entry, T& value) : entry_(&entry), value_(&value) {}

  CLI::Option* operator->() const { return entry_->cli; }

  DeclaredOption& positive() requires std::is_arithmetic_v<T> { return above(T(0)); }
  DeclaredOption& at_least(T lo) requires std::is_arithmetic_v<T> {
    lo_ = lo, lo_open_ = false;
    return install();
  }
  DeclaredOption& above(T lo) requires std::is_arithmetic_v<T> {
    lo_ = lo, lo_open_ = true;
    return install();
  }
  DeclaredOption& at_most(T hi) requires std::is_arithmetic_v<T> {
    hi_ = hi, hi_open_ = false;
    return install();
  }
  DeclaredOption& below(T hi) requires std::is_arithmetic_v<T> {
    hi_ = hi, hi_open_ = true;
    return install();
  }
  DeclaredOption& in_range(T lo, T hi) requires std::is_arithmetic_v<T> {
    at_least(lo);
    return at_most(hi);
  }
  DeclaredOption& one_of(std::vector<std::string> choices) requires std::is_same_v<T, std::string> {
    choices_ = std::move(choices);
    return install();
  }
  // Exempts a string option from the UTF-8 rule: for a command that records none of its flags in JSON (a file
  // name or a prompt may be any bytes there).
  DeclaredOption& any_bytes() requires std::is_same_v<T, std::string> {
    entry_->utf8 = false;
    return *this;
  }
  DeclaredOption& non_empty() requires std::is_same_v<T, std::string> {
    non_empty_ = true;
    return install();
  }
  DeclaredOption& required() requires std::is_same_v<T, std::string> {
    required_ = true;
    entry_->cli->required();
    return install();
  }

 private:
  DeclaredOption& install() {
    entry_->broken_rule = [flag = entry_->flag, value = value_, rule = *this] {
      return rule.broken(flag, *value);
    };
    return *this;
  }

  std::string broken(const std::string& flag, const T& v) const {
    std::ostringstream m;
    if constexpr (std::is_arithmetic_v<T>) {
      bool ok = true;  // written so that NaN fails every bound
      if (lo_) ok = ok && (lo_open_ ? v > *lo_ : v >= *lo_);
      if (hi_) ok = ok && (hi_open_ ? v < *hi_ : v <= *hi_);
      if constexpr (std::is_floating_point_v<T>) ok = ok && std::isfinite(v);
      if (ok) return "";
      m << flag << " must be ";
      if constexpr (std::is_floating_point_v<T>)  // an infinity passes a one-sided bound such as ">= 0"
        if (std::isinf(v) && !(lo_ && hi_) && (lo_ || hi_)) m << "finite and ";
      if (lo_ && hi_)
        m << "in " << (lo_open_ ? "(" : "[") << detail::number_text(*lo_) << ", " << detail::number_text(*hi_)
          << (hi_open_ ? ")" : "]");
      else if (lo_ && lo_open_ && *lo_ == T(0))
        m << "positive";
      else if (lo_)
        m << (lo_open_ ? "> " : ">= ") << detail::number_text(*lo_);
      else if (hi_)
        m << (hi_open_ ? "< " : "<= ") << detail::number_text(*hi_);
      else
        m << "a finite number";
      m << ", got " << detail::number_text(v);
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (required_ && v.empty()) return flag + " is required";
      if (non_empty_ && v.empty()) return flag + " must not be empty";
      if (choices_.empty() || std::find(choices_.begin(), choices_.end(), v) != choices_.end()) return "";
      m << flag << " must be " << detail::one_of_text(choices_) << ", got \"" << v << "\"";
    }
    return m.str();
  }

  detail::OptionEntry* entry_;
  T* value_;
  std::optional<T> lo_, hi_;
  bool lo_open_ = false, hi_open_ = false;
  std::vector<std::string> choices_;
  bool required_ = false, non_empty_ = false;
};

class OptionSet {
 public:
  // Declarations only (a scratch CLI::App behind): for to_json(), summary() and check() on a struct that
  // code filled in.
  OptionSet();
  // Declares every option on `app` as well (parsing, --help); the rules are checked once parsing is done.
  explicit OptionSet(CLI::App* app);

  template <class T>
  DeclaredOption<T> add(const std::string& flag, T& value, const std::string& help) {
    detail::OptionEntry& e = entries_->emplace_back();
    if constexpr (std::is_same_v<T, bool>) {
      e.cli = app_->add_flag(flag, value, help);
    } else {
      e.cli = app_->add_option(flag, value, help)->capture_default_str();
      if constexpr (std::is_arithmetic_v<T>)
        e.cli->check(CLI::Validator(
            [](std::string& text) {
              std::string broken = detail::broken_number_text(text, std::is_unsigned_v<T>);
              if constexpr (std::is_integral_v<T>) {  // CLI11 saturates a decimal too large for T
                T parsed{};
                if (broken.empty() && std::from_chars(text.data(), text.data() + text.size(), parsed).ec ==
                                          std::errc::result_out_of_range)
                  broken = "out of range, got " + text;
              }
              return broken;
            },
            "", ""));
    }
    e.flag = flag.substr(0, flag.find(','));
    e.name = e.flag;
    while (!e.name.empty() && e.name[0] == '-') e.name.erase(0, 1);
    e.value = [&value]() { return nlohmann::json(value); };
    e.assign = [&value](const nlohmann::json& j) {
      // nlohmann would truncate 20.7 to an integer and wrap -1 to an unsigned one: the JSON type must fit.
      if constexpr (std::is_same_v<T, bool>) {
        if (!j.is_boolean()) throw std::invalid_argument("not a boolean");
      } else if constexpr (std::is_integral_v<T>) {
        if (!j.is_number_integer() || (std::is_unsigned_v<T> && !j.is_number_unsigned()))
          throw std::invalid_argument("not an integer of the option's sign");
      } else if constexpr (std::is_floating_point_v<T>) {
        if (!j.is_number()) throw std::invalid_argument("not a number");
      }
      value = j.get<T>();
    };
    return DeclaredOption<T>(e, value);
  }

  // tt::Error naming the flag of the first value that breaks its declared rule.
  void check() const { detail::check_entries(*entries_); }
  // {"name": value, ...} for every declared option, in declaration order.
  nlohmann::ordered_json to_json() const;
  // "name=value name=value ..." for the log header.
  std::string summary() const;
  // Whether the user gave this option on the command line (name without dashes).
  bool given(const std::string& name) const;
  // The names of the options given on the command line, in declaration order.
  std::vector<std::string> given_names() const;
  // Sets an option from its to_json() value (a saved run's flags); false when no option has that name.
  // tt::Error naming `where` and the option when the value is of another type. The rules are not checked.
  bool assign(const std::string& name, const nlohmann::json& value, const std::string& where);

 private:
  std::unique_ptr<CLI::App> scratch_app_;
  CLI::App* app_;
  // Shared with the app's callback; a deque, so DeclaredOption's entry stays where it is.
  std::shared_ptr<std::deque<detail::OptionEntry>> entries_ =
      std::make_shared<std::deque<detail::OptionEntry>>();
};

// "name=value name=value ..." of a to_json() object, for a log header.
std::string options_summary(const nlohmann::ordered_json& options_json);

// The declarations of `options` at its current values, for code that filled the struct in.
template <class Options>
struct DeclaredOptions {
  explicit DeclaredOptions(const Options& options) : values(options) { values.declare(set); }
  Options values;  // a copy: declare() binds to the members it declares
  OptionSet set;
};

// The declared rules of `options`, checked on its current values (tt::Error naming the flag).
template <class Options>
void check_declared_rules(const Options& options) {
  DeclaredOptions<Options>(options).set.check();
}

// OptionSet::to_json() of `options` at its current values (run_info.json's "flags", meta.json's "options").
template <class Options>
nlohmann::ordered_json declared_options_json(const Options& options) {
  return DeclaredOptions<Options>(options).set.to_json();
}

}  // namespace tt
