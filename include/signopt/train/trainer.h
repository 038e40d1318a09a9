// The training loop of `signopt train`: data, model, optimizer, schedule, evaluation, the run
// directory (config.json, metrics.csv, summary.json, checkpoint.pt), resume and Ctrl-C.
#pragma once

#include <signopt/train/config.h>

#include <string>
#include <vector>

namespace signopt::train {

/// How a run ended; also written to summary.json as "status".
enum class RunStatus { Completed, Interrupted, Failed };

/// What run_training() reports back.
struct RunOutcome {
  RunStatus status = RunStatus::Failed;
  std::string run_dir; ///< Empty when the run failed before its directory was created.
  std::string error; ///< Why it failed (Failed only).
  double final_test_accuracy = 0; ///< Percent.
  double best_test_accuracy = 0;
  int64_t steps = 0;
  int64_t rank = 0; ///< This process's rank in a distributed job (0 alone); only rank 0's figures are filled.
  int64_t world_size = 1; ///< Workers of the job.
  /// Failed while waiting for another rank (comm::PeerFailure): that rank is the cause (`signopt train` exits 4).
  bool peer_failure = false;
};

/// Command-line overrides accepted together with --resume (nothing else may change a run).
struct ResumeOverrides {
  std::optional<int64_t> threads;
  std::optional<std::string> progress;
};

/// Trains with `config` into a new run directory (config.out, or runs/<timestamp>-<optimizer>).
/// In a distributed job (RANK/WORLD_SIZE set by a launcher; docs/distributed.md) every rank calls it with
/// the same config: rank 0 creates and writes the run directory, the others train their data shards and
/// exchange their steps as config.aggregation says.
/// Bad configuration or data throw ConfigError / data::DataError before anything is written.
/// Failures after the directory exists (non-finite loss, I/O) return status Failed with the
/// reason; the last checkpoint stays intact. SIGINT during training checkpoints and returns
/// Interrupted.
RunOutcome run_training(TrainConfig config);

/// Continues the run in `run_dir` from its checkpoint with the saved config.json; the finished
/// metrics equal those of an uninterrupted run.
RunOutcome resume_training(const std::string& run_dir, const ResumeOverrides& overrides = {});

/// Columns of metrics.csv, in order.
const std::vector<std::string>& metrics_columns();

/// Asks a running training loop to checkpoint and stop at the next step boundary (what SIGINT does).
void request_stop();

/// Makes the next training loop stop as if interrupted when its step counter reaches `step`
/// (deterministic interruption, for tests of resume).
void request_stop_at_step(int64_t step);

/// Installs the SIGINT/SIGTERM handler that calls request_stop() (a second Ctrl-C quits at once).
void install_interrupt_handler();

} // namespace signopt::train
