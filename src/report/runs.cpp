// Reading run directories: the only input of `signopt report` (tables and plots come from the
// logs alone) and how `signopt sweep` finds out what state a run is in.
#include <signopt/report/runs.h>

#include <signopt/io/files.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace signopt::report {
namespace fs = std::filesystem;
namespace {

using json = nlohmann::json;

json parse_json_file(const fs::path& path) {
  try {
    return json::parse(io::read_file(path, io::kMaxTextFileBytes));
  } catch (const json::parse_error& e) {
    throw std::runtime_error(path.string() + ": invalid JSON (" + std::string(e.what()) + ")");
  }
}

double number_or_nan(const std::string& text) {
  if (text.empty())
    return std::numeric_limits<double>::quiet_NaN();
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (*end != '\0')
    throw std::invalid_argument(text);
  return v;
}

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream s(line);
  while (std::getline(s, item, ','))
    out.push_back(item);
  if (!line.empty() && line.back() == ',')
    out.emplace_back();
  return out;
}

void find_runs_in(const fs::path& dir, const fs::path& root, std::vector<RunRecord>& out) {
  if (fs::exists(dir / "config.json")) {
    RunRecord r = read_run(dir.string());
    const fs::path rel = fs::relative(dir, root);
    r.name = rel.empty() ? "." : rel.string();
    out.push_back(std::move(r));
    return;
  }
  std::vector<fs::path> children;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.empty() && name[0] != '.' && entry.is_directory())
      children.push_back(entry.path());
  }
  std::sort(children.begin(), children.end());
  for (const auto& child : children)
    find_runs_in(child, root, out);
}

} // namespace

std::string RunRecord::value(const std::string& key) const {
  const auto it = config.find(key);
  if (it == config.end() || it->second == "null")
    return "";
  const std::string& v = it->second;
  if (v.size() >= 2 && v.front() == '"')
    return json::parse(v).get<std::string>();
  return v;
}

RunRecord read_run(const std::string& dir) {
  RunRecord r;
  r.dir = dir;
  r.name = fs::path(dir).filename().string();
  try {
    const json config = parse_json_file(fs::path(dir) / "config.json");
    if (!config.is_object())
      throw std::runtime_error((fs::path(dir) / "config.json").string() + ": expected a JSON object");
    for (const auto& [key, value] : config.items())
      r.config[key] = value.dump();
  } catch (const std::exception& e) {
    r.status = "unreadable";
    r.error = e.what();
    return r;
  }
  const fs::path summary_path = fs::path(dir) / "summary.json";
  if (!fs::exists(summary_path)) {
    r.status = "no summary";
    return r;
  }
  try {
    const json s = parse_json_file(summary_path);
    r.status = s.value("status", std::string("unreadable"));
    r.error = s.value("error", std::string());
    r.final_test_accuracy = s.value("final_test_accuracy", 0.0);
    r.best_test_accuracy = s.value("best_test_accuracy", 0.0);
    if (s.contains("final_val_accuracy"))
      r.final_val_accuracy = s["final_val_accuracy"].get<double>();
    if (s.contains("best_val_accuracy"))
      r.best_val_accuracy = s["best_val_accuracy"].get<double>();
    r.steps = s.value("steps", int64_t{0});
    r.wall_time_s = s.value("wall_time_s", 0.0);
    if (r.status == "unreadable")
      r.error = summary_path.string() + " has no status";
  } catch (const std::exception& e) {
    r.status = "unreadable";
    r.error = summary_path.string() + ": " + e.what();
  }
  return r;
}

std::vector<RunRecord> find_runs(const std::string& root) {
  if (!fs::is_directory(root))
    throw std::runtime_error(root + " is not a directory (expected a folder of signopt run directories)");
  std::vector<RunRecord> out;
  find_runs_in(fs::path(root), fs::path(root), out);
  return out;
}

// Spelled here rather than taken from signopt::kEstimators: this file is built without LibTorch (the fuzz
// targets); tests/report/test_report.cpp checks the names against the trainer's metrics_columns().
const std::vector<std::string>& calibration_estimators() {
  static const std::vector<std::string> names = {"swats", "least_squares", "norm", "momentum_ls"};
  return names;
}

bool MetricRow::has_calibration() const {
  return std::any_of(lambda_ema.begin(), lambda_ema.end(), [](double v) { return std::isfinite(v); });
}

CalibrationPoint calibration_point(const std::vector<MetricRow>& rows) {
  const MetricRow* first_sgd = nullptr;
  const MetricRow* last_with_values = nullptr;
  for (const auto& row : rows) {
    if (row.kind != "step" && row.kind != "epoch")
      continue;
    if (first_sgd == nullptr && row.phase == "sgd")
      first_sgd = &row;
    if (row.has_calibration())
      last_with_values = &row;
  }
  CalibrationPoint point;
  if (last_with_values == nullptr)
    return point; // no calibration logged (an older run, or an optimizer without it)
  point.switched = first_sgd != nullptr;
  point.row = point.switched ? first_sgd : last_with_values;
  return point;
}

