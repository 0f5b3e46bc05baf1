// Oniguruma running the Qwen Split regex: the test oracle for the pre-tokenizer. (Kept out of the
// gtest translation units: oniguruma.h and glibc's regex.h both define struct re_registers.)
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace tt::test {

class OnigOracle {
 public:
  OnigOracle();
  ~OnigOracle();
  // HF Split(behavior=Isolated): find_iter matches, with any gaps kept as pieces.
  std::vector<std::string> split(const std::string& s);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tt::test
