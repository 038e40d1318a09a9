// Rendering `signopt report`'s tables as Markdown (with the calibration tables), CSV and JSON.
#include <signopt/report/report.h>

#include "report_internal.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace signopt::report {
namespace fs = std::filesystem;

using detail::hidden_differences;

namespace {

using ojson = nlohmann::ordered_json;

std::string fmt(const char* format, double v) {
  if (!std::isfinite(v))
    return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string mean_std(const SampleSummary& s, const char* format = "%.2f") {
  if (s.n == 0)
    return "";
  if (std::isnan(s.std))
    return fmt(format, s.mean);
  return fmt(format, s.mean) + " ± " + fmt(format, s.std);
}

// "step 8" or "steps 8, 12": the distinct steps of the runs whose `switched` flag is `which`.
std::string steps_text(const CalibrationStats& c, bool which) {
  std::set<int64_t> steps;
  for (size_t i = 0; i < c.runs.size(); ++i)
    if (c.switched[i] == which)
      steps.insert(c.steps[i]);
  std::string out = steps.size() == 1 ? "step" : "steps";
  for (auto it = steps.begin(); it != steps.end(); ++it)
    out += (it == steps.begin() ? " " : ", ") + std::to_string(*it);
  return out;
}

// Where the calibration table's values were read, in words.
std::string calibration_when(const CalibrationStats& c) {
  const size_t n = c.runs.size();
  const auto switched = static_cast<size_t>(std::count(c.switched.begin(), c.switched.end(), true));
  const std::string runs = std::to_string(n) + " run" + (n == 1 ? "" : "s");
  const std::string at_switch = "at the switch to SGD (the first logged step in the SGD phase: ";
  if (switched == n)
    return at_switch + steps_text(c, true) + (n == 1 ? ")" : " in all " + runs + ")");
  if (switched == 0)
    return "at the last logged step (" + steps_text(c, false) + "; none of the " + runs + " switched to SGD)";
  return at_switch + steps_text(c, true) + ") in " + std::to_string(switched) + " of the " + runs +
      ", at the last logged step (" + steps_text(c, false) + ") in the others, which did not switch";
}

// The calibration table of a configuration (docs/report.md).
void render_calibration(std::ostream& s, const ConfigurationStats& config, const CalibrationStats& c) {
  const bool has_selected = !c.estimates.empty() && c.estimates.back().name == "calibrated_lr";
  s << "\n### " << config.label << ": learning-rate calibration\n\n"
    << "Each estimator's lambda_ema (the bias-corrected EMA of its lambda_t: the SGD rate it would choose) "
    << calibration_when(c)
    << (has_selected ? ", and the calibrated_lr the run logged there (the selected estimator's rate, which SGD "
                       "uses after the switch)"
                     : "")
    << "; mean ± sample standard deviation over the runs (seeds), min and max.\n\n"
    << "| estimator | n | lambda_ema | min | max |\n|---|---:|---:|---:|---:|\n";
  for (const auto& e : c.estimates)
    s << "| " << (e.name == "calibrated_lr" ? "calibrated_lr (the run's rate)" : e.name) << " | " << e.summary.n
      << " | " << mean_std(e.summary, "%.4g") << " | " << fmt("%.4g", e.summary.min) << " | "
      << fmt("%.4g", e.summary.max) << " |\n";
}

std::string p_format(double p) {
  if (p == 0)
    return "0"; // a paired test whose differences are all the same non-zero number
  return p < 1e-4 ? fmt("%.1e", p) : fmt("%.2g", p);
}

std::string p_text(const ConfigurationStats& c, const MetricStats& m) {
  if (c.is_baseline)
    return "baseline";
  if (!m.vs_baseline)
    return "";
  if (!m.vs_baseline->defined)
    return "n/a";
  return p_format(m.vs_baseline->p);
}

// The paired diff, paired p and Holm p cells of a Markdown row.
std::string paired_text(const ConfigurationStats& c) {
  std::string diff, p, holm;
  if (c.is_baseline) {
    diff = "baseline";
  } else if (c.paired_final_test && !c.paired_final_test->note.empty()) {
    diff = c.paired_final_test->note;
  } else if (c.paired_final_test) {
    const PairedResult& r = c.paired_final_test->test;
    diff = fmt("%+.2f", r.mean_difference) + " ± " + fmt("%.2f", r.std_difference);
    p = p_format(r.p);
    holm = p_format(c.paired_final_test->holm_p);
  }
  return diff + " | " + p + " | " + holm;
}

// The sentence under a table with a baseline: the paired test, the correction and m.
std::string paired_note(const DatasetTable& t) {
  const std::string configurations = t.paired_m == 1 ? " configuration" : " configurations";
  return "Paired by seed (final test accuracy): paired diff is the mean ± sample standard deviation of the "
         "per-seed differences configuration − baseline in percentage points, paired p the two-sided paired "
         "t-test of their mean (Student t with n − 1 degrees of freedom), and Holm p that p after Holm's "
         "step-down correction for the m = " +
      std::to_string(t.paired_m) + configurations + " compared with " + t.baseline +
      " by seed in this table (a configuration whose seeds do not each have one baseline run, or with fewer than "
      "2 pairs, is marked unpaired or n/a and not counted in m).";
}

ojson number_or_null(double v) {
  return std::isfinite(v) ? ojson(v) : ojson();
}

ojson calibration_json(const CalibrationStats& c) {
  ojson j;
  j["runs"] = c.runs;
  j["steps"] = c.steps;
  j["switched"] = c.switched;
  j["lambda_ema"] = ojson::object();
  for (const auto& e : c.estimates) {
    ojson ej;
    ej["n"] = e.summary.n;
    ej["mean"] = number_or_null(e.summary.mean);
    ej["std"] = number_or_null(e.summary.std);
    ej["min"] = number_or_null(e.summary.min);
    ej["max"] = number_or_null(e.summary.max);
    ej["values"] = ojson::array();
    for (const double v : e.values)
      ej["values"].push_back(number_or_null(v));
    if (e.name == "calibrated_lr")
      j["calibrated_lr"] = ej;
    else
      j["lambda_ema"][e.name] = ej;
  }
  return j;
}

ojson paired_json(const PairedComparison& pc, int64_t m) {
  ojson j;
  j["paired"] = pc.note.empty();
  j["note"] = pc.note;
  if (!pc.note.empty())
    return j;
  j["seeds"] = pc.seeds;
  j["n"] = pc.test.n;
  j["mean_difference"] = number_or_null(pc.test.mean_difference);
  j["std_difference"] = number_or_null(pc.test.std_difference);
  j["t"] = number_or_null(pc.test.t);
  j["df"] = number_or_null(pc.test.df);
  j["p"] = number_or_null(pc.test.p);
  j["holm_p"] = number_or_null(pc.holm_p);
  j["holm_m"] = m;
  return j;
}

ojson stats_json(const MetricStats& m) {
  ojson j;
  j["n"] = m.summary.n;
  j["mean"] = number_or_null(m.summary.mean);
  j["std"] = number_or_null(m.summary.std);
  j["min"] = number_or_null(m.summary.min);
  j["max"] = number_or_null(m.summary.max);
  j["values"] = m.values;
  if (m.vs_baseline) {
    j["welch_t"] = number_or_null(m.vs_baseline->t);
    j["welch_df"] = number_or_null(m.vs_baseline->df);
    j["p_value"] = number_or_null(m.vs_baseline->p);
  }
  return j;
}

std::string csv_cell(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos)
    return text;
  std::string out = "\"";
  for (const char ch : text)
    out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return out + "\"";
}

std::string md_cell(std::string text) {
  std::string out;
  for (const char ch : text)
    out += ch == '|' ? std::string("\\|") : std::string(1, ch);
  return out;
}

} // namespace

