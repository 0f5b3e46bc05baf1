// `tiny-transformer prepare-data`: Wikipedia-style sources -> packed train/val token files.
// Thin CLI layer: options are declared once in tt::PrepareDataOptions (src/data/prepare.h).
#include <cstdio>
#include <memory>

#include "cli/command.h"
#include "common/log.h"
#include "common/options.h"
#include "common/paths.h"
#include "data/interrupt.h"
#include "data/prepare.h"
#include "tokenizer/tokenizer.h"

namespace {

tt::cli::RunFn setup_prepare_data(CLI::App& app) {
  auto opts = std::make_shared<tt::PrepareDataOptions>();
  opts->tokenizer = tt::default_tokenizer_dir().string();
  auto options = std::make_shared<tt::OptionSet>(&app);
  opts->declare(*options);
  return [opts, options] {
    tt::log_info("prepare-data ", options->summary());
    auto tokenizer = tt::Tokenizer::load(opts->tokenizer);
    try {
      tt::prepare_data(*opts, *tokenizer, options->to_json());
    } catch (const tt::data::InterruptedError& e) {
      // Stopped by SIGINT/SIGTERM (temporary output removed): exit as the signal would.
      std::fprintf(stderr, "error: %s\n", e.what());
      return 128 + e.signal_number();
    }
    return 0;
  };
}

}  // namespace

TT_REGISTER_COMMAND(prepare_data, "clean Wikipedia-style sources and pack them into train/val token rows",
                    setup_prepare_data);
