// tiny-transformer: one binary, one subcommand per stage of the pipeline.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "common/check.h"
#include "common/log.h"
#include "tt_version.h"

namespace tt::cli {
std::vector<Command>& registry() {
  static std::vector<Command> commands;
  return commands;
}
}  // namespace tt::cli

static std::string version_line() {
  return std::string("tiny-transformer ") + TT_VERSION + " (commit " + TT_GIT_COMMIT +
         ")\nbackends: " + TT_BACKENDS;
}

int main(int argc, char** argv) {
  CLI::App app{"tiny-transformer: train a small Qwen3-style language model from scratch, end to end."};
  app.require_subcommand(1);
  app.set_version_flag("--version", version_line());
  std::string log_level = "info";
  app.add_option("--log_level", log_level, "debug, info, warn, error or quiet")
      ->check(CLI::IsMember({"debug", "info", "warn", "error", "quiet"}))
      ->capture_default_str();

  // Subcommands in a stable, sensible order: pipeline stages first, then helpers by name.
  auto& cmds = tt::cli::registry();
  static const std::vector<std::string> order = {"prepare-data", "train", "eval", "sample", "tokenize"};
  auto rank = [](const std::string& n) {
    auto it = std::find(order.begin(), order.end(), n);
    return it == order.end() ? order.size() : size_t(it - order.begin());
  };
  std::stable_sort(cmds.begin(), cmds.end(), [&](const auto& a, const auto& b) {
    return rank(a.name) != rank(b.name) ? rank(a.name) < rank(b.name) : a.name < b.name;
  });

  std::vector<std::pair<CLI::App*, tt::cli::RunFn>> runs;
  for (auto& c : cmds) {
    std::string name = c.name;
    std::replace(name.begin(), name.end(), '_', '-');
    CLI::App* sub = app.add_subcommand(name, c.help);
    runs.emplace_back(sub, c.setup(*sub));
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  static const std::pair<const char*, tt::LogLevel> levels[] = {{"debug", tt::LogLevel::Debug},
                                                                {"info", tt::LogLevel::Info},
                                                                {"warn", tt::LogLevel::Warn},
                                                                {"error", tt::LogLevel::Error},
                                                                {"quiet", tt::LogLevel::Quiet}};
  for (auto& [n, l] : levels)
    if (log_level == n) tt::set_log_level(l);

  for (auto& [sub, run] : runs) {
    if (!sub->parsed()) continue;
    try {
      return run();
    } catch (const tt::Error& e) {
      std::fflush(stdout);
      std::fprintf(stderr, "error: %s\n", e.what());
      return 1;
    } catch (const std::bad_alloc&) {
      std::fprintf(stderr, "error: out of memory\n");
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      return 1;
    }
  }
  return 0;
}
