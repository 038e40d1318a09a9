// Internal: the trainer's option table (options.cpp), from which config.cpp derives flags, config files,
// --help and config.json.
#pragma once

#include <signopt/train/config.h>

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

namespace signopt::train::detail {

using json = nlohmann::ordered_json;

// One row of the table: the public description plus how to set and read the field.
struct OptionEntry {
  OptionInfo info;
  std::function<void(TrainConfig&, const std::string& text, const std::string& origin)> set;
  std::function<json(const TrainConfig&)> get; // null json = unset optional
  bool nullable = false; // an optional field: config.json writes null while it is unset
};

// Every option, in --help order (built on first use).
const std::vector<OptionEntry>& option_table();

// v in the shortest form that reads back exactly (17 significant digits at most).
std::string format_option_number(double v);

// items with sep between them.
std::string join_strings(const std::vector<std::string>& items, const std::string& sep);

} // namespace signopt::train::detail
