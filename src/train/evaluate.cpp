#include "train/evaluate.h"

#include <chrono>
#include <cmath>

#include "common/check.h"
#include "common/log.h"

namespace tt {

nlohmann::ordered_json EvalResult::to_json() const {
  nlohmann::ordered_json j;
  j["loss"] = loss;
  j["ppl"] = ppl;  // null where exp(loss) overflows a double (loss > 709.78): JSON has no infinity
  j["rows"] = rows;
  j["tokens"] = tokens;
  return j;
}

void gather_rows(const TokenDataset& data, const std::vector<int64_t>& rows, std::vector<int32_t>& out) {
  const int64_t T = data.seq_len();
  out.resize(rows.size() * static_cast<size_t>(T));
  for (size_t r = 0; r < rows.size(); ++r) {
    const uint32_t* src = data.row(rows[r]);
    int32_t* dst = out.data() + r * T;
    for (int64_t t = 0; t < T; ++t) dst[t] = static_cast<int32_t>(src[t]);
  }
}

EvalResult evaluate_split(Qwen3Model& model, const TokenDataset& data, int64_t max_rows, int64_t batch,
                          dist::Communicator* ranks) {
  auto t0 = std::chrono::steady_clock::now();
  const int64_t n = max_rows > 0 ? std::min(max_rows, data.rows()) : data.rows();
  TT_CHECK(n > 0) << data.path().string() << ": the " << data.split() << " split has no rows to evaluate";
  const int64_t T = data.seq_len();
  double sum = 0;
  int64_t count = 0;
  std::vector<int32_t> tokens;
  std::vector<int64_t> rows;
  for (int64_t start = 0, k = 0; start < n; start += batch, ++k) {
    if (ranks != nullptr && k % ranks->size() != ranks->rank()) continue;
    const int64_t b = std::min(batch, n - start);
    rows.resize(static_cast<size_t>(b));
    for (int64_t i = 0; i < b; ++i) rows[i] = start + i;
    gather_rows(data, rows, tokens);
    auto [s, c] = model.eval_loss_sum(tokens.data(), b, T);
    sum += s;
    count += c;
  }
  if (ranks != nullptr) {
    double totals[2] = {sum, double(count)};
    ranks->all_reduce(totals, 2, dist::ReduceOp::kSum, "the evaluation's loss sum");
    sum = totals[0];
    count = int64_t(totals[1]);
  }
  EvalResult r;
  r.rows = n;
  r.tokens = count;
  r.loss = count > 0 ? sum / double(count) : 0;
  r.ppl = std::exp(r.loss);
  if (!std::isfinite(r.ppl))
    log_warn("the perplexity exp(", r.loss, ") overflows a double: ppl is written as null in JSON");
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace tt
