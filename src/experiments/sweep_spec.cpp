// The sweep file: parsing and checking the TOML schema, expanding the grid into named runs,
// resolving each run as `signopt train` will (the [select] stage's choice: sweep_select.cpp).
#include <signopt/report/runs.h>
#include <signopt/experiments/sweep.h>
#include <signopt/train/config.h>

#include "sweep_spec_internal.h"

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

namespace signopt::experiments {
using namespace signopt::report; // run directories, child processes, statistics
namespace {

using train::ConfigError;

// Axes that name themselves: "cifar10-resnet18-signum-lr0.001-seed0", not "datasetcifar10-...".
const std::vector<std::string> kOuterKeys = {"dataset", "model", "preset"};

std::string dashed(std::string key) {
  std::replace(key.begin(), key.end(), '_', '-');
  return key;
}

std::string underscored(std::string key) {
  std::replace(key.begin(), key.end(), '-', '_');
  return key;
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i)
    out += (i ? sep : "") + items[i];
  return out;
}

// The shortest text that reads back as `v`, in printf's %g style ("0.0001", "1e-05", "0.003"), as
// `signopt train` writes numbers.
std::string shortest(double v) {
  for (int precision = 1; precision <= 17; ++precision) {
    std::ostringstream s;
    s.precision(precision);
    s << v;
    if (std::strtod(s.str().c_str(), nullptr) == v)
      return s.str();
  }
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

const train::OptionInfo* option_info(const std::string& key) {
  for (const auto& o : train::train_options())
    if (o.key == dashed(key))
      return &o;
  return nullptr;
}

// Checks that `key` is a `signopt train` option the sweep file may set.
void check_key(const std::string& file, const std::string& where, const std::string& key) {
  const std::string origin = file + ": " + where;
  if (dashed(key) == "out")
    throw ConfigError(
        origin +
        ": the sweep names each run directory itself (DIR/<run name>); choose the sweep's folder with "
        "`signopt sweep FILE --out DIR`");
  if (key == "config")
    throw ConfigError(origin + ": a sweep file cannot include a config file; write its options here");
  if (key == "resume")
    throw ConfigError(origin + ": the sweep resumes interrupted runs itself; rerun `signopt sweep` instead");
  if (option_info(key) == nullptr) {
    // set_option() reports the unknown key with a "did you mean" hint.
    const auto dot = where.rfind('.');
    train::TrainConfig scratch;
    train::set_option(scratch, key, "", dot == std::string::npos ? file : file + ": " + where.substr(0, dot));
  }
}

// A TOML scalar (or, for list options, an array of whole numbers) as flag text.
std::string scalar_text(const toml::node& node, const std::string& origin, bool int_list) {
  if (const auto* s = node.as_string())
    return s->get();
  if (const auto* i = node.as_integer())
    return std::to_string(i->get());
  if (const auto* f = node.as_floating_point()) {
    if (!std::isfinite(f->get()))
      throw ConfigError(origin + ": " + shortest(f->get()) + " is not a finite number");
    return shortest(f->get());
  }
  if (const auto* b = node.as_boolean())
    return b->get() ? "true" : "false";
  if (const auto* a = node.as_array()) {
    if (!int_list)
      throw ConfigError(origin + ": a list inside a list is only meaningful for list options (lr_milestones)");
    std::string out;
    for (const auto& item : *a) {
      const auto* i = item.as_integer();
      if (i == nullptr)
        throw ConfigError(origin + ": expected a list of whole numbers");
      out += (out.empty() ? "" : ",") + std::to_string(i->get());
    }
    return out;
  }
  if (node.as_table())
    throw ConfigError(origin + ": expected a value, found a table");
  throw ConfigError(origin + ": unsupported TOML value (dates and times are not options)");
}

// What a TOML value is, for messages: `the string "2"`, `the number 2.0`, `the boolean true`.
std::string describe(const toml::node& node) {
  if (const auto* s = node.as_string())
    return "the string \"" + s->get() + "\"";
  if (const auto* i = node.as_integer())
    return "the whole number " + std::to_string(i->get());
  if (const auto* f = node.as_floating_point()) {
    std::string text = shortest(f->get());
    if (text.find_first_of(".eEn") == std::string::npos) // 2.0 prints as "2": show that it is a float
      text += ".0";
    return "the number " + text;
  }
  if (const auto* b = node.as_boolean())
    return std::string("the boolean ") + (b->get() ? "true" : "false");
  if (node.is_array())
    return "a list";
  if (node.is_table())
    return "a table";
  return "a date or time";
}

// Refuses a value whose TOML type is not the option's, as `signopt train --config` does: a number (whole
// numbers too) for float options, a whole number for int and uint options, true/false for bool options, a
// string for string and choice options, a list for int-list options. "2" for batch_size, 3 for optimizer,
// true for lr and 2.5 for epochs are refused; TOML's own integers (0x10 = 16) are integers.
void check_type(const train::OptionInfo& info, const toml::node& node, const std::string& origin) {
  const std::string& kind = info.kind;
  bool ok = true;
  std::string expected;
  if (kind == "float") {
    ok = node.is_integer() || node.is_floating_point();
    expected = "a number";
  } else if (kind == "int" || kind == "uint") {
    ok = node.is_integer();
    expected = "a whole number";
  } else if (kind == "bool") {
    ok = node.is_boolean();
    expected = "true or false";
  } else if (kind == "string" || kind == "choice") {
    ok = node.is_string();
    expected = kind == "choice" ? "a string (one of " + join(info.choices, ", ") + ")" : "a string";
  } else if (kind == "int-list") {
    ok = node.is_array();
    expected = "a list of whole numbers, e.g. [30, 60]";
  }
  if (ok)
    return;
  const bool quoted = node.is_string() && (kind == "float" || kind == "int" || kind == "uint" || kind == "bool");
  throw ConfigError(
      origin + ": expected " + expected + ", got " + describe(node) + (quoted ? " (write it without quotes)" : ""));
}

// Checks one value as `signopt train` would ("invalid value for sweep.toml: lr: '-1' ...").
void check_value(const std::string& key, const std::string& text, const std::string& origin) {
  train::TrainConfig scratch;
  train::set_option(scratch, key, text, origin);
}

// Keys of a TOML table in file order (toml++ iterates them sorted).
std::vector<std::pair<std::string, const toml::node*>> in_file_order(const toml::table& table) {
  std::vector<std::pair<std::string, const toml::node*>> out;
  for (const auto& [k, v] : table)
    out.emplace_back(std::string(k.str()), &v);
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    const auto& x = a.second->source().begin;
    const auto& y = b.second->source().begin;
    return x.line != y.line ? x.line < y.line : x.column < y.column;
  });
  return out;
}

