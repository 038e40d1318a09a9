// The trainer's configuration, derived from the option table (options.cpp): flags, config files, presets,
// --help, defaults per optimizer and config.json.
#include <signopt/optim/enums.h>
#include <signopt/optim/registry.h>
#include <signopt/train/config.h>
#include <signopt/version.h>

#include "options_internal.h"
#include "preset_files.h"

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace signopt::train {
namespace detail {

std::string format_option_number(double v) {
  std::ostringstream s;
  s.precision(17);
  s << v;
  // Shortest form that reads back exactly.
  for (int p = 1; p <= 17; ++p) {
    std::ostringstream t;
    t.precision(p);
    t << v;
    if (std::strtod(t.str().c_str(), nullptr) == v)
      return t.str();
  }
  return s.str();
}

std::string join_strings(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i)
    out += (i ? sep : "") + items[i];
  return out;
}

} // namespace detail

using detail::format_option_number;
using detail::join_strings;
using detail::option_table;
using detail::OptionEntry;

namespace {

using json = nlohmann::ordered_json;

std::string normalize_key(std::string key) {
  std::replace(key.begin(), key.end(), '_', '-');
  return key;
}

const OptionEntry* find_entry(const std::string& key) {
  const std::string k = normalize_key(key);
  for (const auto& e : option_table())
    if (e.info.key == k)
      return &e;
  return nullptr;
}

// The closest known key, for "did you mean" hints.
std::string closest_key(const std::string& key) {
  auto distance = [](const std::string& a, const std::string& b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j)
      row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      size_t diag = row[0];
      row[0] = i;
      for (size_t j = 1; j <= b.size(); ++j) {
        const size_t up = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
        diag = up;
      }
    }
    return row[b.size()];
  };
  std::string best;
  size_t best_d = 4;
  for (const auto& e : option_table()) {
    const size_t d = distance(normalize_key(key), e.info.key);
    if (d < best_d) {
      best_d = d;
      best = e.info.key;
    }
  }
  return best;
}

[[noreturn]] void unknown_key(const std::string& origin, const std::string& key) {
  const std::string hint = closest_key(key);
  throw ConfigError(
      origin + ": unknown option '" + key + "'" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)") +
      "; `signopt train --help` lists every option");
}

// What a config file's value is, for messages: `the string "2"`, `the boolean true`, `the number 2.5`.
std::string describe(const json& v) {
  if (v.is_string())
    return "the string " + v.dump();
  if (v.is_boolean())
    return "the boolean " + v.dump();
  if (v.is_number_integer()) // signed or unsigned
    return "the whole number " + v.dump();
  if (v.is_number_float())
    return "the number " + (std::isfinite(v.get<double>()) ? v.dump() : format_option_number(v.get<double>()));
  if (v.is_array())
    return "the list " + v.dump();
  if (v.is_object())
    return "a table";
  return v.dump();
}

// A config file's value (JSON, or TOML converted by toml_to_json) as option text, when its type is the
// option's: a number for float options (whole numbers too), a whole number for int and uint options,
// true/false for bool options, a string for string and choice options, a list of whole numbers for
// int-list options. "2" for batch-size, 3 for optimizer, true for lr and 2.5 for epochs are refused.
std::string typed_text(const OptionEntry& e, const json& v, const std::string& origin) {
  const std::string& kind = e.info.kind;
  std::string expected;
  if (kind == "float") {
    if (v.is_number_float()) {
      const double d = v.get<double>();
      if (!std::isfinite(d))
        throw ConfigError(origin + ": " + format_option_number(d) + " is not a finite number");
      return format_option_number(d);
    }
    if (v.is_number_integer())
      return v.dump();
    expected = "a number";
  } else if (kind == "int" || kind == "uint") {
    if (v.is_number_integer())
      return v.dump();
    expected = "a whole number";
  } else if (kind == "bool") {
    if (v.is_boolean())
      return v.get<bool>() ? "true" : "false";
    expected = "true or false";
  } else if (kind == "string" || kind == "choice") {
    if (v.is_string())
      return v.get<std::string>();
    expected = kind == "choice" ? "a string (one of " + join_strings(e.info.choices, ", ") + ")" : "a string";
  } else if (kind == "int-list") {
    if (v.is_array() && std::all_of(v.begin(), v.end(), [](const json& item) { return item.is_number_integer(); })) {
      std::vector<std::string> items;
      for (const auto& item : v)
        items.push_back(item.dump());
      return join_strings(items, ",");
    }
    expected = "a list of whole numbers, e.g. [30, 60]";
  } else {
    throw ConfigError(origin + ": option of unknown kind '" + kind + "'"); // not reached: the table's kinds
  }
  const bool quoted = v.is_string() && (kind == "float" || kind == "int" || kind == "uint" || kind == "bool");
  throw ConfigError(
      origin + ": expected " + expected + ", got " + describe(v) + (quoted ? " (write it without quotes)" : ""));
}

