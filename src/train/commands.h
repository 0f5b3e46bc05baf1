// Library side of the `sample` and `eval` subcommands (the CLI files only parse flags):
//   sample: load a checkpoint, encode --prompt, generate with the KV cache, stream the text to
//           stdout as it is produced (complete UTF-8 characters only), tokens/s on stderr.
//   eval:   load a checkpoint, evaluate a split of a prepare-data directory (checked against the
//           checkpoint's tokenizer.json, or --tokenizer) and return its EvalResult; the CLI prints it
//           as one JSON object, the last line of stdout.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "common/options.h"
#include "train/evaluate.h"
#include "train/generate.h"

namespace tt {

struct SampleOptions {
  std::string ckpt_dir;
  std::string prompt;
  int64_t max_new_tokens = 128;
  double temperature = kDefaultSampling.temperature;
  int64_t top_k = kDefaultSampling.top_k;
  double top_p = kDefaultSampling.top_p;
  uint64_t seed = 0;
  std::string device = "auto";
  int threads = 0;
  std::string memory_check = "refuse";
  std::string tokenizer;  // the rule of checkpoint_tokenizer_json (train/checkpoint.h)

  void declare(OptionSet& o);
  void validate() const;  // the declared rules (tt::Error naming the flag)
};

// Streams to `out`; returns the result (text, tokens, timing).
GenerateResult run_sample(const SampleOptions& opts, std::FILE* out = stdout);

struct EvalOptions {
  std::string ckpt_dir;
  std::string data_dir = "data";
  std::string split = "val";
  int64_t max_rows = 0;
  int64_t batch_size = 16;
  std::string device = "auto";
  int threads = 0;
  std::string memory_check = "refuse";
  // The tokenizer the data must have been prepared with (its tokenizer.json sha256 is checked against
  // meta.json), by the rule of checkpoint_tokenizer_json (train/checkpoint.h).
  std::string tokenizer;

  void declare(OptionSet& o);
  void validate() const;  // the declared rules (tt::Error naming the flag)
};

EvalResult run_eval_command(const EvalOptions& opts);

}  // namespace tt
