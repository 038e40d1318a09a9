// `signopt report`: tables with error bars and plots from a folder of run directories (see docs/report.md).
#include "args.h"
#include "commands.h"

#include <signopt/report/report.h>
#include <signopt/train/config.h>

#include <iostream>
#include <stdexcept>

namespace {

const char* kReportHelp =
    R"(usage: signopt report DIR [--baseline NAME] [--format md|csv|json] [--out FILE-or-DIR] [--no-plots]

Reads every run directory under DIR (config.json, summary.json, metrics.csv; folders starting with
'.' are skipped) and writes, per dataset, a table of the configurations (runs equal in everything but
the seed and non-semantic settings such as threads) with n, mean +- sample std, min and max of the
final and best test accuracy (and final validation accuracy when there is a validation split), the
p-value of Welch's t-test against the baseline and, where the seeds match, the paired-by-seed t-test of
the final test accuracy with Holm's correction over the table's comparisons, and plots (PNG and SVG via
gnuplot): test accuracy and training loss per epoch, the hybrid's calibrated rate and phase, every
calibration estimator against the step with the switch marked, the dither alpha_t.
Runs that did not complete are listed separately and not counted.

  --baseline NAME  configuration the p-values compare against: a label from the table (e.g.
                   'hybrid lr=0.003') or an optimizer name with one configuration (default: sgd)
  --format F       md (default), csv or json
  --out PATH       a directory (report.<format> and plots/ in it; default DIR/report), or a file
                   ending in .md, .csv or .json (plots go to <name>-plots/ next to it)
  --no-plots       tables only

Without gnuplot (apt-get install gnuplot-nox) the tables are still written, with the plot data
and script, and the report says that the images were skipped. Exit status: 0 written, 2 bad options
or nothing to report, 1 an I/O error.
)";

} // namespace

int report_command(const std::vector<std::string>& args) {
  signopt::report::ReportOptions options;
  bool format_given = false;
  ArgCursor a(args, "report");
  while (a.next()) {
    const std::string& flag = a.flag();
    if (flag == "--help" || flag == "-h") {
      std::cout << kReportHelp;
      return 0;
    } else if (flag == "--baseline") {
      options.baseline = a.value();
    } else if (flag == "--format") {
      options.format = a.value();
      format_given = true;
    } else if (flag == "--out") {
      options.out = a.value();
    } else if (flag == "--no-plots") {
      options.plots = false;
    } else if (a.is_option()) {
      a.unknown();
    } else if (options.runs_dir.empty()) {
      options.runs_dir = flag;
    } else {
      throw signopt::train::ConfigError(
          "unexpected argument '" + flag + "': signopt report takes one folder of runs (see signopt report --help)");
    }
  }
  if (options.runs_dir.empty())
    throw signopt::train::ConfigError(
        "signopt report needs a folder of run directories: signopt report DIR (see --help)");
  // `--out table.csv` alone means CSV.
  if (!format_given && options.out.size() > 4) {
    for (const char* f : {"csv", "json", "md"}) {
      const std::string ext = std::string(".") + f;
      if (options.out.size() > ext.size() && options.out.compare(options.out.size() - ext.size(), ext.size(), ext) == 0)
        options.format = f;
    }
  }
  signopt::report::ReportFiles files;
  try {
    files = signopt::report::write_report(options);
  } catch (const std::invalid_argument& e) {
    throw signopt::train::ConfigError(e.what());
  }
  const auto& r = files.report;
  std::cout << "report: " << r.completed_runs << " completed run" << (r.completed_runs == 1 ? "" : "s") << " in "
            << r.tables.size() << " dataset table" << (r.tables.size() == 1 ? "" : "s");
  if (!r.not_counted.empty())
    std::cout << "; " << r.not_counted.size() << " run(s) not completed, listed in the report";
  std::cout << "\n  " << files.table_file << "\n";
  for (const auto& t : r.tables)
    if (t.baseline.empty())
      std::cout << "  " << t.dataset << ": " << t.baseline_note << "\n";
  if (r.plots.made)
    std::cout << "  " << r.plots.files.size() << " plot files in " << files.plot_dir << "\n";
  if (!r.plots.note.empty())
    std::cout << "  " << r.plots.note << "\n";
  return 0;
}
