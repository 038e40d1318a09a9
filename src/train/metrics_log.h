// Internal: metrics.csv's column table: each column's name and the text of its field in a row.
#pragma once

#include <signopt/optim/calibration.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace signopt::train::detail {

/// What one row of metrics.csv reports; an unset optional (or a null calibration) is an empty field.
struct MetricsRow {
  const char* kind = ""; // step, epoch or final
  const char* split = ""; // train, val or test
  int64_t epoch = 0; // 1-based
  int64_t step = 0; // optimizer steps taken
  double loss = 0;
  double accuracy = 0; // percent
  double lr = 0;
  const char* phase = ""; // the hybrid's phase, sgd or sign; empty for the other optimizers
  std::optional<double> calibrated_lr; // the hybrid's
  std::optional<double> dither_alpha; // --dither with one of signopt's optimizers
  // Distributed step rows: this rank's payload bytes and seconds in collectives, per step of the window.
  std::optional<double> bytes_sent, bytes_received, comm_s;
  // The hybrid's calibration bank while it is active: each estimator's lambda_t and Lbar_t.
  const CalibrationBank* calibration = nullptr;
  double img_per_s = 0;
  double elapsed = 0; // seconds of training
};

/// One column of metrics.csv: its header name and the text of its field in a row (no comma, no newline).
struct MetricsColumn {
  std::string name;
  std::function<std::string(const MetricsRow&)> field;
};

/// The columns of metrics.csv, in order; metrics_columns() lists their names.
const std::vector<MetricsColumn>& metrics_table();

/// The header line of metrics.csv (the names, comma-separated, and a newline).
std::string metrics_header();

/// One line of metrics.csv: every column's field of `row`, comma-separated, and a newline.
std::string metrics_row(const MetricsRow& row);

} // namespace signopt::train::detail
