// metrics.csv's column table (metrics_log.h), and metrics_columns(): the header and every row come from it, so
// they always have the same fields in the same order.
#include <signopt/train/trainer.h>

#include "metrics_log.h"

#include <cstdio>

namespace signopt::train {
namespace detail {
namespace {

// `value` with `format`, one printf conversion of a double (%.8g, %.0f, ...).
std::string number(const char* format, double value) {
  char text[512]; // the longest: %.6f of the largest double, 316 characters
  std::snprintf(text, sizeof text, format, value);
  return text;
}

// `value` with `format`, or an empty field when it is unset.
std::string optional_number(const char* format, const std::optional<double>& value) {
  return value ? number(format, *value) : std::string();
}

} // namespace

const std::vector<MetricsColumn>& metrics_table() {
  static const std::vector<MetricsColumn> table = [] {
    std::vector<MetricsColumn> columns = {
        {"kind", [](const MetricsRow& r) { return std::string(r.kind); }},
        {"split", [](const MetricsRow& r) { return std::string(r.split); }},
        {"epoch", [](const MetricsRow& r) { return std::to_string(r.epoch); }},
        {"step", [](const MetricsRow& r) { return std::to_string(r.step); }},
        {"loss", [](const MetricsRow& r) { return number("%.8g", r.loss); }},
        {"accuracy", [](const MetricsRow& r) { return number("%.6g", r.accuracy); }},
        {"lr", [](const MetricsRow& r) { return number("%.8g", r.lr); }},
        {"phase", [](const MetricsRow& r) { return std::string(r.phase); }},
        {"calibrated_lr", [](const MetricsRow& r) { return optional_number("%.8g", r.calibrated_lr); }},
        {"dither_alpha", [](const MetricsRow& r) { return optional_number("%.8g", r.dither_alpha); }},
        {"bytes_sent", [](const MetricsRow& r) { return optional_number("%.0f", r.bytes_sent); }},
        {"bytes_received", [](const MetricsRow& r) { return optional_number("%.0f", r.bytes_received); }},
        {"comm_s", [](const MetricsRow& r) { return optional_number("%.6f", r.comm_s); }},
    };
    // Then each estimator's lambda_t and Lbar_t, then the timings (which differ between runs).
    for (const CalibrationEstimator e : kEstimators) {
      columns.push_back({"lambda_" + column_name(e), [e](const MetricsRow& r) {
                           return r.calibration ? number("%.8g", r.calibration->at(e).lambda()) : std::string();
                         }});
      columns.push_back({"lambda_ema_" + column_name(e), [e](const MetricsRow& r) {
                           return r.calibration ? number("%.8g", r.calibration->at(e).smoothed()) : std::string();
                         }});
    }
    columns.push_back({"img_per_s", [](const MetricsRow& r) { return number("%.1f", r.img_per_s); }});
    columns.push_back({"elapsed_s", [](const MetricsRow& r) { return number("%.2f", r.elapsed); }});
    return columns;
  }();
  return table;
}

std::string metrics_header() {
  std::string header;
  for (const auto& column : metrics_table())
    header += (header.empty() ? "" : ",") + column.name;
  return header + "\n";
}

std::string metrics_row(const MetricsRow& row) {
  std::string line;
  bool first = true;
  for (const auto& column : metrics_table()) {
    if (!first)
      line += ',';
    line += column.field(row);
    first = false;
  }
  return line + "\n";
}

} // namespace detail

const std::vector<std::string>& metrics_columns() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& column : detail::metrics_table())
      out.push_back(column.name);
    return out;
  }();
  return names;
}

} // namespace signopt::train
