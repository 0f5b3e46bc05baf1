// `tiny-transformer tokenize`: the library side of the CLI command (src/cli/cmd_tokenize.cpp only
// declares the flags and calls run_tokenize).
//
//   tokenize --jsonl FILE            each line {"text": "..."} -> one JSON array of ids per line
//   tokenize --decode --jsonl FILE   each line {"ids": [...]}  -> one {"text": "..."} per line
//   tokenize [--input FILE]          plain text (stdin by default) -> ids separated by spaces
//   tokenize --decode [--input FILE] ids separated by whitespace -> text
//   --tokens                         token strings (as in tokenizer.json) instead of ids
//   --output FILE (default stdout; written atomically), --threads N (0 = all cores; JSONL lines
//   are spread over threads, plain text is cut where ids cannot change: src/tokenizer/chunking.h),
//   --tokenizer DIR (default tt::default_tokenizer_dir()).
// JSONL output line i answers input line i; blank lines are an error except at the end of file.
// Errors (missing/corrupt tokenizer.json, bad JSONL line, unknown id) name the file and line.
#pragma once

#include <string>

#include "common/options.h"

namespace tt {

struct TokenizeOptions {
  std::string jsonl;
  std::string input;
  std::string output;
  std::string tokenizer;
  bool decode = false;
  bool tokens = false;
  int threads = 0;

  void declare(OptionSet& o);
  // tt::Error naming the flag: the declared rules, and --jsonl with --input.
  void validate() const;
};

// Returns the process exit code.
int run_tokenize(const TokenizeOptions& opts);

}  // namespace tt