// Parses JSON text holding a table of options. nlohmann keeps the last of two equal keys silently and reports
// a number out of range (1e999) as out_of_range without the file: both are ConfigErrors here naming `origin`
// and the key. Syntax errors propagate as json::parse_error for the caller's message.
json parse_json_options(const std::string& text, const std::string& origin) {
  std::string last_key, repeated;
  std::set<std::string> keys;
  const json::parser_callback_t on_event = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth == 1 && event == json::parse_event_t::key && parsed.is_string()) { // a key of the top-level table
      last_key = parsed.get<std::string>();
      if (!keys.insert(last_key).second && repeated.empty())
        repeated = last_key;
    }
    return true;
  };
  json object;
  try {
    object = json::parse(text, on_event);
  } catch (const json::parse_error&) {
    throw;
  } catch (const json::exception& e) { // 406: a number out of range (1e999); nothing else is expected here
    const std::string where = origin + (last_key.empty() ? std::string() : ": " + last_key);
    if (e.id == 406)
      throw ConfigError(where + ": number out of range (" + e.what() + "); a value must be a finite double");
    throw ConfigError(where + ": invalid JSON: " + e.what());
  }
  if (!repeated.empty())
    throw ConfigError(
        origin + ": " + repeated +
        ": the key appears twice (a JSON reader would silently keep the last value); keep one");
  return object;
}

// Applies a flat JSON object of options; `preset` keys first so explicit keys win over the preset. Every value must
// have the option's type and a key may appear once in any spelling (batch-size, batch_size). null means "unset"
// only where `null_is_unset` (config.json read back by from_json_text(), where to_json_text() writes null for an
// optional option that was not given); in a user's file it is refused.
void apply_object(TrainConfig& config, const json& object, const std::string& file, bool null_is_unset) {
  if (!object.is_object())
    throw ConfigError(file + ": expected a table of options at the top level");
  std::map<std::string, std::string> spelling; // normalized key -> the key as the file spells it
  for (const auto& [key, value] : object.items()) {
    const auto seen = spelling.find(normalize_key(key));
    if (seen != spelling.end())
      throw ConfigError(
          file + ": " + key + ": the same option as " + seen->second +
          ", which the file also sets (set twice); keep one");
    spelling.emplace(normalize_key(key), key);
  }
  for (const auto& [key, value] : object.items()) {
    if (normalize_key(key) == "preset") {
      if (!value.is_string())
        throw ConfigError(file + ": " + key + ": expected a string (a preset's name), got " + describe(value));
      if (!value.get<std::string>().empty()) // config.json records "" for a run without a preset
        apply_preset(config, value.get<std::string>());
    }
  }
  for (const auto& [key, value] : object.items()) {
    // config.json records the version that wrote it; informative, not an option.
    if (normalize_key(key) == "preset" || key == "signopt_version")
      continue;
    const std::string origin = file + ": " + key;
    if (value.is_object())
      throw ConfigError(origin + ": nested tables are not supported; write every option at the top level");
    const OptionEntry* e = find_entry(key);
    if (e == nullptr)
      unknown_key(file, key);
    if (value.is_null()) {
      if (null_is_unset && e->nullable)
        continue; // an optional option that was not given: resolve_defaults() fills it in
      throw ConfigError(
          origin + ": null is not a value; leave the key out for the default (" + e->info.default_text + ")");
    }
    e->set(config, typed_text(*e, value, origin), origin);
  }
}

