// `signopt report`: tables with mean +- std, min, max and n per configuration and dataset, Welch
// t-test p-values and Holm-corrected paired (by seed) t-tests against a baseline, and gnuplot plots,
// made from run directories only.
#pragma once

#include <signopt/report/runs.h>
#include <signopt/report/stats.h>

#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace signopt::report {

/// A metric summarized over the completed runs (seeds) of one configuration.
struct MetricStats {
  SampleSummary summary;
  std::vector<double> values; ///< One per run, in the order of ConfigurationStats::runs.
  std::optional<WelchResult> vs_baseline; ///< Welch's test against the baseline's values (not for the baseline).
};

/// A configuration's final test accuracies paired by seed with the baseline's (docs/report.md).
struct PairedComparison {
  /// "" when the runs pair up; otherwise why not, as the table cell says it: "unpaired: seeds differ"
  /// (a seed of the configuration has no baseline run), "unpaired: a seed repeats" (two runs of the
  /// configuration, or the baseline runs of one of its seeds, share a seed) or "n/a: fewer than 2 pairs".
  std::string note;
  std::vector<std::string> seeds; ///< The pairs' seeds, in the order of ConfigurationStats::runs (when paired).
  PairedResult test; ///< The paired t-test of configuration - baseline per seed (when paired).
  /// test.p after Holm's correction over the table's paired comparisons (DatasetTable::paired_m); NaN when
  /// unpaired.
  double holm_p = std::numeric_limits<double>::quiet_NaN();
};

/// One learning rate of a calibration table: an estimator's lambda_ema, or the rate the runs switched to.
struct CalibrationEstimate {
  std::string name; ///< An estimator of calibration_estimators(), or "calibrated_lr".
  SampleSummary summary; ///< Over the runs with a finite value.
  std::vector<double> values; ///< One per run of CalibrationStats::runs, NaN where the run has none.
};

/// The hybrid's learning-rate calibration in one configuration, read from its runs' metrics.csv
/// (the lambda_* columns) at each run's calibration_point().
struct CalibrationStats {
  std::vector<std::string> runs; ///< The configuration's runs that logged calibration values.
  std::vector<int64_t> steps; ///< Per run: the step of the row read (the switch, or the last logged step).
  std::vector<bool> switched; ///< Per run: whether that row is the switch to SGD.
  /// Each estimator's lambda_ema (calibration_estimators() order), then "calibrated_lr" when the runs
  /// logged it (hybrid runs: the rate they switched to).
  std::vector<CalibrationEstimate> estimates;
};

/// One configuration (runs equal in every semantic config key) of a dataset's table.
struct ConfigurationStats {
  std::string label; ///< "hybrid", or "hybrid lr=0.003" when the optimizer has several configurations.
  std::string optimizer;
  std::string lr; ///< As written in config.json.
  std::map<std::string, std::string> config; ///< The semantic config (JSON text values).
  std::vector<std::string> runs; ///< Run directory names, completed runs only.
  std::vector<std::string> seeds; ///< Per run (the order of runs): config.json's seed, "" when absent.
  MetricStats final_test, best_test;
  /// The final test accuracy paired by seed with the baseline's (not for the baseline; absent when the
  /// table has no baseline).
  std::optional<PairedComparison> paired_final_test;
  std::optional<MetricStats> final_val; ///< When every run of the configuration has a validation set.
  bool is_baseline = false;
  /// The configuration with the best mean final validation accuracy among its optimizer's
  /// configurations (only set when the optimizer has several with a validation set): the
  /// learning-rate choice of docs/report.md.
  bool best_val_of_optimizer = false;
  /// When some of its runs logged the calibration diagnostics (hybrid runs; signum with --log-calibration).
  std::optional<CalibrationStats> calibration;
};

/// The table of one dataset.
struct DatasetTable {
  std::string dataset;
  std::vector<ConfigurationStats> configurations; ///< Optimizers in `signopt train`'s order, then by label.
  std::string baseline; ///< Label of the baseline configuration, "" when there is none.
  std::string baseline_note; ///< Why there is no baseline, when there is none.
  /// Holm's m: the configurations whose final test accuracy pairs with the baseline's (a paired p).
  int64_t paired_m = 0;
  bool has_validation = false;
  /// Settings shared by every configuration of the table (key -> value without quotes), for context.
  std::vector<std::pair<std::string, std::string>> common;
};

/// Where the plots went.
struct PlotOutcome {
  bool made = false;
  std::string note; ///< Why plots were skipped or what failed.
  std::vector<std::string> files; ///< PNG and SVG files, relative to the report's directory.
};

/// Everything a report shows.
struct Report {
  std::string runs_dir;
  std::vector<DatasetTable> tables;
  std::vector<RunRecord> not_counted; ///< Runs that are not completed, with their status and error.
  int64_t completed_runs = 0;
  PlotOutcome plots;
};

/// Groups the completed runs per dataset and configuration, computes the statistics and p-values
/// against `baseline` (a configuration label or an optimizer name; "" = sgd where it names exactly
/// one configuration): Welch's test per metric, and for the final test accuracy the paired test by
/// seed with Holm's correction over each table's paired comparisons; and reads the calibration of the
/// runs whose metrics.csv has it (an unreadable metrics.csv only leaves that run out of the calibration
/// table; the plots name the problem).
/// Throws std::invalid_argument when an explicitly given baseline is ambiguous in a table or
/// matches no configuration in any table (listing the labels).
Report build_report(const std::vector<RunRecord>& runs, const std::string& baseline, const std::string& runs_dir = "");

/// The report as Markdown (tables, runs not counted, plots or why they are missing).
std::string render_markdown(const Report& report);
/// One CSV row per configuration (dataset, label, n, mean/std/min/max/Welch p per metric, ..., then the
/// paired comparison of the final test accuracy).
std::string render_csv(const Report& report);
/// Everything, including the per-run values and the full configurations, as JSON.
std::string render_json(const Report& report);

/// Writes the plots of `report` into `plot_dir` (created): the data files (*.dat), the gnuplot
/// script plots.gp, and the PNG and SVG files made by running `gnuplot` on it. Files are named
/// relative to `report_dir` in the outcome. When `gnuplot` cannot be found or fails, the data and
/// script are still written and the outcome says why there are no images.
PlotOutcome write_plots(
    const Report& report,
    const std::vector<RunRecord>& runs,
    const std::string& plot_dir,
    const std::string& report_dir,
    const std::string& gnuplot = "gnuplot");

/// The options of `signopt report`.
struct ReportOptions {
  std::string runs_dir;
  std::string baseline;
  std::string format = "md"; ///< md | csv | json.
  /// "" = RUNS_DIR/report/; a path ending in .md, .csv or .json is the table file (its format, and
  /// plots in a sibling folder <stem>-plots/); anything else is a directory for report.<format> and plots/.
  std::string out;
  bool plots = true;
  std::string gnuplot = "gnuplot"; ///< Name or path of the gnuplot program.
};

/// What write_report() produced.
struct ReportFiles {
  std::string table_file;
  std::string plot_dir;
  Report report;
};

/// Finds the runs, builds the report, writes the table file and the plots. Throws
/// std::invalid_argument for bad options (unknown format, ambiguous baseline, no runs) and
/// std::runtime_error for I/O problems.
ReportFiles write_report(const ReportOptions& options);

} // namespace signopt::report
