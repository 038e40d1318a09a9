// Generic gnuplot figures for the diagnostics commands (see figures.h).
#include <signopt/report/figures.h>
#include "gnuplot_run.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace signopt::report {
namespace fs = std::filesystem;
namespace {

using detail::gnuplot_number;
using detail::gnuplot_quoted;
using detail::write_text_file;

std::string style_of(const Curve& c, int index) {
  const std::string lc = " lc " + std::to_string(index + 1);
  if (c.style == "linespoints")
    return "linespoints pt 7 ps 0.6 lw 2" + lc;
  if (c.style == "points")
    return "points pt 7 ps 0.5" + lc;
  if (c.style == "boxes")
    return "boxes fs transparent solid 0.45 noborder" + lc;
  if (c.style == "steps")
    return "steps lw 2" + lc;
  if (c.style == "dashed")
    return "lines dt 2 lw 2" + lc;
  if (c.style == "lines")
    return "lines lw 2" + lc;
  throw std::invalid_argument("unknown curve style '" + c.style + "' (lines, linespoints, points, boxes, steps, dashed)");
}

// The data file and the script lines of one figure; "" when it has no finite point.
std::string emit(const Figure& f, const fs::path& dir) {
  std::ostringstream data, plot;
  int block = 0;
  bool any_box = false;
  for (size_t i = 0; i < f.curves.size(); ++i) {
    const Curve& c = f.curves[i];
    if (c.x.size() != c.y.size())
      throw std::invalid_argument("figure " + f.name + ": curve '" + c.title + "' has " + std::to_string(c.x.size()) +
                                  " x values but " + std::to_string(c.y.size()) + " y values");
    std::ostringstream rows;
    int64_t n = 0;
    for (size_t k = 0; k < c.x.size(); ++k) {
      if (!std::isfinite(c.x[k]) || !std::isfinite(c.y[k]))
        continue;
      if ((f.log_x && c.x[k] <= 0) || (f.log_y && c.y[k] <= 0))
        continue;
      rows << gnuplot_number(c.x[k]) << " " << gnuplot_number(c.y[k]) << "\n";
      ++n;
    }
    if (n == 0)
      continue;
    any_box = any_box || c.style == "boxes";
    data << "# " << c.title << "\n" << rows.str() << "\n\n";
    plot << (block ? ", \\\n     " : "") << gnuplot_quoted(f.name + ".dat") << " index " << block << " using 1:2 with "
         << style_of(c, static_cast<int>(i)) << " " << (c.title.empty() ? "notitle" : "title " + gnuplot_quoted(c.title));
    ++block;
  }
  if (block == 0)
    return "";
  write_text_file(dir / (f.name + ".dat"), data.str());
  std::ostringstream gp;
  gp << "\n# " << f.title << "\nreset\nset termoption noenhanced\nset title " << gnuplot_quoted(f.title) << "\nset xlabel "
     << gnuplot_quoted(f.xlabel) << "\nset ylabel " << gnuplot_quoted(f.ylabel) << "\nset grid\nset key " << f.key_position
     << " box opaque\n";
  if (f.log_x)
    gp << "set logscale x\n";
  if (f.log_y)
    gp << "set logscale y\n";
  if (any_box)
    gp << "set style fill transparent solid 0.45 noborder\nset boxwidth 0.95 relative\n";
  gp << "plot " << plot.str() << "\n";
  std::ostringstream both;
  both << "set terminal pngcairo size 1000,620 font ',10'\nset output " << gnuplot_quoted(f.name + ".png") << "\n"
       << gp.str() << "set terminal svg size 1000,620 dynamic font ',10'\nset output " << gnuplot_quoted(f.name + ".svg")
       << "\nreplot\nunset output\n";
  return both.str();
}

} // namespace

PlotOutcome write_figures(
    const std::vector<Figure>& figures,
    const std::string& dir,
    const std::string& base_dir,
    const std::string& gnuplot) {
  PlotOutcome outcome;
  const fs::path folder(dir);
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec)
    throw std::runtime_error("cannot create " + dir + ": " + ec.message());
  std::string script = "# Figures of signopt; rerun with: cd " + dir + " && gnuplot figures.gp\n";
  std::vector<std::string> stems;
  for (const auto& f : figures) {
    const std::string lines = emit(f, folder);
    if (lines.empty())
      continue;
    script += lines;
    stems.push_back(f.name);
  }
  write_text_file(folder / "figures.gp", script);
  if (stems.empty()) {
    outcome.note = "No figures: nothing to draw.";
    return outcome;
  }
  return detail::run_gnuplot(
      folder,
      "figures.gp",
      stems,
      base_dir.empty() ? folder : fs::path(base_dir),
      gnuplot,
      "Figures were skipped: gnuplot was not found (`apt-get install gnuplot-nox`); the data and the script are in " +
          dir + " (`gnuplot figures.gp` there makes them).");
}

} // namespace signopt::report
