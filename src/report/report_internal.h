// Internal: what building the report (report.cpp) and rendering it (report_render.cpp) share.
#pragma once

#include <signopt/report/report.h>

#include <string>
#include <vector>

namespace signopt::report::detail {

// Settings that differ between a table's configurations but appear in no label, as "key (label: value,
// ...)": comparisons across them are confounded.
std::vector<std::string> hidden_differences(const DatasetTable& table);

} // namespace signopt::report::detail
