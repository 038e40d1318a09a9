// The sweep's account of itself: the plan it prints, the status line and event lines on the terminal,
// sweep.json, run directories that are not part of the sweep, and the metrics the selection reads.
#include <signopt/experiments/sweep.h>
#include <signopt/io/files.h>
#include <signopt/report/runs.h>

#include "sweep_runner_internal.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <set>
#include <string>

namespace signopt::experiments {
using namespace signopt::report; // run directories
namespace detail {
namespace {

using ojson = nlohmann::ordered_json;

} // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0)
    return "?";
  const long s = std::lround(seconds);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s / 60) % 60);
  else
    std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  return buf;
}

std::string now_text() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", std::localtime(&t));
  return buf;
}

void Runner::print_plan(const std::vector<Job>& jobs) const {
  for (const auto& job : jobs) {
    out_ << "  " << job.action << std::string(job.action.size() < 8 ? 8 - job.action.size() : 1, ' ')
         << job.dir.string();
    if (!job.note.empty())
      out_ << "  (" << job.note << ")";
    out_ << "\n";
    if (job.action != "skip") {
      out_ << "          " << binary_ << " train";
      const auto args =
          job.action == "resume" ? resume_train_args(job.dir.string()) : job.run.train_args(job.dir.string(), threads_);
      for (const auto& a : args)
        out_ << " " << a;
      out_ << "\n";
    }
  }
}

std::string Runner::counters() const {
  int done = 0, running = 0, failed = 0, pending = 0, interrupted = 0;
  std::vector<double> remaining_running;
  for (size_t i = stage_first_; i < stage_last_; ++i) {
    const auto& j = jobs_[i];
    if (j.state == "completed")
      ++done;
    else if (j.state == "running")
      ++running;
    else if (j.state == "failed")
      ++failed;
    else if (j.state == "interrupted")
      ++interrupted;
    else
      ++pending;
  }
  const size_t total = stage_last_ - stage_first_;
  std::string s = std::to_string(done) + "/" + std::to_string(total) + " done, " + std::to_string(running) +
      " running, " + std::to_string(failed) + " failed";
  if (interrupted)
    s += ", " + std::to_string(interrupted) + " interrupted";
  s += ", " + std::to_string(pending) + " waiting";
  // ETA: the mean duration of the runs this sweep finished (else the completed runs' own wall times).
  double mean = 0;
  if (!durations_.empty()) {
    for (const double d : durations_)
      mean += d;
    mean /= static_cast<double>(durations_.size());
  } else {
    int n = 0;
    for (size_t i = stage_first_; i < stage_last_; ++i)
      if (jobs_[i].action == "skip" && jobs_[i].wall_time_s > 0) {
        mean += jobs_[i].wall_time_s;
        ++n;
      }
    mean = n ? mean / n : 0;
  }
  if (mean > 0 && (pending || running)) {
    double work = pending * mean;
    const auto now = Clock::now();
    for (size_t i = stage_first_; i < stage_last_; ++i)
      if (jobs_[i].state == "running")
        work += std::max(0.1 * mean, mean - std::chrono::duration<double>(now - jobs_[i].started).count());
    s += ", ETA " + format_duration(work / std::max(1, std::min(options_.jobs, pending + running)));
  } else if (pending || running) {
    s += ", ETA ?";
  }
  if (!spec_.select || jobs_[stage_first_].run.stage.empty())
    return s;
  return jobs_[stage_first_].run.stage + " stage: " + s;
}

void Runner::draw_status() {
  if (!bar_)
    return;
  std::fprintf(stderr, "\r\033[K[sweep] %s", counters().c_str());
  std::fflush(stderr);
  status_drawn_ = true;
}

void Runner::event(const std::string& line, bool with_counters) {
  if (status_drawn_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    status_drawn_ = false;
  }
  out_ << "[sweep] " << line;
  if (!bar_ && with_counters)
    out_ << "  (" << counters() << ")";
  out_ << std::endl;
  draw_status();
}

