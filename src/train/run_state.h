// What a training run carries from step to step and across --resume. RunState is trainer_state.json:
// to_json() writes the file and from_json() reads it back, so a resumed run continues exactly where
// the saved one stopped (same data order, same early-stopping counter, same best loss). run_info.json,
// the human-facing record of a checkpoint, is this state plus the facts that do not change during a
// session (config, flags, device, data) and this session's speed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "train/data_order.h"
#include "train/early_stopping.h"

namespace tt {

struct RunState {
  // The run's shape, always this session's flags (a resume warns when they differ from the saved run).
  int64_t steps = 0;  // --steps: the length of the lr schedule
  int64_t seq_len = 0;
  int64_t micro_batch_size = 0;  // per rank
  int64_t grad_accum = 0;
  int64_t world_size = 1;  // ranks; a step reads micro_batch_size * world_size * grad_accum rows

  int64_t rows_per_step() const { return micro_batch_size * world_size * grad_accum; }

  // Progress.
  int64_t step = 0;  // optimizer steps done
  int64_t tokens_seen = 0;
  DataOrder data_order;          // seed, rows, epoch, position
  EarlyStopping early_stopping;  // patience and threshold are flags; the best loss (best/'s) and counter
  double last_train_loss = std::numeric_limits<double>::quiet_NaN();
  double eval_loss = std::numeric_limits<double>::quiet_NaN();  // the latest evaluation, at eval_step
  int64_t eval_step = -1;
  double wall_time_s = 0;  // all sessions of the run, up to the latest save

  // What the run is: every train flag as resolved (--resume takes those not given again: restore_run_flags),
  // the changes resumed sessions made to them ({"step", "flag", "from", "to"}), and the token files' sha256
  // (a resumed session on other data says so). Empty in files from before they were recorded.
  nlohmann::ordered_json flags = nlohmann::ordered_json::object();
  nlohmann::ordered_json flag_changes = nlohmann::ordered_json::array();
  std::string train_sha256, val_sha256;

  // Records an evaluation (`scheduled`: a periodic one, which counts towards early stopping's patience);
  // returns whether it improves on best/ (early_stopping's rule).
  bool record_eval(double loss, bool scheduled);

  nlohmann::ordered_json to_json() const;
  // Reads trainer_state.json (`file` names it in errors; files from before best_eval_loss had that name
  // are read too); early stopping gets `early`'s patience and threshold with the saved best and counter.
  // tt::Error for another format or a missing field.
  static RunState from_json(const nlohmann::json& j, const std::string& file, const EarlyStopping& early);
};

// What run_info.json says besides the run state; fixed for a session.
struct RunFacts {
  std::string device;       // the backend's name
  std::string precision;    // "fp32" or "bf16 mixed (fp32 master weights)"
  std::string collectives;  // how the ranks talk (dist::Communicator::name()), "single process" for one
  nlohmann::ordered_json config;
  int64_t num_parameters = 0;
  nlohmann::ordered_json flags;  // every train flag as resolved (OptionSet::to_json)
  nlohmann::ordered_json data;   // data_dir, seq_len, train_rows, val_rows, tokenizer_sha256
};

// This session, as of a save.
struct SessionReport {
  double lr = 0;                             // of the latest step
  double tokens_per_s = 0, step_time_s = 0;  // over the latest logging window
  double wall_time_s = 0;
  int64_t peak_device_memory_bytes = 0, peak_host_memory_bytes = 0;
  std::string stop_reason;  // "" while the run goes on
};

nlohmann::ordered_json run_info_json(const RunFacts& facts, const RunState& run,
                                     const SessionReport& session);
// The lr and speed a checkpoint's run_info.json recorded (run_info_json's "lr", "tokens_per_s",
// "step_time_s"): a resumed session reports them until it measures its own. What the file does not hold
// is 0, with a warning naming the file and the field.
SessionReport recorded_session_report(const std::filesystem::path& run_info_file);

}  // namespace tt
