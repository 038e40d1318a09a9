// Runs that can be trusted under crashes, full disks and tampering: SIGKILL at random steps (also while a
// checkpoint is written and during the final evaluation) then --resume must end exactly where an
// uninterrupted run ends, on one process and on 2 workers; damaged, foreign or edited checkpoints are refused
// or replaced by the one before; a full disk is a named failure that leaves nothing half-written.
#include <signopt/io/checkpoint_file.h>
#include <signopt/io/files.h>
#include <signopt/train/config.h>
#include <signopt/train/trainer.h>

#include <gtest/gtest.h>

#include "support/multiprocess.h"
#include "support/temp_dirs.h"
#include <nlohmann/json.hpp>

#include <sys/mount.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace fs = std::filesystem;
using namespace signopt::train;
using signopt::test::RankOutcome;
using signopt::test::read_file;

namespace {

const std::string kPrefix = "signopt_test_train_crash";
auto* const g_cleanup = signopt::test::remove_when_passed(kPrefix);

fs::path test_dir(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return signopt::test::fresh_dir(kPrefix, std::string(info->name()) + "." + name, true);
}

// 640 synthetic images, the mlp, 20 steps per epoch, 3 epochs; a checkpoint every 5 steps, so one falls on
// every epoch's last step and on the run's last step.
std::vector<std::string> small_job(const std::string& optimizer, const fs::path& out) {
  std::vector<std::string> args = {"--dataset", "synthetic", "--synthetic-train", "640", "--synthetic-test", "200",
                                   "--model", "mlp", "--optimizer", optimizer, "--epochs", "3", "--batch-size", "32",
                                   "--log-every", "4", "--checkpoint-every", "5", "--seed", "11", "--threads", "1",
                                   "--progress", "lines", "--dist-timeout", "20", "--out", out.string()};
  if (optimizer != "sgd" && optimizer != "adam" && optimizer != "ef-signsgd")
    args.insert(args.end(), {"--lr", "1e-3"});
  return args;
}

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// `signopt train ARGS` in `dir` with SIGNOPT_FAULT=`fault` (none when empty).
RankOutcome cli(const fs::path& dir, std::vector<std::string> args, const std::string& fault = "") {
  std::vector<std::string> argv = {SIGNOPT_CLI_BINARY, "train"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::map<std::string, std::string> env = {{"OMP_NUM_THREADS", "1"}};
  if (!fault.empty())
    env["SIGNOPT_FAULT"] = fault;
  return signopt::test::run_processes(dir, argv, {env}, std::chrono::seconds(240)).at(0);
}

// What a run learned and reported: metrics.csv without the timing and byte columns, one string per row.
std::vector<std::string> learning_curve(const fs::path& run) {
  std::vector<std::string> rows;
  std::istringstream in(read_file(run / "metrics.csv"));
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream s(line);
    std::string cell;
    while (std::getline(s, cell, ','))
      cells.push_back(cell);
    // kind,split,epoch,step,loss,accuracy,lr,phase,calibrated_lr,dither_alpha | bytes, comm_s, img/s, elapsed
    cells.resize(10);
    std::string row;
    for (const auto& c : cells)
      row += c + ",";
    rows.push_back(row);
  }
  return rows;
}

nlohmann::json summary(const fs::path& run) {
  return nlohmann::json::parse(read_file(run / "summary.json"));
}

// The run in `cut` ended exactly where the uninterrupted run in `full` ended: every logged row and every
// deterministic field of the summary.
void expect_same_run(const fs::path& full, const fs::path& cut) {
  EXPECT_EQ(learning_curve(cut), learning_curve(full));
  const auto a = summary(full), b = summary(cut);
  for (const char* key : {"status", "epochs_completed", "steps", "final_test_accuracy", "best_test_accuracy",
                          "final_val_accuracy", "switch_step", "calibrated_lr", "skipped_steps", "world_size"})
    EXPECT_EQ(b.value(key, nlohmann::json()), a.value(key, nlohmann::json())) << key;
  EXPECT_FALSE(fs::exists(cut / "checkpoint.pt.tmp"));
  for (const auto& entry : fs::directory_iterator(cut))
    EXPECT_NE(entry.path().extension(), ".corrupt") << "a checkpoint was set aside as corrupt: " << entry.path();
}

// Kills the run `cuts` times at the given faults (each "RANK:STEP:KIND"), resuming after each, then resumes
// to the end and compares with `full`.
void crash_and_resume(
    const fs::path& dir,
    const fs::path& full,
    const std::vector<std::string>& args_of_run,
    const std::vector<std::string>& faults) {
  const fs::path run = dir / "run";
  bool started = false;
  for (const auto& fault : faults) {
    const auto o = started ? cli(dir, {"--resume", run.string(), "--progress", "lines"}, fault) : cli(dir, args_of_run, fault);
    started = true;
    ASSERT_TRUE(o.exited) << o.log;
    ASSERT_NE(o.status, 0) << "the fault " << fault << " did not stop the run:\n" << o.log;
    ASSERT_NE(o.log.find("SIGNOPT_FAULT"), std::string::npos) << o.log;
  }
  const auto o = cli(dir, {"--resume", run.string()});
  ASSERT_TRUE(o.exited && o.status == 0) << o.log;
  expect_same_run(full, run);
}

// Random kill points in 6..last_step, drawn from a fixed seed: after the first checkpoint (step 5), any kind of
// kill, each after the checkpoint that follows the one before.
std::vector<std::string> random_faults(uint64_t seed, int count, int64_t last_step, int64_t rank = 0) {
  std::mt19937_64 rng(seed);
  const std::vector<std::string> kinds = {"kill", "kill-in-checkpoint", "kill-before-commit", "kill-in-eval"};
  std::vector<std::string> out;
  int64_t from = 6;
  for (int i = 0; i < count; ++i) {
    const int64_t step = from + static_cast<int64_t>(rng() % static_cast<uint64_t>(last_step - from - 5 * (count - i - 1)));
    out.push_back(std::to_string(rank) + ":" + std::to_string(step) + ":" + kinds[rng() % kinds.size()]);
    from = step + 5; // the next kill comes after the next checkpoint
  }
  return out;
}

void crash_consistency(const std::string& optimizer, const std::vector<std::string>& extra, uint64_t seed) {
  const auto dir = test_dir(optimizer);
  const auto full = dir / "full";
  const auto o = cli(dir, with(small_job(optimizer, full), extra));
  ASSERT_TRUE(o.exited && o.status == 0) << o.log;
  // Two independent crash histories: one kill, and two kills in a row.
  for (int kills = 1; kills <= 2; ++kills) {
    const auto case_dir = dir / ("kills" + std::to_string(kills));
    fs::create_directories(case_dir);
    const auto faults = random_faults(seed * 7 + kills, kills, summary(full)["steps"].get<int64_t>() - 1);
    SCOPED_TRACE(optimizer + " faults " + faults[0] + (kills > 1 ? " " + faults[1] : ""));
    crash_and_resume(case_dir, full, with(small_job(optimizer, case_dir / "run"), extra), faults);
  }
}

} // namespace

