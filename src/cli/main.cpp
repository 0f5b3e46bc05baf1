// tiny-transformer: one binary, one subcommand per stage of the pipeline.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "cli/subcommands.h"
#include "common/check.h"
#include "common/log.h"
#include "common/stop_signal.h"
#include "tt_version.h"

namespace {

struct Command {
  const char* name;
  const char* help;
  tt::cli::RunFn (*setup)(CLI::App&);
};

// In pipeline order, which is also the order of `tiny-transformer --help`.
constexpr Command kCommands[] = {
    {"prepare-data", "clean Wikipedia-style sources and pack them into train/val token rows",
     tt::cli::setup_prepare_data},
    {"train", "train a Qwen3-style model on prepared token data", tt::cli::setup_train},
    {"eval", "loss and perplexity of a checkpoint on a data split", tt::cli::setup_eval},
    {"sample", "generate text from a checkpoint (KV cache, streamed)", tt::cli::setup_sample},
    {"tokenize", "encode or decode text with the Qwen3 tokenizer", tt::cli::setup_tokenize},
};

std::string version_line() {
  return std::string("tiny-transformer ") + TT_VERSION + " (commit " + TT_GIT_COMMIT +
         ")\nbackends: " + TT_BACKENDS;
}

constexpr std::pair<const char*, tt::LogLevel> kLogLevels[] = {{"debug", tt::LogLevel::Debug},
                                                               {"info", tt::LogLevel::Info},
                                                               {"warn", tt::LogLevel::Warn},
                                                               {"error", tt::LogLevel::Error},
                                                               {"quiet", tt::LogLevel::Quiet}};

// The first word that is not an option of the binary itself: the command, if one was given.
std::string command_word(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--log_level") {
      ++i;
      continue;
    }
    if (!a.empty() && a[0] != '-') return a;
  }
  return "";
}

// CLI11 answers an unknown command with "A subcommand is required"; say which word was not a command, and
// which command was probably meant (prepare_data, the flags' spelling, for prepare-data; a wrong case).
std::string unknown_command_message(const std::string& word) {
  std::string names, meant;
  const auto folded = [](std::string s) {
    for (char& c : s) c = c == '_' ? '-' : char(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  for (const Command& c : kCommands) {
    names += std::string(names.empty() ? "" : ", ") + c.name;
    std::string a = folded(word), b = c.name;
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    if (folded(word) == c.name || (a == b && meant.empty())) meant = c.name;  // same letters: a typo's swap
  }
  return "unknown command \"" + word + "\"" + (meant.empty() ? "" : " (did you mean " + meant + "?)") +
         "; the commands are " + names + " (tiny-transformer --help)";
}

int report(const char* message) {
  std::fflush(stdout);
  std::fprintf(stderr, "error: %s\n", message);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tiny-transformer: train a small Qwen3-style language model from scratch, end to end."};
  app.require_subcommand(1);
  app.set_version_flag("--version", version_line());
  std::string log_level = "info";
  std::vector<std::string> level_names;
  for (const auto& [name, level] : kLogLevels) level_names.push_back(name);
  app.add_option("--log_level", log_level, "debug, info, warn, error or quiet")
      ->check(CLI::IsMember(level_names))
      ->capture_default_str();

  std::vector<std::pair<CLI::App*, tt::cli::RunFn>> runs;
  for (const Command& c : kCommands) {
    CLI::App* sub = app.add_subcommand(c.name, c.help);
    runs.emplace_back(sub, c.setup(*sub));
  }

  // Flag values outside their declared range are tt::Errors from parse(), reported like any other.
  try {
    tt::route_stop_signals();  // before any thread starts: see common/stop_signal.h
    const auto is_command = [](const std::string& w) {
      return std::any_of(std::begin(kCommands), std::end(kCommands),
                         [&](const Command& c) { return w == c.name; });
    };
    const std::string word = command_word(argc, argv);
    if (!word.empty() && !is_command(word)) {
      // "--device cpu train": the word is an option's value, and the command follows
      int at = 1;
      while (at < argc && argv[at] != word) ++at;
      const bool after_option = at > 1 && argv[at - 1][0] == '-';
      for (int i = at + 1; after_option && i < argc; ++i)
        if (is_command(argv[i])) {
          std::string before;
          for (int j = 1; j < i; ++j) {
            const std::string a = argv[j];
            if (a == "--log_level") {
              ++j;
              continue;
            }
            if (a.rfind("--log_level=", 0) == 0 || a == "--version") continue;
            before += (before.empty() ? "" : " ") + a;
          }
          return report(("\"" + before + "\" comes before the command " + argv[i] +
                         ": a command's options go after it (tiny-transformer " + argv[i] +
                         " --help lists them); only --log_level and --version come before it")
                            .c_str());
        }
      return report(unknown_command_message(word).c_str());
    }
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      return app.exit(e);
    }
    for (const auto& [name, level] : kLogLevels)
      if (log_level == name) tt::set_log_level(level);
    for (auto& [sub, run] : runs) {
      if (!sub->parsed()) continue;
      const int rc = run();
      // What a command printed last may still sit in stdio's buffer: a full disk shows up only here.
      const bool flushed = std::fflush(stdout) == 0;
      const int why = errno;
      TT_CHECK(flushed && !std::ferror(stdout))
          << "cannot write to stdout: " << (flushed ? "an earlier write failed" : std::strerror(why));
      return rc;
    }
  } catch (const tt::Error& e) {
    return report(e.what());
  } catch (const std::bad_alloc&) {
    return report("out of memory");
  } catch (const std::exception& e) {
    return report(e.what());
  }
  return 0;
}
