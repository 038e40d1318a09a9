// Hand-written run directories for the report tests (test_report.cpp, test_report_calibration.cpp): a
// FakeRun's config.json, summary.json and metrics.csv, the standard set most tests read, and helpers.
#pragma once

#include <signopt/report/process.h>
#include <signopt/report/report.h>
#include <signopt/report/stats.h>
#include <signopt/train/trainer.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/temp_dirs.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace signopt::test::report_runs {

namespace fs = std::filesystem;
using namespace signopt::report;

inline const auto* const kCleanUp = signopt::test::remove_when_passed("signopt_report");

inline fs::path fresh_dir(const std::string& name) {
  return signopt::test::fresh_dir("signopt_report", name, /*create=*/true);
}

inline std::string read(const fs::path& path) {
  return signopt::test::read_file(path);
}

inline void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// Runs `signopt ARGS` and returns its exit status; its output goes to `log`.
inline int run_cli(const std::vector<std::string>& args, const fs::path& log) {
  ProcessSpec spec;
  spec.program = SIGNOPT_CLI_BINARY;
  spec.args = args;
  spec.log_file = log.string();
  return wait_process(start_process(spec)).code;
}

// A hand-written run directory: config.json as `signopt train` writes it (the keys that matter
// here), summary.json and a metrics.csv whose per-epoch test accuracy ends at `final_test`, with 4
// steps per epoch.
struct FakeRun {
  std::string dataset = "fashion-mnist";
  std::string optimizer = "sgd";
  double lr = 0.1;
  int seed = 0;
  int epochs = 2;
  std::string status = "completed";
  double final_test = 0, best_test = 0;
  std::optional<double> final_val;
  int threads = 0;
  bool hybrid = false, dither = false;
  int switch_step = 5; ///< hybrid: the first step in the SGD phase
  int log_every = 1; ///< step rows at the multiples of this
  /// The header has the calibration columns (empty cells unless `calibration`).
  bool calibration_columns = false;
  /// Step and epoch rows carry calibration values: estimator k's lambda_ema at step t is
  /// 0.001 (k + 1) t (1 + seed), its lambda_t twice that.
  bool calibration = false;
};

inline const char* const kOldHeader =
    "kind,split,epoch,step,loss,accuracy,lr,phase,calibrated_lr,dither_alpha,img_per_s,elapsed_s";
inline const char* const kCalibrationColumns =
    ",lambda_swats,lambda_ema_swats,lambda_least_squares,lambda_ema_least_squares,lambda_norm,lambda_ema_norm,"
    "lambda_momentum_ls,lambda_ema_momentum_ls";

// The calibration cells that end a row at `step` ("" without the columns).
inline std::string calibration_cells(const FakeRun& r, int step) {
  if (!r.calibration_columns && !r.calibration)
    return "";
  if (!r.calibration)
    return ",,,,,,,,";
  std::string out;
  for (int k = 0; k < 4; ++k) {
    const double ema = 0.001 * (k + 1) * step * (1 + r.seed);
    char cells[64];
    std::snprintf(cells, sizeof cells, ",%.8g,%.8g", 2 * ema, ema);
    out += cells;
  }
  return out;
}

// The phase and calibrated_lr cells of a row at `step`.
inline std::string phase_cells(const FakeRun& r, int step) {
  if (!r.hybrid)
    return ",";
  char cells[64];
  std::snprintf(cells, sizeof cells, "%s,%.8g", step >= r.switch_step ? "sgd" : "sign", 0.03 + 0.001 * r.seed);
  return cells;
}

