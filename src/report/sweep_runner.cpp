// Running a sweep: the state of each run directory on disk decides what happens (skip, start,
// resume, rerun), children run N at a time in their own process groups, Ctrl-C is forwarded once
// so every child checkpoints, and sweep.json records where everything stands.
#include <signopt/report/process.h>
#include <signopt/report/runs.h>
#include <signopt/report/sweep.h>

#include "../train/durable_files.h"
#include <signopt/train/config.h>

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sched.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <set>
#include <sstream>
#include <thread>

namespace signopt::report {
namespace fs = std::filesystem;
namespace {

using train::ConfigError;
using ojson = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

std::atomic<int> g_signals{0};

extern "C" void on_sweep_signal(int) {
  g_signals.fetch_add(1);
}

// Installs the sweep's SIGINT/SIGTERM handler for its lifetime and restores the previous ones.
class SignalGuard {
 public:
  SignalGuard() {
    g_signals.store(0);
    struct sigaction sa {};
    sa.sa_handler = on_sweep_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~SignalGuard() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

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

// The last "error: ..." line a run printed (its stderr is in the log).
std::string last_error_line(const fs::path& log) {
  std::istringstream in(signopt::train::detail::read_file_if_present(log));
  std::string line, last;
  while (std::getline(in, line))
    if (line.rfind("error: ", 0) == 0)
      last = line.substr(7);
  return last;
}

int usable_cores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

// What a run directory holds.
enum class DiskState { Absent, Completed, Resumable, Failed, NoCheckpoint, LogOnly, Foreign };

struct Inspection {
  DiskState state = DiskState::Absent;
  std::string detail; // failed: the error; resumable: where it stopped
  RunRecord record;
};

Inspection inspect(const fs::path& dir) {
  Inspection in;
  if (!fs::exists(dir))
    return in;
  if (!fs::is_directory(dir)) {
    in.state = DiskState::Foreign;
    return in;
  }
  if (!fs::exists(dir / "config.json")) {
    bool only_log = true, empty = true;
    for (const auto& e : fs::directory_iterator(dir)) {
      empty = false;
      only_log = only_log && e.path().filename() == "train.log";
    }
    in.state = empty ? DiskState::Absent : only_log ? DiskState::LogOnly : DiskState::Foreign;
    if (in.state == DiskState::LogOnly)
      in.detail = last_error_line(dir / "train.log");
    return in;
  }
  in.record = read_run(dir.string());
  const auto& r = in.record;
  if (r.status == "completed") {
    in.state = DiskState::Completed;
  } else if (r.status == "failed") {
    in.state = DiskState::Failed;
    in.detail = r.error;
  } else if (fs::exists(dir / "checkpoint.pt")) {
    in.state = DiskState::Resumable;
    in.detail = r.status == "interrupted" ? "interrupted at step " + std::to_string(r.steps)
                                          : "stopped without a summary (killed?)";
  } else {
    in.state = DiskState::NoCheckpoint;
  }
  return in;
}

// Differences between a run directory's config.json and what the sweep asks for (semantic keys
// and the seed), as "key: X there, Y in the sweep".
std::vector<std::string> config_differences(const fs::path& dir, const std::string& expected_json) {
  auto flat = [](const std::string& text) {
    std::map<std::string, std::string> out;
    const auto object = nlohmann::json::parse(text); // items() must not outlive the parsed object
    for (const auto& [k, v] : object.items())
      out[k] = v.dump();
    return out;
  };
  std::map<std::string, std::string> have, want;
  try {
    have = flat(signopt::train::detail::read_file_if_present(dir / "config.json"));
  } catch (const std::exception& e) {
    return {"config.json is unreadable (" + std::string(e.what()) + ")"};
  }
  want = flat(expected_json);
  auto a = semantic_config(have), b = semantic_config(want);
  a["seed"] = have["seed"];
  b["seed"] = want["seed"];
  std::vector<std::string> diffs;
  for (const auto& [key, value] : b) {
    const auto it = a.find(key);
    const std::string there = it == a.end() ? "(missing)" : it->second;
    if (there != value)
      diffs.push_back(key + ": " + there + " there, " + value + " in the sweep");
  }
  return diffs;
}

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
  Runner(const SweepOptions& options, const SweepSpec& spec, std::ostream& out)
      : options_(options), spec_(spec), out_(out) {
    out_dir_ =
        options.out_dir.empty() ? fs::path("runs") / fs::path(options.config_file).stem() : fs::path(options.out_dir);
    binary_ = options.binary.empty() ? fs::read_symlink("/proc/self/exe").string() : options.binary;
    const int cores = options.cores > 0 ? options.cores : usable_cores();
    threads_ = static_cast<int>(std::min<int64_t>(train::kMaxThreads, std::max(1, cores / std::max(1, options.jobs))));
    bar_ = options.progress == "bar" || (options.progress == "auto" && ::isatty(STDERR_FILENO));
  }

  int run();

 private:
  fs::path stage_dir(const std::string& stage) const {
    return stage.empty() ? out_dir_ : out_dir_ / stage;
  }
  std::vector<Job> plan(std::vector<SweepRun> runs);
  std::string threads_text() const;
  void print_plan(const std::vector<Job>& jobs) const;
  bool execute(size_t first, size_t last); // false when interrupted
  void launch(Job& job);
  void finish(Job& job, const ProcessExit& exit);
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

std::vector<Job> Runner::plan(std::vector<SweepRun> runs) {
  std::vector<Job> jobs;
  std::vector<std::string> problems;
  for (auto& run : runs) {
    Job job;
    job.dir = stage_dir(run.stage) / run.name;
    job.run = std::move(run);
    const Inspection in = inspect(job.dir);
    switch (in.state) {
      case DiskState::Absent:
        job.action = "start";
        break;
      case DiskState::Completed:
      case DiskState::Resumable: {
        const auto diffs = config_differences(job.dir, job.run.config_json);
        if (!diffs.empty()) {
          std::string list;
          for (size_t i = 0; i < diffs.size() && i < 4; ++i)
            list += (i ? "; " : "") + diffs[i];
          problems.push_back(
              job.dir.string() + " holds a run with another configuration (" + list +
              (diffs.size() > 4 ? "; ..." : "") + ")");
        }
        if (in.state == DiskState::Completed) {
          job.action = "skip";
          job.state = "completed";
          job.final_test = in.record.final_test_accuracy;
          job.final_val = in.record.final_val_accuracy;
          job.best_val = in.record.best_val_accuracy;
          job.wall_time_s = in.record.wall_time_s;
        } else {
          job.action = "resume";
          job.note = in.detail;
        }
        break;
      }
      case DiskState::Failed:
        job.action = "rerun";
        job.note = "the previous attempt failed: " + in.detail;
        break;
      case DiskState::NoCheckpoint:
        job.action = "restart";
        job.note = "the previous attempt stopped before its first checkpoint";
        break;
      case DiskState::LogOnly:
        job.action = "rerun";
        job.note = "the previous attempt failed before it started" + (in.detail.empty() ? "" : ": " + in.detail);
        break;
      case DiskState::Foreign:
        problems.push_back(job.dir.string() + " exists but is not a signopt run directory (no config.json)");
        break;
    }
    jobs.push_back(std::move(job));
  }
  if (!problems.empty()) {
    std::string text = "the sweep cannot use these directories:";
    for (const auto& p : problems)
      text += "\n  " + p;
    text += "\nmove them away, or choose another folder with --out";
    throw ConfigError(text);
  }
  return jobs;
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
  train::detail::write_file_atomic(out_dir_ / "sweep.json", j.dump(2) + "\n");
}

void Runner::adopt_log(Job& job) {
  // A new run's log waits outside the run directory (`signopt train` wants that empty) and moves in
  // once the run has created it; the child keeps writing to the same file.
  if (job.pending_log.empty())
    return;
  if (fs::exists(job.dir / "config.json") || job.state != "running") {
    std::error_code ec;
    fs::create_directories(job.dir, ec);
    fs::rename(job.pending_log, job.dir / "train.log", ec);
    if (!ec)
      job.pending_log.clear();
  }
}

void Runner::launch(Job& job) {
  ProcessSpec spec;
  spec.program = binary_;
  spec.own_process_group = true;
  spec.terminate_with_parent = true;
  std::error_code ec;
  if (job.action == "rerun" || job.action == "restart") {
    // Keep the previous attempt for a post-mortem, out of the report's way (hidden folder).
    const fs::path attempts = stage_dir(job.run.stage) / ".attempts";
    fs::create_directories(attempts, ec);
    fs::path target;
    for (int k = 1;; ++k) {
      target = attempts / (job.run.name + "." + std::to_string(k));
      if (!fs::exists(target))
        break;
    }
    fs::rename(job.dir, target, ec);
    if (ec)
      throw std::runtime_error("cannot move " + job.dir.string() + " to " + target.string() + ": " + ec.message());
    job.note += " (kept in " + target.string() + ")";
  }
  if (job.action == "resume") {
    // A sweep killed before it moved a new run's log into place left it in .logs/.
    const fs::path stray_log = stage_dir(job.run.stage) / ".logs" / (job.run.name + ".log");
    if (fs::exists(stray_log) && !fs::exists(job.dir / "train.log"))
      fs::rename(stray_log, job.dir / "train.log", ec);
    // No --threads: the run keeps the thread count its config.json recorded when it started (the file's
    // threads, or cores / jobs of that sweep), so its results do not depend on this sweep's --jobs.
    job.args = resume_train_args(job.dir.string());
    job.args.insert(job.args.begin(), "train");
    spec.log_file = (job.dir / "train.log").string();
    spec.append_log = true;
    std::ofstream(spec.log_file, std::ios::app)
        << "\n---- signopt sweep " << now_text() << ": resuming (" << job.note << ") ----\n";
  } else {
    job.args = job.run.train_args(job.dir.string(), threads_);
    job.args.insert(job.args.begin(), "train");
    const fs::path logs = stage_dir(job.run.stage) / ".logs";
    fs::create_directories(logs, ec);
    job.pending_log = logs / (job.run.name + ".log");
    spec.log_file = job.pending_log.string();
  }
  spec.args = job.args;
  job.pid = start_process(spec);
  job.state = "running";
  job.started = Clock::now();
  if (job.action == "start") {
    if (!bar_) // on a terminal the status line counts the running runs
      event("start " + job.run.name);
  } else
    event(job.action + " " + job.run.name + (job.note.empty() ? "" : ": " + job.note));
}

void Runner::finish(Job& job, const ProcessExit& exit) {
  job.seconds = std::chrono::duration<double>(Clock::now() - job.started).count();
  job.exit_status = exit.code;
  job.pid = -1;
  job.state = "finishing";
  adopt_log(job);
  const fs::path log = job.pending_log.empty() ? job.dir / "train.log" : job.pending_log;
  const RunRecord record = fs::exists(job.dir / "config.json") ? read_run(job.dir.string()) : RunRecord{};
  if (exit.code == 0 && record.status == "completed") {
    job.state = "completed";
    job.final_test = record.final_test_accuracy;
    job.final_val = record.final_val_accuracy;
    job.best_val = record.best_val_accuracy;
    job.wall_time_s = record.wall_time_s;
    durations_.push_back(job.seconds);
    char buf[96];
    std::snprintf(buf, sizeof buf, ": final test accuracy %.2f%%", record.final_test_accuracy);
    std::string line = "done " + job.run.name + " in " + format_duration(job.seconds) + buf;
    if (record.final_val_accuracy) {
      std::snprintf(buf, sizeof buf, ", validation %.2f%%", *record.final_val_accuracy);
      line += buf;
    }
    event(line);
    return;
  }
  // A child stopped by the forwarded SIGINT; one that had not installed its handler yet dies of it.
  if ((exit.code == 130 && record.status == "interrupted") || (forwarded_signals_ > 0 && exit.signaled)) {
    job.state = "interrupted";
    event("interrupted " + job.run.name + " (checkpoint saved; the next `signopt sweep` resumes it)");
    return;
  }
  job.state = "failed";
  if (record.status == "failed" && !record.error.empty())
    job.error = record.error;
  else if (const auto line = last_error_line(log); !line.empty())
    job.error = line;
  else if (exit.signaled)
    job.error = "killed by signal " + std::to_string(exit.signal) + (exit.signal == SIGKILL ? " (out of memory?)" : "");
  else if (exit.code == 0)
    job.error = "exited with status 0 but summary.json says '" + record.status + "'";
  else
    job.error = "exited with status " + std::to_string(exit.code);
  if (job.action == "resume" && exit.code == 2) // e.g. a corrupt checkpoint: resuming again would fail again
    job.error += " (the run cannot be resumed; move " + job.dir.string() + " away to start it afresh)";
  event("FAILED " + job.run.name + ": " + job.error + " (log: " + log.string() + ")");
}

bool Runner::execute(size_t first, size_t last) {
  stage_first_ = first;
  stage_last_ = last;
  std::vector<size_t> queue;
  int skipped = 0;
  for (size_t i = first; i < last; ++i) {
    if (jobs_[i].action == "skip")
      ++skipped;
    else
      queue.push_back(i);
  }
  if (skipped)
    event(std::to_string(skipped) + " of " + std::to_string(last - first) + " runs already completed; skipping them");
  write_state("running");
  size_t next = 0;
  auto last_draw = Clock::now();
  while (true) {
    const int signals = g_signals.load();
    if (signals > forwarded_signals_) {
      forwarded_signals_ = signals;
      int running = 0;
      for (size_t i = first; i < last; ++i)
        if (jobs_[i].state == "running") {
          // One SIGINT: checkpoint and stop at the next step; a second: stop at once; then SIGKILL.
          ::kill(jobs_[i].pid, signals >= 3 ? SIGKILL : SIGINT);
          ++running;
        }
      event(
          signals == 1 ? "interrupted: asking " + std::to_string(running) +
                  " running run(s) to checkpoint and stop (press Ctrl-C again to stop them at once)"
                       : "stopping the running runs now");
    }
    const bool stopping = forwarded_signals_ > 0;
    int running = 0;
    for (size_t i = first; i < last; ++i) {
      Job& job = jobs_[i];
      if (job.state != "running")
        continue;
      if (const auto exit = poll_process(job.pid)) {
        finish(job, *exit);
        write_state(stopping ? "interrupted" : "running");
      } else {
        adopt_log(job);
        ++running;
      }
    }
    while (!stopping && next < queue.size() && running < options_.jobs) {
      Job& job = jobs_[queue[next++]];
      try {
        launch(job);
        ++running;
      } catch (const std::exception& e) {
        job.state = "failed";
        job.error = e.what();
        event("FAILED " + job.run.name + ": " + job.error);
      }
      write_state("running");
    }
    if (running == 0 && (stopping || next >= queue.size()))
      break;
    if (bar_ && Clock::now() - last_draw > std::chrono::seconds(1)) {
      draw_status();
      last_draw = Clock::now();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (status_drawn_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    status_drawn_ = false;
  }
  return forwarded_signals_ == 0;
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

int Runner::run() {
  auto first = expand_sweep(spec_);
  validate_runs(spec_, first);
  jobs_ = plan(std::move(first));
  const size_t first_count = jobs_.size();
  out_ << "[sweep] " << spec_.file << ": " << first_count << (spec_.select ? " selection" : "") << " runs, "
       << options_.jobs << " at a time with " << threads_text() << " each, in " << out_dir_.string() << std::endl;
  if (options_.dry_run) {
    print_plan(jobs_);
    if (spec_.select) {
      bool all_done = std::all_of(jobs_.begin(), jobs_.end(), [](const Job& j) { return j.state == "completed"; });
      if (!all_done) {
        out_ << "then: the final runs of each optimizer's best " << spec_.select->axes.front() << " (chosen on "
             << spec_.select->metric << " once the selection runs have completed)\n";
      } else {
        std::vector<SweepRun> selection_runs;
        for (const auto& j : jobs_)
          selection_runs.push_back(j.run);
        auto chosen = select_final_runs(spec_, selection_runs, selection_metrics(0, first_count));
        validate_runs(spec_, chosen.second);
        for (const auto& c : chosen.first) {
          out_ << "selected for " << (c.group.empty() ? "the sweep" : c.group) << ":";
          for (const auto& [k, v] : c.chosen)
            out_ << " " << k << " " << v;
          out_ << "\n";
        }
        print_plan(plan(std::move(chosen.second)));
      }
    }
    return 0;
  }
  std::error_code ec;
  fs::create_directories(out_dir_, ec);
  if (ec)
    throw ConfigError("cannot create the sweep folder " + out_dir_.string() + ": " + ec.message());
  // Two sweeps in one folder would start the same runs twice: the second one stops here.
  const fs::path lock_path = out_dir_ / ".lock";
  const int lock = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock < 0 || ::flock(lock, LOCK_EX | LOCK_NB) != 0) {
    if (lock >= 0)
      ::close(lock);
    throw ConfigError(
        "another `signopt sweep` is running in " + out_dir_.string() + " (it holds " + lock_path.string() +
        "); wait for it or stop it first");
  }
  struct LockGuard {
    int fd;
    ~LockGuard() {
      ::close(fd);
    }
  } lock_guard{lock};
  warn_strays("", jobs_, false);
  SignalGuard guard;
  bool finished = execute(0, first_count);
  if (finished && spec_.select) {
    std::vector<SweepRun> selection_runs;
    for (size_t i = 0; i < first_count; ++i)
      selection_runs.push_back(jobs_[i].run);
    auto chosen = select_final_runs(spec_, selection_runs, selection_metrics(0, first_count));
    choices_ = chosen.first;
    validate_runs(spec_, chosen.second);
    for (const auto& c : choices_) {
      std::string line = "selection for " + (c.group.empty() ? std::string("the sweep") : c.group) + ":";
      if (c.chosen.empty())
        line += " nothing qualifies (no candidate completed all its runs); no final runs";
      for (const auto& [k, v] : c.chosen)
        line += " " + k + " " + v;
      if (!c.chosen.empty()) {
        char buf[64];
        std::snprintf(buf, sizeof buf, " (mean %s %.3f)", spec_.select->metric.c_str(), c.mean);
        line += buf;
      }
      event(line);
    }
    auto finals = plan(std::move(chosen.second));
    warn_strays("final", finals, true);
    for (auto& j : finals)
      jobs_.push_back(std::move(j));
    finished = execute(first_count, jobs_.size());
  }
  int completed = 0, failed = 0, interrupted = 0, pending = 0;
  std::string failures;
  for (const auto& j : jobs_) {
    if (j.state == "completed")
      ++completed;
    else if (j.state == "failed") {
      ++failed;
      failures += "\n  " + j.run.name + ": " + j.error;
    } else if (j.state == "interrupted")
      ++interrupted;
    else
      ++pending;
  }
  // New runs' logs wait in .logs/ until their directory exists; drop the folder once it is empty.
  for (const std::string stage : {"", "select", "final"}) {
    std::error_code ec;
    if (fs::is_directory(stage_dir(stage) / ".logs", ec) && fs::is_empty(stage_dir(stage) / ".logs", ec))
      fs::remove(stage_dir(stage) / ".logs", ec);
  }
  const std::string status = !finished ? "interrupted" : failed || interrupted ? "failed" : "completed";
  write_state(status);
  const std::string rerun = "`signopt sweep " + options_.config_file + " --out " + out_dir_.string() + "`";
  std::string summary = status == "completed" ? "finished" : status;
  summary += ": " + std::to_string(completed) + " completed, " + std::to_string(failed) + " failed, " +
      std::to_string(interrupted) + " interrupted, " + std::to_string(pending) + " not started; " +
      (out_dir_ / "sweep.json").string() + " lists them";
  if (failed)
    summary += "\nfailed runs:" + failures;
  if (status != "completed")
    summary += "\n" + rerun + " continues: completed runs are skipped, interrupted ones resumed, failed ones rerun";
  else
    summary += "\ntables and plots: `signopt report " + out_dir_.string() + "`";
  event(summary, false);
  if (!finished)
    return 130;
  return status == "completed" ? 0 : 1;
}

} // namespace

std::vector<std::string> resume_train_args(const std::string& run_dir) {
  return {"--resume", run_dir};
}

int run_sweep(const SweepOptions& options, std::ostream& out) {
  if (options.jobs < 1 || options.jobs > kMaxSweepJobs)
    throw ConfigError(
        "--jobs must be in 1.." + std::to_string(kMaxSweepJobs) + " (each run at once is a process with its own model "
        "and data; more exhaust memory and process limits), got " + std::to_string(options.jobs));
  if (options.progress != "auto" && options.progress != "bar" && options.progress != "lines")
    throw ConfigError("--progress " + options.progress + ": expected auto, bar or lines");
  const SweepSpec spec = load_sweep(options.config_file);
  Runner runner(options, spec, out);
  return runner.run();
}

} // namespace signopt::report
