// `tiny-transformer eval`: flags -> tt::run_eval_command (src/train/commands.h). The last line of
// stdout is one JSON object: {"loss", "ppl", "rows", "tokens", "split", "ckpt_dir", "data_dir"}.
#include <cstdio>
#include <memory>

#include "cli/command.h"
#include "train/commands.h"

TT_REGISTER_COMMAND(eval, "loss and perplexity of a checkpoint on a data split",
                    [](CLI::App& app) -> tt::cli::RunFn {
                      auto opts = std::make_shared<tt::EvalOptions>();
                      auto os = std::make_shared<tt::OptionSet>(&app);
                      opts->declare(*os);
                      return [opts] {
                        tt::EvalResult r = tt::run_eval_command(*opts);
                        nlohmann::ordered_json j = r.to_json();
                        j["split"] = opts->split;
                        j["ckpt_dir"] = opts->ckpt_dir;
                        j["data_dir"] = opts->data_dir;
                        std::printf("%s\n", j.dump().c_str());
                        return 0;
                      };
                    });
