// `tiny-transformer sample`: flags -> tt::run_sample (src/train/commands.h).
#include <memory>

#include "cli/command.h"
#include "train/commands.h"

TT_REGISTER_COMMAND(sample, "generate text from a checkpoint (KV cache, streamed)",
                    [](CLI::App& app) -> tt::cli::RunFn {
                      auto opts = std::make_shared<tt::SampleOptions>();
                      auto os = std::make_shared<tt::OptionSet>(&app);
                      opts->declare(*os);
                      return [opts] {
                        tt::run_sample(*opts);
                        return 0;
                      };
                    });