// Reads a table of options: scalars are fixed values, lists are axes (for list options, a list of
// lists is an axis and a plain list a fixed value).
using Entries = std::vector<std::pair<std::string, const toml::node*>>;

void read_options(
    const Entries& entries,
    const std::string& file,
    const std::string& prefix,
    std::vector<OptionValue>& fixed,
    std::vector<SweepAxis>& axes) {
  std::map<std::string, std::string> spelling; // option key -> the key as this table spells it
  for (const auto& [raw_key, node] : entries) {
    const std::string where = prefix + raw_key;
    const std::string origin = file + ": " + where;
    check_key(file, where, raw_key);
    const std::string key = dashed(raw_key);
    // batch_size and batch-size are one option: the second would silently replace the first.
    if (const auto seen = spelling.find(key); seen != spelling.end())
      throw ConfigError(
          origin + ": the same option as " + prefix + seen->second + ", which the file also sets (set twice); keep one");
    spelling.emplace(key, raw_key);
    const auto* info = option_info(key);
    const bool int_list = info->kind == "int-list";
    const auto* array = node->as_array();
    const bool is_axis = array != nullptr && (!int_list || (!array->empty() && array->front().is_array()));
    if (!is_axis) {
      const std::string text = scalar_text(*node, origin, int_list);
      check_type(*info, *node, origin);
      check_value(key, text, origin);
      fixed.emplace_back(key, text);
      continue;
    }
    if (array->empty())
      throw ConfigError(origin + ": an empty list gives no runs (give at least one value, or remove the key)");
    SweepAxis axis{key, {}};
    const auto first_type = array->front().type();
    for (const auto& item : *array) {
      if (item.type() != first_type && !(item.is_number() && array->front().is_number()))
        throw ConfigError(origin + ": the list mixes types (every value must be of the same kind)");
      const std::string text = scalar_text(item, origin, int_list);
      check_type(*info, item, origin);
      check_value(key, text, origin);
      if (std::find(axis.values.begin(), axis.values.end(), text) != axis.values.end())
        throw ConfigError(origin + ": the value " + text + " appears twice");
      axis.values.push_back(text);
    }
    axes.push_back(std::move(axis));
  }
}

