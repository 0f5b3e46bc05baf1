// Every flag of `tiny-transformer train`, declared once (tt::OptionSet) with the values it accepts: the
// declaration drives parsing, --help, the range checks, the log header and the "flags" object of
// run_info.json.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/options.h"

namespace tt {

struct TrainOptions {
  std::string config;
  std::string data_dir = "data";
  std::string out_dir = "runs";
  std::string tokenizer;  // empty: default_tokenizer_dir(); resolved before training starts
  int64_t steps = 2000;
  double lr = 1e-3;
  int64_t warmup_steps = 200;
  double min_lr_ratio = 0;
  double weight_decay = 0.1;
  double max_grad_norm = 1.0;
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.999;
  double adam_epsilon = 1e-8;
  int64_t micro_batch_size = 32;
  int64_t grad_accum = 1;
  int64_t eval_steps = 500;
  int64_t eval_rows = 0;
  int64_t save_steps = 500;
  int64_t early_stopping_patience = 0;
  double early_stopping_threshold = 0;
  double max_train_minutes = 0;
  int64_t stop_after_steps = 0;
  int64_t logging_steps = 10;
  int64_t sample_steps = 200;
  std::vector<std::string> sample_prompts = {"The", "Once upon a time", "In 1990,"};
  int64_t sample_tokens = 40;
  uint64_t seed = 1234;
  std::string device = "auto";
  int threads = 0;
  std::string memory_check = "refuse";
  bool bf16 = false;
  bool resume = false;
  bool overwrite = false;
  double dist_timeout = 600;  // seconds a collective between ranks may wait (dist/communicator.h)

  // Not a flag: the flags given on the command line (names without dashes), set by the CLI. On --resume
  // every flag of the run that is not given again is the saved run's (restore_run_flags); a library caller
  // leaves it unset, and all its values count as given.
  std::optional<std::vector<std::string>> given;
  // Whether the flag `name` (without dashes) counts as given: on the command line, or always where `given`
  // is unset.
  bool gave(std::string_view name) const;

  void declare(OptionSet& o);
  // tt::Error naming the flag: the declared rules, then the rules that span flags.
  void validate() const;
};

// Flags that belong to one invocation, not to the run, so --resume never takes them from the saved run:
// where and how this session runs, and its own limits. --config and --tokenizer are the checkpoint's
// anyway (a given one must match).
bool is_session_flag(std::string_view name);
// Flags whose change on --resume leaves the training's results as they would have been: what is logged,
// sampled and saved when, and where the data lies (its content is checked by hash).
bool leaves_results_alone(std::string_view name);

}  // namespace tt
