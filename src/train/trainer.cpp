#include "train/trainer.h"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>

#include "common/check.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/paths.h"
#include "common/progress.h"
#include "common/stop_signal.h"
#include "data/dataset.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "train/checkpoint.h"
#include "train/data_order.h"
#include "train/device.h"
#include "train/early_stopping.h"
#include "train/evaluate.h"
#include "train/generate.h"
#include "train/loss_plot.h"
#include "train/lr_schedule.h"
#include "train/rng.h"
#include "tt_version.h"

namespace tt {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using ojson = nlohmann::ordered_json;

constexpr const char* kStateFormat = "tiny-transformer-trainer-state/1";
constexpr int32_t kEndOfText = 151643;  // Qwen3 <|endoftext|>

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

ojson json_or_null(double v, bool valid) {
  return valid && std::isfinite(v) ? ojson(v) : ojson(nullptr);
}

class Trainer {
 public:
  // `already_elapsed_s`: wall time spent before the trainer exists (process start-up), which counts
  // against --max_train_minutes.
  Trainer(TrainOptions opts, double already_elapsed_s)
      : opts_(std::move(opts)),
        start_(Clock::now() - std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>(std::max(0.0, already_elapsed_s)))) {}
  TrainResult run();

 private:
  void setup();
  void prepare_out_dir();
  void resume_from_last();
  void train_step();
  void log_step(Progress* bar);
  EvalResult run_eval(bool scheduled);
  void write_samples();
  void save(const fs::path& dir, bool with_optimizer, double* seconds_out);
  void append_metrics(const ojson& record);
  void write_plot();
  ojson run_info() const;
  ojson trainer_state() const;
  std::string check_stop();
  void sample_during_training();
  double estimated_step_s() const;
  double estimated_eval_s() const;
  double estimated_save_s(bool with_optimizer) const;
  double estimated_samples_s() const;
  double predicted_end_if_continuing_s() const;

  TrainOptions opts_;
  Clock::time_point start_;
  fs::path out_, last_dir_, best_dir_;
  ojson flags_;
  std::string flags_summary_;

  Qwen3Config cfg_;
  std::unique_ptr<Tokenizer> tok_;
  std::optional<TokenDataset> train_, val_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Qwen3Model> model_;
  std::unique_ptr<DataOrder> order_;
  LrSchedule schedule_;
  EarlyStopping early_;
  std::unique_ptr<StopSignal> signals_;
  std::vector<std::pair<std::string, std::vector<int32_t>>> prompts_;
  std::vector<int32_t> stop_ids_;
  int64_t T_ = 0, B_ = 0, start_step_ = 0;

  // Progress of the run (persisted in trainer_state.json).
  int64_t step_ = 0, tokens_seen_ = 0;
  double last_train_loss_ = NAN, last_grad_norm_ = NAN, last_lr_ = 0;
  double eval_loss_ = NAN, best_saved_loss_ = std::numeric_limits<double>::infinity();
  int64_t eval_step_ = -1;
  double prior_wall_s_ = 0;  // wall time of earlier sessions of this run
  std::string stop_reason_;

  // Speed, over the last logging window.
  Clock::time_point window_start_;
  int64_t window_tokens_ = 0, window_steps_ = 0;
  double tokens_per_s_ = 0, step_time_s_ = 0;
  // Measured durations (0 = not measured yet) behind the --max_train_minutes budget.
  double last_eval_s_ = 0, last_save_s_ = 0, best_save_s_ = 0, samples_s_ = 0, step_ema_s_ = 0;

  std::vector<LossPoint> train_curve_, eval_curve_;
  std::vector<int32_t> batch_;
};

