// Distributed training end to end (issue 6): `signopt train --nproc N` and torchrun start real worker
// processes on loopback; the tests check the job's results, its traffic, its failures and exact resume.
#include <signopt/comm/majority_vote.h>
#include <signopt/data/datasets.h>
#include <signopt/data/loader.h>
#include <signopt/models/models.h>
#include <signopt/train/config.h>
#include <signopt/train/trainer.h>

#include "support/multiprocess.h"

#include <signopt/io/checkpoint_file.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/nn/functional/loss.h>
#include <torch/serialize/archive.h>

#include <signal.h>

#include <cmath>
#include <filesystem>
#include <sstream>
#include <thread>

namespace {

namespace fs = std::filesystem;
using signopt::test::fresh_dir;
using signopt::test::outcome_text;
using signopt::test::RankOutcome;
using signopt::test::read_file;

const std::string kPrefix = "signopt_test_train_dist";
auto* const g_cleanup = signopt::test::remove_when_passed(kPrefix);

fs::path test_dir(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return fresh_dir(kPrefix, std::string(info->name()) + "." + name, true);
}

// A small learnable job: 640 synthetic images, the mlp, batch 32 per worker.
std::vector<std::string> small_job(const std::string& optimizer, const fs::path& out) {
  return {
      "--dataset",   "synthetic", "--synthetic-train", "640", "--synthetic-test", "200",   "--model",     "mlp",
      "--optimizer", optimizer,   "--epochs",          "3",   "--batch-size",     "32",    "--log-every", "2",
      "--seed",      "3",         "--threads",         "1",   "--progress",       "lines", "--out",       out.string()};
}

// Runs `signopt train <args>` (and extra environment) in `dir`; one outcome, the launcher's.
RankOutcome train(
    const fs::path& dir,
    std::vector<std::string> args,
    std::map<std::string, std::string> env = {},
    int deadline_s = 180) {
  std::vector<std::string> argv = {SIGNOPT_CLI_BINARY, "train"};
  argv.insert(argv.end(), args.begin(), args.end());
  env.emplace("OMP_NUM_THREADS", "1");
  auto outcomes = signopt::test::run_processes(dir, argv, {env}, std::chrono::seconds(deadline_s));
  return outcomes.at(0);
}

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

nlohmann::json summary(const fs::path& run) {
  return nlohmann::json::parse(read_file(run / "summary.json"));
}

// metrics.csv as rows of named cells.
std::vector<std::map<std::string, std::string>> metrics(const fs::path& run) {
  std::istringstream in(read_file(run / "metrics.csv"));
  std::string line;
  std::vector<std::string> header;
  std::vector<std::map<std::string, std::string>> rows;
  auto split = [](const std::string& l) {
    std::vector<std::string> cells;
    std::stringstream s(l);
    std::string cell;
    while (std::getline(s, cell, ','))
      cells.push_back(cell);
    if (!l.empty() && l.back() == ',')
      cells.emplace_back();
    return cells;
  };
  while (std::getline(in, line)) {
    if (header.empty()) {
      header = split(line);
      continue;
    }
    const auto cells = split(line);
    std::map<std::string, std::string> row;
    for (size_t i = 0; i < header.size() && i < cells.size(); ++i)
      row[header[i]] = cells[i];
    rows.push_back(row);
  }
  return rows;
}

// The deterministic part of metrics.csv: what was trained and measured, not how long it took (nor the
// bytes: a worker's first exchange also checks that the ranks' layouts agree, so a resumed job's first
// window carries a few more).
std::vector<std::string> learning_curve(const fs::path& run) {
  std::vector<std::string> out;
  for (const auto& r : metrics(run))
    out.push_back(
        r.at("kind") + "," + r.at("split") + "," + r.at("epoch") + "," + r.at("step") + "," + r.at("loss") + "," +
        r.at("accuracy") + "," + r.at("lr") + "," + r.at("phase") + "," + r.at("calibrated_lr") + "," +
        r.at("dither_alpha"));
  return out;
}

TEST(TrainDist, MajorityVoteJobLearnsAndLogsItsTraffic) {
  const auto dir = test_dir("job");
  const auto run = dir / "run";
  const auto o = train(dir, with(small_job("signum", run), {"--nproc", "2", "--lr", "1e-3"}));
  ASSERT_TRUE(o.exited && o.status == 0) << o.log;
  EXPECT_NE(o.log.find("2 workers (majority-vote, batch 32 each)"), std::string::npos) << o.log;
  // Only rank 0 reports.
  EXPECT_EQ(o.log.find("final test accuracy"), o.log.rfind("final test accuracy")) << o.log;
  const auto s = summary(run);
  EXPECT_EQ(s["status"], "completed");
  EXPECT_EQ(s["world_size"], 2);
  EXPECT_EQ(s["aggregation"], "majority-vote");
  EXPECT_EQ(s["steps"], 30); // 640 images / (2 x 32) per step x 3 epochs
  EXPECT_GT(s["final_test_accuracy"].get<double>(), 60.0); // 10 classes: chance is 10%
  // Every step: the vote's two exchanges (alltoall of signs, allgather of the tie plane: W = 2) and the
  // 32-byte allreduce of the step's loss, accuracy counts and stop flag. The first step also checks the layout.
  const int64_t d = s["parameters"].get<int64_t>();
  const int64_t planes = signopt::comm::majority_vote_planes(2, signopt::comm::TieRule::Zero);
  EXPECT_EQ(planes, 1);
  const int64_t expected = signopt::comm::majority_vote_bytes_per_rank(d, 2, planes) + 32;
  int step_rows = 0;
  for (const auto& r : metrics(run)) {
    if (r.at("kind") != "step" || r.at("step") == "2")
      continue;
    ++step_rows;
    EXPECT_EQ(std::stoll(r.at("bytes_sent")), expected) << "step " << r.at("step");
    EXPECT_EQ(std::stoll(r.at("bytes_received")), expected) << "step " << r.at("step");
    EXPECT_GE(std::stod(r.at("comm_s")), 0.0);
  }
  EXPECT_EQ(step_rows, 14);
  // 1 bit per coordinate each way: at least 30x fewer bytes than a ring allreduce of fp32 gradients.
  EXPECT_LT(static_cast<double>(expected) * 30, 2.0 * (2 - 1) / 2 * 4 * static_cast<double>(d));
  // Rank 0 alone writes the run directory: nothing but its files.
  for (const auto& entry : fs::directory_iterator(run)) {
    const auto name = entry.path().filename().string();
    EXPECT_TRUE(
        name == "config.json" || name == "metrics.csv" || name == "summary.json" || name == "checkpoint.pt" ||
        name == "checkpoint.1.pt" || name == ".lock")
        << name;
  }
}

// The ranks evaluate a share of the test set each, all with rank 0's BatchNorm statistics (ResNet-18 has
// BatchNorm; each rank's own statistics differ): the job's test loss is rank 0's model's, read back from the
// checkpoint, on the whole set.
TEST(TrainDist, EveryRankEvaluatesItsShareWithRankZerosModel) {
  const auto dir = test_dir("eval");
  const auto run = dir / "run";
  const auto o = train(
      dir,
      with(
          small_job("signum", run),
          {"--model", "resnet18", "--nproc", "2", "--max-steps", "3", "--eval-batch-size", "30"}));
  ASSERT_TRUE(o.exited && o.status == 0) << o.log;
  signopt::data::SyntheticOptions synthetic;
  synthetic.train_size = 640;
  synthetic.test_size = 200;
  synthetic.seed = 3;
  const auto splits = signopt::data::load_dataset("synthetic", "", synthetic);
  const auto& images = splits.test.images;
  auto model = signopt::models::make_model(
      "resnet18", {images.size(1), images.size(2), images.size(3)}, splits.test.num_classes);
  torch::serialize::InputArchive archive, model_archive;
  const auto checkpoint = signopt::io::read_checkpoint(run / "checkpoint.pt");
  archive.load_from(checkpoint.payload.data(), checkpoint.payload.size());
  archive.read("model", model_archive);
  model->load(model_archive);
  model->eval();
  signopt::data::LoaderOptions options;
  options.shuffle = false;
  const signopt::data::BatchLoader loader(splits.test, splits.mean, splits.std, options);
  torch::NoGradGuard no_grad;
  const auto batch = loader.eval_batch(0, loader.size());
  const auto logits = model->forward(batch.images);
  const double loss = torch::nn::functional::cross_entropy(logits, batch.labels).item<double>();
  const double accuracy = 100.0 * logits.argmax(1).eq(batch.labels).sum().item<double>() / loader.size();
  std::map<std::string, std::string> final_row;
  for (const auto& r : metrics(run))
    if (r.at("kind") == "final")
      final_row = r;
  ASSERT_FALSE(final_row.empty());
  EXPECT_NEAR(std::stod(final_row.at("loss")), loss, 1e-6 * loss);
  EXPECT_NEAR(std::stod(final_row.at("accuracy")), accuracy, 1e-3);
}

TEST(TrainDist, AllreduceWorkersEqualOneWorkerOnTheUnionBatch) {
  const auto dir = test_dir("union");
  const auto two = dir / "two", one = dir / "one";
  auto job = [](const fs::path& out, const std::string& batch) {
    auto a = small_job("sgd", out);
    a = with(a, {"--batch-size", batch, "--lr", "0.05"});
    return a;
  };
  const auto a = train(dir, with(job(two, "16"), {"--nproc", "2"}));
  ASSERT_TRUE(a.exited && a.status == 0) << a.log;
  const auto b = train(dir, job(one, "32"));
  ASSERT_TRUE(b.exited && b.status == 0) << b.log;
  const auto ra = metrics(two), rb = metrics(one);
  ASSERT_EQ(ra.size(), rb.size());
  for (size_t i = 0; i < ra.size(); ++i) {
    ASSERT_EQ(ra[i].at("step"), rb[i].at("step"));
    // Same samples per step; only the order of float additions differs (two half-batch means averaged).
    const double la = std::stod(ra[i].at("loss")), lb = std::stod(rb[i].at("loss"));
    EXPECT_NEAR(la, lb, 1e-4 * std::abs(lb)) << "row " << i;
    EXPECT_NEAR(std::stod(ra[i].at("accuracy")), std::stod(rb[i].at("accuracy")), 0.51) << "row " << i;
  }
  EXPECT_EQ(summary(two)["aggregation"], "allreduce");
}

// A worker dies mid-run: the job fails with the rank named, the last checkpoint stays good, and --resume
// finishes with exactly the learning curve of an uninterrupted job (every rank's own momentum, dither
// stream position and RNG come back). Returns the uninterrupted job's run directory.
fs::path expect_exact_resume_after_a_death(const std::string& optimizer, const std::vector<std::string>& extra) {
  const auto dir = test_dir(optimizer);
  const auto full = dir / "full", part = dir / "part";
  auto job = [&](const fs::path& out) {
    return with(with(small_job(optimizer, out), extra), {"--nproc", "2", "--checkpoint-every", "3"});
  };
  const auto f = train(dir, job(full));
  EXPECT_TRUE(f.exited && f.status == 0) << f.log;
  if (!f.exited || f.status != 0)
    return full;
  const auto p = train(dir, with(job(part), {"--dist-timeout", "5"}), {{"SIGNOPT_FAULT", "1:13:die"}});
  EXPECT_TRUE(p.exited) << p.log;
  EXPECT_EQ(p.status, 1) << p.log;
  EXPECT_NE(p.log.find("rank 1 exited with status 3"), std::string::npos) << p.log;
  EXPECT_EQ(summary(part)["status"], "failed");
  const auto r = train(dir, {"--resume", part.string()});
  EXPECT_TRUE(r.exited && r.status == 0) << r.log;
  EXPECT_EQ(learning_curve(part), learning_curve(full));
  EXPECT_EQ(summary(part)["final_test_accuracy"], summary(full)["final_test_accuracy"]);
  return full;
}

TEST(TrainDist, DitheredSignumResumesExactlyAfterAWorkerDies) {
  expect_exact_resume_after_a_death("dithered-signum", {"--lr", "1e-3"});
}

TEST(TrainDist, HybridResumesExactlyAfterAWorkerDiesInItsSgdPhase) {
  // Switch after epoch 1 (step 10): the death at step 13 and the resume fall in the averaged SGD phase.
  expect_exact_resume_after_a_death("hybrid", {"--lr", "1e-3", "--switch-epoch", "1", "--dither", "on"});
}

// bfloat16 parameters on two workers: the hybrid's sign phase votes on the float32 working copies' signs, its SGD
// phase follows, every rank rounds with the same keys (the replicas stay equal: the trainer checks them at each
// checkpoint), the job learns, and a job whose worker dies resumes exactly.
TEST(TrainDist, SixteenBitHybridJobVotesAndSwitches) {
  const auto full = expect_exact_resume_after_a_death(
      "hybrid", {"--lr", "1e-3", "--switch-epoch", "1", "--dither", "on", "--param-dtype", "bfloat16"});
  const auto s = summary(full);
  EXPECT_EQ(s["status"], "completed");
  EXPECT_EQ(s["aggregation"], "majority-vote");
  EXPECT_GT(s["final_test_accuracy"].get<double>(), 60.0);
  const auto rows = metrics(full);
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows.back().at("phase"), "sgd");
}

