// Running a sweep: the state of each run directory on disk decides what happens (skip, start,
// resume, rerun), children run N at a time in their own process groups, Ctrl-C is forwarded once
// so every child checkpoints, and sweep.json records where everything stands (the status line, the
// events and sweep.json are written by sweep_status.cpp).
#include <signopt/io/files.h>
#include <signopt/report/process.h>
#include <signopt/report/runs.h>
#include <signopt/experiments/sweep.h>

#include <signopt/train/config.h>

#include <nlohmann/json.hpp>

#include "sweep_runner_internal.h"

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

namespace signopt::experiments {
using namespace signopt::report; // run directories, child processes, statistics
namespace fs = std::filesystem;
namespace {

using train::ConfigError;

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

// The last "error: ..." line a run printed (its stderr is in the log).
std::string last_error_line(const fs::path& log) {
  std::istringstream in(io::read_file_if_present(log, io::kMaxTextFileBytes).value_or(""));
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
    have = flat(io::read_file_if_present(dir / "config.json", io::kMaxTextFileBytes).value_or(""));
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

} // namespace

namespace detail {

Runner::Runner(const SweepOptions& options, const SweepSpec& spec, std::ostream& out)
    : options_(options), spec_(spec), out_(out) {
  out_dir_ =
      options.out_dir.empty() ? fs::path("runs") / fs::path(options.config_file).stem() : fs::path(options.out_dir);
  binary_ = options.binary.empty() ? fs::read_symlink("/proc/self/exe").string() : options.binary;
  const int cores = options.cores > 0 ? options.cores : usable_cores();
  threads_ = static_cast<int>(std::min<int64_t>(train::kMaxThreads, std::max(1, cores / std::max(1, options.jobs))));
  bar_ = options.progress == "bar" || (options.progress == "auto" && ::isatty(STDERR_FILENO));
}

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

int Runner::run() {
  auto first = expand_sweep(spec_);
  validate_runs(spec_, first);
  jobs_ = plan(std::move(first));
  const size_t first_count = jobs_.size();
  out_ << "[sweep] " << spec_.file << ": " << first_count << (spec_.select ? " selection" : "") << " runs, "
       << options_.jobs << " at a time with " << threads_text() << " each, in " << out_dir_.string() << std::endl;
  if (options_.dry_run) {
    print_dry_run(first_count);
    return 0;
  }
  std::error_code ec;
  fs::create_directories(out_dir_, ec);
  if (ec)
    throw ConfigError("cannot create the sweep folder " + out_dir_.string() + ": " + ec.message());
  const int lock = lock_out_dir();
  struct LockGuard {
    int fd;
    ~LockGuard() {
      ::close(fd);
    }
  } lock_guard{lock};
  warn_strays("", jobs_, false);
  SignalGuard guard;
  bool finished = execute(0, first_count);
  if (finished && spec_.select)
    finished = run_final_stage(first_count);
  return finish_sweep(finished);
}

// --dry-run: the plan, and with a selection either what comes next or (all selection runs done) the choice
// and the final runs.
void Runner::print_dry_run(size_t first_count) {
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
}

// Two sweeps in one folder would start the same runs twice: the second one stops here. Returns the lock's
// file descriptor.
int Runner::lock_out_dir() const {
  const fs::path lock_path = out_dir_ / ".lock";
  const int lock = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock < 0 || ::flock(lock, LOCK_EX | LOCK_NB) != 0) {
    if (lock >= 0)
      ::close(lock);
    throw ConfigError(
        "another `signopt sweep` is running in " + out_dir_.string() + " (it holds " + lock_path.string() +
        "); wait for it or stop it first");
  }
  return lock;
}

// After the selection stage: choose each group's final runs from the selection metrics, announce the choice
// and run them. False when interrupted.
bool Runner::run_final_stage(size_t first_count) {
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
  return execute(first_count, jobs_.size());
}

// The end of the sweep: sweep.json's final status, the summary line and the exit status (0 completed,
// 1 failed, 130 interrupted).
int Runner::finish_sweep(bool finished) {
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

} // namespace detail

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
  detail::Runner runner(options, spec, out);
  return runner.run();
}

} // namespace signopt::experiments