std::string render_markdown(const Report& report) {
  std::ostringstream s;
  s << "# signopt report" << (report.runs_dir.empty() ? "" : ": " + report.runs_dir) << "\n\n";
  s << report.completed_runs << " completed run" << (report.completed_runs == 1 ? "" : "s");
  size_t configurations = 0;
  for (const auto& t : report.tables)
    configurations += t.configurations.size();
  s << " in " << configurations << " configuration" << (configurations == 1 ? "" : "s") << " (" << report.tables.size()
    << " dataset" << (report.tables.size() == 1 ? "" : "s") << ")";
  if (!report.not_counted.empty())
    s << "; " << report.not_counted.size() << " run" << (report.not_counted.size() == 1 ? "" : "s")
      << " not counted (listed below)";
  s << ".\n\nAccuracies are in %, as mean ± sample standard deviation over the runs (seeds) of a configuration, "
       "with their min and max. Welch p is the two-sided p-value of Welch's t-test of the configuration's runs "
       "against the baseline's (small p: the difference is unlikely to be seed noise; with 3 seeds only large, "
       "consistent differences reach p < 0.05); paired diff, paired p and Holm p compare the final test accuracy "
       "with the baseline's seed by seed (the note under each table).\n";
  for (const auto& t : report.tables) {
    s << "\n## " << t.dataset << "\n\n";
    if (!t.baseline.empty())
      s << "Baseline: **" << t.baseline << "**.";
    else
      s << t.baseline_note << ".";
    if (!t.common.empty()) {
      s << " Common settings:";
      for (size_t i = 0; i < t.common.size(); ++i)
        s << (i ? ", " : " ") << t.common[i].first << " " << t.common[i].second;
      s << ".";
    }
    s << "\n\n| configuration | lr | n | final test | min | max | Welch p | paired diff | paired p | Holm p | best test "
         "| min | max | Welch p |";
    if (t.has_validation)
      s << " final val | min | max |";
    s << "\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
      << (t.has_validation ? "---:|---:|---:|" : "") << "\n";
    for (const auto& c : t.configurations) {
      const auto& ft = c.final_test.summary;
      const auto& bt = c.best_test.summary;
      s << "| " << md_cell(c.label) << " | " << c.lr << " | " << ft.n << " | " << mean_std(ft) << " | "
        << fmt("%.2f", ft.min) << " | " << fmt("%.2f", ft.max) << " | " << p_text(c, c.final_test) << " | "
        << paired_text(c) << " | " << mean_std(bt) << " | " << fmt("%.2f", bt.min) << " | " << fmt("%.2f", bt.max)
        << " | " << p_text(c, c.best_test) << " |";
      if (t.has_validation) {
        if (c.final_val) {
          const auto& v = c.final_val->summary;
          const std::string mark = c.best_val_of_optimizer ? "**" : "";
          s << " " << mark << mean_std(v) << mark << " | " << fmt("%.2f", v.min) << " | " << fmt("%.2f", v.max) << " |";
        } else {
          s << " | | |";
        }
      }
      s << "\n";
    }
    if (!t.baseline.empty())
      s << "\n" << paired_note(t) << "\n";
    if (t.has_validation) {
      bool any = false;
      for (const auto& c : t.configurations)
        any = any || c.best_val_of_optimizer;
      if (any)
        s << "\nBold validation accuracy: the best mean final validation accuracy among the optimizer's "
             "configurations (the learning-rate choice of docs/report.md; the test columns play no part in it).\n";
    }
    const auto hidden = hidden_differences(t);
    if (!hidden.empty()) {
      s << "\nNote: these settings differ between configurations without appearing in their labels, so "
           "comparisons across them are confounded:\n";
      for (const auto& h : hidden)
        s << "- " << h << "\n";
    }
    s << "\nRuns per configuration:\n";
    for (const auto& c : t.configurations) {
      s << "- " << c.label << ":";
      for (size_t i = 0; i < c.runs.size(); ++i)
        s << (i ? ", " : " ") << "`" << c.runs[i] << "`";
      s << "\n";
    }
    for (const auto& c : t.configurations)
      if (c.calibration)
        render_calibration(s, c, *c.calibration);
  }
  if (report.tables.empty())
    s << "\nNo completed runs.\n";
  if (!report.not_counted.empty()) {
    s << "\n## Runs not counted\n\nOnly completed runs enter the tables.\n\n| run | status | error |\n|---|---|---|\n";
    for (const auto& r : report.not_counted)
      s << "| `" << r.name << "` | " << r.status << " | " << md_cell(r.error) << " |\n";
  }
  s << "\n## Plots\n\n";
  if (!report.plots.note.empty())
    s << report.plots.note << "\n\n";
  for (const auto& f : report.plots.files)
    if (f.size() > 4 && f.compare(f.size() - 4, 4, ".svg") == 0)
      s << "![" << fs::path(f).stem().string() << "](" << f << ")\n\n";
  return s.str();
}