TEST(TrainDist, EfSignSgdResumesExactlyAfterAWorkerDies) {
  // Every rank's own error-feedback memory comes back from the checkpoint.
  expect_exact_resume_after_a_death("ef-signsgd", {"--lr", "0.05"});
}

TEST(TrainDist, EfSignJobLearnsWithOneBitPerCoordinate) {
  const auto dir = test_dir("ef");
  const auto run = dir / "run";
  const auto o = train(dir, with(small_job("ef-signsgd", run), {"--nproc", "2", "--lr", "0.05"}));
  ASSERT_TRUE(o.exited && o.status == 0) << o.log;
  const auto s = summary(run);
  EXPECT_EQ(s["aggregation"], "ef-sign");
  EXPECT_GT(s["final_test_accuracy"].get<double>(), 60.0);
  // Per step: the other rank's packed signs (d / 8 bytes, word-aligned per tensor), its per-tensor scales
  // and the 32-byte step figures: between d / 8 + 32 and that plus 16 bytes per tensor (at most 8 here).
  const double d = s["parameters"].get<double>();
  for (const auto& r : metrics(run)) {
    if (r.at("kind") != "step" || r.at("step") == "2")
      continue;
    const double sent = std::stod(r.at("bytes_sent"));
    EXPECT_GE(sent, d / 8 + 32) << "step " << r.at("step");
    EXPECT_LE(sent, d / 8 + 32 + 16 * 8) << "step " << r.at("step");
  }
}