TEST(CrashConsistency, Signum) {
  crash_consistency("signum", {}, 1);
}
TEST(CrashConsistency, DitheredHybridAcrossItsSwitch) {
  crash_consistency("hybrid", {"--dither", "true", "--val-fraction", "0.2"}, 2);
}
TEST(CrashConsistency, Adam) {
  crash_consistency("adam", {}, 3);
}
TEST(CrashConsistency, EfSignSgdAndLion) {
  crash_consistency("ef-signsgd", {}, 4);
  crash_consistency("lion", {}, 5);
}

// Issue case 1: a checkpoint at the run's last step, then a kill during the final evaluation: the resumed
// run must evaluate, log epoch 3 and report the same accuracy (it once reported 0.00% as "completed"), and
// the epoch rows keep their learning rate (once 0 after such a resume).
TEST(CrashConsistency, KillDuringTheLastEvaluationAfterACheckpointAtTheLastStep) {
  const auto dir = test_dir("last");
  const auto o = cli(dir, small_job("signum", dir / "full"));
  ASSERT_TRUE(o.exited && o.status == 0) << o.log;
  for (const int64_t step : {20, 60}) { // the end of epoch 1 (lr row) and of the run (final evaluation)
    const auto case_dir = dir / ("at" + std::to_string(step));
    fs::create_directories(case_dir);
    crash_and_resume(case_dir, dir / "full", small_job("signum", case_dir / "run"), {"0:" + std::to_string(step) + ":kill-in-eval"});
    const auto s = summary(case_dir / "run");
    EXPECT_EQ(s["epochs_completed"], 3);
    EXPECT_GT(s["final_test_accuracy"].get<double>(), 20.0);
    for (const auto& row : learning_curve(case_dir / "run")) {
      std::vector<std::string> cells;
      std::stringstream in(row);
      for (std::string cell; std::getline(in, cell, ',');)
        cells.push_back(cell);
      if (cells.at(0) == "epoch")
        EXPECT_GT(std::stod(cells.at(6)), 0.0) << "an epoch row without its lr: " << row;
    }
  }
}

