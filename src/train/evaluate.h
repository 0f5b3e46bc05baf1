// Held-out loss: mean next-token cross-entropy (nats) over the first `max_rows` rows of a split
// (all rows when max_rows <= 0), in batches of up to `batch` rows, and perplexity = exp(loss).
// Deterministic: always the same rows in the same order, so evaluations are comparable across
// steps and across resumed runs. The ranks of a data-parallel run (`ranks`) share the rows: batch k is
// evaluated on rank k % size and the sums are added up over the ranks, so each returns the loss of all.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "data/dataset.h"
#include "dist/communicator.h"
#include "model/model.h"

namespace tt {

struct EvalResult {
  double loss = 0;
  double ppl = 0;
  int64_t rows = 0;
  int64_t tokens = 0;  // predicted positions: rows * (seq_len - 1)
  double seconds = 0;
  nlohmann::ordered_json to_json() const;
};

EvalResult evaluate_split(Qwen3Model& model, const TokenDataset& data, int64_t max_rows, int64_t batch,
                          dist::Communicator* ranks = nullptr);

// Copies rows into an int32 batch [rows.size() * seq_len]. The ids were checked against the model's
// vocab when the dataset was opened (TokenDataset::check_compatible).
void gather_rows(const TokenDataset& data, const std::vector<int64_t>& rows, std::vector<int32_t>& out);

}  // namespace tt