std::vector<MetricRow> read_metrics(const std::string& dir) {
  const fs::path path = fs::path(dir) / "metrics.csv";
  std::istringstream in(io::read_file(path, io::kMaxTextFileBytes));
  std::string line;
  if (!std::getline(in, line))
    throw std::runtime_error(path.string() + " is empty (no header line)");
  const auto header = split_csv_line(line);
  auto column = [&](const std::string& name) -> int {
    const auto it = std::find(header.begin(), header.end(), name);
    return it == header.end() ? -1 : static_cast<int>(it - header.begin());
  };
  const int kind = column("kind"), split = column("split"), epoch = column("epoch"), step = column("step"),
            loss = column("loss"), accuracy = column("accuracy"), lr = column("lr"), phase = column("phase"),
            calibrated = column("calibrated_lr"), dither = column("dither_alpha");
  // The calibration columns came later: a file with none of them leaves MetricRow's vectors empty.
  std::vector<int> lambda, lambda_ema;
  bool any_calibration = false;
  for (const auto& name : calibration_estimators()) {
    lambda.push_back(column("lambda_" + name));
    lambda_ema.push_back(column("lambda_ema_" + name));
    any_calibration = any_calibration || lambda.back() >= 0 || lambda_ema.back() >= 0;
  }
  for (const auto& [name, index] :
       {std::pair<const char*, int>{"kind", kind},
        {"split", split},
        {"epoch", epoch},
        {"step", step},
        {"loss", loss},
        {"accuracy", accuracy}})
    if (index < 0)
      throw std::runtime_error(path.string() + ": the header has no '" + name + "' column");
  std::vector<MetricRow> rows;
  int64_t line_number = 1;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.empty())
      continue;
    const auto cells = split_csv_line(line);
    if (cells.size() != header.size()) {
      // A run killed mid-write can leave a partial last line; anything else is corruption.
      if (in.peek() == EOF)
        break;
      throw std::runtime_error(
          path.string() + ":" + std::to_string(line_number) + ": " + std::to_string(cells.size()) +
          " fields, expected " + std::to_string(header.size()));
    }
    auto cell = [&](int index) { return index < 0 ? std::string() : cells[index]; };
    MetricRow row;
    try {
      row.kind = cell(kind);
      row.split = cell(split);
      row.epoch = std::stoll(cell(epoch));
      row.step = std::stoll(cell(step));
      row.loss = number_or_nan(cell(loss));
      row.accuracy = number_or_nan(cell(accuracy));
      row.lr = number_or_nan(cell(lr));
      row.phase = cell(phase);
      row.calibrated_lr = number_or_nan(cell(calibrated));
      row.dither_alpha = number_or_nan(cell(dither));
      if (any_calibration) {
        for (size_t i = 0; i < lambda.size(); ++i) {
          row.lambda.push_back(number_or_nan(cell(lambda[i])));
          row.lambda_ema.push_back(number_or_nan(cell(lambda_ema[i])));
        }
      }
    } catch (const std::exception&) {
      throw std::runtime_error(path.string() + ":" + std::to_string(line_number) + ": not a metrics row: " + line);
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

const std::vector<std::string>& non_semantic_keys() {
  static const std::vector<std::string> keys = {
      "seed",
      "out",
      "threads",
      "progress",
      "log-every",
      "probe-every",
      "probe-beta",
      "checkpoint-every",
      "keep-checkpoints",
      "eval-batch-size",
      "data-dir",
      "device",
      "dist-timeout",
      "preset",
      "signopt_version"};
  return keys;
}

std::map<std::string, std::string> semantic_config(const std::map<std::string, std::string>& config) {
  std::map<std::string, std::string> out;
  const auto& skip = non_semantic_keys();
  // The exchange's settings only act between processes: one process trains the same whatever they say
  // (their defaults differ by optimizer, e.g. allreduce for SGD, majority-vote for Signum).
  static const std::vector<std::string> kDistributedKeys = {"aggregation", "vote-ties", "vote-zero-sign"};
  const auto nproc = config.find("nproc");
  const bool single_process = nproc == config.end() || nproc->second == "1";
  // The rounding and the momentum's dtype act on 16-bit parameters only (docs/optimizers.md, "Low-precision
  // parameters"): a float32 run trains the same whatever they say.
  static const std::vector<std::string> kSixteenBitKeys = {"rounding", "rounding-seed", "momentum-dtype"};
  const auto dtype = config.find("param-dtype");
  const bool float32 = dtype == config.end() || dtype->second == "float32" || dtype->second == "\"float32\""; // JSON text
  for (const auto& [key, value] : config) {
    if (std::find(skip.begin(), skip.end(), key) != skip.end())
      continue;
    if (key == "dither-seed" || key == "rounding-seed") { // by default the run's seed
      const auto seed = config.find("seed");
      if (seed != config.end() && seed->second == value)
        continue;
    }
    if (float32 && std::find(kSixteenBitKeys.begin(), kSixteenBitKeys.end(), key) != kSixteenBitKeys.end())
      continue;
    if (single_process && std::find(kDistributedKeys.begin(), kDistributedKeys.end(), key) != kDistributedKeys.end())
      continue;
    out[key] = value;
  }
  return out;
}

} // namespace signopt::report