std::string render_csv(const Report& report) {
  std::ostringstream s;
  s << "dataset,configuration,optimizer,lr,n,"
       "final_test_mean,final_test_std,final_test_min,final_test_max,final_test_p,"
       "best_test_mean,best_test_std,best_test_min,best_test_max,best_test_p,"
       "final_val_mean,final_val_std,final_val_min,final_val_max,final_val_p,"
       "baseline,best_val_of_optimizer,"
       "final_test_paired_n,final_test_paired_diff_mean,final_test_paired_diff_std,final_test_paired_p,"
       "final_test_holm_p,final_test_holm_m,final_test_paired_note\n";
  auto cells = [](const MetricStats* m) {
    if (m == nullptr)
      return std::string(",,,,");
    const auto& x = m->summary;
    std::string p = m->vs_baseline && m->vs_baseline->defined ? fmt("%.6g", m->vs_baseline->p) : "";
    return fmt("%.6g", x.mean) + "," + fmt("%.6g", x.std) + "," + fmt("%.6g", x.min) + "," + fmt("%.6g", x.max) + "," +
        p;
  };
  auto paired_cells = [](const DatasetTable& t, const ConfigurationStats& c) {
    if (!c.paired_final_test)
      return std::string(",,,,,,");
    const PairedComparison& pc = *c.paired_final_test;
    if (!pc.note.empty())
      return ",,,,,," + csv_cell(pc.note);
    return std::to_string(pc.test.n) + "," + fmt("%.6g", pc.test.mean_difference) + "," +
        fmt("%.6g", pc.test.std_difference) + "," + fmt("%.6g", pc.test.p) + "," + fmt("%.6g", pc.holm_p) + "," +
        std::to_string(t.paired_m) + ",";
  };
  for (const auto& t : report.tables)
    for (const auto& c : t.configurations)
      s << csv_cell(t.dataset) << "," << csv_cell(c.label) << "," << csv_cell(c.optimizer) << "," << c.lr << ","
        << c.final_test.summary.n << "," << cells(&c.final_test) << "," << cells(&c.best_test) << ","
        << cells(c.final_val ? &*c.final_val : nullptr) << "," << (c.is_baseline ? "true" : "false") << ","
        << (c.best_val_of_optimizer ? "true" : "false") << "," << paired_cells(t, c) << "\n";
  return s.str();
}

