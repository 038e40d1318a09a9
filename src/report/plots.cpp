// The report's plots: per-epoch and per-step curves aggregated over seeds (mean line, min..max
// band), written as data files plus a gnuplot script, rendered to PNG and SVG by gnuplot.
#include <signopt/report/report.h>

#include "gnuplot_run.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

namespace signopt::report {
namespace fs = std::filesystem;
namespace {

// One curve of one configuration: x -> the values of its runs at x.
struct Series {
  std::string title;
  std::map<double, std::vector<double>> points;
  std::map<double, std::vector<double>> extra; // hybrid: share of runs in the SGD phase at x
  bool reference = false; // a dashed black line without a band (the rate the hybrid chose)
};

// A plot: several series on common axes.
struct Plot {
  std::string name; // file stem
  std::string title, xlabel, ylabel;
  std::string key_position = "top right";
  bool phase_axis = false; // y2 shows the hybrid's phase
  bool log_y = false;
  bool per_epoch = false; // whole-number x ticks and points on the lines; per-step plots are plain lines
  std::set<double> switches; // vertical lines: the steps at which runs switched to SGD
  std::vector<Series> series;
};

Plot make_plot(
    std::string name,
    std::string title,
    std::string xlabel,
    std::string ylabel,
    std::string key_position,
    bool phase_axis = false) {
  Plot p;
  p.name = std::move(name);
  p.title = std::move(title);
  p.xlabel = std::move(xlabel);
  p.ylabel = std::move(ylabel);
  p.key_position = std::move(key_position);
  p.phase_axis = phase_axis;
  p.per_epoch = p.xlabel == "epoch";
  return p;
}

Series named(const std::string& title) {
  Series s;
  s.title = title;
  return s;
}

std::string slug(const std::string& text) {
  std::string out;
  for (const char ch : text)
    out += std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-' ? ch : '_';
  return out;
}

using detail::gnuplot_number;
using detail::gnuplot_quoted;
using detail::write_text_file;

// Writes `plot`'s data (one gnuplot data block per series: x mean min max [phase]) and returns the
// script lines that draw it to PNG and SVG; "" when no series has a point.
std::string emit_plot(const Plot& plot, const fs::path& dir) {
  std::ostringstream data;
  std::vector<const Series*> drawn;
  for (const auto& s : plot.series) {
    if (s.points.empty())
      continue;
    data << "# " << s.title << "\n# x mean min max" << (plot.phase_axis ? " sgd_share" : "") << "\n";
    for (const auto& [x, values] : s.points) {
      double sum = 0, lo = values.front(), hi = values.front();
      for (const double v : values) {
        sum += v;
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
      data << gnuplot_number(x) << " " << gnuplot_number(sum / static_cast<double>(values.size())) << " " << gnuplot_number(lo) << " " << gnuplot_number(hi);
      if (plot.phase_axis) {
        const auto it = s.extra.find(x);
        double share = 0;
        if (it != s.extra.end() && !it->second.empty()) {
          for (const double v : it->second)
            share += v;
          share /= static_cast<double>(it->second.size());
        }
        data << " " << gnuplot_number(share);
      }
      data << "\n";
    }
    data << "\n\n";
    drawn.push_back(&s);
  }
  if (drawn.empty())
    return "";
  const std::string dat = plot.name + ".dat";
  write_text_file(dir / dat, data.str());
  std::ostringstream gp;
  gp << "\n# " << plot.title << "\nreset\nset termoption noenhanced\nset title " << gnuplot_quoted(plot.title)
     << "\nset xlabel " << gnuplot_quoted(plot.xlabel) << "\nset ylabel " << gnuplot_quoted(plot.ylabel) << "\nset grid\nset key "
     << plot.key_position << " box opaque\n";
  if (plot.log_y)
    gp << "set logscale y\n";
  double max_x = 0;
  for (const auto* s : drawn)
    max_x = std::max(max_x, s->points.rbegin()->first);
  if (plot.per_epoch && max_x <= 30)
    gp << "set xtics 1\n";
  if (plot.phase_axis)
    gp << "set y2range [-0.05:1.05]\nset y2tics ('sign' 0, 'sgd' 1)\nset ytics nomirror\nset y2label 'phase'\n";
  for (const double x : plot.switches)
    gp << "set arrow from " << gnuplot_number(x) << ", graph 0 to " << gnuplot_number(x)
       << ", graph 1 nohead dt 3 lw 1.5 lc rgb 'black'\nset label "
       << gnuplot_quoted("switch to SGD (step " + gnuplot_number(x) + ")") << " at " << gnuplot_number(x)
       << ", graph 0.97 right rotate by 90 offset -0.8, 0\n";
  gp << "plot ";
  for (size_t i = 0; i < drawn.size(); ++i) {
    const std::string lc = "lc " + std::to_string(i + 1);
    gp << (i ? ", \\\n     " : "");
    if (drawn[i]->reference) {
      gp << gnuplot_quoted(dat) << " index " << i << " using 1:2 with lines dt 2 lw 2 lc rgb 'black' title "
         << gnuplot_quoted(drawn[i]->title);
      continue;
    }
    gp << gnuplot_quoted(dat) << " index " << i << " using 1:3:4 with filledcurves fs transparent solid 0.18 noborder "
       << lc << " notitle, \\\n     " << gnuplot_quoted(dat) << " index " << i << " using 1:2 with "
       << (plot.per_epoch ? "linespoints pt 7 ps 0.6" : "lines") << " lw 2 " << lc << " title "
       << gnuplot_quoted(drawn[i]->title);
    if (plot.phase_axis)
      gp << ", \\\n     " << gnuplot_quoted(dat) << " index " << i << " using 1:5 axes x1y2 with steps dt 2 lw 1.5 " << lc
         << " title " << gnuplot_quoted(drawn[i]->title + ": phase");
  }
  gp << "\n";
  // One plot command, two terminals.
  std::string script = gp.str();
  std::ostringstream both;
  both << "set terminal pngcairo size 1000,620 font ',10'\nset output " << gnuplot_quoted(plot.name + ".png") << "\n"
       << script << "set terminal svg size 1000,620 dynamic font ',10'\nset output " << gnuplot_quoted(plot.name + ".svg")
       << "\nreplot\nunset output\n";
  return both.str();
}

// Reads the metrics of every completed run of `config` and feeds each run's rows to `add_run`.
void collect(
    const ConfigurationStats& config,
    const std::map<std::string, const RunRecord*>& runs_by_name,
    std::vector<std::string>& problems,
    const std::function<void(const std::vector<MetricRow>&)>& add_run) {
  for (const auto& name : config.runs) {
    const auto it = runs_by_name.find(name);
    if (it == runs_by_name.end())
      continue;
    std::vector<MetricRow> rows;
    try {
      rows = read_metrics(it->second->dir);
    } catch (const std::exception& e) {
      problems.push_back(e.what());
      continue;
    }
    add_run(rows);
  }
}

// The calibration plot of one configuration: each estimator's lambda_ema per step (mean over seeds,
// band min..max, log scale), the calibrated rate the runs logged, and the switch.
Plot make_calibration_plot(const DatasetTable& table, const ConfigurationStats& config) {
  Plot p = make_plot(
      slug(table.dataset) + "-" + slug(config.label) + "-calibration",
      table.dataset + ", " + config.label +
          ": lambda_ema per estimator, calibrated rate and switch (mean over seeds, band: min..max)",
      "step",
      "lambda_ema: the SGD rate each estimator would pick",
      "top right");
  p.log_y = true;
  for (const auto& name : calibration_estimators())
    p.series.push_back(named(name));
  Series selected = named("calibrated_lr (the run's rate)");
  selected.reference = true;
  p.series.push_back(std::move(selected));
  return p;
}

// Adds one run's step rows to a calibration plot; values a log axis cannot show (<= 0) are left out.
void add_calibration(Plot& plot, const std::vector<MetricRow>& rows) {
  const size_t estimators = calibration_estimators().size();
  for (const auto& row : rows) {
    if (row.kind != "step" || !row.has_calibration())
      continue;
    const auto x = static_cast<double>(row.step);
    for (size_t i = 0; i < estimators; ++i)
      if (std::isfinite(row.lambda_ema[i]) && row.lambda_ema[i] > 0)
        plot.series[i].points[x].push_back(row.lambda_ema[i]);
    if (std::isfinite(row.calibrated_lr) && row.calibrated_lr > 0)
      plot.series[estimators].points[x].push_back(row.calibrated_lr);
  }
  const CalibrationPoint point = calibration_point(rows);
  if (point.row != nullptr && point.switched)
    plot.switches.insert(static_cast<double>(point.row->step));
}

// One report table's plots: five drawn over its configurations, then one calibration plot per configuration.
struct DatasetPlots {
  Plot accuracy, loss, val, hybrid, dither;
  std::vector<Plot> calibration; // one per configuration, after the dataset's plots
};

// The dataset's five plots, still without series.
DatasetPlots make_dataset_plots(const DatasetTable& t) {
  const std::string d = slug(t.dataset);
  DatasetPlots plots;
  plots.accuracy = make_plot(
      d + "-test-accuracy",
      t.dataset + ": test accuracy per epoch (mean over seeds, band: min..max)",
      "epoch",
      "test accuracy (%)",
      "bottom right");
  plots.loss = make_plot(
      d + "-train-loss",
      t.dataset + ": training loss per epoch (mean over seeds, band: min..max)",
      "epoch",
      "training loss (epoch mean)",
      "top right");
  plots.val = make_plot(
      d + "-val-accuracy",
      t.dataset + ": validation accuracy per epoch (mean over seeds, band: min..max)",
      "epoch",
      "validation accuracy (%)",
      "bottom right");
  plots.hybrid = make_plot(
      d + "-hybrid-calibrated-lr",
      t.dataset + ": hybrid's calibrated SGD rate and phase per step (mean over seeds, band: min..max)",
      "step",
      "calibrated lr",
      "top right",
      true);
  plots.dither = make_plot(
      d + "-dither-alpha",
      t.dataset + ": dither alpha_t per step (noise std = alpha_t x per-tensor scale; mean over seeds)",
      "step",
      "alpha_t",
      "top right");
  return plots;
}

// Reads configuration c's runs and adds its series to the dataset's plots, and its calibration plot.
void add_configuration(
    DatasetPlots& plots,
    const DatasetTable& t,
    const ConfigurationStats& c,
    const std::map<std::string, const RunRecord*>& by_name,
    std::vector<std::string>& problems) {
  Series acc = named(c.label), lo = named(c.label), va = named(c.label), hy = named(c.label), di = named(c.label);
  bool is_hybrid = false;
  Plot cal = make_calibration_plot(t, c);
  collect(c, by_name, problems, [&](const std::vector<MetricRow>& rows) {
    for (const auto& row : rows) {
      if (row.kind == "epoch" && row.split == "test" && std::isfinite(row.accuracy))
        acc.points[static_cast<double>(row.epoch)].push_back(row.accuracy);
      if (row.kind == "epoch" && row.split == "train" && std::isfinite(row.loss))
        lo.points[static_cast<double>(row.epoch)].push_back(row.loss);
      if (row.kind == "epoch" && row.split == "val" && std::isfinite(row.accuracy))
        va.points[static_cast<double>(row.epoch)].push_back(row.accuracy);
      if (row.kind == "step" && std::isfinite(row.calibrated_lr) && !row.phase.empty()) {
        is_hybrid = true;
        hy.points[static_cast<double>(row.step)].push_back(row.calibrated_lr);
        hy.extra[static_cast<double>(row.step)].push_back(row.phase == "sgd" ? 1.0 : 0.0);
      }
      if (row.kind == "step" && std::isfinite(row.dither_alpha))
        di.points[static_cast<double>(row.step)].push_back(row.dither_alpha);
    }
    add_calibration(cal, rows);
  });
  plots.accuracy.series.push_back(std::move(acc));
  plots.loss.series.push_back(std::move(lo));
  plots.val.series.push_back(std::move(va));
  if (is_hybrid)
    plots.hybrid.series.push_back(std::move(hy));
  plots.dither.series.push_back(std::move(di));
  plots.calibration.push_back(std::move(cal)); // drawn only when a run logged calibration values
}

// Writes each of the dataset's non-empty plots into dir, appending its script lines and its file stem.
void emit_dataset_plots(
    const DatasetPlots& dataset,
    const fs::path& dir,
    std::string& script,
    std::vector<std::string>& stems) {
  std::vector<const Plot*> plots = {&dataset.accuracy, &dataset.loss, &dataset.val, &dataset.hybrid, &dataset.dither};
  for (const auto& p : dataset.calibration)
    plots.push_back(&p);
  for (const Plot* p : plots) {
    const std::string lines = emit_plot(*p, dir);
    if (lines.empty())
      continue;
    script += lines;
    stems.push_back(p->name);
  }
}

} // namespace

PlotOutcome write_plots(
    const Report& report,
    const std::vector<RunRecord>& runs,
    const std::string& plot_dir,
    const std::string& report_dir,
    const std::string& gnuplot) {
  PlotOutcome outcome;
  const fs::path dir(plot_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    throw std::runtime_error("cannot create " + plot_dir + ": " + ec.message());
  std::map<std::string, const RunRecord*> by_name;
  for (const auto& r : runs)
    by_name[r.name] = &r;

  std::vector<std::string> problems;
  std::string script = "# Plots of `signopt report`; rerun with: cd " + plot_dir + " && gnuplot plots.gp\n";
  std::vector<std::string> stems;
  for (const auto& t : report.tables) {
    DatasetPlots plots = make_dataset_plots(t);
    for (const auto& c : t.configurations)
      add_configuration(plots, t, c, by_name, problems);
    emit_dataset_plots(plots, dir, script, stems);
  }
  write_text_file(dir / "plots.gp", script);
  std::string problem_note;
  if (!problems.empty()) {
    problem_note = " Some metrics could not be read and are missing from the plots:";
    for (const auto& p : problems)
      problem_note += " " + p + ";";
  }
  if (stems.empty()) {
    outcome.note = "No plots: the runs have no metric rows to draw." + problem_note;
    return outcome;
  }
  outcome = detail::run_gnuplot(
      dir,
      "plots.gp",
      stems,
      fs::path(report_dir),
      gnuplot,
      "Plots were skipped: gnuplot was not found (`apt-get install gnuplot-nox`); the plot data and the script are in " +
          plot_dir + " (`gnuplot plots.gp` there makes them).");
  // The metrics that could not be read are reported whatever gnuplot did.
  if (outcome.note.empty())
    outcome.note = problem_note.empty() ? "" : problem_note.substr(1);
  else
    outcome.note += problem_note;
  return outcome;
}

} // namespace signopt::report
