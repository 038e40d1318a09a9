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

/// Throws ConfigError: "invalid value for ORIGIN: 'VALUE' (expected EXPECTED)".
[[noreturn]] void bad_value(const std::string& origin, const std::string& value, const std::string& expected);
/// Whole numbers as plain decimal text: an optional sign (when `sign`), then digits; no spaces, no hex.
bool is_decimal_integer(const std::string& t, bool sign);

/// The option values as text (option_values.cpp): each throws ConfigError naming `origin` and what it expected.
double parse_float(const std::string& origin, const std::string& text);
uint64_t parse_uint(const std::string& origin, const std::string& text);
/// A whole number in min..max; `why` (the reason for the upper limit) is added when the value is past it.
int64_t parse_int(const std::string& origin, const std::string& text, int64_t min, int64_t max, const std::string& why);
bool parse_bool(const std::string& origin, const std::string& text);

// v in the shortest form that reads back exactly (17 significant digits at most).
std::string format_option_number(double v);

// items with sep between them.
std::string join_strings(const std::vector<std::string>& items, const std::string& sep);

} // namespace signopt::train::detail
