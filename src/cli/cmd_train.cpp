// `tiny-transformer train`: flags -> tt::run_training (src/train/trainer.h).
#include <csignal>
#include <memory>

#include "cli/command.h"
#include "train/process_clock.h"
#include "train/trainer.h"

TT_REGISTER_COMMAND(train, "train a Qwen3-style model on prepared token data",
                    [](CLI::App& app) -> tt::cli::RunFn {
                      auto opts = std::make_shared<tt::TrainOptions>();
                      auto os = std::make_shared<tt::OptionSet>(&app);
                      opts->declare(*os);
                      return [opts] {
                        // The cap counts from process start (start-up included), not from here.
                        tt::TrainResult r = tt::run_training(*opts, tt::seconds_since_process_start());
                        // A clean stop on a signal still exits like the signal would (128 + signo), for
                        // scripts.
                        if (r.stop_reason == "signal_sigint") return 128 + SIGINT;
                        if (r.stop_reason == "signal_sigterm") return 128 + SIGTERM;
                        return 0;
                      };
                    });