// The value text in a run name: readable and safe in a path.
std::string name_part(const std::string& key, const std::string& value) {
  const bool bare = key == "optimizer" || std::find(kOuterKeys.begin(), kOuterKeys.end(), key) != kOuterKeys.end();
  std::string text = bare ? value : underscored(key) + value;
  for (char& ch : text)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-' || ch == '_' || ch == '+'))
      ch = '_';
  return text;
}

const SweepAxis* find_axis(const std::vector<SweepAxis>& axes, const std::string& key) {
  for (const auto& a : axes)
    if (a.key == key)
      return &a;
  return nullptr;
}

std::vector<std::string> sweep_optimizers(const SweepSpec& spec) {
  if (const auto* axis = find_axis(spec.axes, "optimizer"))
    return axis->values;
  for (const auto& [key, value] : spec.fixed)
    if (key == "optimizer")
      return {value};
  return {train::TrainConfig().optimizer};
}

// Reads the [by_optimizer.NAME] tables into spec.by_optimizer; NAME must be an optimizer the sweep runs.
void read_by_optimizer(const toml::table& by_optimizer, const std::string& file, SweepSpec& spec) {
  const auto optimizers = sweep_optimizers(spec);
  for (const auto& [name, node] : in_file_order(by_optimizer)) {
    const std::string where = file + ": by_optimizer." + name;
    const auto& all = train::optimizer_names();
    if (std::find(all.begin(), all.end(), name) == all.end())
      throw ConfigError(where + ": '" + name + "' is not an optimizer (valid: " + join(all, ", ") + ")");
    if (std::find(optimizers.begin(), optimizers.end(), name) == optimizers.end())
      throw ConfigError(
          where + ": the sweep does not run " + name + " (its optimizers: " + join(optimizers, ", ") +
          "); add it to optimizer = [...] or remove the table");
    const auto* table = node->as_table();
    if (table == nullptr)
      throw ConfigError(where + ": expected a table of options ([by_optimizer." + name + "] lr = [1e-3, 3e-3])");
    OptimizerOverrides o;
    read_options(in_file_order(*table), file, "by_optimizer." + name + ".", o.fixed, o.axes);
    for (const auto& kv : o.fixed)
      if (kv.first == "optimizer")
        throw ConfigError(where + ".optimizer: the optimizer is the table's name; remove the key");
    for (const auto& a : o.axes)
      if (a.key == "optimizer" || std::find(kOuterKeys.begin(), kOuterKeys.end(), a.key) != kOuterKeys.end())
        throw ConfigError(
            where + "." + underscored(a.key) + ": " + a.key + " can only vary at the top level of the sweep file");
    spec.by_optimizer[name] = std::move(o);
  }
}

