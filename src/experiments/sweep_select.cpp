// The [select] stage of a sweep: the first stage's runs grouped by their non-selected axes, the best
// candidate of each group by the mean of the selection metric, and the final runs it makes.
#include <signopt/experiments/sweep.h>

#include "sweep_spec_internal.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace signopt::experiments {

using detail::run_name;
using detail::set_value;

namespace {

// First-stage runs grouped for a selection: group (the non-selected axes) -> candidate (the selected
// axes' values) -> runs, groups and candidates in first-appearance order.
struct SelectionGroups {
  std::vector<std::string> group_order;
  std::map<std::string, std::vector<std::string>> candidate_order;
  std::map<std::string, std::map<std::string, std::vector<const SweepRun*>>> runs;
};

SelectionGroups group_for_selection(const SweepSelection& sel, const std::vector<SweepRun>& first_stage) {
  auto is_select_axis = [&](const std::string& key) {
    return std::find(sel.axes.begin(), sel.axes.end(), key) != sel.axes.end();
  };
  SelectionGroups g;
  for (const auto& run : first_stage) {
    std::string group, candidate;
    for (const auto& [key, value] : run.axis_values) {
      if (key == "seed")
        continue;
      (is_select_axis(key) ? candidate : group) += (key == "optimizer" ? value : key + "=" + value) + " ";
    }
    for (const auto& key : sel.axes)
      if (std::none_of(run.axis_values.begin(), run.axis_values.end(), [&](const auto& kv) { return kv.first == key; }))
        candidate += key + "=" + run.option(key) + " ";
    if (!group.empty())
      group.pop_back();
    if (!g.runs.count(group))
      g.group_order.push_back(group);
    auto& candidates = g.runs[group];
    if (!candidates.count(candidate))
      g.candidate_order[group].push_back(candidate);
    candidates[candidate].push_back(&run);
  }
  return g;
}

// The best candidate of one group by the mean of the selection metric over its runs (a candidate with a
// run that did not complete is left out, with a note). Returns its first run (null when none qualifies),
// its mean and seeds through `choice` and `best_seeds`.
const SweepRun* best_candidate(
    const SweepSelection& sel,
    const SelectionGroups& g,
    const std::string& group,
    const std::map<std::string, std::optional<double>>& metric_of,
    SelectionChoice& choice,
    std::vector<std::string>& best_seeds) {
  const SweepRun* best = nullptr;
  double best_mean = 0;
  for (const auto& candidate : g.candidate_order.at(group)) {
    const auto& members = g.runs.at(group).at(candidate);
    double sum = 0;
    bool complete = true;
    for (const SweepRun* r : members) {
      const auto it = metric_of.find(r->name);
      if (it == metric_of.end() || !it->second) {
        complete = false;
        break;
      }
      sum += *it->second;
    }
    std::string label = candidate.empty() ? "(single candidate)" : candidate.substr(0, candidate.size() - 1);
    if (!complete) {
      choice.notes.push_back(label + ": left out (a run did not complete)");
      continue;
    }
    const double mean = sum / static_cast<double>(members.size());
    char buf[64];
    std::snprintf(buf, sizeof buf, ": mean %s %.3f over %zu runs", sel.metric.c_str(), mean, members.size());
    choice.notes.push_back(label + buf);
    if (best == nullptr || mean > best_mean) {
      best = members.front();
      best_mean = mean;
      best_seeds.clear();
      for (const SweepRun* r : members)
        best_seeds.push_back(r->option("seed"));
    }
  }
  choice.mean = best_mean;
  return best;
}

// The final-stage runs of a chosen candidate: its options with the selection's fixed final values, one run
// per final seed (the selection's, or the candidate's own seeds).
void add_final_runs(
    const SweepSelection& sel,
    const SweepRun& best,
    const std::vector<std::string>& seeds,
    std::vector<SweepRun>& finals) {
  for (const auto& seed : seeds) {
    SweepRun run = best;
    run.stage = "final";
    run.config_json.clear();
    for (const auto& [key, value] : sel.final_fixed) {
      set_value(run.options, key, value);
      for (auto& kv : run.axis_values)
        if (kv.first == key)
          kv.second = value;
    }
    if (!seed.empty()) {
      set_value(run.options, "seed", seed);
      bool has_seed_axis = false;
      for (auto& kv : run.axis_values)
        if (kv.first == "seed") {
          kv.second = seed;
          has_seed_axis = true;
        }
      if (!has_seed_axis && seeds.size() > 1)
        run.axis_values.emplace_back("seed", seed);
    }
    run.name = run_name(run.axis_values);
    finals.push_back(std::move(run));
  }
}

} // namespace

std::pair<std::vector<SelectionChoice>, std::vector<SweepRun>> select_final_runs(
    const SweepSpec& spec,
    const std::vector<SweepRun>& first_stage,
    const std::map<std::string, std::optional<double>>& metric_of) {
  const SweepSelection& sel = spec.select.value();
  const SelectionGroups groups = group_for_selection(sel, first_stage);
  std::vector<SelectionChoice> choices;
  std::vector<SweepRun> finals;
  for (const auto& group : groups.group_order) {
    SelectionChoice choice;
    choice.group = group;
    std::vector<std::string> best_seeds;
    const SweepRun* best = best_candidate(sel, groups, group, metric_of, choice, best_seeds);
    if (best != nullptr) {
      for (const auto& key : sel.axes)
        choice.chosen.emplace_back(key, best->option(key));
      add_final_runs(sel, *best, sel.final_seeds.empty() ? best_seeds : sel.final_seeds, finals);
    }
    choices.push_back(std::move(choice));
  }
  return {choices, finals};
}

} // namespace signopt::experiments