// --max-steps: the final evaluation (mid-epoch) is logged exactly once, whether the kill comes during it or
// after its checkpoint is durable but before it is in place.
TEST(CrashConsistency, MaxStepsFinalEvaluationIsLoggedOnce) {
  const auto dir = test_dir("max");
  const auto args = [&](const fs::path& out) { return with(small_job("hybrid", out), {"--max-steps", "50"}); };
  const auto o = cli(dir, args(dir / "full"));
  ASSERT_TRUE(o.exited && o.status == 0) << o.log;
  for (const std::string kind : {"kill-in-eval", "kill-before-commit"}) {
    const auto case_dir = dir / kind;
    fs::create_directories(case_dir);
    crash_and_resume(case_dir, dir / "full", args(case_dir / "run"), {"0:50:" + kind});
    // A resume of the finished run changes nothing.
    const auto again = cli(case_dir, {"--resume", (case_dir / "run").string()});
    ASSERT_TRUE(again.exited && again.status == 0) << again.log;
    expect_same_run(dir / "full", case_dir / "run");
  }
}

// Two workers: rank 0 or rank 1 killed (the other fails within --dist-timeout), the job resumed on 2 workers.
TEST(CrashConsistency, TwoWorkers) {
  const auto dir = test_dir("dist");
  for (const std::string optimizer : {"signum", "hybrid"}) {
    const auto full = dir / (optimizer + "_full");
    const auto o = cli(dir, with(small_job(optimizer, full), {"--nproc", "2"}));
    ASSERT_TRUE(o.exited && o.status == 0) << o.log;
    for (int64_t rank = 0; rank < 2; ++rank) {
      const auto case_dir = dir / (optimizer + "_rank" + std::to_string(rank));
      fs::create_directories(case_dir);
      const auto faults = random_faults(
          static_cast<uint64_t>(100 + rank + optimizer.size()), 1, summary(full)["steps"].get<int64_t>() - 1, rank);
      SCOPED_TRACE(optimizer + " fault " + faults[0]);
      crash_and_resume(case_dir, full, with(small_job(optimizer, case_dir / "run"), {"--nproc", "2"}), faults);
    }
  }
  // Issue case 1 on 2 workers (once lost the last epoch's rows): a kill in the evaluation after a checkpoint
  // at an epoch's last step (10 steps per epoch here), on rank 0 at the end of epoch 1, on rank 1 at the end.
  const auto full = dir / "signum_full";
  const int64_t steps = summary(full)["steps"].get<int64_t>();
  for (const std::string fault : {"0:" + std::to_string(steps / 3) + ":kill-in-eval", "1:" + std::to_string(steps) + ":kill-in-eval"}) {
    const auto case_dir = dir / ("eval_" + fault.substr(0, 1));
    fs::create_directories(case_dir);
    SCOPED_TRACE("signum fault " + fault);
    crash_and_resume(case_dir, full, with(small_job("signum", case_dir / "run"), {"--nproc", "2"}), {fault});
  }
}

