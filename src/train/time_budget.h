// Wall-clock bookkeeping of a training run: the speed reported in the logs (SpeedWindow) and the
// --max_train_minutes cap (TimeBudget).
//
// The cap covers the whole command: process start-up and setup, the steps, and everything a stop still
// has to do (final evaluation, saves of best/ and last/). Before each step the run asks whether it would
// end past the cap if it took one more step and then stopped; it stops now when it would. Durations are
// the latest measurements of this run times a margin; what has not been measured yet is estimated
// pessimistically (see time_budget.cpp).
#pragma once

#include <chrono>
#include <cstdint>

namespace tt {

// Speed over the steps since the last log line, with evaluations, samples and saves left out.
class SpeedWindow {
 public:
  using Clock = std::chrono::steady_clock;
  struct Speed {
    double tokens_per_s = 0, step_time_s = 0;
  };

  void add_step(int64_t tokens) {
    tokens_ += tokens;
    ++steps_;
  }
  void leave_out(Clock::duration d) { start_ += d; }
  bool empty() const { return steps_ == 0; }
  // The speed over the window; the next window starts now.
  Speed close();

 private:
  Clock::time_point start_ = Clock::now();
  int64_t tokens_ = 0, steps_ = 0;
};

class TimeBudget {
 public:
  // What the run does besides its steps, to price the work a stop still has to do.
  struct Work {
    double cap_s = 0;            // --max_train_minutes * 60
    int64_t save_steps = 0;      // --save_steps
    int64_t rows_per_step = 1;   // micro_batch_size * grad_accum
    int64_t eval_rows = 0;       // rows one evaluation reads
    double weight_bytes = 0;     // fp32 weights (AdamW m and v add twice as much to last/)
    double tokenizer_bytes = 0;  // the tokenizer.json each checkpoint copies
    int64_t sample_tokens = 0;   // tokens one round of samples generates (0: no samples)
  };

  explicit TimeBudget(Work work) : work_(work) {}

  // Measurements of this run.
  void step_took(double seconds);         // each step's wall time
  void window_speed(double step_time_s);  // the average over a logging window
  void eval_took(double seconds) { eval_s_ = seconds; }
  void save_took(bool with_optimizer, double seconds) {
    (with_optimizer ? last_save_s_ : best_save_s_) = seconds;
  }
  void samples_took(double seconds) { samples_s_ = seconds; }

  // Whether the run, `elapsed_s` into the command, would end past the cap if it did the save now due
  // (`save_due`), took one more step and then stopped. Samples are not counted: they are skipped
  // when they do not fit (samples_fit), so that an estimate of them never ends training early.
  bool one_more_step_overruns(double elapsed_s, bool save_due) const;
  // Whether a round of samples now, `elapsed_s` into the command, still leaves time for the stop.
  bool samples_fit(double elapsed_s) const;

 private:
  double step_s() const;
  double eval_s() const;
  double save_s(bool with_optimizer) const;
  double samples_s() const;

  Work work_;
  // Measured durations; 0 = not measured yet.
  double window_step_s_ = 0, step_ema_s_ = 0, eval_s_ = 0, last_save_s_ = 0, best_save_s_ = 0, samples_s_ = 0;
};

}  // namespace tt
