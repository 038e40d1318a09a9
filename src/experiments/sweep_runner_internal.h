// Internal: the sweep runner shared by sweep_runner.cpp (planning, starting and finishing the runs) and
// sweep_status.cpp (the status line, the events, sweep.json and the plan it prints).
#pragma once

#include <signopt/experiments/sweep.h>
#include <signopt/report/process.h>

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace signopt::experiments::detail {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// A duration as "1h02m" or "3m07s"; "?" when it is negative or not finite.
std::string format_duration(double seconds);

// The local time as 2024-05-01T12:34:56.
std::string now_text();

struct Job {
  SweepRun run;
  fs::path dir;
  std::string action; // skip | start | resume | rerun | restart
  std::string note; // why, for the message
  std::string state = "pending"; // pending | running | completed | failed | interrupted
  std::vector<std::string> args;
  pid_t pid = -1;
  Clock::time_point started;
  double seconds = 0;
  fs::path pending_log; // a new run's log until its directory exists
  int exit_status = -1;
  std::string error;
  std::optional<double> final_test, final_val, best_val;
  double wall_time_s = 0;
};

class Runner {
 public:
  Runner(const SweepOptions& options, const SweepSpec& spec, std::ostream& out);

  int run();

 private:
  fs::path stage_dir(const std::string& stage) const {
    return stage.empty() ? out_dir_ : out_dir_ / stage;
  }
  std::vector<Job> plan(std::vector<SweepRun> runs);
  std::string threads_text() const;
  void print_plan(const std::vector<Job>& jobs) const;
  void print_dry_run(size_t first_count);
  int lock_out_dir() const;
  bool run_final_stage(size_t first_count);
  int finish_sweep(bool finished);
  bool execute(size_t first, size_t last); // false when interrupted
  void launch(Job& job);
  void finish(Job& job, const report::ProcessExit& exit);
  void adopt_log(Job& job);
  void event(const std::string& line, bool with_counters = true);
  void draw_status();
  std::string counters() const;
  void write_state(const std::string& status);
  void warn_strays(const std::string& stage, const std::vector<Job>& jobs, bool move);
  std::map<std::string, std::optional<double>> selection_metrics(size_t first, size_t last) const;

  const SweepOptions& options_;
  const SweepSpec& spec_;
  std::ostream& out_;
  fs::path out_dir_;
  std::string binary_;
  int threads_ = 1;
  bool bar_ = false;
  bool status_drawn_ = false;
  std::vector<Job> jobs_;
  size_t stage_first_ = 0, stage_last_ = 0; // the jobs of the stage being run
  std::vector<double> durations_; // of runs completed by this sweep process
  std::vector<SelectionChoice> choices_;
  int forwarded_signals_ = 0;
};

} // namespace signopt::experiments::detail
