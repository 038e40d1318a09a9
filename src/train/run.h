// Internal: class Run, one process's part of a training run (the loop in trainer.cpp, its logs in run_logs.cpp,
// its checkpoints in run_checkpoint.cpp), and LoopState, the loop's scalars that a checkpoint restores.
#pragma once

#include <signopt/data/loader.h>
#include <signopt/diag/probe.h>
#include <signopt/io/checkpoint_file.h>
#include <signopt/io/files.h>
#include <signopt/train/config.h>
#include <signopt/train/trainer.h>

#include "faults.h"
#include "progress.h"
#include "setup.h"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace signopt::train::detail {

using Clock = std::chrono::steady_clock;

/// The newest checkpoint's name in a run directory (older ones: io::checkpoint_files).
inline constexpr const char* kCheckpoint = "checkpoint.pt";

// The scalars of the loop that a checkpoint must restore for an exact resume, as one list of (type, name):
// it declares LoopState and drives the checkpoint's save and load (run_checkpoint.cpp, keys "loop.<name>"),
// so a field cannot be declared and then forgotten by either.
#define SIGNOPT_LOOP_STATE_FIELDS(X)                                                              \
  X(int64_t, epoch) /* 0-based epoch in progress */                                              \
  X(int64_t, batch) /* next batch of that epoch */                                               \
  X(int64_t, step) /* optimizer steps taken */                                                   \
  X(double, window_loss) /* sums since the last logged step row */                               \
  X(int64_t, window_correct)                                                                     \
  X(int64_t, window_count)                                                                       \
  X(int64_t, window_batches)                                                                     \
  X(double, epoch_loss) /* sums over the epoch in progress */                                    \
  X(int64_t, epoch_correct)                                                                      \
  X(int64_t, epoch_count)                                                                        \
  X(int64_t, epoch_batches)                                                                      \
  X(double, elapsed) /* training wall time before this process */                               \
  X(double, best_test)                                                                           \
  X(double, last_test)                                                                           \
  X(double, best_val)                                                                            \
  X(double, last_val)                                                                            \
  X(int64_t, window_bytes_sent) /* distributed runs: payload bytes of this rank since the last step row */ \
  X(int64_t, window_bytes_received)                                                              \
  X(double, window_comm_s) /* seconds in collectives since the last step row */                  \
  X(int64_t, metrics_bytes) /* length of metrics.csv at the checkpoint */                        \
  X(int64_t, probe_bytes) /* length of probe.csv at the checkpoint (--probe-every) */            \
  X(int64_t, finished) /* 1 once the run's last evaluation is logged (a resume then only writes the summary) */

struct LoopState {
#define SIGNOPT_DECLARE_LOOP_FIELD(type, name) type name = 0;
  SIGNOPT_LOOP_STATE_FIELDS(SIGNOPT_DECLARE_LOOP_FIELD)
#undef SIGNOPT_DECLARE_LOOP_FIELD
};

class Run {
 public:
  // `resume`: continue from the newest valid checkpoint in `dir` (rank 0 picks and verifies it and sends its
  // payload to the others, since only rank 0 may have the run directory).
  Run(TrainConfig config, Setup setup, std::filesystem::path dir, bool resume, std::optional<std::string> progress);

  RunOutcome train();

 private:
  // The whole job's figures of one training step (identical on every rank).
  struct StepFigures {
    double loss = 0; // the batch's mean loss
    int64_t correct = 0; // correct predictions
    int64_t count = 0; // images
  };

  // The training loop (trainer.cpp).
  void begin_training();
  StepFigures train_step();
  void report_step();
  void end_epoch();
  std::string evaluate_epoch();
  void evaluate_final();
  void interrupt(RunOutcome& outcome);
  double elapsed_seconds() const;
  Evaluation evaluate_split(const data::BatchLoader& loader);
  void exchange_step_figures(double& loss, int64_t& correct, int64_t& count);
  void average_gradients_if_needed();
  // Seconds the sign exchange (majority vote or scaled signs) has spent so far in this process.
  double exchange_seconds() const {
    double total = 0;
    if (s_.vote)
      total += s_.vote->total_stats().total_s();
    if (s_.scaled)
      total += s_.scaled->total_stats().total_s();
    return total;
  }

  // The logs and the summary (run_logs.cpp).
  void open_logs(bool resuming);
  // --probe-every: folds this step's gradients in before the step and, on a probe step, takes the row's
  // snapshot; probe_row() completes it after the optimizer step (the dither std the step used) and writes it.
  void probe_step(bool write);
  void probe_row();
  void close_files();
  void write_row(
      const char* kind,
      const char* split,
      double loss,
      double accuracy,
      double lr,
      double img_per_s,
      double elapsed);
  void write_summary(const RunOutcome& outcome, double elapsed, double data_seconds);
  // Writes the summary of a run that ends with `outcome`; a summary that cannot be written (a full disk)
  // turns the outcome into a failure naming why.
  void finish(RunOutcome& outcome, double elapsed, double data_seconds);

  // Checkpoints (run_checkpoint.cpp).
  std::string choose_checkpoint();
  void check_header(const io::CheckpointHeader& h, const std::string& origin) const;
  void save_checkpoint(double elapsed);
  void load_checkpoint(const std::string& payload);
  std::string rank_state();
  void load_rank_state(const std::string& bytes);

  TrainConfig c_;
  Setup s_;
  std::filesystem::path dir_;
  bool writer_; // rank 0: the only rank that writes the run directory and prints progress
  std::string options_; // resume_invariant_options(c_): what a checkpoint records and a resume must match
  Progress progress_;
  Fault fault_;
  io::DirectoryLock lock_; // rank 0 holds the run directory while it trains
  bool agreed_stop_ = false; // distributed: some rank was asked to stop (decided together each step)
  LoopState st_;
  io::AppendFile metrics_;
  io::AppendFile probe_; // probe.csv with --probe-every
  std::optional<diag::RunningNoiseSnapshot> pending_probe_; // the row of this step, written by probe_row()
  std::string saved_metrics_, saved_probe_; // resuming: the logs as they were at the checkpoint
  std::optional<diag::RunningNoiseMonitor> monitor_;
  bool resumed_ = false;
  int64_t first_step_ = 0; // the step this process started at (summary's per-step communication figures)
  double comm_seconds_ = 0; // seconds this process spent in collectives during training steps
  int64_t step_bytes_sent_ = 0, step_bytes_received_ = 0; // payload of those collectives
  // The loop's clocks and figures of this process (begin_training() sets them).
  Clock::time_point start_; // when this process began training
  Clock::time_point window_start_; // when the current window of step rows began (evaluations excluded)
  int64_t images_since_window_ = 0;
  double data_seconds_ = 0; // seconds spent loading batches
  int64_t limit_ = 0; // the step count the run stops at (--max-steps, else the run's total)
  double lr_ = 0; // the rate of the last step taken (the epoch and final rows report it)
};

/// The resume rules that need no job, checked before one is built: `dir` is a run directory with its
/// config.json and at least one checkpoint file (ConfigError naming what is missing and what to do).
/// Returns config.json, parsed. Which checkpoint is used, and whether it belongs to this run:
/// Run::choose_checkpoint and Run::check_header (run_checkpoint.cpp), where the other resume rules live.
TrainConfig read_resumable_config(const std::filesystem::path& dir);

} // namespace signopt::train::detail
