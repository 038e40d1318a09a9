// Building `signopt report`: grouping run directories into configurations per dataset, statistics over
// seeds, Welch p-values and Holm-corrected paired tests by seed against a baseline; write_report, which
// renders them (report_render.cpp: Markdown / CSV / JSON).
#include <signopt/io/files.h>
#include <signopt/report/report.h>
#include <signopt/train/config.h>

#include "report_internal.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

namespace signopt::report {
namespace fs = std::filesystem;
namespace {

using ojson = nlohmann::ordered_json;

// Keys that are expected to differ between optimizers (their resolved defaults) and so are not
// called out as confounders; lr has its own column.
const std::set<std::string> kOptimizerKeys =
    {"optimizer", "lr", "momentum", "beta1", "beta2", "eps", "decoupled-weight-decay", "dither", "switch-epoch"};

// Settings shown under a table when all its configurations share them.
const std::vector<std::string> kContextKeys = {
    "model",
    "epochs",
    "batch-size",
    "lr-schedule",
    "warmup-epochs",
    "weight-decay",
    "augment",
    "val-fraction",
    "train-subset",
    "max-steps",
    "synthetic-train",
    "synthetic-test"};

std::string unquote(const std::string& json_text) {
  if (json_text.size() >= 2 && json_text.front() == '"')
    return ojson::parse(json_text).get<std::string>();
  return json_text;
}

std::string value_of(const std::map<std::string, std::string>& config, const std::string& key) {
  const auto it = config.find(key);
  return it == config.end() ? "" : unquote(it->second);
}

// Orders "0.001" before "0.003" and "10" after "9": numbers compare as numbers.
bool value_less(const std::string& a, const std::string& b) {
  char* ea = nullptr;
  char* eb = nullptr;
  const double x = std::strtod(a.c_str(), &ea), y = std::strtod(b.c_str(), &eb);
  if (!a.empty() && !b.empty() && *ea == '\0' && *eb == '\0' && x != y)
    return x < y;
  return a < b;
}

int optimizer_rank(const std::string& name) {
  const auto& names = train::optimizer_names();
  const auto it = std::find(names.begin(), names.end(), name);
  return static_cast<int>(it - names.begin());
}

MetricStats make_stats(std::vector<double> values) {
  MetricStats m;
  m.summary = summarize(values);
  m.values = std::move(values);
  return m;
}

// Summarizes the finite values only: a run may lack an estimate (no lambda yet when it switched).
CalibrationEstimate make_estimate(std::string name, std::vector<double> values) {
  CalibrationEstimate e;
  e.name = std::move(name);
  std::vector<double> finite;
  for (const double v : values)
    if (std::isfinite(v))
      finite.push_back(v);
  e.summary = summarize(finite);
  e.values = std::move(values);
  return e;
}

// The calibration of a configuration's runs at their switch; std::nullopt when none logged it.
std::optional<CalibrationStats> build_calibration(const std::vector<const RunRecord*>& members) {
  CalibrationStats c;
  const auto& names = calibration_estimators();
  std::vector<std::vector<double>> ema(names.size());
  std::vector<double> calibrated;
  for (const RunRecord* r : members) {
    std::vector<MetricRow> rows;
    try {
      rows = read_metrics(r->dir);
    } catch (const std::exception&) {
      continue; // write_plots reads the same file and names the problem in the report
    }
    const CalibrationPoint point = calibration_point(rows);
    if (point.row == nullptr)
      continue;
    c.runs.push_back(r->name);
    c.steps.push_back(point.row->step);
    c.switched.push_back(point.switched);
    for (size_t i = 0; i < names.size(); ++i)
      ema[i].push_back(point.row->lambda_ema[i]);
    calibrated.push_back(point.row->calibrated_lr);
  }
  if (c.runs.empty())
    return std::nullopt;
  for (size_t i = 0; i < names.size(); ++i)
    c.estimates.push_back(make_estimate(names[i], std::move(ema[i])));
  CalibrationEstimate selected = make_estimate("calibrated_lr", std::move(calibrated));
  if (selected.summary.n > 0)
    c.estimates.push_back(std::move(selected));
  return c;
}

// Pairs the final test accuracies of `c` with the baseline's runs of the same seeds: every seed of `c`
// needs exactly one baseline run (baseline seeds that `c` lacks are left out).
PairedComparison pair_by_seed(const ConfigurationStats& c, const ConfigurationStats& base) {
  PairedComparison pc;
  std::map<std::string, std::vector<double>> base_by_seed;
  for (size_t i = 0; i < base.seeds.size(); ++i)
    base_by_seed[base.seeds[i]].push_back(base.final_test.values[i]);
  for (const auto& seed : c.seeds)
    if (base_by_seed.count(seed) == 0) {
      pc.note = "unpaired: seeds differ";
      return pc;
    }
  std::set<std::string> seen;
  std::vector<double> mine, theirs;
  for (size_t i = 0; i < c.seeds.size(); ++i) {
    const auto& matches = base_by_seed[c.seeds[i]];
    if (!seen.insert(c.seeds[i]).second || matches.size() != 1) {
      pc.note = "unpaired: a seed repeats";
      return pc;
    }
    mine.push_back(c.final_test.values[i]);
    theirs.push_back(matches.front());
  }
  if (mine.size() < 2) {
    pc.note = "n/a: fewer than 2 pairs";
    return pc;
  }
  pc.seeds = c.seeds;
  pc.test = paired_t_test(mine, theirs);
  return pc;
}

// The configurations of each optimizer, by optimizer name.
using ConfigsByOptimizer = std::map<std::string, std::vector<const std::map<std::string, std::string>*>>;

// Label keys: what varies among the configurations of the same optimizer.
std::map<std::string, std::vector<std::string>> label_keys_of(const ConfigsByOptimizer& by_optimizer) {
  std::map<std::string, std::vector<std::string>> label_keys;
  for (const auto& [optimizer, configs] : by_optimizer) {
    std::set<std::string> keys;
    for (const auto* c : configs)
      for (const auto& kv : *c)
        keys.insert(kv.first);
    std::vector<std::string> varying;
    for (const auto& key : keys) {
      std::set<std::string> values;
      for (const auto* c : configs)
        values.insert(value_of(*c, key));
      if (values.size() > 1)
        varying.push_back(key);
    }
    // lr first: it is what the per-optimizer grids vary.
    std::stable_sort(varying.begin(), varying.end(), [](const std::string& a, const std::string& b) {
      return (a == "lr") > (b == "lr");
    });
    label_keys[optimizer] = varying;
  }
  return label_keys;
}

// One configuration's statistics over its runs (seeds), labelled with its optimizer's label keys.
ConfigurationStats configuration_stats(
    const std::map<std::string, std::string>& config,
    const std::vector<const RunRecord*>& members,
    std::map<std::string, std::vector<std::string>>& label_keys) {
  ConfigurationStats c;
  c.optimizer = value_of(config, "optimizer");
  c.lr = value_of(config, "lr");
  c.config = config;
  c.label = c.optimizer;
  for (const auto& key : label_keys[c.optimizer])
    if (config.count(key) != 0) // a key left out as meaningless for this configuration is not labelled
      c.label += " " + key + "=" + value_of(config, key);
  std::vector<double> final_test, best_test, final_val;
  bool all_val = true;
  for (const RunRecord* r : members) {
    c.runs.push_back(r->name);
    c.seeds.push_back(r->value("seed"));
    final_test.push_back(r->final_test_accuracy);
    best_test.push_back(r->best_test_accuracy);
    if (r->final_val_accuracy)
      final_val.push_back(*r->final_val_accuracy);
    else
      all_val = false;
  }
  c.final_test = make_stats(final_test);
  c.best_test = make_stats(best_test);
  c.calibration = build_calibration(members);
  if (all_val && !final_val.empty())
    c.final_val = make_stats(final_val);
  return c;
}

// Orders a table's configurations by optimizer (in train::optimizer_names() order), then by their label
// keys' values.
void sort_configurations(DatasetTable& table, std::map<std::string, std::vector<std::string>>& label_keys) {
  std::sort(
      table.configurations.begin(),
      table.configurations.end(),
      [&](const ConfigurationStats& a, const ConfigurationStats& b) {
        if (a.optimizer != b.optimizer)
          return optimizer_rank(a.optimizer) != optimizer_rank(b.optimizer)
              ? optimizer_rank(a.optimizer) < optimizer_rank(b.optimizer)
              : a.optimizer < b.optimizer;
        for (const auto& key : label_keys[a.optimizer]) {
          const std::string va = value_of(a.config, key), vb = value_of(b.config, key);
          if (va != vb)
            return value_less(va, vb);
        }
        return a.label < b.label;
      });
}

// The learning-rate choice: best mean final validation accuracy per optimizer.
void mark_best_validation(DatasetTable& table, const ConfigsByOptimizer& by_optimizer) {
  for (const auto& [optimizer, configs] : by_optimizer) {
    ConfigurationStats* best = nullptr;
    int with_val = 0;
    for (auto& c : table.configurations) {
      if (c.optimizer != optimizer || !c.final_val)
        continue;
      ++with_val;
      if (best == nullptr || c.final_val->summary.mean > best->final_val->summary.mean)
        best = &c;
    }
    if (with_val > 1)
      best->best_val_of_optimizer = true;
  }
}

// The baseline: an exact label, else the optimizer's only configuration. Marks it and adds the Welch
// tests and the Holm-corrected paired tests against it, or sets the table's baseline note.
void compare_with_baseline(
    DatasetTable& table,
    const std::string& dataset,
    const std::string& baseline,
    bool baseline_explicit) {
  std::vector<ConfigurationStats*> matches;
  for (auto& c : table.configurations)
    if (c.label == baseline)
      matches.push_back(&c);
  if (matches.empty())
    for (auto& c : table.configurations)
      if (c.optimizer == baseline)
        matches.push_back(&c);
  if (matches.size() > 1) {
    std::string labels;
    for (const auto* m : matches)
      labels += (labels.empty() ? "'" : ", '") + m->label + "'";
    if (baseline_explicit)
      throw std::invalid_argument(
          "--baseline " + baseline + " is ambiguous in the " + dataset + " table: it matches " + labels +
          "; give one of these labels");
    table.baseline_note = "no p-values: " + baseline + " has several configurations here (" + labels +
        "); choose one with --baseline 'LABEL'";
  } else if (matches.empty()) {
    table.baseline_note = baseline_explicit
        ? "no p-values: no configuration of this table matches --baseline " + baseline
        : "no p-values: there are no " + baseline + " runs here; choose a baseline with --baseline NAME";
  } else {
    ConfigurationStats& base = *matches.front();
    base.is_baseline = true;
    table.baseline = base.label;
    for (auto& c : table.configurations) {
      if (&c == &base)
        continue;
      c.final_test.vs_baseline = welch_t_test(c.final_test.values, base.final_test.values);
      c.best_test.vs_baseline = welch_t_test(c.best_test.values, base.best_test.values);
      if (c.final_val && base.final_val)
        c.final_val->vs_baseline = welch_t_test(c.final_val->values, base.final_val->values);
      c.paired_final_test = pair_by_seed(c, base);
    }
    // Holm's family: this table's comparisons with the baseline that have a paired p.
    std::vector<PairedComparison*> family;
    std::vector<double> p;
    for (auto& c : table.configurations)
      if (c.paired_final_test && c.paired_final_test->note.empty()) {
        family.push_back(&*c.paired_final_test);
        p.push_back(c.paired_final_test->test.p);
      }
    const std::vector<double> adjusted = holm_adjusted(p);
    for (size_t i = 0; i < family.size(); ++i)
      family[i]->holm_p = adjusted[i];
    table.paired_m = static_cast<int64_t>(family.size());
  }
}

// The context keys all of the table's configurations share (docs/report.md), unless "off".
void add_common_settings(DatasetTable& table, const std::string& dataset) {
  for (const auto& key : kContextKeys) {
    std::set<std::string> values;
    for (const auto& c : table.configurations)
      values.insert(value_of(c.config, key));
    if (values.size() != 1 || values.begin()->empty())
      continue;
    const std::string& v = *values.begin();
    // Zero means "off" for these; the synthetic sizes matter only for the synthetic dataset.
    const bool off = (v == "0" || v == "0.0") && key != "weight-decay";
    if (off || (key.rfind("synthetic-", 0) == 0 && dataset != "synthetic"))
      continue;
    table.common.emplace_back(key, v);
  }
}

// Builds one dataset's table from its completed runs.
DatasetTable build_table(
    const std::string& dataset,
    const std::vector<const RunRecord*>& runs,
    const std::string& baseline,
    bool baseline_explicit) {
  DatasetTable table;
  table.dataset = dataset;
  std::map<std::map<std::string, std::string>, std::vector<const RunRecord*>> groups;
  for (const RunRecord* r : runs)
    groups[semantic_config(r->config)].push_back(r);

  // The configurations by optimizer, and what varies among each optimizer's (its label keys).
  std::map<std::string, std::vector<const std::map<std::string, std::string>*>> by_optimizer;
  for (const auto& [config, members] : groups)
    by_optimizer[value_of(config, "optimizer")].push_back(&config);
  std::map<std::string, std::vector<std::string>> label_keys = label_keys_of(by_optimizer);

  for (const auto& [config, members] : groups) {
    ConfigurationStats c = configuration_stats(config, members, label_keys);
    if (c.final_val)
      table.has_validation = true;
    table.configurations.push_back(std::move(c));
  }
  sort_configurations(table, label_keys);
  mark_best_validation(table, by_optimizer);
  compare_with_baseline(table, dataset, baseline, baseline_explicit);
  add_common_settings(table, dataset);
  return table;
}

} // namespace

namespace detail {

// Settings that differ between configurations but appear in no label (e.g. sgd trained for 4
// epochs and adam for 8): a comparison across them is confounded, so the report says so.
std::vector<std::string> hidden_differences(const DatasetTable& table) {
  std::set<std::string> keys;
  for (const auto& c : table.configurations)
    for (const auto& kv : c.config)
      keys.insert(kv.first);
  std::vector<std::string> notes;
  for (const auto& key : keys) {
    if (kOptimizerKeys.count(key))
      continue;
    std::set<std::string> values;
    bool labelled = false;
    for (const auto& c : table.configurations) {
      values.insert(value_of(c.config, key));
      labelled = labelled || c.label.find(" " + key + "=") != std::string::npos;
    }
    if (values.size() < 2 || labelled)
      continue;
    std::string note = key + " (";
    for (size_t i = 0; i < table.configurations.size(); ++i)
      note += (i ? ", " : "") + table.configurations[i].label + ": " + value_of(table.configurations[i].config, key);
    notes.push_back(note + ")");
  }
  return notes;
}

} // namespace detail

Report build_report(const std::vector<RunRecord>& runs, const std::string& baseline, const std::string& runs_dir) {
  Report report;
  report.runs_dir = runs_dir;
  std::map<std::string, std::vector<const RunRecord*>> by_dataset;
  for (const auto& r : runs) {
    if (!r.completed()) {
      report.not_counted.push_back(r);
      continue;
    }
    const std::string dataset = r.value("dataset");
    by_dataset[dataset.empty() ? "unknown dataset" : dataset].push_back(&r);
    ++report.completed_runs;
  }
  const bool explicit_baseline = !baseline.empty();
  const std::string wanted = explicit_baseline ? baseline : "sgd";
  for (const auto& [dataset, members] : by_dataset)
    report.tables.push_back(build_table(dataset, members, wanted, explicit_baseline));
  if (explicit_baseline && !report.tables.empty()) {
    bool found = false;
    std::string labels;
    for (const auto& t : report.tables) {
      found = found || !t.baseline.empty();
      for (const auto& c : t.configurations)
        labels += (labels.empty() ? "'" : ", '") + c.label + "'";
    }
    if (!found)
      throw std::invalid_argument(
          "--baseline " + baseline + " matches no configuration; the configurations are " + labels +
          " (an optimizer name also works when it has one configuration)");
  }
  return report;
}

ReportFiles write_report(const ReportOptions& options) {
  if (options.format != "md" && options.format != "csv" && options.format != "json")
    throw std::invalid_argument("--format " + options.format + ": expected md, csv or json");
  fs::path table_file, plot_dir;
  std::string format = options.format;
  if (options.out.empty()) {
    table_file = fs::path(options.runs_dir) / "report" / ("report." + format);
    plot_dir = fs::path(options.runs_dir) / "report" / "plots";
  } else {
    const fs::path out(options.out);
    const std::string ext = out.extension().string();
    if ((ext == ".md" || ext == ".csv" || ext == ".json") && !fs::is_directory(out)) {
      if (ext.substr(1) != format)
        throw std::invalid_argument(
            "--out " + options.out + " ends in " + ext + " but --format is " + format + "; name the file ." + format +
            " or give --format " + ext.substr(1));
      table_file = out;
      plot_dir = out.parent_path() / (out.stem().string() + "-plots");
    } else {
      table_file = out / ("report." + format);
      plot_dir = out / "plots";
    }
  }
  ReportFiles files;
  if (!fs::is_directory(options.runs_dir))
    throw std::invalid_argument(
        options.runs_dir + " is not a directory (expected a folder of signopt run directories)");
  const auto runs = find_runs(options.runs_dir);
  if (runs.empty())
    throw std::invalid_argument(
        options.runs_dir + " holds no run directories (folders with a config.json written by `signopt train`)");
  files.report = build_report(runs, options.baseline, options.runs_dir);
  std::error_code ec;
  fs::create_directories(table_file.parent_path().empty() ? fs::path(".") : table_file.parent_path(), ec);
  if (ec)
    throw std::runtime_error("cannot create " + table_file.parent_path().string() + ": " + ec.message());
  const std::string report_dir = table_file.parent_path().empty() ? "." : table_file.parent_path().string();
  if (options.plots) {
    files.report.plots = write_plots(files.report, runs, plot_dir.string(), report_dir, options.gnuplot);
    files.plot_dir = plot_dir.string();
  } else {
    files.report.plots.note = "Plots were not requested (--no-plots).";
  }
  const std::string text = format == "md" ? render_markdown(files.report)
      : format == "csv"                   ? render_csv(files.report)
                                          : render_json(files.report);
  io::write_file_atomic(table_file, text);
  files.table_file = table_file.string();
  return files;
}

} // namespace signopt::report