// Reads the [select] table (metric, axes, [select.final]); the axes must vary somewhere in spec.
SweepSelection read_selection(const toml::table& select, const std::string& file, const SweepSpec& spec) {
  SweepSelection s;
  const std::string where = file + ": select";
  for (const auto& [key, node] : in_file_order(select)) {
    if (key == "metric") {
      const auto* m = node->as_string();
      if (m == nullptr)
        throw ConfigError(where + ".metric: expected a string (final_val_accuracy or best_val_accuracy)");
      s.metric = m->get();
      if (s.metric.find("test") != std::string::npos)
        throw ConfigError(
            where + ".metric: '" + s.metric +
            "' would choose on the test set, which then no longer measures "
            "generalisation; use final_val_accuracy or best_val_accuracy with val_fraction > 0");
      if (s.metric != "final_val_accuracy" && s.metric != "best_val_accuracy")
        throw ConfigError(where + ".metric: '" + s.metric + "' (expected final_val_accuracy or best_val_accuracy)");
    } else if (key == "axes") {
      const auto* a = node->as_array();
      if (a == nullptr || a->empty())
        throw ConfigError(where + ".axes: expected a non-empty list of option names, e.g. [\"lr\"]");
      for (const auto& item : *a) {
        const auto* name = item.as_string();
        if (name == nullptr)
          throw ConfigError(where + ".axes: expected option names (strings)");
        const std::string k = dashed(name->get());
        if (k == "seed" || k == "optimizer")
          throw ConfigError(
              where + ".axes: " + name->get() +
              " cannot be selected (the choice is made per optimizer, "
              "averaging over seeds)");
        bool varies = find_axis(spec.axes, k) != nullptr;
        for (const auto& [opt, o] : spec.by_optimizer)
          varies = varies || find_axis(o.axes, k) != nullptr;
        if (!varies)
          throw ConfigError(
              where + ".axes: '" + name->get() +
              "' is not a list anywhere in the sweep file, so there is nothing to "
              "choose from");
        s.axes.push_back(k);
      }
    } else if (key == "final") {
      const auto* t = node->as_table();
      if (t == nullptr)
        throw ConfigError(where + ".final: expected a table ([select.final] val_fraction = 0.0)");
      std::vector<SweepAxis> lists;
      read_options(in_file_order(*t), file, "select.final.", s.final_fixed, lists);
      for (const auto& l : lists) {
        if (l.key != "seed")
          throw ConfigError(
              where + ".final." + underscored(l.key) +
              ": only seed may be a list here (the final runs repeat the "
              "chosen configuration over seeds)");
        s.final_seeds = l.values;
      }
      for (const auto& kv : s.final_fixed) {
        if (kv.first == "seed")
          s.final_seeds = {kv.second};
        if (kv.first == "optimizer" || std::find(s.axes.begin(), s.axes.end(), kv.first) != s.axes.end())
          throw ConfigError(where + ".final." + underscored(kv.first) + ": this is what the selection decides");
      }
      s.final_fixed.erase(
          std::remove_if(s.final_fixed.begin(), s.final_fixed.end(), [](const auto& kv) { return kv.first == "seed"; }),
          s.final_fixed.end());
    } else {
      throw ConfigError(where + "." + key + ": unknown key (expected metric, axes and a [select.final] table)");
    }
  }
  if (s.axes.empty())
    throw ConfigError(where + ": axes is missing (the options to choose, e.g. axes = [\"lr\"])");
  return s;
}