void Trainer::setup() {
  opts_.validate();
  out_ = opts_.out_dir;
  last_dir_ = out_ / "last";
  best_dir_ = out_ / "best";
  if (opts_.resume) {
    TT_CHECK(fs::exists(last_dir_ / "trainer_state.json"))
        << "--resume: " << last_dir_.string() << " holds no checkpoint to resume from"
        << hint("run without --resume to start a new run");
  }

  // Model config (from the checkpoint when resuming without --config).
  if (opts_.config.empty()) {
    cfg_ = load_checkpoint_config(last_dir_);
  } else {
    cfg_ = Qwen3Config::load(opts_.config);
    if (opts_.resume) {
      Qwen3Config saved = load_checkpoint_config(last_dir_);
      TT_CHECK(saved.to_hf_json() == cfg_.to_hf_json())
          << "--resume: " << opts_.config << " differs from the config of "
          << (last_dir_ / "config.json").string() << hint("resume with the same --config (or omit --config)");
    }
  }

  if (opts_.tokenizer.empty()) opts_.tokenizer = default_tokenizer_dir().string();
  tok_ = Tokenizer::load(opts_.tokenizer);
  if (fs::is_regular_file(opts_.tokenizer))
    opts_.tokenizer = fs::path(opts_.tokenizer).parent_path().string();

  train_.emplace(TokenDataset::open(opts_.data_dir, "train"));
  val_.emplace(TokenDataset::open(opts_.data_dir, "val"));
  train_->check_compatible(cfg_.vocab_size, cfg_.max_position_embeddings, tok_->sha256());
  val_->check_compatible(cfg_.vocab_size, cfg_.max_position_embeddings, tok_->sha256());
  T_ = train_->seq_len();
  B_ = opts_.micro_batch_size;
  TT_CHECK(T_ >= 2) << opts_.data_dir << "/meta.json: seq_len " << T_
                    << " is too short to train on (need >= 2)";
  TT_CHECK(train_->rows() > 0) << train_->path().string() << ": no training rows"
                               << hint("prepare more data or use a smaller --seq_len");
  TT_CHECK(val_->rows() > 0) << val_->path().string() << ": no validation rows"
                             << hint("prepare-data with a larger validation fraction");

  // Flags as finally resolved, from the same declarations as the CLI.
  {
    TrainOptions copy = opts_;
    CLI::App app;
    OptionSet os(&app);
    copy.declare(os);
    flags_ = os.to_json();
    flags_summary_ = os.summary();
  }

  backend_ = make_backend_for_device(opts_.device);
  if (opts_.bf16 && !backend_->is_cuda())
    log_warn(
        "--bf16: the CPU backend computes in fp32; training runs in fp32 (checkpoints are fp32 as always)");
  if (!opts_.bf16 && backend_->is_cuda())
    log_warn(
        "the CUDA backend always trains in bf16 mixed precision (fp32 master weights); --bf16 is implied");

  model_ = std::make_unique<Qwen3Model>(cfg_, *backend_, B_, T_);
  schedule_ = LrSchedule{opts_.lr, opts_.warmup_steps, opts_.steps, opts_.min_lr_ratio};
  early_ = EarlyStopping(opts_.early_stopping_patience, opts_.early_stopping_threshold);
  order_ = std::make_unique<DataOrder>(train_->rows(), opts_.seed);

  for (int64_t id : {int64_t(kEndOfText), cfg_.eos_token_id, int64_t(tok_->eos_id())})
    if (id >= 0 && id < cfg_.vocab_size &&
        std::find(stop_ids_.begin(), stop_ids_.end(), id) == stop_ids_.end())
      stop_ids_.push_back(static_cast<int32_t>(id));
  for (const auto& p : opts_.sample_prompts) {
    std::vector<int32_t> ids = tok_->encode(p);
    bool ok = int64_t(ids.size()) < T_;
    for (int32_t id : ids) ok = ok && id < cfg_.vocab_size;
    if (ok)
      prompts_.emplace_back(p, std::move(ids));
    else
      log_warn("sample prompt \"", p, "\" does not fit the model (vocab or context); skipped");
  }

  // Only now, with every check passed and the model allocated, touch out_dir (--overwrite deletes).
  prepare_out_dir();
  if (opts_.resume) {
    resume_from_last();
  } else {
    model_->init_weights(opts_.seed);
  }
}

void Trainer::prepare_out_dir() {
  std::error_code ec;
  fs::create_directories(out_, ec);
  TT_CHECK(!ec) << out_.string() << ": cannot create the output directory: " << ec.message();
  remove_stale_checkpoint_temps(out_);
  if (opts_.resume) return;
  bool has_run = fs::exists(last_dir_) || fs::exists(best_dir_) || fs::exists(out_ / "metrics.jsonl");
  if (has_run) {
    TT_CHECK(opts_.overwrite)
        << out_.string() << " already holds a run (last/, best/ or metrics.jsonl)"
        << hint("pass --resume to continue it, --overwrite to replace it, or another --out_dir");
    log_warn("--overwrite: deleting the previous run in ", out_.string());
    for (const char* name : {"last", "best", "metrics.jsonl", "samples.log", "loss.svg"})
      fs::remove_all(out_ / name);
  }
}

