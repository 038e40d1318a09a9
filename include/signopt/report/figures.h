// Generic line/point/histogram figures rendered by gnuplot (PNG and SVG), for the diagnostics
// commands (`signopt probe-noise`, `signopt theory`). The data and the script are always written, so
// a machine without gnuplot can make the pictures later with `gnuplot figures.gp` in the folder.
#pragma once

#include <signopt/report/report.h>

#include <string>
#include <vector>

namespace signopt::report {

/// One drawn data set of a figure.
struct Curve {
  std::string title; ///< legend entry ("" = no legend entry)
  std::vector<double> x, y; ///< equal lengths; non-finite points are skipped
  /// gnuplot style: "lines", "linespoints", "points", "boxes" (histogram bars), "steps", "dashed"
  /// (a dashed line, for bounds and predictions).
  std::string style = "lines";
};

/// One figure: several curves on common axes, saved as <name>.png and <name>.svg.
struct Figure {
  std::string name; ///< file stem (letters, digits, '-', '_', '.')
  std::string title, xlabel, ylabel;
  std::string key_position = "top right"; ///< gnuplot `set key` position
  bool log_x = false, log_y = false;
  std::vector<Curve> curves;
};

/// Writes <name>.dat per figure and figures.gp into `dir` (created), then runs `gnuplot` there.
/// Files are listed relative to `base_dir` ("" = dir itself). Never throws for a missing or failing
/// gnuplot: the outcome says what happened (its note names the folder and the command to rerun).
/// Throws std::runtime_error only when the folder or a data file cannot be written.
PlotOutcome write_figures(
    const std::vector<Figure>& figures,
    const std::string& dir,
    const std::string& base_dir = "",
    const std::string& gnuplot = "gnuplot");

} // namespace signopt::report