namespace {

// An interrupted in-process run (stopped at step 32 of 60, checkpoints every 5) and its uninterrupted twin.
struct Interrupted {
  fs::path full, cut;
};

TrainConfig in_process(const std::string& optimizer, const fs::path& out) {
  TrainConfig c = parse_train_args(small_job(optimizer, out));
  c.progress = "none";
  return c;
}

Interrupted interrupted_run(const fs::path& dir, const std::string& optimizer) {
  Interrupted r{dir / "full", dir / "cut"};
  EXPECT_EQ(run_training(in_process(optimizer, r.full)).status, RunStatus::Completed);
  request_stop_at_step(32);
  EXPECT_EQ(run_training(in_process(optimizer, r.cut)).status, RunStatus::Interrupted);
  return r;
}

void flip_bytes(const fs::path& path, int64_t offset_from_end) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(0, std::ios::end);
  const auto size = static_cast<int64_t>(f.tellg());
  f.seekp(size - offset_from_end);
  const char junk[4] = {'\x5a', '\x5a', '\x5a', '\x5a'};
  f.write(junk, 4);
}

std::string error_of_resume(const fs::path& run) {
  try {
    resume_training(run.string());
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "the resume of " << run << " was not refused";
  return "";
}

} // namespace

// Issue case 3: 4 flipped bytes in a checkpoint once resumed to "completed" with loss 8e34. Now the damaged
// checkpoint is set aside and the one before it (5 steps earlier) continues the run to the same end.
TEST(CheckpointIntegrity, ADamagedCheckpointFallsBackToThePreviousOne) {
  const auto r = interrupted_run(test_dir("flip"), "signum");
  ASSERT_TRUE(fs::exists(r.cut / "checkpoint.1.pt"));
  EXPECT_EQ(signopt::io::read_checkpoint(r.cut / "checkpoint.1.pt").header.step, 30);
  flip_bytes(r.cut / "checkpoint.pt", 1000);
  const auto resumed = resume_training(r.cut.string());
  ASSERT_EQ(resumed.status, RunStatus::Completed) << resumed.error;
  EXPECT_TRUE(fs::exists(r.cut / "checkpoint.pt.corrupt"));
  fs::remove(r.cut / "checkpoint.pt.corrupt");
  expect_same_run(r.full, r.cut);
}

TEST(CheckpointIntegrity, EveryCheckpointDamagedIsAClearError) {
  const auto r = interrupted_run(test_dir("all"), "signum");
  flip_bytes(r.cut / "checkpoint.pt", 10);
  fs::resize_file(r.cut / "checkpoint.1.pt", fs::file_size(r.cut / "checkpoint.1.pt") / 2); // a torn file
  const std::string e = error_of_resume(r.cut);
  EXPECT_NE(e.find("no usable checkpoint"), std::string::npos) << e;
  EXPECT_NE(e.find("checksum"), std::string::npos) << e;
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;
  EXPECT_NE(e.find("without --resume"), std::string::npos) << e;
}