void Trainer::resume_from_last() {
  nlohmann::json st = load_json_file(last_dir_ / "trainer_state.json");
  const std::string file = (last_dir_ / "trainer_state.json").string();
  TT_CHECK(st.value("format", "") == kStateFormat)
      << file << ": unknown format (expected " << kStateFormat << ")";
  try {
    TT_CHECK(st.at("seq_len").get<int64_t>() == T_) << file << ": the run used seq_len " << st.at("seq_len")
                                                    << " but " << opts_.data_dir << " has " << T_;
    const auto& d = st.at("data_order");
    TT_CHECK(d.at("rows").get<int64_t>() == train_->rows())
        << file << ": the run's training split had " << d.at("rows") << " rows, " << train_->path().string()
        << " has " << train_->rows() << hint("resume with the same --data_dir");
    TT_CHECK(d.at("seed").get<uint64_t>() == opts_.seed)
        << file << ": the run used --seed " << d.at("seed") << ", not " << opts_.seed;
    if (st.at("micro_batch_size").get<int64_t>() != B_ ||
        st.at("grad_accum").get<int64_t>() != opts_.grad_accum)
      log_warn(
          "--resume with a different batch shape than the saved run; the result will differ from an "
          "uninterrupted run");
    if (st.at("steps").get<int64_t>() != opts_.steps)
      log_warn("--resume with --steps ", opts_.steps, " instead of the run's ", st.at("steps"),
               ": the cosine schedule is stretched from here on (the lr jumps)");
    load_checkpoint_weights(*model_, last_dir_, /*with_optimizer=*/true);
    order_->restore(d.at("epoch").get<int64_t>(), d.at("position").get<int64_t>());
    early_.restore(st.at("early_stopping"));
    step_ = st.at("step").get<int64_t>();
    tokens_seen_ = st.at("tokens_seen").get<int64_t>();
    best_saved_loss_ = st.at("best_saved_loss").is_null() ? std::numeric_limits<double>::infinity()
                                                          : st["best_saved_loss"].get<double>();
    prior_wall_s_ = st.at("wall_time_s").get<double>();
    if (!st.at("last_train_loss").is_null()) last_train_loss_ = st["last_train_loss"].get<double>();
    if (!st.at("eval_loss").is_null()) eval_loss_ = st["eval_loss"].get<double>();
    eval_step_ = st.at("eval_step").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    TT_FAIL() << file << ": missing or malformed field (" << e.what() << ")";
  }
  TT_CHECK(step_ <= opts_.steps) << "--resume: the run is already at step " << step_ << ", beyond --steps "
                                 << opts_.steps;

  // Keep the history up to the checkpoint; drop what a killed session logged after it.
  fs::path metrics = out_ / "metrics.jsonl";
  if (fs::exists(metrics)) {
    std::istringstream in(read_file(metrics));
    std::string line, kept;
    while (std::getline(in, line)) {
      nlohmann::json r = nlohmann::json::parse(line, nullptr, false);
      if (r.is_discarded() || !r.is_object() || r.value("step", int64_t(-1)) > step_) continue;
      kept += line + "\n";
      if (r.value("type", "") == "train") train_curve_.push_back({r["step"], r.value("loss", 0.0)});
      if (r.value("type", "") == "eval") eval_curve_.push_back({r["step"], r.value("eval_loss", 0.0)});
    }
    write_file_atomic(metrics, kept);
  }
  log_info("resumed ", last_dir_.string(), " at step ", step_, " (epoch ", order_->epoch(), ", row ",
           order_->position(), " of ", train_->rows(), ")");
}

