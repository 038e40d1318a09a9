// Internal: the run naming and option helpers that the sweep file's expansion (sweep_spec.cpp) and the
// [select] stage (sweep_select.cpp) share.
#pragma once

#include <signopt/experiments/sweep.h>

#include <string>
#include <vector>

namespace signopt::experiments::detail {

/// A run's name from its axis values ("signum-lr0.001-seed1"; "run" without axes).
std::string run_name(const std::vector<OptionValue>& axis_values);

/// Sets option `key` of `options` to `value` (appended when absent).
void set_value(std::vector<OptionValue>& options, const std::string& key, const std::string& value);

} // namespace signopt::experiments::detail