json toml_to_json(const toml::node& node, const std::string& origin) {
  if (const auto* t = node.as_table()) {
    json out = json::object();
    for (const auto& [k, v] : *t)
      out[std::string(k.str())] = toml_to_json(v, origin + ": " + std::string(k.str()));
    return out;
  }
  if (const auto* a = node.as_array()) {
    json out = json::array();
    for (const auto& v : *a)
      out.push_back(toml_to_json(v, origin));
    return out;
  }
  if (const auto* s = node.as_string())
    return json(s->get());
  if (const auto* i = node.as_integer())
    return json(i->get());
  if (const auto* f = node.as_floating_point())
    return json(f->get());
  if (const auto* b = node.as_boolean())
    return json(b->get());
  throw ConfigError(origin + ": unsupported TOML value (dates and times are not options)");
}

} // namespace

const std::vector<OptionInfo>& train_options() {
  static const std::vector<OptionInfo> infos = [] {
    std::vector<OptionInfo> out;
    for (const auto& e : option_table())
      out.push_back(e.info);
    return out;
  }();
  return infos;
}

const std::vector<std::string>& optimizer_names() {
  static const std::vector<std::string> names = signopt::optimizer_names();
  return names;
}

namespace {

// One parsed preset file: its description, its options (a flat table applied like a config file's) and its
// learning rate per optimizer family.
struct Preset {
  std::string name;
  std::string description;
  json options;
  std::map<OptimizerFamily, double> lr_by_family;
};

Preset parse_preset(const PresetFile& file) {
  const std::string origin = std::string("preset ") + file.name + " (configs/presets/" + file.name + ".toml)";
  json object;
  try {
    object = toml_to_json(toml::parse(file.text, origin), origin);
  } catch (const toml::parse_error& e) {
    throw ConfigError(origin + ": invalid TOML: " + std::string(e.description()));
  }
  Preset p;
  p.name = file.name;
  if (!object.contains("description") || !object["description"].is_string())
    throw ConfigError(origin + ": needs description = \"...\" (the line --help prints)");
  p.description = object["description"].get<std::string>();
  object.erase("description");
  if (object.contains("lr_by_family")) {
    const json& table = object["lr_by_family"];
    if (!table.is_object())
      throw ConfigError(origin + ": lr_by_family must be a table of family = rate");
    for (const auto& [family, rate] : table.items()) {
      const auto f = try_parse_enum<OptimizerFamily>(family);
      if (!f)
        throw ConfigError(
            origin + ": lr_by_family." + family +
            ": unknown optimizer family (valid: " + join_strings(enum_choices<OptimizerFamily>(), ", ") + ")");
      if (!rate.is_number() || !(rate.get<double>() > 0) || !std::isfinite(rate.get<double>()))
        throw ConfigError(origin + ": lr_by_family." + family + ": expected a rate > 0");
      p.lr_by_family[*f] = rate.get<double>();
    }
    object.erase("lr_by_family");
  }
  if (object.contains("preset"))
    throw ConfigError(origin + ": a preset cannot name another preset");
  p.options = std::move(object);
  return p;
}

// Every shipped preset, parsed once (a broken file is a ConfigError naming it, at first use).
const std::vector<Preset>& all_presets() {
  static const std::vector<Preset> list = [] {
    std::vector<Preset> out;
    for (const auto& file : preset_files())
      out.push_back(parse_preset(file));
    return out;
  }();
  return list;
}

const Preset* find_preset(const std::string& name) {
  for (const auto& p : all_presets())
    if (p.name == name)
      return &p;
  return nullptr;
}

} // namespace

const std::vector<std::pair<std::string, std::string>>& presets() {
  static const std::vector<std::pair<std::string, std::string>> list = [] {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& p : all_presets())
      out.emplace_back(p.name, p.description);
    return out;
  }();
  return list;
}

void apply_preset(TrainConfig& c, const std::string& name) {
  const Preset* p = find_preset(name);
  if (p == nullptr) {
    std::vector<std::string> names;
    for (const auto& [known, description] : presets())
      names.push_back(known);
    throw ConfigError("unknown preset '" + name + "' (valid presets: " + join_strings(names, ", ") + ")");
  }
  apply_object(c, p->options, "preset " + name, /*null_is_unset=*/false);
  c.preset = name;
}