void Trainer::train_step() {
  model_->zero_grads();
  const float scale = 1.0f / float(double(opts_.grad_accum) * double(B_) * double(T_ - 1));
  for (int64_t a = 0; a < opts_.grad_accum; ++a) {
    gather_rows(*train_, order_->next(B_), cfg_.vocab_size, batch_);
    model_->forward_backward(batch_.data(), B_, T_, scale);
  }
  ++step_;
  AdamWArgs args;
  last_lr_ = schedule_.lr_at(step_ - 1);
  args.lr = float(last_lr_);
  args.beta1 = float(opts_.adam_beta1);
  args.beta2 = float(opts_.adam_beta2);
  args.eps = float(opts_.adam_epsilon);
  args.weight_decay = float(opts_.weight_decay);
  args.step = step_;
  args.max_grad_norm = float(opts_.max_grad_norm);
  model_->optimizer_step(args);
  tokens_seen_ += opts_.grad_accum * B_ * T_;
  window_tokens_ += opts_.grad_accum * B_ * T_;
  ++window_steps_;
}

void Trainer::log_step(Progress* bar) {
  StepStats s = model_->last_step_stats();  // synchronises
  double dt = seconds_since(window_start_);
  tokens_per_s_ = dt > 0 ? window_tokens_ / dt : 0;
  step_time_s_ = window_steps_ > 0 ? dt / window_steps_ : 0;
  window_start_ = Clock::now();
  window_tokens_ = window_steps_ = 0;
  last_train_loss_ = s.loss;
  last_grad_norm_ = s.grad_norm;
  TT_CHECK(std::isfinite(s.loss)) << "training diverged: loss is " << s.loss << " at step " << step_
                                  << hint("lower --lr or raise --warmup_steps");
  train_curve_.push_back({step_, s.loss});
  ojson r;
  r["type"] = "train";
  r["step"] = step_;
  r["loss"] = s.loss;
  r["lr"] = last_lr_;
  r["grad_norm"] = s.grad_norm;
  r["tokens_seen"] = tokens_seen_;
  r["tokens_per_s"] = tokens_per_s_;
  r["step_time_s"] = step_time_s_;
  r["elapsed_s"] = seconds_since(start_);
  append_metrics(r);
  std::string eta = Progress::format_duration(double(opts_.steps - step_) * step_time_s_);
  std::string line = "step " + std::to_string(step_) + "/" + std::to_string(opts_.steps) + " | loss " +
                     fmt_num("%.4f", s.loss) + " | lr " + fmt_num("%.2e", last_lr_) + " | grad_norm " +
                     fmt_num("%.3f", s.grad_norm) + " | " + fmt_rate(tokens_per_s_) + " tok/s | " +
                     fmt_num("%.3f", step_time_s_) + " s/step";
  if (bar)
    bar->update(uint64_t(step_ - start_step_), line);
  else
    log_info(line, " | ETA ", eta);
}

EvalResult Trainer::run_eval(bool scheduled) {
  EvalResult r = evaluate_split(*model_, *val_, opts_.eval_rows, B_);
  last_eval_s_ = r.seconds;
  eval_loss_ = r.loss;
  eval_step_ = step_;
  if (scheduled) early_.update(r.loss);
  bool improved = best_saved_loss_ - r.loss > opts_.early_stopping_threshold ||
                  best_saved_loss_ == std::numeric_limits<double>::infinity();
  if (improved) best_saved_loss_ = r.loss;
  eval_curve_.push_back({step_, r.loss});
  ojson rec;
  rec["type"] = "eval";
  rec["step"] = step_;
  rec["eval_loss"] = r.loss;
  rec["eval_ppl"] = r.ppl;
  rec["eval_rows"] = r.rows;
  rec["eval_tokens"] = r.tokens;
  rec["eval_time_s"] = r.seconds;
  rec["best_eval_loss"] = best_saved_loss_;
  rec["elapsed_s"] = seconds_since(start_);
  append_metrics(rec);
  Progress::clear_line_for_log();
  log_info("eval step ", step_, ": loss ", fmt_num("%.4f", r.loss), " ppl ", fmt_num("%.2f", r.ppl), " (",
           r.rows, " rows, ", fmt_num("%.1f", r.seconds), " s)", improved ? " - new best" : "",
           scheduled && early_.patience() > 0
               ? " | no improvement for " + std::to_string(early_.bad_evals()) + "/" +
                     std::to_string(early_.patience()) + " evals"
               : "");
  write_plot();
  if (improved) save(best_dir_, /*with_optimizer=*/false, &best_save_s_);
  return r;
}

