// What a run writes besides its checkpoints: metrics.csv (a row per logged step and evaluation), probe.csv
// (--probe-every) and summary.json.
#include <signopt/diag/probe.h>
#include <signopt/io/files.h>
#include <signopt/models/models.h>
#include <signopt/optim/calibration.h>
#include <signopt/train/optimizers.h>
#include <signopt/train/trainer.h>
#include <signopt/version.h>

#include "metrics_log.h"
#include "run.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace signopt::train::detail {
namespace fs = std::filesystem;
namespace {

using json = nlohmann::ordered_json;

const char* kProbeColumns =
    "epoch,step,updates,snr_median,snr_above_knee_share,phi,grad_l1,phi_ratio,wrong_sign,gaussian_prediction,gauss_bound,"
    "dither_share\n";

// A probe.csv saved by a version before the dither_share column, given that column (nan: not measured), so that
// a resumed run's rows and header agree; the current layout is returned as it is.
std::string current_probe_columns(const std::string& saved) {
  const std::string old_header =
      "epoch,step,updates,snr_median,snr_above_knee_share,phi,grad_l1,phi_ratio,wrong_sign,gaussian_prediction,gauss_bound\n";
  if (saved.rfind(old_header, 0) != 0)
    return saved;
  std::string out = kProbeColumns;
  size_t start = old_header.size();
  while (start < saved.size()) {
    const size_t end = saved.find('\n', start);
    out += saved.substr(start, end == std::string::npos ? std::string::npos : end - start) + ",nan\n";
    if (end == std::string::npos)
      break;
    start = end + 1;
  }
  return out;
}

} // namespace

// metrics.csv (and probe.csv with --probe-every): new, or, resuming, exactly as they were at the checkpoint
// (the checkpoint carries them: rows written after it by a process that died are dropped, and a log that was
// deleted or cut short is restored).
void Run::open_logs(bool resuming) {
  if (!writer_)
    return;
  const fs::path metrics = dir_ / "metrics.csv", probe = dir_ / "probe.csv";
  if (resuming) {
    io::write_file_atomic(metrics, saved_metrics_);
    metrics_ = io::AppendFile(metrics, false);
    if (monitor_) {
      io::write_file_atomic(probe, saved_probe_.empty() ? std::string(kProbeColumns) : current_probe_columns(saved_probe_));
      probe_ = io::AppendFile(probe, false);
    }
    return;
  }
  metrics_ = io::AppendFile(metrics, true);
  metrics_.write(metrics_header());
  if (monitor_) {
    probe_ = io::AppendFile(probe, true);
    probe_.write(kProbeColumns);
  }
}

// Folds this step's gradients (rank 0's own, before any averaging) into the running noise estimates and,
// when `write`, takes the snapshot of the row that probe_row() completes after the optimizer step.
void Run::probe_step(bool write) {
  if (!monitor_)
    return;
  std::vector<torch::Tensor> grads;
  for (const auto& p : s_.model->parameters())
    grads.push_back(p.grad().defined() ? p.grad() : torch::zeros_like(p));
  monitor_->update(grads);
  if (write)
    pending_probe_ = monitor_->snapshot(grads);
}

// Completes and appends the pending row of probe.csv: dither_share from the dither std each parameter's sign
// saw in the step just taken (SignoptOptimizer::last_dither_stds; the parameters are the model's, in order),
// NaN without dithering.
void Run::probe_row() {
  if (!pending_probe_)
    return;
  auto r = *pending_probe_;
  pending_probe_.reset();
  const auto* opt = s_.optimizer.signopt;
  if (c_.dither && opt != nullptr)
    r.dither_share = monitor_->dither_share(opt->last_dither_stds());
  char row[512];
  std::snprintf(
      row,
      sizeof row,
      "%lld,%lld,%lld,%.6g,%.6g,%.8g,%.8g,%.6g,%.6g,%.6g,%.6g,%.6g\n",
      static_cast<long long>(st_.epoch + 1),
      static_cast<long long>(st_.step),
      static_cast<long long>(r.updates),
      r.snr_median,
      r.snr_above_share,
      r.phi,
      r.grad_l1,
      r.phi_ratio,
      r.wrong_sign,
      r.gaussian_prediction,
      r.gauss_bound,
      r.dither_share);
  probe_.write(row);
}

void Run::close_files() {
  metrics_.close();
  probe_.close();
}

