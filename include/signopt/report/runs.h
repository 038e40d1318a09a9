// Reading `signopt train` run directories (config.json, summary.json, metrics.csv) for reports and
// sweeps: finding them under a folder, their status, and which config keys make a configuration.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace signopt::report {

/// One `signopt train` run directory as the report sees it.
struct RunRecord {
  std::string dir; ///< Path of the run directory.
  std::string name; ///< Path relative to the folder that was searched ("." for the folder itself).
  /// config.json, key -> value as compact JSON text (strings quoted: "\"sgd\"", numbers as written).
  std::map<std::string, std::string> config;
  /// completed | interrupted | failed (from summary.json), "no summary" (running, or stopped before
  /// writing one) or "unreadable" (config.json or summary.json could not be parsed; see error).
  std::string status;
  std::string error; ///< summary.json's error, or why a file could not be read.
  double final_test_accuracy = 0; ///< Percent; meaningful for completed runs.
  double best_test_accuracy = 0;
  std::optional<double> final_val_accuracy; ///< Present when the run held out a validation set.
  std::optional<double> best_val_accuracy;
  int64_t steps = 0;
  double wall_time_s = 0;

  /// A config value without JSON quotes ("sgd", "0.001", "true", "[30,60]"); "" when absent or null.
  std::string value(const std::string& key) const;
  bool completed() const {
    return status == "completed";
  }
};

/// The hybrid's learning-rate estimators, in the order of their metrics.csv columns lambda_<name> and
/// lambda_ema_<name> (swats, least_squares, norm, momentum_ls).
const std::vector<std::string>& calibration_estimators();

/// One row of metrics.csv; absent numbers (phase of a non-hybrid run, ...) are NaN / "".
struct MetricRow {
  std::string kind; ///< step | epoch | final.
  std::string split; ///< train | val | test.
  int64_t epoch = 0;
  int64_t step = 0;
  double loss = 0;
  double accuracy = 0;
  double lr = 0;
  std::string phase; ///< Hybrid: sign | sgd.
  double calibrated_lr = 0;
  double dither_alpha = 0;
  /// The calibration diagnostics (hybrid runs, signum with --log-calibration), one value per name of
  /// calibration_estimators(): the estimator's latest lambda_t, and its bias-corrected EMA (the SGD rate
  /// it would pick if the switch happened now). Both empty when metrics.csv has none of these columns
  /// (runs from before them); NaN where the file has no such column or the row leaves it empty.
  std::vector<double> lambda, lambda_ema;

  /// Whether the row carries any calibration value (a finite lambda_ema).
  bool has_calibration() const;
};

/// Reads one run directory (config.json must exist; a missing or unreadable summary.json gives the
/// statuses documented on RunRecord rather than an exception).
RunRecord read_run(const std::string& dir);

/// Every run directory (a directory holding config.json) under `root`, recursively, sorted by path.
/// Run directories are not searched further, and folders whose names start with '.' are skipped
/// (a sweep keeps failed attempts in .attempts/). Throws std::runtime_error if `root` is not a
/// directory.
std::vector<RunRecord> find_runs(const std::string& root);

/// Reads `dir`/metrics.csv by its header (column order does not matter). Throws std::runtime_error
/// naming the file and line for a malformed file.
std::vector<MetricRow> read_metrics(const std::string& dir);

/// Where a run's calibration is read (see calibration_point()).
struct CalibrationPoint {
  const MetricRow* row = nullptr; ///< nullptr: no step or epoch row has calibration values.
  /// True: `row` is the first step or epoch row in the SGD phase (the switch, as closely as the log shows
  /// it: the switch step itself when it was logged). False: the run never switched (signum with
  /// --log-calibration, a hybrid that did not reach its trigger) and `row` is its last row with values.
  bool switched = false;
};

/// The row of `rows` (one run's metrics, in file order) at which its calibration is reported.
CalibrationPoint calibration_point(const std::vector<MetricRow>& rows);

/// config.json keys that do not change what is trained and so do not separate configurations:
/// seed (runs of one configuration differ in it), out, threads, progress, log-every, probe-every,
/// probe-beta, checkpoint-every, keep-checkpoints, eval-batch-size, data-dir, device, dist-timeout,
/// preset (its values are recorded in the other keys) and signopt_version. semantic_config also drops
/// dither-seed when it equals seed (its default) and, for single-process runs (nproc 1 or absent), the
/// exchange's aggregation, vote-ties and vote-zero-sign.
const std::vector<std::string>& non_semantic_keys();

/// `config` without the non-semantic keys (see non_semantic_keys): what groups runs into one configuration.
std::map<std::string, std::string> semantic_config(const std::map<std::string, std::string>& config);

} // namespace signopt::report