std::string render_json(const Report& report) {
  ojson j;
  j["runs_dir"] = report.runs_dir;
  j["completed_runs"] = report.completed_runs;
  j["datasets"] = ojson::array();
  for (const auto& t : report.tables) {
    ojson tj;
    tj["dataset"] = t.dataset;
    tj["baseline"] = t.baseline.empty() ? ojson() : ojson(t.baseline);
    if (!t.baseline_note.empty())
      tj["baseline_note"] = t.baseline_note;
    if (!t.baseline.empty())
      tj["paired_test"] = {
          {"metric", "final_test_accuracy"},
          {"test", "paired t-test by seed, two-sided, Student t with n - 1 degrees of freedom"},
          {"correction", "holm"},
          {"m", t.paired_m}};
    tj["configurations"] = ojson::array();
    for (const auto& c : t.configurations) {
      ojson cj;
      cj["label"] = c.label;
      cj["optimizer"] = c.optimizer;
      cj["lr"] = c.lr;
      cj["n"] = c.final_test.summary.n;
      cj["is_baseline"] = c.is_baseline;
      cj["best_val_of_optimizer"] = c.best_val_of_optimizer;
      cj["final_test_accuracy"] = stats_json(c.final_test);
      if (c.paired_final_test)
        cj["final_test_accuracy"]["paired_test"] = paired_json(*c.paired_final_test, t.paired_m);
      cj["best_test_accuracy"] = stats_json(c.best_test);
      if (c.final_val)
        cj["final_val_accuracy"] = stats_json(*c.final_val);
      if (c.calibration)
        cj["calibration"] = calibration_json(*c.calibration);
      cj["runs"] = c.runs;
      ojson config = ojson::object();
      for (const auto& [key, value] : c.config)
        config[key] = ojson::parse(value);
      cj["config"] = config;
      tj["configurations"].push_back(cj);
    }
    tj["hidden_differences"] = hidden_differences(t);
    j["datasets"].push_back(tj);
  }
  j["not_counted"] = ojson::array();
  for (const auto& r : report.not_counted)
    j["not_counted"].push_back({{"run", r.name}, {"status", r.status}, {"error", r.error}});
  j["plots"] = {{"made", report.plots.made}, {"note", report.plots.note}, {"files", report.plots.files}};
  return j.dump(2) + "\n";
}

} // namespace signopt::report