TEST(CheckpointIntegrity, AnotherRunsCheckpointIsRefused) {
  const auto dir = test_dir("foreign");
  const auto adam = interrupted_run(dir / "adam", "adam");
  request_stop_at_step(30);
  ASSERT_EQ(run_training(in_process("signum", dir / "signum")).status, RunStatus::Interrupted);
  for (const auto& f : signopt::io::checkpoint_files(dir / "signum"))
    fs::remove(f);
  fs::copy_file(adam.cut / "checkpoint.pt", dir / "signum" / "checkpoint.pt");
  const std::string e = error_of_resume(dir / "signum");
  EXPECT_NE(e.find("belongs to another run"), std::string::npos) << e;
  EXPECT_NE(e.find("adam"), std::string::npos) << e;
}

TEST(CheckpointIntegrity, AnEditedConfigIsRefusedNamingWhatChanged) {
  const auto r = interrupted_run(test_dir("edited"), "signum");
  auto config = nlohmann::ordered_json::parse(read_file(r.cut / "config.json"));
  config["lr"] = 0.01;
  config["epochs"] = 5;
  std::ofstream(r.cut / "config.json") << config.dump(2);
  const std::string e = error_of_resume(r.cut);
  EXPECT_NE(e.find("does not match its checkpoint"), std::string::npos) << e;
  EXPECT_NE(e.find("lr: 0.01 in config.json, 0.001 in the checkpoint"), std::string::npos) << e;
  EXPECT_NE(e.find("epochs: 5 in config.json, 3 in the checkpoint"), std::string::npos) << e;
  // --threads may change on resume.
  config["lr"] = 0.001;
  config["epochs"] = 3;
  config["threads"] = 2;
  std::ofstream(r.cut / "config.json") << config.dump(2);
  EXPECT_EQ(resume_training(r.cut.string()).status, RunStatus::Completed);
}

TEST(CheckpointIntegrity, ABareLibTorchArchiveIsNotResumed) {
  const auto r = interrupted_run(test_dir("bare"), "signum");
  const auto payload = signopt::io::read_checkpoint(r.cut / "checkpoint.pt").payload;
  for (const auto& f : signopt::io::checkpoint_files(r.cut))
    fs::remove(f);
  std::ofstream(r.cut / "checkpoint.pt", std::ios::binary) << payload;
  const std::string e = error_of_resume(r.cut);
  EXPECT_NE(e.find("bare LibTorch archive"), std::string::npos) << e;
}

// Issue case 4: metrics.csv deleted, or cut short, before the resume: the checkpoint's copy restores it.
TEST(CheckpointIntegrity, AMissingOrShortMetricsLogIsRestored) {
  const auto dir = test_dir("metrics");
  auto r = interrupted_run(dir / "missing", "signum");
  fs::remove(r.cut / "metrics.csv");
  ASSERT_EQ(resume_training(r.cut.string()).status, RunStatus::Completed);
  expect_same_run(r.full, r.cut);
  r = interrupted_run(dir / "short", "signum");
  fs::resize_file(r.cut / "metrics.csv", fs::file_size(r.cut / "metrics.csv") / 3);
  ASSERT_EQ(resume_training(r.cut.string()).status, RunStatus::Completed);
  expect_same_run(r.full, r.cut);
}

// Issue case 10: a second process on the same run directory is refused at once, naming the holder.
TEST(CheckpointIntegrity, ASecondResumeOfOneDirectoryIsRefused) {
  const auto r = interrupted_run(test_dir("lock"), "signum");
  {
    signopt::io::DirectoryLock held(r.cut);
    const std::string e = error_of_resume(r.cut);
    EXPECT_NE(e.find("in use by another signopt process (pid " + std::to_string(::getpid()) + ")"), std::string::npos) << e;
  }
  ASSERT_EQ(resume_training(r.cut.string()).status, RunStatus::Completed);
  expect_same_run(r.full, r.cut);
}

