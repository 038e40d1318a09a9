// `signopt sweep`: a grid of `signopt train` runs declared in a TOML file (fixed options, axes,
// per-optimizer overrides, an optional validation-based selection stage), run as independent
// processes N at a time, resumable, with sweep.json recording every run's state.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace signopt::experiments {

/// Option key (as `signopt train` spells it, with dashes) and its value as flag text.
using OptionValue = std::pair<std::string, std::string>;

/// An option that varies: every value gives its own runs.
struct SweepAxis {
  std::string key; ///< Option key with dashes (e.g. "batch-size").
  std::vector<std::string> values; ///< Flag text of each value, in file order.
};

/// Options set for the runs of one optimizer ([by_optimizer.NAME]): scalars replace the file's
/// fixed value or axis, lists replace or add an axis.
struct OptimizerOverrides {
  std::vector<OptionValue> fixed;
  std::vector<SweepAxis> axes;
};

/// The [select] table: a second stage that reruns, per group, the best candidate of the first.
struct SweepSelection {
  std::string metric = "final_val_accuracy"; ///< final_val_accuracy | best_val_accuracy (mean over seeds).
  std::vector<std::string> axes; ///< The axes chosen per group (e.g. {"lr"}).
  std::vector<OptionValue> final_fixed; ///< [select.final] scalars applied to the final runs.
  std::vector<std::string> final_seeds; ///< [select.final] seed list; empty = the first stage's seeds.
};

/// A parsed sweep file.
struct SweepSpec {
  std::string file; ///< For messages.
  std::vector<OptionValue> fixed;
  std::vector<SweepAxis> axes;
  std::map<std::string, OptimizerOverrides> by_optimizer;
  std::optional<SweepSelection> select;
};

/// One grid point: a `signopt train` run.
struct SweepRun {
  std::string name; ///< Run directory name, e.g. "signum-lr0.001-seed1".
  std::string stage; ///< "" (no [select]), "select" or "final": the subfolder of the sweep directory.
  std::vector<OptionValue> options; ///< Every option given to `signopt train`, preset first.
  std::vector<OptionValue> axis_values; ///< The values of this run's axes, in name order.
  std::string config_json; ///< The resolved config.json the run must have (computed by validate_runs()).

  /// The `signopt train` arguments for a new run in `run_dir`; `threads` is passed unless the
  /// options set it.
  std::vector<std::string> train_args(const std::string& run_dir, int64_t threads) const;
  /// The value of option `key` in this run ("" if not set).
  std::string option(const std::string& key) const;
};

/// Parses a sweep file (TOML). Every error names the file and the key: unknown options (with a
/// suggestion), empty lists, duplicate values, mixed types, tables other than by_optimizer/select,
/// overrides for optimizers the sweep does not run, options the sweep owns (out). Throws
/// train::ConfigError.
SweepSpec parse_sweep(const std::string& toml_text, const std::string& file);
/// Reads and parses a sweep file.
SweepSpec load_sweep(const std::string& path);

/// The runs of the grid (the first stage when there is a [select] table), in run order: datasets,
/// models, presets, optimizers, the other axes in file order, seeds innermost. Names are unique.
std::vector<SweepRun> expand_sweep(const SweepSpec& spec);

/// Resolves every run's options as `signopt train` would (fills SweepRun::config_json) and throws
/// train::ConfigError naming the file and the run for an invalid combination.
void validate_runs(const SweepSpec& spec, std::vector<SweepRun>& runs);

/// The choice of one [select] group.
struct SelectionChoice {
  std::string group; ///< The group's axis values other than the selected ones and the seed ("" if none).
  std::vector<OptionValue> chosen; ///< The chosen values of the select axes; empty when none qualified.
  double mean = 0; ///< The chosen candidate's mean metric.
  std::vector<std::string> notes; ///< Candidates left out (a run not completed) and the candidates' means.
};

/// Chooses, per group of first-stage runs, the select-axes values with the highest mean metric over
/// seeds; `metric_of(run)` returns the metric of a completed run or std::nullopt. A candidate with a
/// run that did not complete is left out. Returns the choices and the final-stage runs.
std::pair<std::vector<SelectionChoice>, std::vector<SweepRun>> select_final_runs(
    const SweepSpec& spec,
    const std::vector<SweepRun>& first_stage,
    const std::map<std::string, std::optional<double>>& metric_of);

/// The `signopt train` arguments (after `train`) that resume the run in `run_dir`: `--resume DIR` and
/// nothing else. A resume never changes a run's thread count: the run keeps the threads its config.json
/// recorded when it started (the sweep file's `threads`, or cores / jobs of the sweep that started it),
/// so a resumed run equals the uninterrupted one whatever --jobs and the cores are now.
std::vector<std::string> resume_train_args(const std::string& run_dir);

/// The most runs `signopt sweep --jobs` runs at once: each is a process with its own model and data.
inline constexpr int kMaxSweepJobs = 1024;

/// Options of run_sweep().
struct SweepOptions {
  std::string config_file;
  std::string out_dir; ///< "" = runs/<config file stem>.
  int jobs = 1; ///< 1..kMaxSweepJobs.
  bool dry_run = false;
  std::string progress = "auto"; ///< auto (a live line on a terminal) | bar | lines.
  std::string binary; ///< The signopt executable; "" = this process (/proc/self/exe).
  int cores = 0; ///< 0 = the CPUs this process may use; threads per new run = max(1, cores / jobs), at most train::kMaxThreads.
};

/// Runs (or with dry_run, plans) the sweep and writes OUT/sweep.json. Returns the exit status: 0
/// every run completed, 1 some run failed or was interrupted from outside, 130 the sweep was
/// interrupted (SIGINT/SIGTERM: each running child gets one SIGINT and checkpoints; rerun to
/// continue). Throws train::ConfigError for a bad sweep file or a run directory in the way.
int run_sweep(const SweepOptions& options, std::ostream& out);

} // namespace signopt::experiments