// One optimizer's axes (seed last) and, into `fixed`, its fixed values: its [by_optimizer] table wins.
std::vector<SweepAxis> grid_axes(const SweepSpec& spec, const std::string& optimizer, std::vector<OptionValue>& fixed) {
  for (const auto& kv : spec.fixed)
    if (kv.first != "optimizer")
      fixed.push_back(kv);
  std::vector<SweepAxis> inner;
  for (const auto& a : spec.axes)
    if (a.key != "optimizer" && a.key != "seed" &&
        std::find(kOuterKeys.begin(), kOuterKeys.end(), a.key) == kOuterKeys.end())
      inner.push_back(a);
  std::optional<SweepAxis> seeds;
  if (const auto* s = find_axis(spec.axes, "seed"))
    seeds = *s;
  const auto o = spec.by_optimizer.find(optimizer);
  if (o != spec.by_optimizer.end()) {
    for (const auto& entry : o->second.fixed) {
      const std::string& key = entry.first; // not a structured binding: lambdas capture it (clang 14)
      const auto& value = entry.second;
      // A fixed value for this optimizer replaces the file's value or axis.
      inner.erase(
          std::remove_if(inner.begin(), inner.end(), [&](const SweepAxis& a) { return a.key == key; }), inner.end());
      fixed.erase(
          std::remove_if(fixed.begin(), fixed.end(), [&](const OptionValue& kv) { return kv.first == key; }),
          fixed.end());
      if (key == "seed")
        seeds.reset();
      fixed.emplace_back(key, value);
    }
    for (const auto& axis : o->second.axes) {
      fixed.erase(
          std::remove_if(fixed.begin(), fixed.end(), [&](const OptionValue& kv) { return kv.first == axis.key; }),
          fixed.end());
      if (axis.key == "seed") {
        seeds = axis;
        continue;
      }
      auto it = std::find_if(inner.begin(), inner.end(), [&](const SweepAxis& a) { return a.key == axis.key; });
      if (it != inner.end())
        *it = axis;
      else
        inner.push_back(axis);
    }
  }
  if (seeds)
    inner.push_back(*seeds);
  return inner;
}

} // namespace

namespace detail {

std::string run_name(const std::vector<OptionValue>& axis_values) {
  std::string name;
  for (const auto& [key, value] : axis_values)
    name += (name.empty() ? "" : "-") + name_part(key, value);
  return name.empty() ? "run" : name;
}

void set_value(std::vector<OptionValue>& options, const std::string& key, const std::string& value) {
  for (auto& kv : options)
    if (kv.first == key) {
      kv.second = value;
      return;
    }
  options.emplace_back(key, value);
}

} // namespace detail

using detail::run_name;
using detail::set_value;

std::vector<std::string> SweepRun::train_args(const std::string& run_dir, int64_t threads) const {
  std::vector<std::string> args;
  bool has_threads = false;
  // The preset first: explicit options must win over it.
  for (const auto& [key, value] : options)
    if (key == "preset")
      args.insert(args.end(), {"--preset", value});
  for (const auto& [key, value] : options) {
    if (key == "preset")
      continue;
    has_threads = has_threads || key == "threads";
    args.insert(args.end(), {"--" + key, value});
  }
  if (!run_dir.empty())
    args.insert(args.end(), {"--out", run_dir});
  if (!has_threads && threads > 0)
    args.insert(args.end(), {"--threads", std::to_string(threads)});
  return args;
}

std::string SweepRun::option(const std::string& key) const {
  for (const auto& [k, v] : options)
    if (k == key)
      return v;
  return "";
}

SweepSpec parse_sweep(const std::string& toml_text, const std::string& file) {
  toml::table root;
  try {
    root = toml::parse(toml_text, file);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    throw ConfigError(
        file + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) +
        ": invalid TOML: " + std::string(e.description()));
  }
  SweepSpec spec;
  spec.file = file;
  Entries options;
  const toml::table* by_optimizer = nullptr;
  const toml::table* select = nullptr;
  for (const auto& [key, node] : in_file_order(root)) {
    if (key == "by_optimizer") {
      by_optimizer = node->as_table();
      if (by_optimizer == nullptr)
        throw ConfigError(file + ": by_optimizer must be a table of tables ([by_optimizer.hybrid] lr = [...])");
    } else if (key == "select") {
      select = node->as_table();
      if (select == nullptr)
        throw ConfigError(file + ": select must be a table ([select] metric = ..., axes = [...])");
    } else if (node->is_table()) {
      throw ConfigError(
          file + ": [" + key +
          "]: unknown table; a sweep file has options at the top level, [by_optimizer.NAME] "
          "tables and a [select] table" +
          (key == "optimizer" ? " (per-optimizer settings go in [by_optimizer.NAME])" : ""));
    } else {
      options.emplace_back(key, node);
    }
  }
  read_options(options, file, "", spec.fixed, spec.axes);

  if (by_optimizer != nullptr)
    read_by_optimizer(*by_optimizer, file, spec);
  if (select != nullptr)
    spec.select = read_selection(*select, file, spec);
  return spec;
}

