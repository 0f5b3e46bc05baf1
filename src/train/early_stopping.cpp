#include "train/early_stopping.h"

#include "common/check.h"

namespace tt {

bool EarlyStopping::update(double loss) {
  if (!has_best() || best_ - loss > threshold_) {
    best_ = loss;
    bad_evals_ = 0;
    return true;
  }
  ++bad_evals_;
  return false;
}

nlohmann::json EarlyStopping::state() const {
  nlohmann::json j;
  j["best"] = has_best() ? nlohmann::json(best_) : nlohmann::json(nullptr);
  j["bad_evals"] = bad_evals_;
  return j;
}

void EarlyStopping::restore(const nlohmann::json& state) {
  TT_CHECK(state.is_object() && state.contains("best") && state.contains("bad_evals"))
      << "early-stopping state is missing \"best\" or \"bad_evals\"";
  best_ = state["best"].is_null() ? std::numeric_limits<double>::infinity() : state["best"].get<double>();
  bad_evals_ = state["bad_evals"].get<int64_t>();
}

}  // namespace tt
