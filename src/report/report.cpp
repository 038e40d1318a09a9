// Building and rendering `signopt report`: grouping run directories into configurations per
// dataset, statistics over seeds, Welch p-values and Holm-corrected paired tests by seed against a
// baseline, Markdown / CSV / JSON.
#include <signopt/io/files.h>
#include <signopt/report/report.h>
#include <signopt/train/config.h>

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

  // Label keys: what varies among the configurations of the same optimizer.
  std::map<std::string, std::vector<const std::map<std::string, std::string>*>> by_optimizer;
  for (const auto& [config, members] : groups)
    by_optimizer[value_of(config, "optimizer")].push_back(&config);
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

  for (const auto& [config, members] : groups) {
    ConfigurationStats c;
    c.optimizer = value_of(config, "optimizer");
    c.lr = value_of(config, "lr");
    c.config = config;
    c.label = c.optimizer;
    for (const auto& key : label_keys[c.optimizer])
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
    if (all_val && !final_val.empty()) {
      c.final_val = make_stats(final_val);
      table.has_validation = true;
    }
    table.configurations.push_back(std::move(c));
  }
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

  // The learning-rate choice: best mean final validation accuracy per optimizer.
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

  // The baseline: an exact label, else the optimizer's only configuration.
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
  return table;
}

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

} // namespace

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