void Runner::write_state(const std::string& status) {
  ojson j;
  j["sweep_file"] = options_.config_file;
  j["out"] = out_dir_.string();
  j["status"] = status;
  j["updated"] = now_text();
  j["jobs"] = options_.jobs;
  j["threads_per_run"] = threads_;
  ojson counts = {
      {"total", jobs_.size()}, {"completed", 0}, {"running", 0}, {"failed", 0}, {"interrupted", 0}, {"pending", 0}};
  for (const auto& job : jobs_)
    counts[job.state] = counts[job.state].get<int>() + 1;
  j["counts"] = counts;
  if (spec_.select) {
    j["selection"] = {{"metric", spec_.select->metric}, {"axes", spec_.select->axes}, {"choices", ojson::array()}};
    for (const auto& c : choices_) {
      ojson chosen = ojson::object();
      for (const auto& [k, v] : c.chosen)
        chosen[k] = v;
      j["selection"]["choices"].push_back(
          {{"group", c.group},
           {"chosen", chosen},
           {"mean", c.chosen.empty() ? ojson() : ojson(c.mean)},
           {"candidates", c.notes}});
    }
  }
  j["runs"] = ojson::array();
  for (const auto& job : jobs_) {
    ojson r;
    r["name"] = job.run.name;
    if (!job.run.stage.empty())
      r["stage"] = job.run.stage;
    r["dir"] = job.dir.string();
    r["state"] = job.state;
    r["action"] = job.action;
    ojson values = ojson::object();
    for (const auto& [k, v] : job.run.axis_values)
      values[k] = v;
    r["values"] = values;
    r["train_args"] =
        job.action == "resume" ? resume_train_args(job.dir.string()) : job.run.train_args(job.dir.string(), threads_);
    if (job.exit_status >= 0)
      r["exit_status"] = job.exit_status;
    if (!job.error.empty())
      r["error"] = job.error;
    if (job.state == "completed") {
      r["wall_time_s"] = job.wall_time_s;
      if (job.final_test)
        r["final_test_accuracy"] = *job.final_test;
      if (job.final_val)
        r["final_val_accuracy"] = *job.final_val;
    }
    j["runs"].push_back(r);
  }
  io::write_file_atomic(out_dir_ / "sweep.json", j.dump(2) + "\n");
}

void Runner::warn_strays(const std::string& stage, const std::vector<Job>& jobs, bool move) {
  const fs::path dir = stage_dir(stage);
  if (!fs::is_directory(dir))
    return;
  std::set<std::string> planned;
  for (const auto& j : jobs)
    planned.insert(j.run.name);
  std::vector<std::string> strays;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (!e.is_directory() || name.empty() || name[0] == '.' || planned.count(name) || (stage.empty() && spec_.select))
      continue;
    if (!fs::exists(e.path() / "config.json"))
      continue;
    if (move) {
      // A final run of an earlier selection: not part of the current choice.
      const fs::path target = dir / ".attempts" / (name + ".superseded");
      std::error_code ec;
      fs::create_directories(target.parent_path(), ec);
      fs::remove_all(target, ec);
      fs::rename(e.path(), target, ec);
      strays.push_back(name + " (moved to " + target.string() + ")");
    } else {
      strays.push_back(name);
    }
  }
  if (strays.empty())
    return;
  std::string text;
  for (const auto& s : strays)
    text += (text.empty() ? "" : ", ") + s;
  event(
      move ? "final runs of an earlier selection are no longer chosen: " + text
           : "note: " + dir.string() +
              " also holds runs that are not in this sweep (a report of the folder counts "
              "them): " +
              text);
}

std::map<std::string, std::optional<double>> Runner::selection_metrics(size_t first, size_t last) const {
  std::map<std::string, std::optional<double>> metrics;
  for (size_t i = first; i < last; ++i) {
    const Job& job = jobs_[i];
    if (job.state != "completed") {
      metrics[job.run.name] = std::nullopt;
      continue;
    }
    const RunRecord r = read_run(job.dir.string());
    metrics[job.run.name] = spec_.select->metric == "best_val_accuracy" ? r.best_val_accuracy : r.final_val_accuracy;
  }
  return metrics;
}

// The threads the planned runs start with, read from the arguments SweepRun::train_args gives them (the sweep
// file's `threads`, else cores / jobs). Resumed runs keep the count of their config.json and skipped ones start
// nothing, so neither is counted.
std::string Runner::threads_text() const {
  std::set<int64_t> counts;
  for (const auto& job : jobs_) {
    if (job.action == "resume" || job.action == "skip")
      continue;
    const auto args = job.run.train_args("", threads_);
    const auto flag = std::find(args.begin(), args.end(), "--threads");
    if (flag != args.end() && std::next(flag) != args.end())
      counts.insert(std::stoll(*std::next(flag)));
  }
  if (counts.empty())
    counts.insert(threads_);
  const int64_t low = *counts.begin(), high = *counts.rbegin();
  const std::string range = low == high ? std::to_string(low) : std::to_string(low) + "-" + std::to_string(high);
  return range + (high == 1 ? " thread" : " threads");
}

} // namespace detail
} // namespace signopt::experiments
