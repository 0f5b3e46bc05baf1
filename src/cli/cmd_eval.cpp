// `tiny-transformer eval`: flags -> tt::run_eval_command (src/train/commands.h). The last line of
// stdout is one JSON object: {"loss", "ppl", "rows", "tokens", "split", "ckpt_dir", "data_dir"}.
#include <cstdio>

#include "cli/subcommands.h"
#include "train/commands.h"

namespace tt::cli {

RunFn setup_eval(CLI::App& app) {
  auto opts = declare_options<EvalOptions>(app);
  return [opts] {
    nlohmann::ordered_json j = run_eval_command(*opts).to_json();
    j["split"] = opts->split;
    j["ckpt_dir"] = opts->ckpt_dir;
    j["data_dir"] = opts->data_dir;
    std::printf("%s\n", j.dump().c_str());
    return 0;
  };
}

}  // namespace tt::cli
