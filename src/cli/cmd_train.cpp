// `tiny-transformer train`: flags -> tt::run_training (src/train/trainer.h).
#include <csignal>

#include "cli/subcommands.h"
#include "train/process_clock.h"
#include "train/trainer.h"

namespace tt::cli {

RunFn setup_train(CLI::App& app) {
  auto opts = std::make_shared<TrainOptions>();
  auto declared = std::make_shared<OptionSet>(&app);
  opts->declare(*declared);
  return [opts, declared] {
    // What the command line gave: on --resume the saved run's flags fill in the rest.
    opts->given = declared->given_names();
    // The cap counts from process start (start-up included), not from here.
    const TrainResult r = run_training(*opts, seconds_since_process_start());
    // A clean stop on a signal still exits like the signal would (128 + signo), for scripts.
    if (r.stop_reason == "signal_sigint") return 128 + SIGINT;
    if (r.stop_reason == "signal_sigterm") return 128 + SIGTERM;
    return 0;
  };
}

}  // namespace tt::cli