inline void make_run(const fs::path& dir, const FakeRun& r) {
  nlohmann::ordered_json c;
  c["signopt_version"] = "0.1.0";
  c["dataset"] = r.dataset;
  c["data-dir"] = "/data/" + std::to_string(r.seed); // not semantic: must not split configurations
  c["model"] = "cnn";
  c["val-fraction"] = r.final_val ? 0.1 : 0.0;
  c["epochs"] = r.epochs;
  c["batch-size"] = 128;
  c["seed"] = r.seed;
  c["threads"] = r.threads;
  c["optimizer"] = r.optimizer;
  c["lr"] = r.lr;
  c["dither"] = r.dither;
  c["dither-seed"] = r.seed;
  c["out"] = dir.string();
  c["progress"] = "auto";
  write(dir / "config.json", c.dump(2));
  if (r.status.empty())
    return; // a run that never wrote its summary
  nlohmann::ordered_json s;
  s["status"] = r.status;
  if (r.status == "failed")
    s["error"] = "the training loss became NaN at epoch 1, step 3";
  s["final_test_accuracy"] = r.final_test;
  s["best_test_accuracy"] = r.best_test;
  if (r.final_val) {
    s["final_val_accuracy"] = *r.final_val;
    s["best_val_accuracy"] = *r.final_val;
  }
  write(dir / "summary.json", s.dump(2));
  std::ostringstream m;
  m << kOldHeader << (r.calibration_columns || r.calibration ? kCalibrationColumns : "") << "\n";
  for (int e = 1; e <= r.epochs; ++e) {
    for (int step = (e - 1) * 4 + 1; step <= e * 4; ++step) {
      if (step % r.log_every != 0)
        continue;
      m << "step,train," << e << "," << step << "," << 2.0 / step << ",50," << r.lr << "," << phase_cells(r, step)
        << ",";
      if (r.dither)
        m << 1.0 / std::sqrt(static_cast<double>(step));
      m << ",1000.0,0.1" << calibration_cells(r, step) << "\n";
    }
    // Epoch rows: the phase and calibration only in the new format (older fake runs left them empty).
    const int step = e * 4;
    const std::string phase = r.calibration ? phase_cells(r, step) : ",";
    const std::string calibration = calibration_cells(r, step);
    const double acc = e == r.epochs ? r.final_test : r.final_test - 5;
    m << "epoch,train," << e << "," << step << "," << 1.0 / e << ",60," << r.lr << "," << phase << ",,0.0,0.2"
      << calibration << "\n";
    if (r.final_val)
      m << "epoch,val," << e << "," << step << ",0.5," << *r.final_val - (r.epochs - e) << "," << r.lr << "," << phase
        << ",,0.0,0.3" << calibration << "\n";
    m << "epoch,test," << e << "," << step << ",0.5," << acc << "," << r.lr << "," << phase << ",,0.0,0.3"
      << calibration << "\n";
  }
  write(dir / "metrics.csv", m.str());
}

// The set used by most tests: sgd and hybrid with 3 seeds each (values with scipy references),
// plus an interrupted, a failed and a summary-less run that must not count.
inline fs::path make_standard_runs(const std::string& name) {
  const fs::path root = fresh_dir(name);
  const double sgd[] = {90.12, 90.55, 89.87}, hybrid[] = {91.2, 91.05, 91.61};
  for (int seed = 0; seed < 3; ++seed) {
    FakeRun s;
    s.seed = seed;
    s.final_test = sgd[seed];
    s.best_test = sgd[seed] + 0.1 * seed;
    s.threads = seed; // differs between seeds: not semantic
    make_run(root / ("sgd-seed" + std::to_string(seed)), s);
    FakeRun h;
    h.optimizer = "hybrid";
    h.lr = 1e-3;
    h.seed = seed;
    h.final_test = hybrid[seed];
    h.best_test = hybrid[seed];
    h.hybrid = true;
    make_run(root / "nested" / ("hybrid-seed" + std::to_string(seed)), h); // found recursively
  }
  FakeRun interrupted;
  interrupted.status = "interrupted";
  interrupted.seed = 7;
  interrupted.final_test = 10;
  make_run(root / "sgd-seed7", interrupted);
  FakeRun failed;
  failed.status = "failed";
  failed.seed = 8;
  make_run(root / "sgd-seed8", failed);
  FakeRun running;
  running.status = "";
  running.seed = 9;
  make_run(root / "sgd-seed9", running);
  // A sweep's kept failed attempt: hidden folders are not searched.
  FakeRun attempt;
  attempt.seed = 0;
  attempt.final_test = 1;
  make_run(root / ".attempts" / "sgd-seed0.1", attempt);
  return root;
}

inline const ConfigurationStats* find_config(const DatasetTable& t, const std::string& label) {
  for (const auto& c : t.configurations)
    if (c.label == label)
      return &c;
  return nullptr;
}

} // namespace signopt::test::report_runs
