// The subcommands of `tiny-transformer`. Each src/cli/cmd_<name>.cpp has one setup function: it declares
// the command's flags on its CLI::App and returns what runs the command once they are parsed (the exit
// status). The code that does the work lives in the libraries; main.cpp lists the commands in one table.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>

#include "common/options.h"

namespace tt::cli {

using RunFn = std::function<int()>;

RunFn setup_prepare_data(CLI::App& app);
RunFn setup_train(CLI::App& app);
RunFn setup_eval(CLI::App& app);
RunFn setup_sample(CLI::App& app);
RunFn setup_tokenize(CLI::App& app);

// An options struct with its flags declared on `app` (it must outlive the parse: the app writes into it).
template <class Options>
std::shared_ptr<Options> declare_options(CLI::App& app) {
  auto options = std::make_shared<Options>();
  OptionSet declared(&app);
  options->declare(declared);
  return options;
}

}  // namespace tt::cli