std::optional<double> preset_lr(const std::string& preset, OptimizerFamily family) {
  const Preset* p = preset.empty() ? nullptr : find_preset(preset);
  if (p == nullptr)
    return std::nullopt;
  const auto it = p->lr_by_family.find(family);
  return it == p->lr_by_family.end() ? std::nullopt : std::optional<double>(it->second);
}

void set_option(TrainConfig& config, const std::string& key, const std::string& value, const std::string& origin) {
  const OptionEntry* e = find_entry(key);
  if (e == nullptr)
    unknown_key(origin, key);
  if (e->info.key == "preset") {
    apply_preset(config, value);
    return;
  }
  e->set(config, value, origin);
}

void load_config_file(TrainConfig& config, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw ConfigError("config file " + path + " cannot be opened (missing or unreadable)");
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  const bool is_json = path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0;
  const bool is_toml = path.size() >= 5 && path.compare(path.size() - 5, 5, ".toml") == 0;
  if (!is_json && !is_toml)
    throw ConfigError("config file " + path + ": unknown format (name it *.toml or *.json)");
  json object;
  if (is_json) {
    try {
      object = parse_json_options(text, path);
    } catch (const json::parse_error& e) {
      throw ConfigError("config file " + path + ": invalid JSON: " + e.what());
    }
  } else {
    try {
      const toml::table t = toml::parse(text, path);
      object = toml_to_json(t, path);
    } catch (const toml::parse_error& e) {
      const auto& where = e.source().begin;
      throw ConfigError(
          "config file " + path + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) +
          ": invalid TOML: " + std::string(e.description()));
    }
  }
  apply_object(config, object, path, /*null_is_unset=*/false);
}

TrainConfig parse_train_args(const std::vector<std::string>& args, std::string* resume_dir) {
  TrainConfig config;
  // Pass 1: --config and --preset (the file, then the preset, then flags in order).
  std::vector<std::pair<std::string, std::string>> flags;
  std::string config_file, preset;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    if (flag.rfind("--", 0) != 0)
      throw ConfigError("unexpected argument '" + flag + "' (options start with --; see signopt train --help)");
    std::string value;
    bool has_value = false;
    if (const auto eq = flag.find('='); eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
      has_value = true;
    }
    const std::string key = flag.substr(2);
    const bool known = key == "config" || key == "resume" || find_entry(key) != nullptr;
    if (!known || key.find('_') != std::string::npos)
      unknown_key("command line", flag);
    if (!has_value) {
      if (i + 1 >= args.size())
        throw ConfigError(flag + " needs a value (see signopt train --help)");
      value = args[++i];
    }
    if (key == "config")
      config_file = value;
    else if (key == "preset")
      preset = value;
    else if (key == "resume") {
      if (resume_dir == nullptr)
        throw ConfigError("--resume is not accepted here");
      *resume_dir = value;
    } else
      flags.emplace_back(key, value);
  }
  if (!config_file.empty())
    load_config_file(config, config_file);
  if (!preset.empty())
    apply_preset(config, preset);
  for (const auto& [key, value] : flags)
    set_option(config, key, value, "--" + key);
  return config;
}

const OptimizerRow& optimizer_row(const TrainConfig& c) {
  try {
    return find_optimizer(c.optimizer);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(std::string("--optimizer: ") + e.what());
  }
}