void Trainer::write_samples() {
  if (prompts_.empty()) return;
  std::ostringstream out;
  SamplingParams sampled{0.8, 50, 0.95};
  for (const auto& [prompt, ids] : prompts_) {
    for (bool greedy : {true, false}) {
      GenerateOptions g;
      g.max_new_tokens = opts_.sample_tokens;
      g.sampling = greedy ? SamplingParams{0, 0, 1} : sampled;
      g.stop_ids = stop_ids_;
      g.max_seq = T_;
      std::mt19937_64 rng(mix_seed(opts_.seed, uint64_t(step_)));
      GenerateResult res = generate(*model_, *tok_, ids, g, rng, stop_ids_.empty() ? 0 : stop_ids_[0]);
      out << "[step " << step_ << " " << (greedy ? "greedy " : "sampled") << "] " << prompt << res.text
          << (res.stopped_at_eos ? " <|endoftext|>" : "") << "\n";
    }
  }
  Progress::clear_line_for_log();
  std::fputs(out.str().c_str(), stdout);
  std::fflush(stdout);
  std::ofstream f(out_ / "samples.log", std::ios::app);
  f << out.str();
}

// A sample is a side product: a failure there (e.g. a token the tokenizer cannot decode) is a warning,
// never the end of a run that may be hours in.
void Trainer::sample_during_training() {
  const auto t0 = Clock::now();
  try {
    write_samples();
  } catch (const std::exception& e) {
    Progress::clear_line_for_log();
    log_warn("sampling at step ", step_, " failed; training goes on: ", e.what());
  }
  samples_s_ = seconds_since(t0);
}

void Trainer::append_metrics(const ojson& record) {
  std::ofstream f(out_ / "metrics.jsonl", std::ios::app);
  f << record.dump() << "\n";
  TT_CHECK(f.good()) << (out_ / "metrics.jsonl").string() << ": write failed";
}

void Trainer::write_plot() {
  write_file_atomic(out_ / "loss.svg",
                    loss_curve_svg(train_curve_, eval_curve_,
                                   "tiny-transformer: " + fs::path(opts_.out_dir).filename().string() + " (" +
                                       std::to_string(cfg_.num_parameters() / 1000000) + "M params)"));
}

ojson Trainer::trainer_state() const {
  ojson s;
  s["format"] = kStateFormat;
  s["step"] = step_;
  s["steps"] = opts_.steps;
  s["tokens_seen"] = tokens_seen_;
  s["data_order"] = {{"seed", order_->seed()},
                     {"rows", order_->rows()},
                     {"epoch", order_->epoch()},
                     {"position", order_->position()}};
  s["sampling_rng"] = "mt19937_64 seeded with mix_seed(seed, step) at each sampling step (stateless)";
  s["early_stopping"] = early_.state();
  s["best_saved_loss"] = json_or_null(best_saved_loss_, true);
  s["last_train_loss"] = json_or_null(last_train_loss_, true);
  s["eval_loss"] = json_or_null(eval_loss_, true);
  s["eval_step"] = eval_step_;
  s["wall_time_s"] = prior_wall_s_ + seconds_since(start_);
  s["seq_len"] = T_;
  s["micro_batch_size"] = B_;
  s["grad_accum"] = opts_.grad_accum;
  return s;
}

ojson Trainer::run_info() const {
  ojson r;
  r["format"] = "tiny-transformer-run-info/1";
  r["version"] = TT_VERSION;
  r["git_commit"] = TT_GIT_COMMIT;
  r["saved_at"] = utc_now();
  r["device"] = backend_->name();
  r["precision"] = backend_->is_cuda() ? "bf16 mixed (fp32 master weights)" : "fp32";
  r["config"] = cfg_.to_hf_json();
  r["num_parameters"] = cfg_.num_parameters();
  r["flags"] = flags_;
  r["data"] = {{"data_dir", opts_.data_dir},
               {"seq_len", T_},
               {"train_rows", train_->rows()},
               {"val_rows", val_->rows()},
               {"tokenizer_sha256", train_->meta().tokenizer_sha256}};
  r["step"] = step_;
  r["steps"] = opts_.steps;
  r["epoch"] = order_->epoch();
  r["tokens_seen"] = tokens_seen_;
  r["lr"] = last_lr_;
  r["last_train_loss"] = json_or_null(last_train_loss_, true);
  r["eval_loss"] = json_or_null(eval_loss_, true);
  r["eval_ppl"] = json_or_null(std::exp(eval_loss_), std::isfinite(eval_loss_));
  r["eval_step"] = eval_step_;
  r["best_eval_loss"] = json_or_null(best_saved_loss_, true);
  r["tokens_per_s"] = tokens_per_s_;
  r["step_time_s"] = step_time_s_;
  r["wall_time_s"] = prior_wall_s_ + seconds_since(start_);
  r["session_wall_time_s"] = seconds_since(start_);
  r["peak_device_memory_bytes"] = backend_->peak_memory_bytes();
  r["peak_host_memory_bytes"] = host_peak_rss_bytes();
  r["stop_reason"] = stop_reason_.empty() ? ojson(nullptr) : ojson(stop_reason_);
  return r;
}