TEST(TrainDist, AHungWorkerEndsTheJobWithinTheTimeoutAndIsNamed) {
  const auto dir = test_dir("hang");
  const auto start = std::chrono::steady_clock::now();
  const auto o = train(
      dir,
      with(small_job("signum", dir / "run"), {"--nproc", "3", "--dist-timeout", "2"}),
      {{"SIGNOPT_FAULT", "2:4:hang"}},
      120);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(o.exited) << "the job hung: " << o.log;
  EXPECT_EQ(o.status, 1) << o.log;
  EXPECT_NE(o.log.find("timed out after 2000 ms"), std::string::npos) << o.log;
  EXPECT_NE(o.log.find("rank 2 stopped responding"), std::string::npos) << o.log;
  // The healthy ranks time out after 2 s; the launcher kills the hung one 2 + 10 s after the first failure.
  EXPECT_LT(seconds, 60) << o.log;
  EXPECT_EQ(summary(dir / "run")["status"], "failed");
}

TEST(TrainDist, RanksWhoseParametersDriftApartStopBeforeTheirCheckpoint) {
  const auto dir = test_dir("drift");
  const auto run = dir / "run";
  const auto o = train(
      dir,
      with(small_job("signum", run), {"--nproc", "2", "--checkpoint-every", "3"}),
      {{"SIGNOPT_FAULT", "1:4:diverge"}});
  ASSERT_TRUE(o.exited) << o.log;
  EXPECT_EQ(o.status, 1) << o.log;
  EXPECT_NE(o.log.find("rank 1's parameters differ from rank 0's at step 6"), std::string::npos) << o.log;
  const auto s = summary(run);
  EXPECT_EQ(s["status"], "failed");
  // The step-3 checkpoint is the last one, and it still resumes.
  const auto r = train(dir, {"--resume", run.string()});
  ASSERT_TRUE(r.exited && r.status == 0) << r.log;
}