// One row of metrics.csv (metrics_log.h) at the loop's current epoch and step.
void Run::write_row(
    const char* kind,
    const char* split,
    double loss,
    double accuracy,
    double lr,
    double img_per_s,
    double elapsed) {
  if (!writer_)
    return;
  MetricsRow row;
  row.kind = kind;
  row.split = split;
  row.epoch = st_.epoch + 1;
  row.step = st_.step;
  row.loss = loss;
  row.accuracy = accuracy;
  row.lr = lr;
  if (const HybridSignSGD* hybrid = s_.optimizer.hybrid) {
    row.phase = hybrid->phase() == HybridPhase::Sgd ? "sgd" : "sign";
    row.calibrated_lr = hybrid->calibrated_lr();
    if (hybrid->calibration_bank().active())
      row.calibration = &hybrid->calibration_bank();
  }
  if (c_.dither && s_.optimizer.signopt != nullptr)
    row.dither_alpha = s_.optimizer.signopt->last_dither_alpha();
  // Distributed step rows: this rank's payload bytes and seconds in collectives, per step of the window.
  if (s_.comm && std::string(kind) == "step" && st_.window_batches > 0) {
    const double b = static_cast<double>(st_.window_batches);
    row.bytes_sent = static_cast<double>(st_.window_bytes_sent) / b;
    row.bytes_received = static_cast<double>(st_.window_bytes_received) / b;
    row.comm_s = st_.window_comm_s / b;
  }
  row.img_per_s = img_per_s;
  row.elapsed = elapsed;
  metrics_.write(metrics_row(row));
}

void Run::write_summary(const RunOutcome& outcome, double elapsed, double data_seconds) {
  if (!writer_)
    return;
  json j;
  j["status"] = outcome.status == RunStatus::Completed ? "completed"
      : outcome.status == RunStatus::Interrupted       ? "interrupted"
                                                       : "failed";
  if (!outcome.error.empty())
    j["error"] = outcome.error;
  j["optimizer"] = c_.optimizer;
  j["dataset"] = c_.dataset;
  j["model"] = c_.model;
  j["seed"] = c_.seed;
  j["epochs_completed"] = st_.epoch;
  j["steps"] = st_.step;
  j["final_test_accuracy"] = st_.last_test;
  j["best_test_accuracy"] = st_.best_test;
  if (s_.val_loader) {
    j["final_val_accuracy"] = st_.last_val;
    j["best_val_accuracy"] = st_.best_val;
  }
  j["wall_time_s"] = elapsed;
  j["train_images_per_s"] = elapsed > 0 ? static_cast<double>(st_.step * c_.batch_size * s_.world) / elapsed : 0.0;
  j["world_size"] = s_.world;
  if (s_.comm) {
    j["aggregation"] = c_.aggregation;
    const double steps = static_cast<double>(std::max<int64_t>(1, st_.step - first_step_));
    j["bytes_sent_per_step"] = static_cast<double>(step_bytes_sent_) / steps; // rank 0, this process's steps
    j["bytes_received_per_step"] = static_cast<double>(step_bytes_received_) / steps;
    j["comm_seconds_per_step"] = comm_seconds_ / steps;
  }
  j["data_time_fraction"] = elapsed > 0 ? data_seconds / elapsed : 0.0;
  j["parameters"] = models::count_parameters(*s_.model);
  if (s_.optimizer.hybrid) {
    j["switch_step"] = s_.optimizer.hybrid->switch_step();
    j["calibrated_lr"] = s_.optimizer.hybrid->calibrated_lr();
    // Each estimator's Lbar at the last calibrating step (the switch, unless --track-after-switch).
    const CalibrationBank& bank = s_.optimizer.hybrid->calibration_bank();
    if (bank.active()) {
      json estimates = json::object();
      for (const CalibrationEstimator e : kEstimators)
        estimates[to_string(e)] = bank.at(e).smoothed();
      j["calibration_estimates"] = estimates;
    }
  }
  if (s_.optimizer.signopt)
    j["skipped_steps"] = s_.optimizer.signopt->skipped_steps();
  j["signopt_version"] = SIGNOPT_VERSION_STRING;
  io::write_file_atomic(dir_ / "summary.json", j.dump(2) + "\n");
}

void Run::finish(RunOutcome& outcome, double elapsed, double data_seconds) {
  try {
    write_summary(outcome, elapsed, data_seconds);
    close_files();
  } catch (const std::exception& e) {
    const std::string why = std::string("cannot finish ") + dir_.string() + ": " + e.what();
    outcome.error = outcome.status == RunStatus::Failed ? outcome.error + "; then " + why : why;
    outcome.status = RunStatus::Failed;
    outcome.final_test_accuracy = outcome.best_test_accuracy = 0;
    try {
      write_summary(outcome, elapsed, data_seconds); // may work once the checkpoint's space is free
    } catch (const std::exception&) {
    }
  }
}

} // namespace signopt::train::detail
