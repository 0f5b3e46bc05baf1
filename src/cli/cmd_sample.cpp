// `tiny-transformer sample`: flags -> tt::run_sample (src/train/commands.h).
#include "cli/subcommands.h"
#include "train/commands.h"

namespace tt::cli {

RunFn setup_sample(CLI::App& app) {
  auto opts = declare_options<SampleOptions>(app);
  return [opts] {
    run_sample(*opts);
    return 0;
  };
}

}  // namespace tt::cli