TEST(TrainDist, CtrlCStopsEveryWorkerAtOneStepAndTheJobResumesExactly) {
  const auto dir = test_dir("sigint");
  const auto full = dir / "full", part = dir / "part";
  auto job = [](const fs::path& out) {
    return with(small_job("signum", out), {"--nproc", "2", "--epochs", "40", "--lr", "1e-3", "--log-every", "5"});
  };
  const auto f = train(dir, job(full));
  ASSERT_TRUE(f.exited && f.status == 0) << f.log;
  // The launcher, started by hand so that it can be interrupted once some steps are logged.
  std::vector<std::string> argv = {SIGNOPT_CLI_BINARY, "train"};
  for (const auto& a : job(part))
    argv.push_back(a);
  std::vector<char*> argp;
  for (auto& a : argv)
    argp.push_back(a.data());
  argp.push_back(nullptr);
  const std::string log = (dir / "sigint.log").string();
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execv(argp[0], argp.data());
    std::_Exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (metrics(part).size() < 3 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ::kill(pid, SIGINT);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << read_file(log);
  ASSERT_EQ(WEXITSTATUS(status), 130) << "the job finished before the interrupt, or failed:\n" << read_file(log);
  EXPECT_EQ(summary(part)["status"], "interrupted");
  const auto r = train(dir, {"--resume", part.string()});
  ASSERT_TRUE(r.exited && r.status == 0) << r.log;
  EXPECT_EQ(learning_curve(part), learning_curve(full));
}

TEST(TrainDist, RunsUnderTorchrunLikeUnderTheBuiltInLauncher) {
  const std::string torchrun = SIGNOPT_TORCHRUN;
  const std::string why = signopt::test::torchrun_unavailable(torchrun);
  if (!why.empty())
    GTEST_SKIP() << why;
  const auto dir = test_dir("torchrun");
  const auto ours = dir / "ours", theirs = dir / "theirs";
  const auto extra = std::vector<std::string>{"--lr", "1e-3", "--switch-epoch", "1"};
  const auto a = train(dir, with(with(small_job("hybrid", ours), extra), {"--nproc", "2"}));
  ASSERT_TRUE(a.exited && a.status == 0) << a.log;
  const auto argv = signopt::test::torchrun_command(
      torchrun, 2, signopt::test::free_port(),
      with({SIGNOPT_CLI_BINARY, "train"}, with(small_job("hybrid", theirs), extra)));
  auto outcomes = signopt::test::run_processes(dir, argv, {{{"OMP_NUM_THREADS", "1"}}}, std::chrono::seconds(180));
  ASSERT_TRUE(outcomes.at(0).exited && outcomes[0].status == 0) << outcome_text(outcomes);
  EXPECT_EQ(summary(theirs)["world_size"], 2);
  EXPECT_EQ(learning_curve(theirs), learning_curve(ours));
}

TEST(TrainDist, OptionsThatNoWorkerCouldUseFailOnceBeforeLaunching) {
  const auto dir = test_dir("bad");
  const auto o = train(dir, with(small_job("sgd", dir / "run"), {"--nproc", "2", "--aggregation", "majority-vote"}));
  ASSERT_TRUE(o.exited) << o.log;
  EXPECT_EQ(o.status, 2) << o.log;
  EXPECT_NE(o.log.find("--aggregation majority-vote needs a sign optimizer"), std::string::npos) << o.log;
  EXPECT_EQ(o.log.find("launching"), std::string::npos) << o.log;
  EXPECT_FALSE(fs::exists(
      dir /
      "run")); // The hybrid's SGD momentum started from each worker's own sign-phase m would differ between workers.
  const auto h = train(
      dir,
      with(
          small_job("hybrid", dir / "run"),
          {"--nproc", "2", "--post-switch-momentum", "0.9", "--post-switch-init", "momentum"}));
  ASSERT_TRUE(h.exited) << h.log;
  EXPECT_EQ(h.status, 2) << h.log;
  EXPECT_NE(h.log.find("the workers' weights would drift apart after the switch"), std::string::npos) << h.log;
  EXPECT_EQ(h.log.find("launching"), std::string::npos) << h.log;
  EXPECT_FALSE(fs::exists(dir / "run"));
}

TEST(TrainDist, AResumedJobNeedsItsNumberOfWorkers) {
  const auto dir = test_dir("world");
  const auto run = dir / "run";
  const auto a = train(dir, with(small_job("signum", run), {"--nproc", "2", "--epochs", "1"}));
  ASSERT_TRUE(a.exited && a.status == 0) << a.log;
  // A launcher of one worker (WORLD_SIZE=1) for a job of two.
  const auto o = train(dir, {"--resume", run.string()}, {{"RANK", "0"}, {"WORLD_SIZE", "1"}});
  ASSERT_TRUE(o.exited) << o.log;
  EXPECT_EQ(o.status, 2) << o.log;
  EXPECT_NE(o.log.find("nproc is 2"), std::string::npos) << o.log;
  EXPECT_NE(o.log.find("WORLD_SIZE is 1"), std::string::npos) << o.log; // not "are not set": they are
}

// Issue 14, case 8: --nproc 1000000 once forked until the machine ran out of memory. The option table refuses
// more than kMaxWorkers; the launcher refuses more local workers than 4 per core, before forking any.
TEST(TrainDist, TooManyLocalWorkersAreRefusedBeforeForking) {
  const auto dir = test_dir("many");
  const int64_t cores = std::max(1u, std::thread::hardware_concurrency());
  const int64_t nproc = 4 * cores + 1;
  if (nproc > signopt::train::kMaxWorkers)
    GTEST_SKIP() << "this machine has " << cores << " cores: the per-core limit is above the option's limit";
  const auto o = train(dir, with(small_job("signum", dir / "run"), {"--nproc", std::to_string(nproc)}));
  ASSERT_TRUE(o.exited) << o.log;
  EXPECT_EQ(o.status, 2) << o.log;
  EXPECT_NE(o.log.find("at most 4 local workers per core"), std::string::npos) << o.log;
  EXPECT_EQ(o.log.find("launching"), std::string::npos) << o.log;
  const auto huge = train(dir, with(small_job("signum", dir / "run"), {"--nproc", "1000000"}));
  ASSERT_TRUE(huge.exited) << huge.log;
  EXPECT_EQ(huge.status, 2) << huge.log;
  EXPECT_NE(huge.log.find("1..256"), std::string::npos) << huge.log;
  EXPECT_FALSE(fs::exists(dir / "run"));
}

// Two ranks started by hand (as a scheduler would) with `envs` and per-rank arguments.
std::vector<RankOutcome> ranks_by_hand(
    const fs::path& dir,
    const std::vector<std::vector<std::string>>& args,
    const std::vector<std::map<std::string, std::string>>& envs) {
  std::vector<RankOutcome> out;
  // run_processes starts one argv for all; the ranks here differ in their arguments, so each gets a shell
  // that picks its own from RANK.
  std::string script = "case $RANK in ";
  for (size_t r = 0; r < args.size(); ++r) {
    script += std::to_string(r) + ") exec '" SIGNOPT_CLI_BINARY "' train";
    for (const auto& a : args[r])
      script += " '" + a + "'";
    script += ";; ";
  }
  script += "esac";
  return signopt::test::run_processes(dir, {"/bin/bash", "-c", script}, envs, std::chrono::seconds(120));
}

std::map<std::string, std::string> rank_env(int rank, int world, int port) {
  return {
      {"RANK", std::to_string(rank)},
      {"WORLD_SIZE", std::to_string(world)},
      {"MASTER_ADDR", "127.0.0.1"},
      {"MASTER_PORT", std::to_string(port)},
      {"LOCAL_WORLD_SIZE", "2"},
      {"OMP_NUM_THREADS", "1"}};
}

// Issue 14, case 12: ranks of one job with different options, or different WORLD_SIZE, are named at once
// instead of ending as a Gloo timeout.
TEST(TrainDist, RanksWithDifferentOptionsAreNamed) {
  const auto dir = test_dir("options");
  const int port = signopt::test::free_port();
  const auto a = small_job("signum", dir / "run"), b = with(small_job("signum", dir / "run"), {"--lr", "0.5"});
  const auto o = ranks_by_hand(dir, {a, b}, {rank_env(0, 2, port), rank_env(1, 2, port)});
  for (const auto& r : o) {
    ASSERT_TRUE(r.exited) << outcome_text(o);
    EXPECT_EQ(r.status, 2) << outcome_text(o);
    EXPECT_NE(r.log.find("rank 1 was started with other options than rank 0 (lr: 0.5 in rank 1's"), std::string::npos)
        << outcome_text(o);
  }
  EXPECT_FALSE(fs::exists(dir / "run"));
}

TEST(TrainDist, RanksWithDifferentWorldSizesAreNamed) {
  const auto dir = test_dir("worlds");
  const int port = signopt::test::free_port();
  const auto job = small_job("signum", dir / "run");
  const auto o = ranks_by_hand(dir, {job, job}, {rank_env(0, 2, port), rank_env(1, 3, port)});
  ASSERT_TRUE(o[1].exited) << outcome_text(o);
  EXPECT_NE(o[1].log.find("this rank was started with WORLD_SIZE=3 but rank 0 with WORLD_SIZE=2"), std::string::npos)
      << outcome_text(o);
  ASSERT_TRUE(o[0].exited) << outcome_text(o);
  EXPECT_NE(o[0].log.find("rank 1 was started with WORLD_SIZE=3 but this rank with WORLD_SIZE=2"), std::string::npos)
      << outcome_text(o);
}

// A busy MASTER_PORT: rank 0 cannot host the store and says so; the launcher blames rank 0, not rank 1
// that was waiting for it.
TEST(TrainDist, ABusyMasterPortBlamesRankZero) {
  const auto dir = test_dir("port");
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);
  const auto o = train(
      dir,
      with(small_job("signum", dir / "run"), {"--nproc", "2", "--dist-timeout", "2"}),
      {{"MASTER_PORT", std::to_string(port)}});
  ::close(fd);
  ASSERT_TRUE(o.exited) << o.log;
  EXPECT_NE(o.status, 0) << o.log;
  EXPECT_NE(o.log.find("rank 0 exited with status 1 first"), std::string::npos) << o.log;
  EXPECT_EQ(o.log.find("rank 1 stopped responding"), std::string::npos) << o.log;
}

} // namespace
