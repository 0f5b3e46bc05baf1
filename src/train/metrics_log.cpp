#include "train/metrics_log.h"

#include <fstream>
#include <sstream>

#include "common/check.h"
#include "common/fs.h"

namespace tt {

namespace {

template <class Json>
void add_to_curves(const Json& r, std::vector<LossPoint>& train, std::vector<LossPoint>& eval) {
  if (r.value("type", "") == "train") train.push_back({r.at("step"), r.value("loss", 0.0)});
  if (r.value("type", "") == "eval") eval.push_back({r.at("step"), r.value("eval_loss", 0.0)});
}

}  // namespace

void MetricsLog::append(const nlohmann::ordered_json& record) {
  std::ofstream f(file_, std::ios::app);
  f << record.dump() << "\n";
  TT_CHECK(f.good()) << file_.string() << ": write failed";
  add_to_curves(record, train_, eval_);
}

void MetricsLog::keep_up_to(int64_t step) {
  train_.clear();
  eval_.clear();
  if (!std::filesystem::exists(file_)) return;
  std::istringstream in(read_file(file_));
  std::string line, kept;
  while (std::getline(in, line)) {
    nlohmann::json r = nlohmann::json::parse(line, nullptr, false);
    if (r.is_discarded() || !r.is_object() || r.value("step", int64_t(-1)) > step) continue;
    kept += line + "\n";
    add_to_curves(r, train_, eval_);
  }
  write_file_atomic(file_, kept);
}

}  // namespace tt
