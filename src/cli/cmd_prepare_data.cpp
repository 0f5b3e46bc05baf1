// `tiny-transformer prepare-data`: Wikipedia-style sources -> packed train/val token files.
// Thin CLI layer: options are declared once in tt::PrepareDataOptions (src/data/prepare.h).
#include <cstdio>

#include "cli/subcommands.h"
#include "common/log.h"
#include "data/interrupt.h"
#include "data/prepare.h"
#include "tokenizer/tokenizer.h"

namespace tt::cli {

RunFn setup_prepare_data(CLI::App& app) {
  auto opts = declare_options<PrepareDataOptions>(app);
  return [opts] {
    log_info("prepare-data ", options_summary(recorded_options(*opts)));
    auto tokenizer = Tokenizer::load(opts->tokenizer);
    try {
      prepare_data(*opts, *tokenizer);
    } catch (const data::InterruptedError& e) {
      // Stopped by SIGINT/SIGTERM (temporary output removed): exit as the signal would.
      std::fprintf(stderr, "error: %s\n", e.what());
      return 128 + e.signal_number();
    }
    return 0;
  };
}

}  // namespace tt::cli