SweepSpec load_sweep(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw ConfigError("sweep file " + path + " cannot be opened (missing or unreadable)");
  std::stringstream s;
  s << in.rdbuf();
  return parse_sweep(s.str(), path);
}

std::vector<SweepRun> expand_sweep(const SweepSpec& spec) {
  // Outer axes (dataset, model, preset) first, then the optimizer, then the rest; seed innermost.
  std::vector<SweepAxis> outer;
  for (const auto& key : kOuterKeys)
    if (const auto* a = find_axis(spec.axes, key))
      outer.push_back(*a);
  const SweepAxis* optimizer_axis = find_axis(spec.axes, "optimizer");
  const auto optimizers = sweep_optimizers(spec);
  std::vector<SweepRun> runs;
  std::set<std::string> names;

  // Odometer over `axes`, calling `emit` with each combination.
  auto product = [](const std::vector<SweepAxis>& axes, const auto& emit) {
    std::vector<size_t> index(axes.size(), 0);
    while (true) {
      std::vector<OptionValue> values;
      for (size_t i = 0; i < axes.size(); ++i)
        values.emplace_back(axes[i].key, axes[i].values[index[i]]);
      emit(values);
      size_t i = axes.size();
      while (i > 0) {
        --i;
        if (++index[i] < axes[i].values.size())
          break;
        index[i] = 0;
        if (i == 0)
          return;
      }
      if (axes.empty())
        return;
    }
  };

  for (const auto& optimizer : optimizers) {
    std::vector<OptionValue> fixed;
    const std::vector<SweepAxis> axes = grid_axes(spec, optimizer, fixed);
    product(outer, [&](const std::vector<OptionValue>& outer_values) {
      product(axes, [&](const std::vector<OptionValue>& inner_values) {
        SweepRun run;
        run.stage = spec.select ? "select" : "";
        for (const auto& kv : outer_values)
          if (kv.first == "preset")
            set_value(run.options, kv.first, kv.second);
        for (const auto& kv : fixed)
          set_value(run.options, kv.first, kv.second);
        for (const auto& kv : outer_values)
          set_value(run.options, kv.first, kv.second);
        set_value(run.options, "optimizer", optimizer);
        for (const auto& kv : inner_values)
          set_value(run.options, kv.first, kv.second);
        run.axis_values = outer_values;
        if (optimizer_axis != nullptr)
          run.axis_values.emplace_back("optimizer", optimizer);
        run.axis_values.insert(run.axis_values.end(), inner_values.begin(), inner_values.end());
        run.name = run_name(run.axis_values);
        if (!names.insert(run.name).second)
          throw ConfigError(
              spec.file + ": two runs would share the directory name '" + run.name +
              "' (values that differ only in characters a name cannot hold?)");
        runs.push_back(std::move(run));
      });
    });
  }
  return runs;
}

void validate_runs(const SweepSpec& spec, std::vector<SweepRun>& runs) {
  for (auto& run : runs) {
    train::TrainConfig config;
    try {
      config = train::parse_train_args(run.train_args("", 0));
      train::resolve_defaults(config);
    } catch (const ConfigError& e) {
      throw ConfigError(spec.file + ": run " + run.name + ": " + e.what());
    }
    if (spec.select && run.stage == "select" && !(config.val_fraction > 0))
      throw ConfigError(
          spec.file + ": run " + run.name +
          ": [select] chooses on the validation split, but this run has "
          "val_fraction 0; set val_fraction (e.g. 0.1) for the selection runs and val_fraction = 0.0 in "
          "[select.final] if the final runs should train on all the training data");
    run.config_json = train::to_json_text(config);
  }
}

} // namespace signopt::experiments