void Trainer::save(const fs::path& dir, bool with_optimizer, double* seconds_out) {
  auto t0 = Clock::now();
  CheckpointContent c;
  c.run_info = run_info();
  c.trainer_state = trainer_state();
  c.tokenizer_dir = opts_.tokenizer;
  c.with_optimizer = with_optimizer;
  save_checkpoint(*model_, dir, c);
  double s = seconds_since(t0);
  if (seconds_out) *seconds_out = s;
  Progress::clear_line_for_log();
  log_info("saved ", dir.string(), " at step ", step_, " (", fmt_num("%.1f", s), " s)");
}

// ---- the --max_train_minutes budget -----------------------------------------------------------
// The cap covers the whole command: process start-up and setup (start_ is moved back by the time
// spent before the trainer existed), the steps, and everything a stop still has to do (final
// evaluation, saves of best/ and last/). Before each step the trainer predicts when the run would end
// if it took one more step and then stopped; it stops now when that is past the cap. Durations are the
// latest measurements of this run times kBudgetMargin; what has not been measured yet is estimated
// pessimistically (see each function).
constexpr double kBudgetMargin = 1.25;    // measured durations vary; err on stopping early
constexpr double kBudgetSlackS = 0.1;     // process exit, plot, logging
constexpr double kSaveBytesPerS = 100e6;  // a slow, busy disk (fsync), until a save has been measured
constexpr double kSaveFixedS = 0.05;      // directory, rename, json files

double Trainer::estimated_step_s() const {
  // step_time_s_: the average over the last logging window (synchronised, so right on a GPU too);
  // step_ema_s_: a moving average of each step's wall time, which covers the first window and reacts
  // to a slowdown without letting one slow step stop the run.
  return kBudgetMargin * std::max(step_time_s_, step_ema_s_);
}

double Trainer::estimated_eval_s() const {
  if (last_eval_s_ > 0) return kBudgetMargin * last_eval_s_;
  // Not evaluated yet: a forward pass over the rows costs about a third of a training step over as many
  // rows (forward + backward + optimizer; measured 0.30-0.37 on the CPU, DESIGN.md).
  const int64_t rows = opts_.eval_rows > 0 ? std::min(opts_.eval_rows, val_->rows()) : val_->rows();
  return estimated_step_s() * double(rows) / double(B_ * opts_.grad_accum) / 3.0;
}

double Trainer::estimated_save_s(bool with_optimizer) const {
  const double measured = with_optimizer ? last_save_s_ : best_save_s_;
  if (measured > 0) return kBudgetMargin * measured;
  // Not saved yet: fp32 weights (+ AdamW m and v for last/) and the tokenizer.json copy on a slow disk.
  std::error_code ec;
  const auto tok_bytes = fs::file_size(tok_->json_path(), ec);
  const double bytes =
      double(cfg_.num_parameters()) * 4.0 * (with_optimizer ? 3.0 : 1.0) + (ec ? 0.0 : double(tok_bytes));
  return kSaveFixedS + bytes / kSaveBytesPerS;
}

double Trainer::estimated_samples_s() const {
  if (prompts_.empty()) return 0;
  if (samples_s_ > 0) return kBudgetMargin * samples_s_;
  // Not sampled yet: each generated token (2 samples per prompt) priced like a forward pass over a whole
  // micro-batch, which one token never costs more than.
  const double tokens = double(prompts_.size()) * 2.0 * double(opts_.sample_tokens);
  return tokens * estimated_step_s() / double(opts_.grad_accum) / 3.0;
}