void resolve_defaults(TrainConfig& c) {
  const std::string& o = c.optimizer;
  const OptimizerRow& row = optimizer_row(c);
  const OptimizerDefaults& d = row.defaults;
  // A preset's rate for the optimizer's family (configs/presets/*.toml, lr_by_family), else the row's.
  if (!c.lr)
    c.lr = preset_lr(c.preset, row.family).value_or(d.lr);
  if (!c.momentum)
    c.momentum = d.momentum;
  if (!c.beta1)
    c.beta1 = d.beta1;
  if (!c.beta2)
    c.beta2 = d.beta2;
  if (!c.eps)
    c.eps = d.eps;
  if (!c.decoupled_weight_decay)
    c.decoupled_weight_decay = d.decoupled_weight_decay;
  if (!c.dither_seed)
    c.dither_seed = c.seed;
  if (!c.rounding_seed)
    c.rounding_seed = c.seed;
  if (row.dither_always)
    c.dither = true;
  const auto names_where = [](bool OptimizerRow::*flag) {
    std::vector<std::string> names;
    for (const auto& r : optimizer_registry())
      if (r.*flag)
        names.push_back(r.name);
    return join_strings(names, ", ");
  };
  if (c.dither && !row.dither)
    throw ConfigError(
        "--dither is available with " + names_where(&OptimizerRow::dither) + ", not with --optimizer " + o);
  if (row.weight_decay == WeightDecayModes::CoupledOnly && c.decoupled_weight_decay.value())
    throw ConfigError("--decoupled-weight-decay true is not available with " + o + " (use adamw, or a sign optimizer)");
  if (row.weight_decay == WeightDecayModes::DecoupledOnly && !c.decoupled_weight_decay.value())
    throw ConfigError(o + " always decouples weight decay; use --optimizer adam for coupled decay");
  if (c.nesterov && (o != "sgd" || c.momentum.value() == 0 || c.dampening != 0))
    throw ConfigError("--nesterov needs --optimizer sgd with momentum > 0 and dampening 0");
  if (o == "hybrid") {
    if (c.switch_trigger == "epoch") {
      if (c.switch_epoch == 0)
        c.switch_epoch = std::max<int64_t>(1, c.epochs / 2);
      if (c.switch_epoch > c.epochs)
        throw ConfigError(
            "--switch-epoch " + std::to_string(c.switch_epoch) + " is after the last epoch (" +
            std::to_string(c.epochs) + "); choose 1.." + std::to_string(c.epochs) + " or --switch-trigger never");
    }
    if (c.switch_trigger == "step" && c.switch_step == 0)
      throw ConfigError("--switch-trigger step needs --switch-step N (the last sign step, >= 1)");
    if (c.calibration == "fixed" && c.fixed_lr <= 0)
      throw ConfigError("--calibration fixed needs --fixed-lr R > 0 (the SGD rate after the switch)");
    if (c.calibration == "fixed" && c.switch_trigger == "auto")
      throw ConfigError(
          "--switch-trigger auto tests the calibration's convergence and --calibration fixed has none; use "
          "--switch-trigger step or epoch");
  }
  if (c.log_calibration && !row.logs_calibration)
    throw ConfigError(
        "--log-calibration is for signum and dithered-signum (the hybrid always logs its calibration), not --optimizer " +
        o);
  if (c.aggregation == "auto")
    c.aggregation = enum_name(row.aggregation);
  // 16-bit parameters vote through the sign optimizers' float32 working copies (docs/optimizers.md, "Low-precision
  // parameters"); the gradient allreduce and EF-SignSGD's exchange take float32 parameters.
  if (c.param_dtype != "float32" && c.nproc > 1 && c.aggregation != "majority-vote")
    throw ConfigError(
        "--param-dtype " + c.param_dtype + " with --nproc " + std::to_string(c.nproc) +
        " needs --aggregation majority-vote (signsgd, signum or the hybrid); --aggregation " + c.aggregation +
        " takes float32 parameters (use --param-dtype float32 or --nproc 1)");
  if (c.aggregation == "majority-vote" && !row.votes)
    throw ConfigError(
        "--aggregation majority-vote needs a sign optimizer (" + names_where(&OptimizerRow::votes) +
        "), not --optimizer " + o + "; use --aggregation allreduce" +
        (row.aggregation == Aggregation::EfSign ? " or ef-sign" : ""));
  if (c.aggregation == "ef-sign" && row.aggregation != Aggregation::EfSign)
    throw ConfigError("--aggregation ef-sign is EF-SignSGD's exchange; it needs --optimizer ef-signsgd, not " + o);
  // With the vote each worker keeps its own sign-phase momentum m; starting SGD from it would give every worker
  // another momentum buffer, and the replicas would drift apart after the switch.
  if (c.nproc > 1 && c.aggregation == "majority-vote" && o == "hybrid" && c.post_switch_init == "momentum" &&
      c.post_switch_momentum > 0)
    throw ConfigError(
        "--post-switch-init momentum starts each worker's SGD momentum from its own sign-phase momentum, so with "
        "--aggregation majority-vote the workers' weights would drift apart after the switch; use --post-switch-init "
        "zero, or --aggregation allreduce");
  if (c.lr_schedule == "step" && c.lr_milestones.empty())
    throw ConfigError("--lr-schedule step needs --lr-milestones (e.g. 100,150)");
  if (c.warmup_epochs >= static_cast<double>(c.epochs))
    throw ConfigError(
        "--warmup-epochs " + format_option_number(c.warmup_epochs) + " must be shorter than --epochs " +
        std::to_string(c.epochs));
  if (c.min_lr >= c.lr.value() && c.lr_schedule == "cosine")
    throw ConfigError(
        "--min-lr " + format_option_number(c.min_lr) + " must be below --lr " + format_option_number(*c.lr));
}