TEST(CheckpointIntegrity, KeepCheckpointsKeepsTheLastN) {
  const auto dir = test_dir("keep");
  auto c = in_process("signum", dir / "run");
  set_option(c, "keep-checkpoints", "3", "--keep-checkpoints");
  ASSERT_EQ(run_training(c).status, RunStatus::Completed);
  const auto files = signopt::io::checkpoint_files(dir / "run");
  ASSERT_EQ(files.size(), 3u);
  // Newest first: the final checkpoint (end of epoch 3, after step 60), then step 60 inside the loop, then 55.
  EXPECT_EQ(signopt::io::read_checkpoint(files[2]).header.step, 55);
}

// Issue case 9: a full disk while a checkpoint is written is a named failure (exit 1, not an abort), leaves
// no checkpoint.pt.tmp taking the space and keeps the previous checkpoint, from which the run resumes.
void expect_clean_failure_on_a_small_disk(const fs::path& dir, const fs::path& run, const RankOutcome& o, const char* reason) {
  ASSERT_TRUE(o.exited) << o.log;
  EXPECT_EQ(o.status, 1) << o.log;
  EXPECT_NE(o.log.find(reason), std::string::npos) << o.log;
  EXPECT_FALSE(fs::exists(run / "checkpoint.pt.tmp"));
  (void)dir;
}

TEST(FullDisk, AFileSizeLimitDuringACheckpointIsANamedFailure) {
  const auto dir = test_dir("fsize");
  const auto run = dir / "run";
  // RLIMIT_FSIZE (ulimit -f, in KiB) with SIGXFSZ ignored: writes past it fail with EFBIG, as on a full disk.
  std::string command = "trap '' XFSZ; ulimit -f 96; exec '" + std::string(SIGNOPT_CLI_BINARY) + "' train";
  for (const auto& a : small_job("adam", run))
    command += " '" + a + "'";
  const auto o = signopt::test::run_processes(dir, {"/bin/bash", "-c", command}, {{{"OMP_NUM_THREADS", "1"}}},
                                              std::chrono::seconds(120))
                     .at(0);
  expect_clean_failure_on_a_small_disk(dir, run, o, "File too large");
  EXPECT_NE(o.log.find("checkpoint.pt.tmp"), std::string::npos) << o.log;
}

TEST(FullDisk, ATmpfsThatFillsUpIsANamedFailureAndTheRunResumes) {
  const auto dir = test_dir("tmpfs");
  const auto full = cli(dir, small_job("adam", dir / "full"));
  ASSERT_TRUE(full.exited && full.status == 0) << full.log;
  // Room for two checkpoints and the logs, not for a third: the third checkpoint write fills the disk.
  const auto checkpoint_bytes = fs::file_size(dir / "full" / "checkpoint.pt");
  const auto mnt = dir / "mnt";
  fs::create_directories(mnt);
  const std::string size = "size=" + std::to_string(checkpoint_bytes * 5 / 2);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, size.c_str()) != 0)
    GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(errno) << "; needs root and CAP_SYS_ADMIN); "
                 << "FullDisk.AFileSizeLimitDuringACheckpointIsANamedFailure covers the same path";
  struct Unmount {
    fs::path p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{mnt};
  const auto run = mnt / "run";
  const auto o = cli(dir, small_job("adam", run));
  expect_clean_failure_on_a_small_disk(dir, run, o, "No space left on device");
  ASSERT_TRUE(fs::exists(run / "checkpoint.pt")) << o.log;
  EXPECT_NO_THROW(signopt::io::read_checkpoint(run / "checkpoint.pt"));
  EXPECT_EQ(summary(run)["status"], "failed");
  // With room again, the run resumes from its last good checkpoint to the uninterrupted run's end.
  const std::string larger = "size=" + std::to_string(checkpoint_bytes * 20);
  ASSERT_EQ(::mount("tmpfs", mnt.c_str(), "tmpfs", MS_REMOUNT, larger.c_str()), 0) << std::strerror(errno);
  const auto resumed = cli(dir, {"--resume", run.string()});
  ASSERT_TRUE(resumed.exited && resumed.status == 0) << resumed.log;
  expect_same_run(dir / "full", run);
}
