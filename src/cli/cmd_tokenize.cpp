// `tiny-transformer tokenize`: flags -> tt::run_tokenize (src/tokenizer/tokenize_command.h).
#include "cli/subcommands.h"
#include "tokenizer/tokenize_command.h"

namespace tt::cli {

RunFn setup_tokenize(CLI::App& app) {
  auto opts = declare_options<TokenizeOptions>(app);
  return [opts] { return run_tokenize(*opts); };
}

}  // namespace tt::cli
