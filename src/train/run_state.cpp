#include "train/run_state.h"

#include <cmath>

#include "common/check.h"
#include "common/fs.h"
#include "common/log.h"
#include "tt_version.h"

namespace tt {

namespace {

using ojson = nlohmann::ordered_json;

constexpr const char* kStateFormat = "tiny-transformer-trainer-state/1";
constexpr const char* kRunInfoFormat = "tiny-transformer-run-info/1";

// Losses are NaN before the first measurement and the best is +inf before the first evaluation: null.
ojson number_or_null(double v) {
  return std::isfinite(v) ? ojson(v) : ojson(nullptr);
}

double number_or(const nlohmann::json& j, double missing) {
  return j.is_null() ? missing : j.get<double>();
}

// The fields trainer_state.json and run_info.json share, under the same names.
void put_progress(const RunState& run, ojson& j) {
  j["step"] = run.step;
  j["steps"] = run.steps;
  j["tokens_seen"] = run.tokens_seen;
  j["last_train_loss"] = number_or_null(run.last_train_loss);
  j["eval_loss"] = number_or_null(run.eval_loss);
  j["eval_step"] = run.eval_step;
  j["best_eval_loss"] = number_or_null(run.early_stopping.best());
  j["wall_time_s"] = run.wall_time_s;
}

}  // namespace

bool RunState::record_eval(double loss, bool scheduled) {
  eval_loss = loss;
  eval_step = step;
  return early_stopping.update(loss, /*counts=*/scheduled);
}

ojson RunState::to_json() const {
  ojson s;
  s["format"] = kStateFormat;
  put_progress(*this, s);
  s["data_order"] = {{"seed", data_order.seed()},
                     {"rows", data_order.rows()},
                     {"epoch", data_order.epoch()},
                     {"position", data_order.position()}};
  s["sampling_rng"] = "mt19937_64 seeded with mix_seed(seed, step) at each sampling step (stateless)";
  s["early_stopping"] = {{"bad_evals", early_stopping.bad_evals()},
                         {"baseline_loss", number_or_null(early_stopping.baseline())}};
  s["seq_len"] = seq_len;
  s["micro_batch_size"] = micro_batch_size;
  s["grad_accum"] = grad_accum;
  s["world_size"] = world_size;
  s["flags"] = flags;
  s["flag_changes"] = flag_changes;
  s["data_sha256"] = {{"train", train_sha256}, {"val", val_sha256}};
  return s;
}

RunState RunState::from_json(const nlohmann::json& j, const std::string& file, const EarlyStopping& early) {
  TT_CHECK(j.is_object() && j.value("format", "") == kStateFormat)
      << file << ": unknown format (expected " << kStateFormat << ")";
  // nlohmann converts 5.7 to the integer 5: every count must be written as an integer
  auto integer = [&](const nlohmann::json& obj, const char* key) {
    const nlohmann::json& v = obj.at(key);
    TT_CHECK(v.is_number_integer()) << file << ": \"" << key << "\" must be an integer, got " << v.dump();
    return v.get<int64_t>();
  };
  try {
    const auto& order = j.at("data_order");
    TT_CHECK(order.at("seed").is_number_unsigned())
        << file << ": \"seed\" must be a non-negative integer, got " << order.at("seed").dump();
    const int64_t order_rows = integer(order, "rows");
    TT_CHECK(order_rows > 0) << file << ": data_order.rows must be positive, got " << order_rows;
    RunState run{
        .steps = integer(j, "steps"),
        .seq_len = integer(j, "seq_len"),
        .micro_batch_size = integer(j, "micro_batch_size"),
        .grad_accum = integer(j, "grad_accum"),
        .world_size = j.contains("world_size") ? integer(j, "world_size") : 1,  // older files: one rank
        .step = integer(j, "step"),
        .tokens_seen = integer(j, "tokens_seen"),
        .data_order = DataOrder(order_rows, order.at("seed").get<uint64_t>()),
        .early_stopping = early,
        .last_train_loss = number_or(j.at("last_train_loss"), std::numeric_limits<double>::quiet_NaN()),
        .eval_loss = number_or(j.at("eval_loss"), std::numeric_limits<double>::quiet_NaN()),
        .eval_step = integer(j, "eval_step"),
        .wall_time_s = j.at("wall_time_s").get<double>(),
        .flags = nlohmann::ordered_json::object(),
        .flag_changes = nlohmann::ordered_json::array(),
        .train_sha256 = "",
        .val_sha256 = ""};
    // Values no run writes (a damaged or hand-edited file) would otherwise surface later as a diverged loss.
    TT_CHECK(run.steps > 0 && run.seq_len > 0 && run.micro_batch_size > 0 && run.grad_accum > 0 &&
             run.world_size > 0 && run.data_order.rows() > 0)
        << file
        << ": steps, seq_len, micro_batch_size, grad_accum, world_size and data_order.rows must be positive";
    TT_CHECK(run.step >= 0 && run.step <= run.steps)
        << file << ": step " << run.step << " is outside [0, steps = " << run.steps << "]";
    TT_CHECK(run.tokens_seen >= 0 && run.eval_step >= -1 && run.eval_step <= run.step &&
             run.wall_time_s >= 0 && std::isfinite(run.wall_time_s))
        << file << ": tokens_seen " << run.tokens_seen << ", eval_step " << run.eval_step
        << " or wall_time_s " << run.wall_time_s << " is out of range";
    const int64_t epoch = integer(order, "epoch"), position = integer(order, "position");
    TT_CHECK(epoch >= 0 && position >= 0 && position <= order_rows)
        << file << ": data_order epoch " << epoch << " and position " << position
        << " must be >= 0, the position at most its rows (" << order_rows << ")";
    run.data_order.restore(epoch, position);
    const auto& best = j.contains("best_eval_loss") ? j["best_eval_loss"] : j.at("best_saved_loss");
    const double none = std::numeric_limits<double>::infinity();
    const auto& early_state = j.at("early_stopping");
    // files from before the baseline was kept apart from the best: the best was the baseline
    const double best_loss = number_or(best, none);
    run.early_stopping.restore(
        best_loss,
        early_state.contains("baseline_loss") ? number_or(early_state["baseline_loss"], none) : best_loss,
        integer(early_state, "bad_evals"), file);
    // Files from before these were recorded have none of them.
    if (j.contains("flags")) {
      TT_CHECK(j["flags"].is_object()) << file << ": \"flags\" must be an object";
      run.flags = j["flags"];
    }
    if (j.contains("flag_changes")) {
      TT_CHECK(j["flag_changes"].is_array()) << file << ": \"flag_changes\" must be an array";
      run.flag_changes = j["flag_changes"];
    }
    if (j.contains("data_sha256")) {
      run.train_sha256 = j["data_sha256"].at("train").get<std::string>();
      run.val_sha256 = j["data_sha256"].at("val").get<std::string>();
    }
    return run;
  } catch (const nlohmann::json::exception& e) {
    TT_FAIL() << file << ": missing or malformed field (" << e.what() << ")";
  }
}

ojson run_info_json(const RunFacts& facts, const RunState& run, const SessionReport& session) {
  ojson r;
  r["format"] = kRunInfoFormat;
  r["version"] = TT_VERSION;
  r["git_commit"] = TT_GIT_COMMIT;
  r["saved_at"] = utc_now();
  r["device"] = facts.device;
  r["precision"] = facts.precision;
  r["config"] = facts.config;
  r["num_parameters"] = facts.num_parameters;
  r["flags"] = facts.flags;
  r["flag_changes"] = run.flag_changes;
  r["data"] = facts.data;
  r["world_size"] = run.world_size;
  r["collectives"] = facts.collectives;
  put_progress(run, r);
  r["epoch"] = run.data_order.epoch();
  r["eval_ppl"] = number_or_null(std::exp(run.eval_loss));
  r["lr"] = session.lr;
  r["tokens_per_s"] = session.tokens_per_s;
  r["step_time_s"] = session.step_time_s;
  r["session_wall_time_s"] = session.wall_time_s;
  r["peak_device_memory_bytes"] = session.peak_device_memory_bytes;
  r["peak_host_memory_bytes"] = session.peak_host_memory_bytes;
  r["stop_reason"] = session.stop_reason.empty() ? ojson(nullptr) : ojson(session.stop_reason);
  return r;
}

SessionReport recorded_session_report(const std::filesystem::path& run_info_file) {
  SessionReport r;
  const nlohmann::json saved = nlohmann::json::parse(
      std::filesystem::is_regular_file(run_info_file) ? read_file(run_info_file) : "", nullptr, false);
  std::vector<std::string> missing;
  const auto number = [&](const char* key, double& out) {
    if (saved.is_object() && saved.contains(key) && saved[key].is_number() &&
        std::isfinite(saved[key].get<double>()))
      out = saved[key].get<double>();
    else
      missing.push_back(key);
  };
  number("lr", r.lr);
  number("tokens_per_s", r.tokens_per_s);
  number("step_time_s", r.step_time_s);
  if (!missing.empty()) {
    std::string keys;
    for (const auto& k : missing) keys += (keys.empty() ? "" : ", ") + k;
    log_warn(run_info_file.string(), ": no ", keys,
             " to carry over (a missing or edited file); this session reports 0 until it logs a step");
  }
  return r;
}

}  // namespace tt
