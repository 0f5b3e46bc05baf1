#include "train/trainer.h"

#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>

#include "common/check.h"
#include "common/env.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/paths.h"
#include "common/progress.h"
#include "common/sha256.h"
#include "common/stop_signal.h"
#include "data/dataset.h"
#include "dist/communicator.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "train/checkpoint.h"
#include "train/device.h"
#include "train/evaluate.h"
#include "train/generate.h"
#include "train/lr_schedule.h"
#include "train/metrics_log.h"
#include "train/rng.h"
#include "train/run_state.h"
#include "train/time_budget.h"
#include "tt_version.h"

namespace tt {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using ojson = nlohmann::ordered_json;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

int64_t host_peak_rss_bytes() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return int64_t(ru.ru_maxrss) * 1024;
}

std::string fmt_num(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string fmt_rate(double tokens_per_s) {
  return tokens_per_s >= 1e3 ? fmt_num("%.1fk", tokens_per_s / 1e3) : fmt_num("%.0f", tokens_per_s);
}

// ---- setup ---------------------------------------------------------------------------------------

// --config, which must be the checkpoint's when resuming; without it (--resume), the checkpoint's.
Qwen3Config model_config(const TrainOptions& opts, const fs::path& last_dir) {
  if (opts.config.empty()) return load_checkpoint_config(last_dir);
  Qwen3Config cfg = Qwen3Config::load(opts.config);
  if (opts.resume) {
    TT_CHECK(load_checkpoint_config(last_dir).to_hf_json() == cfg.to_hf_json())
        << "--resume: " << opts.config << " differs from the config of "
        << (last_dir / "config.json").string() << hint("resume with the same --config (or omit --config)");
  }
  return cfg;
}

void check_data(const TrainOptions& opts, const Qwen3Config& cfg, const Tokenizer& tok,
                const TokenDataset& train, const TokenDataset& val) {
  train.check_compatible(cfg.vocab_size, cfg.max_position_embeddings, tok.sha256());
  val.check_compatible(cfg.vocab_size, cfg.max_position_embeddings, tok.sha256());
  TT_CHECK(train.seq_len() >= 2) << opts.data_dir << "/meta.json: seq_len " << train.seq_len()
                                 << " is too short to train on (need >= 2)";
  TT_CHECK(train.rows() > 0) << train.path().string() << ": no training rows"
                             << hint("prepare more data or use a smaller --seq_len");
  TT_CHECK(val.rows() > 0) << val.path().string() << ": no validation rows"
                           << hint("prepare-data with a larger validation fraction");
  // The document separator the model learns must be the eos its checkpoint names (config.json,
  // generation_config.json), or Hugging Face's generate() would never stop at the end of a text. A new run
  // is refused; a resumed one (started before this check, its config fixed in its checkpoint) is warned.
  if (cfg.eos_token_id != train.meta().eos_id) {
    std::ostringstream m;
    m << (opts.resume ? (fs::path(opts.out_dir) / "last" / "config.json").string() : opts.config)
      << ": eos_token_id " << cfg.eos_token_id << " is not the token that ends each document in "
      << opts.data_dir << "/meta.json (eos_id " << train.meta().eos_id << ")";
    TT_CHECK(opts.resume) << m.str()
                          << hint("set \"eos_token_id\": " + std::to_string(train.meta().eos_id) +
                                  " in the config");
    log_warn(m.str(), ": generation from this model will not stop at the end of a document");
  }
}

struct Prompt {
  std::string text;
  std::vector<int32_t> ids;
};

// The --sample_prompts that fit the model (ids in its vocab, shorter than a row); the others are skipped.
std::vector<Prompt> fitting_prompts(const TrainOptions& opts, const Tokenizer& tok, int64_t vocab_size,
                                    int64_t T) {
  std::vector<Prompt> prompts;
  for (const auto& text : opts.sample_prompts) {
    std::vector<int32_t> ids = tok.encode(text);
    if (const auto problem = prompt_problem(ids, vocab_size, T))
      log_warn("sample prompt \"", text, "\" ", *problem, "; skipped");
    else
      prompts.push_back({text, std::move(ids)});
  }
  return prompts;
}

// "8 rows per step (2 rank(s) x 4 rows x 1 micro-batch(es))"
std::string batch_shape(const RunState& run) {
  return std::to_string(run.rows_per_step()) + " rows per step (" + std::to_string(run.world_size) +
         " rank(s) x " + std::to_string(run.micro_batch_size) + " rows x " + std::to_string(run.grad_accum) +
         " micro-batch(es))";
}

// trainer_state.json of the run being resumed, checked against this session's data and flags; the run
// continues with this session's shape (--steps, batch).
RunState resumed_state(const RunState& fresh, const nlohmann::json& saved_state, const fs::path& file,
                       const TrainOptions& opts, const TokenDataset& train, bool writer) {
  RunState run = RunState::from_json(saved_state, file.string(), fresh.early_stopping);
  const std::string f = file.string();
  TT_CHECK(run.seq_len == fresh.seq_len) << f << ": the run used seq_len " << run.seq_len << " but "
                                         << opts.data_dir << " has " << fresh.seq_len;
  TT_CHECK(run.data_order.rows() == fresh.data_order.rows())
      << f << ": the run's training split had " << run.data_order.rows() << " rows, " << train.path().string()
      << " has " << train.rows() << hint("resume with the same --data_dir");
  TT_CHECK(run.data_order.seed() == fresh.data_order.seed())
      << f << ": the run used --seed " << run.data_order.seed() << ", not " << fresh.data_order.seed();
  // A run is defined by its rows per step: the same rows over other ranks continue it exactly.
  // The messages below are the same on every rank: rank 0 alone says them.
  if (writer && run.rows_per_step() != fresh.rows_per_step())
    log_warn("--resume with ", batch_shape(fresh), " instead of the saved run's ", batch_shape(run),
             ": the result will differ from an uninterrupted run");
  else if (writer && (run.world_size != fresh.world_size || run.micro_batch_size != fresh.micro_batch_size))
    log_info("--resume with ", batch_shape(fresh), " where the saved run had ", batch_shape(run),
             ": the same rows per step, so the run continues as it would have");
  if (writer && run.steps != fresh.steps)
    log_warn("--resume with --steps ", fresh.steps, " instead of the run's ", run.steps,
             ": the cosine schedule is stretched from here on (the lr jumps)");
  TT_CHECK(run.step <= fresh.steps) << "--resume: the run is already at step " << run.step
                                    << ", beyond --steps " << fresh.steps;
  if (writer && !run.train_sha256.empty() && run.train_sha256 != fresh.train_sha256)
    log_warn("--resume: ", train.path().string(),
             " is not the training split this run has read so far (sha256 ", fresh.train_sha256.substr(0, 12),
             "…, the run's ", run.train_sha256.substr(0, 12),
             "…): from here on it reads other rows than an uninterrupted run would");
  if (writer && !run.val_sha256.empty() && run.val_sha256 != fresh.val_sha256)
    log_warn("--resume: the validation split of ", opts.data_dir, " is not the run's (sha256 ",
             fresh.val_sha256.substr(0, 12), "…, the run's ", run.val_sha256.substr(0, 12),
             "…): evaluations before and after this resume are not comparable, yet best/ (eval loss ",
             fmt_num("%.4f", run.early_stopping.best()), ") and early stopping compare them");
  run.steps = fresh.steps;
  run.micro_batch_size = fresh.micro_batch_size;
  run.grad_accum = fresh.grad_accum;
  run.world_size = fresh.world_size;
  run.train_sha256 = fresh.train_sha256;
  run.val_sha256 = fresh.val_sha256;
  run.flags = fresh.flags;
  return run;
}

// --resume: every flag of the run (not a session flag) that this session does not give again is the saved
// run's, from trainer_state.json (a checkpoint from before it held them: run_info.json's, its last
// session's); one given again with another value is kept, said (a warning where it changes the training's
// results), and returned as a change {"flag", "from", "to"} for flag_changes.
ojson restore_run_flags(TrainOptions& opts, const nlohmann::json& saved_state, const fs::path& state_file,
                        int64_t world, bool writer) {
  fs::path flags_file = state_file;
  nlohmann::json flags_holder = saved_state;
  if (!saved_state.contains("flags")) {
    flags_file = state_file.parent_path() / "run_info.json";
    flags_holder = fs::exists(flags_file) ? load_json_file(flags_file) : nlohmann::json::object();
  }
  ojson changes = ojson::array();
  if (!flags_holder.contains("flags") || !flags_holder["flags"].is_object()) {
    if (writer)
      log_warn("--resume: neither ", state_file.string(), " nor ", flags_file.string(),
               " records the run's flags: this session's flags apply, defaults included");
    return changes;
  }
  const nlohmann::json& saved = flags_holder["flags"];
  const ojson current = declared_options_json(opts);
  OptionSet declared;
  opts.declare(declared);  // binds to opts: assign() sets its members
  // "--name=value", as a command line takes it (--bf16=false too)
  auto flag_text = [](const std::string& name, const nlohmann::json& v) {
    return "--" + name + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
  };
  std::string restored;
  for (const auto& [name, value] : current.items()) {
    if (is_session_flag(name) || !saved.contains(name) || saved[name].dump() == value.dump()) continue;
    if (!opts.gave(name)) {
      declared.assign(name, saved[name], flags_file.string() + ": flags");
      restored += " " + flag_text(name, saved[name]);
      continue;
    }
    changes.push_back({{"flag", name}, {"from", saved[name]}, {"to", value}});
    // resumed_state() says what --steps and the batch shape change
    if (!writer || name == "steps" || name == "micro_batch_size" || name == "grad_accum") continue;
    const std::string said = "--resume with " + flag_text(name, nlohmann::json(value)) +
                             " instead of the run's " + saved[name].dump();
    if (leaves_results_alone(name))
      log_info(said);
    else
      log_warn(said, ": the result will differ from an uninterrupted run (recorded in flag_changes)");
  }
  if (writer && !restored.empty())
    log_info("--resume: the run's flags from ", flags_file.string(), ":", restored);
  // --micro_batch_size is per rank: on another number of ranks, the saved run's rows per step, where they
  // divide evenly, unless the batch was given.
  const int64_t saved_world = saved_state.value("world_size", int64_t(1));
  if (!opts.gave("micro_batch_size") && saved_world != world && saved_state.contains("micro_batch_size") &&
      saved_state.contains("grad_accum")) {
    const int64_t rows = saved_state["micro_batch_size"].get<int64_t>() *
                         saved_state["grad_accum"].get<int64_t>() * saved_world;
    if (rows > 0 && rows % (world * opts.grad_accum) == 0) {
      opts.micro_batch_size = rows / (world * opts.grad_accum);
      if (writer)
        log_info("--resume on ", world, " rank(s), the run had ", saved_world,
                 ": --micro_batch_size=", opts.micro_batch_size, " per rank keeps its ", rows,
                 " rows per step");
    }
  }
  opts.validate();
  return changes;
}

// What a run writes into out_dir; any of them there is an earlier run (one killed before its first log line
// may have written only samples.log).
constexpr const char* kRunFiles[] = {"last", "best", "metrics.jsonl", "samples.log", "loss.svg"};

bool holds_a_run(const fs::path& out) {
  for (const char* name : kRunFiles)
    if (fs::exists(out / name)) return true;
  return false;
}

// Makes out_dir ready: created, locked for this run (two runs into one directory interleaved their metrics
// and checkpoints), stale checkpoint temporaries removed and, for a new run, no earlier run in it (refused,
// or deleted with --overwrite). The lock lasts as long as the returned object.
std::unique_ptr<DirLock> prepare_out_dir(const fs::path& out, const TrainOptions& opts) {
  std::error_code ec;
  fs::create_directories(out, ec);
  TT_CHECK(!ec) << out.string() << ": cannot create the output directory: " << ec.message();
  auto lock = std::make_unique<DirLock>(
      out, "another train writes its run there; wait for it or choose another --out_dir");
  remove_stale_checkpoint_temps(out);
  if (opts.resume) return lock;
  if (holds_a_run(out)) {
    TT_CHECK(opts.overwrite)
        << out.string() << " already holds a run (last/, best/, metrics.jsonl, samples.log or loss.svg)"
        << hint("pass --resume to continue it, --overwrite to replace it, or another --out_dir");
    log_warn("--overwrite: deleting the previous run in ", out.string());
    for (const char* name : kRunFiles) fs::remove_all(out / name);
  }
  return lock;
}

// The facts run_info.json records besides the run state; `flags` are the flags as finally resolved,
// from the same declarations as the command line.
RunFacts run_facts(const TrainOptions& opts, const Qwen3Config& cfg, const Backend& backend,
                   const dist::Communicator& ranks, const TokenDataset& train, const TokenDataset& val,
                   const std::string& train_sha256, const std::string& val_sha256) {
  RunFacts facts;
  facts.device = backend.name();
  facts.collectives = ranks.name();
  facts.precision = backend.act_dtype() == DType::BF16 ? "bf16 mixed (fp32 master weights)" : "fp32";
  facts.config = cfg.to_hf_json();
  facts.num_parameters = cfg.num_parameters();
  facts.flags = declared_options_json(opts);
  facts.data = {{"data_dir", opts.data_dir},
                {"seq_len", train.seq_len()},
                {"train_rows", train.rows()},
                {"val_rows", val.rows()},
                {"train_sha256", train_sha256},
                {"val_sha256", val_sha256},
                {"tokenizer_sha256", train.meta().tokenizer_sha256}};
  return facts;
}

// What must be the same on every rank of a data-parallel run (dist::check_same_on_every_rank): the
// flags (paths aside: each host may keep its own copy), the model config, the token files and tokenizer by
// content (not meta.json, whose time stamps and paths differ between two hosts' preparations of the same
// data), the backend, the build and, when resuming, the saved state.
nlohmann::ordered_json same_on_every_rank(const TrainOptions& opts, const Qwen3Config& cfg,
                                          const Tokenizer& tok, const TokenDataset& train,
                                          const std::string& train_sha256, const std::string& val_sha256,
                                          const Backend& backend, const fs::path& state_file) {
  ojson items;
  const ojson flags = declared_options_json(opts);
  // Paths may differ per host, and so may how each rank runs (--threads: its host's cores); the backend is
  // compared below.
  for (const auto& [name, value] : flags.items())
    if (name != "data_dir" && name != "out_dir" && name != "tokenizer" && name != "config" &&
        name != "threads" && name != "device" && name != "memory_check" && name != "dist_timeout")
      items["--" + name] = value;
  items["model config (sha256)"] = sha256_hex(cfg.to_hf_json().dump());
  items["data: seq_len"] = train.seq_len();
  items["data: train.bin (sha256)"] = train_sha256;
  items["data: val.bin (sha256)"] = val_sha256;
  items["tokenizer (sha256)"] = tok.sha256();
  items["backend"] = backend.name();
  items["build"] = std::string(TT_VERSION) + " " + TT_GIT_COMMIT;
  if (opts.resume) items["resumed trainer_state.json (sha256)"] = sha256_hex_file(state_file);
  return items;
}

// The collectives for gradients in `backend`'s memory where `host`'s will not do (nullptr: they will): MPI
// works on the CPU backend's host memory; the CUDA backend's needs NCCL (also for one rank with
// TT_DIST_ONE_RANK=1, which checks that path on one GPU).
std::unique_ptr<dist::Communicator> with_backend_collectives(dist::Communicator& host, Backend& backend,
                                                             double timeout_s) {
  if (!backend.is_cuda() || (host.size() == 1 && !env_flag("TT_DIST_ONE_RANK", false))) return nullptr;
  return dist::make_nccl_communicator(host, backend, timeout_s);
}

// Flags that are valid but would not do what they seem to.
void warn_about_schedule(const TrainOptions& opts, const LrSchedule& schedule, int64_t train_rows,
                         int64_t world) {
  if (opts.warmup_steps >= opts.steps)
    log_warn("--warmup_steps ", opts.warmup_steps, " is not below --steps ", opts.steps,
             ": the learning rate only rises, to ", schedule.lr_at(opts.steps - 1),
             " at the last step (--lr ", opts.lr, ")");
  // The earliest stop is at the (patience + 1)-th periodic evaluation: the first only sets the baseline.
  const double earliest_stop = double(opts.eval_steps) * double(opts.early_stopping_patience + 1);
  if (opts.early_stopping_patience > 0 && opts.eval_steps > 0 && earliest_stop > double(opts.steps))
    log_warn("--early_stopping_patience ", opts.early_stopping_patience, " with --eval_steps ",
             opts.eval_steps, " cannot stop a run of --steps ", opts.steps, ": the earliest stop is at step ",
             fmt_num("%.0f", earliest_stop), " (", opts.early_stopping_patience + 1, " evaluations)");
  const int64_t rows_per_step = opts.micro_batch_size * opts.grad_accum * world;
  if (train_rows < rows_per_step)
    log_warn("the training split has ", train_rows, " rows, fewer than the ", rows_per_step,
             " of one step: each step repeats rows, and ", opts.steps, " steps are ",
             fmt_num("%.0f", double(opts.steps) * double(rows_per_step) / double(train_rows)),
             " epochs; prepare more data or lower --micro_batch_size");
}

void warn_about_precision(const TrainOptions& opts, const Backend& backend) {
  if (!opts.bf16 && backend.is_cuda())
    log_warn(
        "the CUDA backend always trains in bf16 mixed precision (fp32 master weights); --bf16 is implied");
}

// The evaluation rows rank 0 takes: batches of --micro_batch_size go to the ranks in turn (evaluate.cpp),
// so rank 0 gets the most.
int64_t eval_rows_on_rank0(const TrainOptions& opts, const TokenDataset& val, int world_size) {
  const int64_t rows = opts.eval_rows > 0 ? std::min(opts.eval_rows, val.rows()) : val.rows();
  const int64_t B = opts.micro_batch_size, batches = (rows + B - 1) / B;
  return std::min(rows, (batches + world_size - 1) / world_size * B);
}

TimeBudget::Work budget_work(const TrainOptions& opts, const Qwen3Config& cfg, const Tokenizer& tok,
                             const TokenDataset& val, size_t prompts, int world_size) {
  std::error_code ec;
  const auto tokenizer_bytes = fs::file_size(tok.json_path(), ec);
  return {.cap_s = opts.max_train_minutes * 60.0,
          .save_steps = opts.save_steps,
          .rows_per_step = opts.micro_batch_size * opts.grad_accum,
          .eval_rows = eval_rows_on_rank0(opts, val, world_size),
          .weight_bytes = double(cfg.num_parameters()) * 4.0,
          .tokenizer_bytes = ec ? 0.0 : double(tokenizer_bytes),
          .sample_tokens = int64_t(prompts) * 2 * opts.sample_tokens};
}

AdamWArgs adamw_args(const TrainOptions& opts) {
  AdamWArgs a;
  a.beta1 = opts.adam_beta1;
  a.beta2 = opts.adam_beta2;
  a.eps = opts.adam_epsilon;
  a.weight_decay = opts.weight_decay;
  a.max_grad_norm = opts.max_grad_norm;
  return a;
}

// A greedy and a sampled continuation of each prompt, one line each. The sampling RNG is seeded from
// (seed, step), so samples never touch the training's random state.
std::string sample_text(Qwen3Model& model, const Tokenizer& tok, const std::vector<Prompt>& prompts,
                        const std::vector<int32_t>& stop_ids, const TrainOptions& opts, int64_t T,
                        int64_t step) {
  std::ostringstream out;
  for (const auto& prompt : prompts) {
    for (bool greedy : {true, false}) {
      GenerateOptions g;
      g.max_new_tokens = opts.sample_tokens;
      g.sampling = greedy ? kGreedy : kDefaultSampling;
      g.stop_ids = stop_ids;
      g.max_seq = T;
      std::mt19937_64 rng(mix_seed(opts.seed, uint64_t(step)));
      GenerateResult res = generate(model, tok, prompt.ids, g, rng, generation_start_id(stop_ids));
      out << "[step " << step << " " << (greedy ? "greedy " : "sampled") << "] " << prompt.text << res.text
          << (res.stopped_at_eos ? " <|endoftext|>" : "") << "\n";
    }
  }
  return out.str();
}

// The samples of `step` on stdout and appended to samples.log. A sample is a side product: a failure
// there (e.g. a token the tokenizer cannot decode) is a warning, never the end of a run that may be
// hours in.
void write_samples(Qwen3Model& model, const Tokenizer& tok, const std::vector<Prompt>& prompts,
                   const std::vector<int32_t>& stop_ids, const TrainOptions& opts, int64_t T, int64_t step) {
  try {
    const std::string text = sample_text(model, tok, prompts, stop_ids, opts, T, step);
    if (text.empty()) return;
    Progress::clear_line_for_log();
    std::fputs(text.c_str(), stdout);
    std::fflush(stdout);
    std::ofstream(fs::path(opts.out_dir) / "samples.log", std::ios::app) << text;
  } catch (const std::exception& e) {
    Progress::clear_line_for_log();
    log_warn("sampling at step ", step, " failed; training goes on: ", e.what());
  }
}

// Drops the samples of steps after `step` from samples.log (a resumed run writes them again): the file holds
// "[step N greedy] ..." records in step order, each of one or more lines.
void keep_samples_up_to(const fs::path& file, int64_t step) {
  if (!fs::exists(file)) return;
  std::istringstream in(read_file(file));
  std::string kept, line;
  while (std::getline(in, line)) {
    int64_t n = 0;
    if (line.rfind("[step ", 0) == 0) {
      const char* digits = line.c_str() + 6;
      const auto [end, ec] = std::from_chars(digits, line.c_str() + line.size(), n);
      if (ec == std::errc() && *end == ' ' && n > step) break;
    }
    kept += line + "\n";
  }
  write_file_atomic(file, kept);
}

// Why the run stops before its next step, in rising precedence: the ranks' reasons combine by their max.
enum class StopReason {
  kNone,
  kMaxTrainMinutes,
  kStopAfterSteps,
  kSigint,
  kSigterm,
  kEarlyStopping,
  kCompleted
};

// As run_info.json and TrainResult say it ("" while the run goes on).
std::string stop_reason_name(StopReason r) {
  switch (r) {
    case StopReason::kNone:
      return "";
    case StopReason::kMaxTrainMinutes:
      return "max_train_minutes";
    case StopReason::kStopAfterSteps:
      return "stop_after_steps";
    case StopReason::kSigint:
      return "signal_sigint";
    case StopReason::kSigterm:
      return "signal_sigterm";
    case StopReason::kEarlyStopping:
      return "early_stopping";
    case StopReason::kCompleted:
      return "completed";
  }
  TT_ASSERT(false) << "stop reason " << int(r);
  return "";
}

// The strongest reason to stop before the next step (kNone: go on). `signal`: the signal received (0:
// none); `overruns`: one more step would end past --max_train_minutes.
StopReason stop_reason_for(const RunState& run, const TrainOptions& opts, int64_t start_step, int signal,
                           bool overruns) {
  if (run.step >= opts.steps) return StopReason::kCompleted;
  if (run.early_stopping.should_stop()) return StopReason::kEarlyStopping;
  if (signal != 0) return signal == SIGTERM ? StopReason::kSigterm : StopReason::kSigint;
  if (opts.stop_after_steps > 0 && run.step - start_step >= opts.stop_after_steps)
    return StopReason::kStopAfterSteps;
  if (overruns) return StopReason::kMaxTrainMinutes;
  return StopReason::kNone;
}

nlohmann::ordered_json train_record(const RunState& run, const StepStats& s, double lr,
                                    const SpeedWindow::Speed& speed, double elapsed_s) {
  return {{"type", "train"},
          {"step", run.step},
          {"loss", s.loss},
          {"lr", lr},
          {"grad_norm", s.grad_norm},
          {"tokens_seen", run.tokens_seen},
          {"tokens_per_s", speed.tokens_per_s},
          {"step_time_s", speed.step_time_s},
          {"elapsed_s", elapsed_s}};
}

std::string train_log_line(const RunState& run, const StepStats& s, double lr,
                           const SpeedWindow::Speed& speed) {
  return "step " + std::to_string(run.step) + "/" + std::to_string(run.steps) + " | loss " +
         fmt_num("%.4f", s.loss) + " | lr " + fmt_num("%.2e", lr) + " | grad_norm " +
         fmt_num("%.3f", s.grad_norm) + " | " + fmt_rate(speed.tokens_per_s) + " tok/s | " +
         fmt_num("%.3f", speed.step_time_s) + " s/step";
}

// The metrics.jsonl record and the log line of an evaluation that run.record_eval() has recorded.
void log_evaluation(MetricsLog& metrics, const RunState& run, const EvalResult& r, bool improved,
                    bool scheduled, double elapsed_s) {
  metrics.append({{"type", "eval"},
                  {"step", run.step},
                  {"eval_loss", r.loss},
                  {"eval_ppl", r.ppl},
                  {"eval_rows", r.rows},
                  {"eval_tokens", r.tokens},
                  {"eval_time_s", r.seconds},
                  {"best_eval_loss", run.early_stopping.best()},
                  {"elapsed_s", elapsed_s}});
  const EarlyStopping& early = run.early_stopping;
  const bool counted = scheduled && early.patience() > 0;
  // A new best that patience does not count: lower, but by no more than the threshold.
  const char* best_note = !improved                          ? ""
                          : counted && early.bad_evals() > 0 ? " - new best, by <= --early_stopping_threshold"
                                                             : " - new best";
  Progress::clear_line_for_log();
  log_info("eval step ", run.step, ": loss ", fmt_num("%.4f", r.loss), " ppl ", fmt_num("%.2f", r.ppl), " (",
           r.rows, " rows, ", fmt_num("%.1f", r.seconds), " s)", best_note,
           counted ? " | no improvement for " + std::to_string(early.bad_evals()) + "/" +
                         std::to_string(early.patience()) + " evals"
                   : "");
}

// A plot that cannot be written is a warning, as a failed metrics record is: it must not cost the run the
// checkpoint that follows it.
void write_plot(const fs::path& out, const MetricsLog& metrics, const Qwen3Config& cfg) {
  try {
    write_file_atomic(out / "loss.svg",
                      loss_curve_svg(metrics.train_curve(), metrics.eval_curve(),
                                     "tiny-transformer: " + out.filename().string() + " (" +
                                         std::to_string(cfg.num_parameters() / 1000000) + "M params)"));
  } catch (const Error& e) {
    Progress::clear_line_for_log();
    log_warn("loss.svg not updated: ", e.what());
  }
}

// What the run reads: the config (the checkpoint's on --resume), the tokenizer (a resumed run keeps the one
// it saved, checkpoint_tokenizer_json's rule; opts.tokenizer becomes its directory, which checkpoints copy),
// and the data, checked against both.
struct RunInputs {
  Qwen3Config cfg;
  std::unique_ptr<Tokenizer> tok;
  TokenDataset train, val;
};
RunInputs load_inputs(TrainOptions& opts, const fs::path& last_dir) {
  Qwen3Config cfg = model_config(opts, last_dir);
  const fs::path tokenizer_json =
      opts.resume ? checkpoint_tokenizer_json(last_dir, opts.tokenizer) : tokenizer_json_file(opts.tokenizer);
  std::unique_ptr<Tokenizer> tok = Tokenizer::load(tokenizer_json);
  opts.tokenizer = tokenizer_json.parent_path().string();
  RunInputs in{.cfg = std::move(cfg),
               .tok = std::move(tok),
               .train = TokenDataset::open(opts.data_dir, "train"),
               .val = TokenDataset::open(opts.data_dir, "val")};
  check_data(opts, in.cfg, *in.tok, in.train, in.val);
  return in;
}

// The memory check of a training model on every rank: CPU ranks on one host share its memory (as many as
// the busiest host runs, a bound for every host), and no rank takes its memory before every rank has
// measured what is left.
void check_training_fits(const TrainOptions& opts, const Qwen3Config& cfg, Backend& backend, int64_t T,
                         dist::Communicator& host) {
  const int64_t B = opts.micro_batch_size;
  double ranks_on_host = double(host.local_rank() + 1);
  host.all_reduce(&ranks_on_host, 1, dist::ReduceOp::kMax, "the ranks per host (memory check)");
  check_model_fits(
      cfg, backend, B, T, ModelUse::kTraining,
      {.what = "--micro_batch_size " + std::to_string(B) + " (rows of " + std::to_string(T) + " tokens)",
       .advice = "lower --micro_batch_size and raise --grad_accum to keep the tokens per step",
       .memory_check = opts.memory_check,
       .processes_sharing = int(ranks_on_host)});
  if (host.size() > 1) host.barrier("the memory check of every rank");
}

// last/'s weights and optimizer state, which must be of the step its trainer_state.json says.
void load_resumed_weights(Qwen3Model& model, const fs::path& last_dir, const RunState& run) {
  load_checkpoint_weights(model, last_dir, /*with_optimizer=*/true);
  TT_CHECK(model.optimizer_step_count() == run.step)
      << (last_dir / "optimizer.bin").string() << " holds the optimizer state of step "
      << model.optimizer_step_count() << ", but " << (last_dir / "trainer_state.json").string()
      << " is at step " << run.step << ", so they are not from the same save"
      << hint("resume from an unmodified checkpoint directory");
}

// The run on this process's rank of `host` (the host communicator; rank 0 alone writes). `opts` are
// validated; `start` is the start of the command.
TrainResult train_on_ranks(TrainOptions opts, Clock::time_point start, dist::Communicator& host) {
  auto elapsed_s = [&] { return seconds_since(start); };

  // ---- setup: every check before any work; out_dir is touched last ----
  const bool writer = host.is_root();
  if (!writer) set_log_level(std::max(log_level(), LogLevel::Warn));
  const fs::path out = opts.out_dir, last_dir = out / "last", best_dir = out / "best";
  if (opts.resume) {
    TT_CHECK(fs::exists(last_dir / "trainer_state.json"))
        << "--resume: " << last_dir.string() << " holds no checkpoint to resume from"
        << hint(holds_a_run(out) ? "the run there stopped before its first save of last/: pass --overwrite "
                                   "instead of --resume to start it again"
                                 : "run without --resume to start a new run");
  }
  // trainer_state.json of the run being resumed, read once: its flags first, its state once the data is
  // known.
  const nlohmann::json saved_state =
      opts.resume ? load_json_file(last_dir / "trainer_state.json") : nlohmann::json::object();
  const ojson flag_changes =
      opts.resume ? restore_run_flags(opts, saved_state, last_dir / "trainer_state.json", host.size(), writer)
                  : ojson::array();
  const auto [cfg, tok, train, val] = load_inputs(opts, last_dir);
  // The token files by content (~3 s per GB, once per start): what a resumed run compares, and what every
  // rank must share.
  const std::string train_sha256 = sha256_hex_file(train.path()), val_sha256 = sha256_hex_file(val.path());
  const int64_t T = train.seq_len(), B = opts.micro_batch_size, world = host.size();
  int64_t tokens_per_step = 0;
  TT_CHECK(!__builtin_mul_overflow(opts.grad_accum * B, world * T, &tokens_per_step))
      << "--grad_accum " << opts.grad_accum << " x --micro_batch_size " << B << " x " << world
      << " rank(s) x " << T << " tokens per row overflows the tokens per step";

  const auto backend =
      make_backend_for_device(opts.device, opts.threads, opts.bf16, gpu_of_rank(host.local_rank()));
  if (host.size() > 1)
    dist::check_same_on_every_rank(host, same_on_every_rank(opts, cfg, *tok, train, train_sha256, val_sha256,
                                                            *backend, last_dir / "trainer_state.json"));
  const std::unique_ptr<dist::Communicator> nccl =
      with_backend_collectives(host, *backend, opts.dist_timeout);
  dist::Communicator& ranks = nccl != nullptr ? *nccl : host;
  if (writer) warn_about_precision(opts, *backend);
  const RunFacts facts = run_facts(opts, cfg, *backend, ranks, train, val, train_sha256, val_sha256);

  check_training_fits(opts, cfg, *backend, T, host);
  Qwen3Model model(cfg, *backend, B, T);
  const LrSchedule schedule{opts.lr, opts.warmup_steps, opts.steps, opts.min_lr_ratio};
  if (writer) warn_about_schedule(opts, schedule, train.rows(), world);
  const std::vector<int32_t> stop_ids = generation_stop_ids(cfg, *tok);
  const std::vector<Prompt> prompts = fitting_prompts(opts, *tok, cfg.vocab_size, T);
  RunState run{.steps = opts.steps,
               .seq_len = T,
               .micro_batch_size = B,
               .grad_accum = opts.grad_accum,
               .world_size = world,
               .data_order = DataOrder(train.rows(), opts.seed),
               .early_stopping = EarlyStopping(opts.early_stopping_patience, opts.early_stopping_threshold),
               .flags = facts.flags,
               .train_sha256 = train_sha256,
               .val_sha256 = val_sha256};
  if (opts.resume) {
    run = resumed_state(run, saved_state, last_dir / "trainer_state.json", opts, train, writer);
    for (ojson change : flag_changes) {
      change["step"] = run.step;
      run.flag_changes.push_back(std::move(change));
    }
  }

  std::unique_ptr<DirLock> out_lock;
  if (writer) out_lock = prepare_out_dir(out, opts);
  MetricsLog metrics(out / "metrics.jsonl");
  if (opts.resume) {
    load_resumed_weights(model, last_dir, run);
    if (writer) {  // drop what a killed session logged after the checkpoint
      metrics.keep_up_to(run.step);
      keep_samples_up_to(out / "samples.log", run.step);
    }
    log_info("resumed ", last_dir.string(), " at step ", run.step, " (epoch ", run.data_order.epoch(),
             ", row ", run.data_order.position(), " of ", train.rows(), ")");
  } else {
    model.init_weights(opts.seed);
  }

  const int64_t start_step = run.step;
  const double earlier_sessions_s = run.wall_time_s;
  TimeBudget budget(budget_work(opts, cfg, *tok, val, prompts.size(), ranks.size()));
  AdamWArgs adamw = adamw_args(opts);  // lr and step are set at each step
  // The mean over the step's rows on all ranks: each rank's gradient is scaled, then they are summed.
  const float loss_scale = 1.0f / float(double(opts.grad_accum) * double(B) * double(world) * double(T - 1));
  std::vector<int32_t> batch;
  double lr = 0;             // of the latest step
  SpeedWindow window;        // since the latest log line
  SpeedWindow::Speed speed;  // of the latest window
  // A resumed run's latest lr and speed are the checkpoint's until this session measures its own, so that a
  // session that takes no step records them and not zeros.
  if (opts.resume) {
    const SessionReport recorded = recorded_session_report(last_dir / "run_info.json");
    lr = recorded.lr;
    speed = {.tokens_per_s = recorded.tokens_per_s, .step_time_s = recorded.step_time_s};
  }
  std::string stop_reason;  // "" while the run goes on

  // ---- what the loop does once in a while ----
  // The loss is the mean over the logging window's steps (as HF logs it), the grad norm the latest step's.
  auto log_train = [&](Progress* bar) {
    StepStats s = model.last_step_stats();  // synchronises
    model.clear_loss_sum();
    double loss[2] = {s.loss_sum, double(s.loss_count)};
    ranks.all_reduce(loss, 2, dist::ReduceOp::kSum, "the train loss of step " + std::to_string(run.step));
    s.loss = loss[0] / std::max(1.0, loss[1]);
    speed = window.close();
    budget.window_speed(speed.step_time_s);
    run.last_train_loss = s.loss;
    TT_CHECK(std::isfinite(s.loss)) << "training diverged: loss is " << s.loss << " at step " << run.step
                                    << hint("lower --lr or raise --warmup_steps");
    if (!writer) return;
    metrics.append(train_record(run, s, lr, speed, elapsed_s()));
    const std::string line = train_log_line(run, s, lr, speed);
    if (bar)
      bar->update(uint64_t(run.step - start_step), line);
    else
      log_info(line, " | ETA ", Progress::format_duration(double(opts.steps - run.step) * speed.step_time_s));
  };
  auto save = [&](const fs::path& dir, bool with_optimizer) {
    if (!writer) return;
    const auto t0 = Clock::now();
    run.wall_time_s = earlier_sessions_s + elapsed_s();
    const SessionReport session{.lr = lr,
                                .tokens_per_s = speed.tokens_per_s,
                                .step_time_s = speed.step_time_s,
                                .wall_time_s = elapsed_s(),
                                .peak_device_memory_bytes = int64_t(backend->peak_memory_bytes()),
                                .peak_host_memory_bytes = host_peak_rss_bytes(),
                                .stop_reason = stop_reason};
    CheckpointContent content;
    content.run_info = run_info_json(facts, run, session);
    content.trainer_state = run.to_json();
    content.tokenizer_dir = opts.tokenizer;
    content.with_optimizer = with_optimizer;
    save_checkpoint(model, dir, content);
    const double s = seconds_since(t0);
    budget.save_took(with_optimizer, s);
    Progress::clear_line_for_log();
    log_info("saved ", dir.string(), " at step ", run.step, " (", fmt_num("%.1f", s), " s)");
  };
  // An evaluation over all ranks, recorded (metrics.jsonl, the log); returns whether it improves on best/.
  auto evaluate = [&](bool scheduled) {
    const EvalResult r = evaluate_split(model, val, opts.eval_rows, B, &ranks);
    budget.eval_took(r.seconds);
    const bool improved = run.record_eval(r.loss, scheduled);
    if (writer) log_evaluation(metrics, run, r, improved, scheduled, elapsed_s());
    return improved;
  };
  // The one place the run decides to stop, before each step (`save_due`: a periodic save follows), the
  // same on every rank so that all stop after the same step: each rank's reason from its own signal (a
  // signal to any rank stops all) and, on rank 0 alone, the clock of the wall-time cap (the rest is the
  // same on every rank); the strongest over the ranks, one all-reduce, is the decision.
  StopSignal signals(
      "\n[train] stop requested: finishing the step, evaluating and saving (signal again to exit now)\n");
  auto stop_reason_now = [&](bool save_due) {
    const bool overruns =
        writer && opts.max_train_minutes > 0 && budget.one_more_step_overruns(elapsed_s(), save_due);
    double reason = double(
        stop_reason_for(run, opts, start_step, signals.requested() ? signals.signal_number() : 0, overruns));
    ranks.all_reduce(&reason, 1, dist::ReduceOp::kMax,
                     "the stop decision after step " + std::to_string(run.step));
    return stop_reason_name(StopReason(int(reason)));
  };
  auto every = [&](int64_t n) { return n > 0 && run.step % n == 0; };
  // After rank 0's writing, the other ranks wait for it here, so that a save or sampling that outlasts
  // --dist_timeout is named as such, not as the next collective. The same condition on every rank.
  auto wait_for_rank0 = [&](const std::string& what) {
    if (world > 1) ranks.barrier("rank 0's " + what + " at step " + std::to_string(run.step));
  };

  // ---- the loop ----
  log_info("train: ", cfg.num_parameters(), " parameters, ", backend->name(), ", seq_len ", T, ", ",
           batch_shape(run), ", ", tokens_per_step, " tokens per step, ", ranks.name(), ", ", train.rows(),
           " train rows, ", val.rows(), " val rows");
  log_info("flags: ", options_summary(facts.flags));
  std::unique_ptr<Progress> bar;
  if (writer && isatty(fileno(stderr)))
    bar = std::make_unique<Progress>("train", uint64_t(opts.steps - start_step), Progress::Unit::Count, 1e9);
  window = SpeedWindow();
  stop_reason = stop_reason_now(/*save_due=*/false);
  while (stop_reason.empty()) {
    // One optimizer step: grad_accum micro-batches, each B rows per rank, this rank's slice of the next
    // B * world rows in the data order; the gradients summed over the ranks; then AdamW.
    const auto step_start = Clock::now();
    model.zero_grads(/*keep_loss_sum=*/true);  // the loss sums over the logging window (log_train)
    for (int64_t a = 0; a < opts.grad_accum; ++a) {
      const std::vector<int64_t> rows = run.data_order.next(B * world);
      const auto mine = rows.begin() + ranks.rank() * B;
      gather_rows(train, std::vector<int64_t>(mine, mine + B), batch);
      model.forward_backward(batch.data(), B, T, loss_scale);
    }
    ranks.all_reduce_sum(model.grads(), "the gradient all-reduce of step " + std::to_string(run.step + 1));
    ++run.step;
    lr = schedule.lr_at(run.step - 1);
    adamw.lr = float(lr);
    adamw.step = run.step;
    model.optimizer_step(adamw);
    run.tokens_seen += tokens_per_step;
    window.add_step(tokens_per_step);
    budget.step_took(seconds_since(step_start));

    // Once in a while: the training log line (metrics.jsonl, the progress bar or a log line).
    if (every(opts.logging_steps) || run.step == opts.steps) log_train(bar.get());
    const auto side_start = Clock::now();  // evaluation, samples and saves stay out of the speed window
    // Once in a while: an evaluation, the plot and, when it improves, best/.
    if (every(opts.eval_steps)) {
      const bool improved = evaluate(/*scheduled=*/true);
      if (writer) write_plot(out, metrics, cfg);
      if (improved) {
        save(best_dir, /*with_optimizer=*/false);
        wait_for_rank0("save of best/");
      }
    }
    // Once in a while: samples (stdout, samples.log).
    if (every(opts.sample_steps)) {
      if (writer && opts.max_train_minutes > 0 && !budget.samples_fit(elapsed_s())) {
        Progress::clear_line_for_log();
        log_info("samples of step ", run.step, " skipped: they would not fit in --max_train_minutes");
      } else if (writer) {
        const auto t0 = Clock::now();
        write_samples(model, *tok, prompts, stop_ids, opts, T, run.step);
        budget.samples_took(seconds_since(t0));
      }
      wait_for_rank0("samples");
    }
    // The stop decision; once in a while, a save of last/ (resumable).
    const bool save_due = every(opts.save_steps);
    stop_reason = stop_reason_now(save_due);
    if (stop_reason.empty() && save_due) {
      save(last_dir, /*with_optimizer=*/true);
      wait_for_rank0("save of last/");
    }
    window.leave_out(Clock::now() - side_start);
  }
  if (bar) bar->finish("stopped: " + stop_reason);

  // ---- the stop: the last log line, the final evaluation (unless this step has one), last/, the plot ----
  log_info("stopping at step ", run.step, ": ", stop_reason);
  if (!window.empty() && run.step > start_step) log_train(nullptr);
  bool evaluated_now = false;
  if (run.eval_step != run.step || std::isnan(run.eval_loss)) {
    evaluated_now = true;
    if (evaluate(/*scheduled=*/false)) save(best_dir, /*with_optimizer=*/false);
  }
  // A resumed session that neither stepped nor evaluated (a finished run resumed) leaves last/ as it was;
  // one that evaluated saves it, or its trainer_state.json would not know that evaluation.
  if (!(opts.resume && run.step == start_step && !evaluated_now)) save(last_dir, /*with_optimizer=*/true);
  if (writer) write_plot(out, metrics, cfg);
  // The cap is kept by estimates; where they fell short (setup, a first step or an evaluation longer than
  // priced before it was measured), the overrun is said, not hidden.
  if (writer && opts.max_train_minutes > 0 && elapsed_s() > opts.max_train_minutes * 60.0)
    log_warn("the command ran ", fmt_num("%.1f", elapsed_s()), " s, ",
             fmt_num("%.1f", elapsed_s() - opts.max_train_minutes * 60.0), " s past --max_train_minutes ",
             opts.max_train_minutes,
             ": what the stop still had to do (evaluation, saves) took longer than "
             "estimated before it was measured; a larger cap or a smaller --eval_rows leaves it room");
  log_info("done: step ", run.step, ", eval loss ", fmt_num("%.4f", run.eval_loss), " (best ",
           fmt_num("%.4f", run.early_stopping.best()), "), ", fmt_num("%.1f", elapsed_s()),
           " s; checkpoints in ", out.string());
  // A bounded wait for rank 0's final save, so that the teardown that follows, collective too (NCCL's, and
  // MPI_Finalize, which has no timeout), finds every rank there at once.
  ranks.barrier("the end of the run (rank 0's final save)");
  return TrainResult{run.step, stop_reason, run.eval_loss, run.early_stopping.best()};
}

}  // namespace

TrainResult run_training(const TrainOptions& options, double already_elapsed_s) {
  StopSignal::reset();
  // --max_train_minutes counts from the start of the command, before this function was called.
  const Clock::time_point start =
      Clock::now() - std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(std::max(0.0, already_elapsed_s)));
  TrainOptions opts = options;
  opts.validate();
  // The ranks of a data-parallel run (one, unless launched by mpirun or srun).
  const std::unique_ptr<dist::Communicator> host = dist::connect_ranks(opts.dist_timeout);
  try {
    return train_on_ranks(std::move(opts), start, *host);
  } catch (const std::exception& e) {
    // One of several ranks failed: the others would wait for it in their next collective until the
    // timeout. This ends them all at once with its message, from here, where the host communicator
    // still lives (the run's NCCL communicator was left alone on the way: its teardown would wait for
    // the other ranks).
    if (host->size() > 1) host->abort(e.what());
    throw;
  }
}

}  // namespace tt
