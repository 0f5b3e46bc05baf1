// tiny-transformer: one binary, one subcommand per stage of the pipeline.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>

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

tt::LogLevel log_level_named(const std::string& name) {
  if (name == "debug") return tt::LogLevel::Debug;
  if (name == "warn") return tt::LogLevel::Warn;
  if (name == "error") return tt::LogLevel::Error;
  if (name == "quiet") return tt::LogLevel::Quiet;
  return tt::LogLevel::Info;
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
  app.add_option("--log_level", log_level, "debug, info, warn, error or quiet")
      ->check(CLI::IsMember({"debug", "info", "warn", "error", "quiet"}))
      ->capture_default_str();

  std::vector<std::pair<CLI::App*, tt::cli::RunFn>> runs;
  for (const Command& c : kCommands) {
    CLI::App* sub = app.add_subcommand(c.name, c.help);
    runs.emplace_back(sub, c.setup(*sub));
  }

  // Flag values outside their declared range are tt::Errors from parse(), reported like any other.
  try {
    tt::route_stop_signals();  // before any thread starts: see common/stop_signal.h
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      return app.exit(e);
    }
    tt::set_log_level(log_level_named(log_level));
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
