// `tiny-transformer tokenize`: flags -> tt::run_tokenize (src/tokenizer/tokenize_command.h).
#include <memory>

#include "cli/command.h"
#include "tokenizer/tokenize_command.h"

TT_REGISTER_COMMAND(tokenize, "encode or decode text with the Qwen3 tokenizer",
                    [](CLI::App& app) -> tt::cli::RunFn {
                      auto opts = std::make_shared<tt::TokenizeOptions>();
                      auto os = std::make_shared<tt::OptionSet>(&app);
                      opts->declare(*os);
                      return [opts] { return tt::run_tokenize(*opts); };
                    });