std::string to_json_text(const TrainConfig& config) {
  json out = json::object();
  out["signopt_version"] = SIGNOPT_VERSION_STRING;
  for (const auto& e : option_table())
    out[e.info.key] = e.get(config);
  return out.dump(2) + "\n";
}

TrainConfig from_json_text(const std::string& text, const std::string& origin) {
  json object;
  try {
    object = parse_json_options(text, origin);
  } catch (const json::parse_error& e) {
    throw ConfigError(origin + ": invalid JSON: " + e.what());
  }
  if (!object.is_object())
    throw ConfigError(origin + ": expected a JSON object");
  object.erase("signopt_version");
  TrainConfig config;
  std::string preset;
  if (object.contains("preset")) {
    if (!object["preset"].is_string())
      throw ConfigError(origin + ": preset: expected a string (a preset's name), got " + describe(object["preset"]));
    preset = object["preset"].get<std::string>();
  }
  object.erase("preset");
  // to_json_text() writes null for an optional option that was not given: unset here, refused in a user's file.
  apply_object(config, object, origin, /*null_is_unset=*/true);
  config.preset = preset; // informative only: the values above already include it
  return config;
}

std::string train_help() {
  std::ostringstream s;
  s << "usage: signopt train [--config FILE.toml|FILE.json] [--preset NAME] [--resume DIR] [options]\n\n"
       "Trains a classifier with a signopt optimizer or a baseline and writes a run directory (config.json,\n"
       "metrics.csv, summary.json, checkpoint.pt). Options come from defaults, then the config file (flat keys\n"
       "named as below, with - or _), then the preset, then the command line. Every flag takes a value\n"
       "(--flag VALUE or --flag=VALUE; booleans: true/false).\n\n"
       "  --config FILE            TOML or JSON file of options\n"
       "  --resume DIR             continue the run in DIR from its checkpoint with its saved config.json; only\n"
       "                           --threads and --progress may be given with it\n";
  std::string group;
  for (const auto& e : option_table()) {
    if (e.info.group != group) {
      group = e.info.group;
      s << "\n" << group << ":\n";
    }
    std::string head = "  --" + e.info.key;
    if (e.info.kind == "choice")
      head += " " + join_strings(e.info.choices, "|");
    else
      head += e.info.kind == "bool"   ? " BOOL"
          : e.info.kind == "int-list" ? " LIST"
          : e.info.kind == "string"   ? " TEXT"
          : e.info.kind == "float"    ? " X"
                                      : " N";
    std::string text = e.info.help + " (default: " + e.info.default_text + ")";
    if (head.size() < 27)
      s << head << std::string(27 - head.size(), ' ');
    else
      s << head << "\n" << std::string(27, ' ');
    // Wrap the help at ~110 columns.
    size_t col = 27;
    std::istringstream words(text);
    std::string word;
    bool first = true;
    while (words >> word) {
      if (!first && col + 1 + word.size() > 112) {
        s << "\n" << std::string(27, ' ');
        col = 27;
        first = true;
      }
      s << (first ? "" : " ") << word;
      col += word.size() + (first ? 0 : 1);
      first = false;
    }
    s << "\n";
  }
  s << "\nPresets (--preset NAME):\n";
  for (const auto& [name, help] : presets())
    s << "  " << name << "\n      " << help << "\n";
  return s.str();
}

} // namespace signopt::train
