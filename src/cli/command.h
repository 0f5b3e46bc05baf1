// Subcommand registry. Each subcommand lives in its own src/cli/cmd_*.cpp (picked up by the
// build automatically) and registers itself:
//
//   TT_REGISTER_COMMAND(tokenize, "encode or decode text with the Qwen3 tokenizer",
//                       [](CLI::App& app) -> tt::cli::RunFn {
//     auto opts = std::make_shared<TokenizeOptions>();
//     tt::OptionSet os(&app);  opts->declare(os);
//     return [opts] { return run_tokenize(*opts); };
//   });
//
// The CLI stays thin: a command parses flags and calls into a library.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace tt::cli {

using RunFn = std::function<int()>;
using SetupFn = std::function<RunFn(CLI::App&)>;

struct Command {
  std::string name;
  std::string help;
  SetupFn setup;
};

std::vector<Command>& registry();

struct Registrar {
  Registrar(std::string name, std::string help, SetupFn setup) {
    registry().push_back({std::move(name), std::move(help), std::move(setup)});
  }
};

}  // namespace tt::cli

#define TT_REGISTER_COMMAND(ident, help, setup) \
  static ::tt::cli::Registrar tt_command_registrar_##ident(#ident, help, setup)