// Seconds since start_ at which the run would end if it finished the current step's remaining work,
// took one more step (with that step's scheduled evaluation / samples) and then stopped.
double Trainer::predicted_end_if_continuing_s() const {
  double t = seconds_since(start_);
  if (step_ > start_step_ && opts_.save_steps > 0 && step_ % opts_.save_steps == 0)
    t += estimated_save_s(true);  // the periodic save right after this check
  const int64_t next = step_ + 1;
  t += estimated_step_s();
  if (opts_.sample_steps > 0 && next % opts_.sample_steps == 0) t += estimated_samples_s();
  // The stop after `next`: one evaluation (scheduled at `next` or the final one) that may save best/,
  // then the save of last/.
  t += estimated_eval_s() + estimated_save_s(false) + estimated_save_s(true) + kBudgetSlackS;
  return t;
}

std::string Trainer::check_stop() {
  if (step_ >= opts_.steps) return "completed";
  if (early_.should_stop()) return "early_stopping";
  if (signals_->requested()) return signals_->signal_number() == SIGTERM ? "signal_sigterm" : "signal_sigint";
  if (opts_.stop_after_steps > 0 && step_ - start_step_ >= opts_.stop_after_steps) return "stop_after_steps";
  if (opts_.max_train_minutes > 0 && predicted_end_if_continuing_s() >= opts_.max_train_minutes * 60.0)
    return "max_train_minutes";
  return "";
}

TrainResult Trainer::run() {
  setup();
  signals_ = std::make_unique<StopSignal>(
      "\n[train] stop requested: finishing the step, evaluating and saving (signal again to exit now)\n");
  start_step_ = step_;
  log_info("train: ", cfg_.num_parameters(), " parameters, ", backend_->name(), ", seq_len ", T_, ", ",
           opts_.grad_accum * B_, " rows (", opts_.grad_accum * B_ * T_, " tokens) per step, ",
           train_->rows(), " train rows, ", val_->rows(), " val rows");
  log_info("flags: ", flags_summary_);

  std::unique_ptr<Progress> bar;
  if (isatty(fileno(stderr)))
    bar =
        std::make_unique<Progress>("train", uint64_t(opts_.steps - start_step_), Progress::Unit::Count, 1e9);
  window_start_ = Clock::now();

  stop_reason_ = check_stop();
  while (stop_reason_.empty()) {
    const auto step_start = Clock::now();
    train_step();
    const double step_s = seconds_since(step_start);
    step_ema_s_ = step_ema_s_ == 0 ? step_s : 0.7 * step_ema_s_ + 0.3 * step_s;
    if (step_ % opts_.logging_steps == 0 || step_ == opts_.steps) log_step(bar.get());
    // Evaluation, samples and saves are kept out of the tokens/s and s/step of the window.
    const auto side_start = Clock::now();
    if (opts_.eval_steps > 0 && step_ % opts_.eval_steps == 0) run_eval(/*scheduled=*/true);
    if (opts_.sample_steps > 0 && step_ % opts_.sample_steps == 0) sample_during_training();
    stop_reason_ = check_stop();
    if (stop_reason_.empty() && opts_.save_steps > 0 && step_ % opts_.save_steps == 0)
      save(last_dir_, true, &last_save_s_);
    window_start_ += Clock::now() - side_start;
  }
  if (bar) bar->finish("stopped: " + stop_reason_);

  log_info("stopping at step ", step_, ": ", stop_reason_);
  if (window_steps_ > 0 && step_ > start_step_) log_step(nullptr);
  if (eval_step_ != step_ || std::isnan(eval_loss_)) run_eval(/*scheduled=*/false);
  save(last_dir_, true, &last_save_s_);
  write_plot();

  TrainResult res;
  res.step = step_;
  res.stop_reason = stop_reason_;
  res.eval_loss = eval_loss_;
  res.best_eval_loss = best_saved_loss_;
  log_info("done: step ", step_, ", eval loss ", fmt_num("%.4f", eval_loss_), " (best ",
           fmt_num("%.4f", best_saved_loss_), "), ", fmt_num("%.1f", seconds_since(start_)),
           " s; checkpoints in ", out_.string());
  return res;
}

}  // namespace

TrainResult run_training(const TrainOptions& opts, double already_elapsed_s) {
  StopSignal::reset();
  Trainer t(opts, already_elapsed_s);
  return t.run();
}

}  // namespace tt
