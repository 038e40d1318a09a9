// End-to-end runs of the trainer: learning, the run directory, exact resume, non-finite losses
// and bad inputs that must leave nothing behind.
#include <signopt/data/datasets.h>
#include <signopt/io/checkpoint_file.h>
#include <signopt/train/config.h>
#include <signopt/train/trainer.h>

#include <gtest/gtest.h>

#include "support/temp_dirs.h"
#include <nlohmann/json.hpp>
#include <torch/serialize/archive.h>

#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;
using namespace signopt::train;

namespace {

const auto* const kCleanUp = signopt::test::remove_when_passed("signopt_run");

fs::path fresh_dir(const std::string& name) {
  return signopt::test::fresh_dir("signopt_run", name, /*create=*/false);
}

std::string read(const fs::path& path) {
  return signopt::test::read_file(path);
}

// metrics.csv without the timing columns (img_per_s, elapsed_s), which differ between runs.
std::vector<std::string> metric_rows(const fs::path& dir) {
  std::vector<std::string> rows;
  std::istringstream in(read(dir / "metrics.csv"));
  std::string line;
  while (std::getline(in, line)) {
    for (int cut = 0; cut < 2; ++cut)
      line = line.substr(0, line.rfind(','));
    rows.push_back(line);
  }
  return rows;
}

// A small, fast, learnable run on the synthetic dataset.
TrainConfig small_run(const std::string& optimizer, const fs::path& out) {
  TrainConfig c;
  c.dataset = "synthetic";
  c.synthetic_train = 640;
  c.synthetic_test = 200;
  c.model = "mlp";
  c.optimizer = optimizer;
  c.epochs = 3;
  c.batch_size = 32;
  c.log_every = 4;
  c.threads = 2;
  c.seed = 5;
  c.progress = "none";
  c.out = out.string();
  if (optimizer != "sgd" && optimizer != "adam" && optimizer != "ef-signsgd")
    c.lr = 1e-3;
  return c;
}

} // namespace

TEST(TrainRun, SyntheticRunLearnsAndWritesTheRunDirectory) {
  const auto dir = fresh_dir("learns");
  const auto outcome = run_training(small_run("hybrid", dir));
  ASSERT_EQ(outcome.status, RunStatus::Completed) << outcome.error;
  EXPECT_EQ(outcome.steps, 3 * 20);
  EXPECT_GT(outcome.final_test_accuracy, 60.0); // 10 classes: chance is 10%
  for (const char* f : {"config.json", "metrics.csv", "summary.json", "checkpoint.pt"})
    EXPECT_TRUE(fs::exists(dir / f)) << f;
  EXPECT_FALSE(fs::exists(dir / "checkpoint.pt.tmp"));
  const auto summary = nlohmann::json::parse(read(dir / "summary.json"));
  EXPECT_EQ(summary["status"], "completed");
  EXPECT_DOUBLE_EQ(summary["final_test_accuracy"].get<double>(), outcome.final_test_accuracy);
  EXPECT_EQ(summary["switch_step"].get<int64_t>(), 20); // hybrid: switch after epoch max(1, 3/2) = 1
  const auto rows = metric_rows(dir);
  EXPECT_EQ(
      rows[0],
      "kind,split,epoch,step,loss,accuracy,lr,phase,calibrated_lr,dither_alpha,bytes_sent,bytes_received,comm_s,"
      "lambda_swats,lambda_ema_swats,lambda_least_squares,lambda_ema_least_squares,lambda_norm,lambda_ema_norm,"
      "lambda_momentum_ls,lambda_ema_momentum_ls");
  // Every estimator's lambda_t and Lbar_t on the step rows: positive numbers; the norm column is the
  // selected estimator's (the default), so its Lbar is the calibrated_lr of the sign phase.
  const auto cells = [](const std::string& row) {
    std::vector<std::string> out;
    std::stringstream in(row);
    for (std::string cell; std::getline(in, cell, ',');)
      out.push_back(cell);
    return out;
  };
  const auto first_step = cells(rows[1]);
  ASSERT_EQ(first_step.size(), 21u) << rows[1];
  EXPECT_EQ(first_step[7], "sign");
  for (size_t k = 13; k < 21; ++k)
    EXPECT_GT(std::stod(first_step[k]), 0.0) << rows[0] << "\n" << rows[1];
  EXPECT_EQ(first_step[18], first_step[8]) << "lambda_ema_norm is the calibrated rate";
  EXPECT_TRUE(summary.contains("calibration_estimates")) << summary.dump();
  // 60 steps / log_every 4 = 15 step rows, plus train and test rows for each of 3 epochs.
  EXPECT_EQ(rows.size(), 1u + 15 + 6);
  EXPECT_NE(read(dir / "metrics.csv").find(",sgd,"), std::string::npos); // the phase column shows the switch
  // config.json reproduces the run's resolved configuration.
  const auto config = from_json_text(read(dir / "config.json"), "config.json");
  EXPECT_EQ(config.optimizer, "hybrid");
  EXPECT_EQ(config.switch_epoch, 1);
  EXPECT_DOUBLE_EQ(config.lr.value(), 1e-3);
}

TEST(TrainRun, RealFashionMnistSubsetLearns) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const auto dir = fresh_dir("fmnist");
  auto c = parse_train_args({"--preset", "fmnist-cnn", "--train-subset", "3000", "--epochs", "2", "--progress", "none"});
  c.out = dir.string();
  c.threads = 2;
  const auto outcome = run_training(c);
  ASSERT_EQ(outcome.status, RunStatus::Completed) << outcome.error;
  EXPECT_GT(outcome.final_test_accuracy, 65.0);
}

// Interrupt at `stop_step`, resume, and compare with an uninterrupted run row by row.
void expect_resume_equals_uninterrupted(const std::string& optimizer, std::vector<std::string> extra, int64_t stop_step) {
  const auto full_dir = fresh_dir(optimizer + "_full"), cut_dir = fresh_dir(optimizer + "_cut");
  auto config = [&](const fs::path& out) {
    auto c = small_run(optimizer, out);
    for (size_t i = 0; i + 1 < extra.size(); i += 2)
      set_option(c, extra[i], extra[i + 1], extra[i]);
    c.checkpoint_every = 7;
    return c;
  };
  const auto full = run_training(config(full_dir));
  ASSERT_EQ(full.status, RunStatus::Completed) << full.error;

  request_stop_at_step(stop_step);
  const auto cut = run_training(config(cut_dir));
  ASSERT_EQ(cut.status, RunStatus::Interrupted);
  EXPECT_EQ(cut.steps, stop_step);
  EXPECT_EQ(nlohmann::json::parse(read(cut_dir / "summary.json"))["status"], "interrupted");
  // Rows written after the checkpoint by a process that then died must not survive the resume.
  std::ofstream(cut_dir / "metrics.csv", std::ios::app) << "step,train,9,999,1,1,1,,,,1,1\n";
  const auto resumed = resume_training(cut_dir.string());
  ASSERT_EQ(resumed.status, RunStatus::Completed) << resumed.error;
  EXPECT_EQ(metric_rows(cut_dir), metric_rows(full_dir));
  EXPECT_EQ(resumed.final_test_accuracy, full.final_test_accuracy);
  EXPECT_EQ(resumed.steps, full.steps);
}

// Signum with --log-calibration runs the hybrid's sign phase (never switching): the same training, bit for bit,
// with the calibration columns filled.
TEST(TrainRun, SignumLogsItsCalibrationWithoutChangingItsSteps) {
  const auto plain_dir = fresh_dir("signum_plain"), logged_dir = fresh_dir("signum_logged");
  const auto plain = run_training(small_run("signum", plain_dir));
  auto c = small_run("signum", logged_dir);
  c.log_calibration = true;
  const auto logged = run_training(c);
  ASSERT_EQ(plain.status, RunStatus::Completed) << plain.error;
  ASSERT_EQ(logged.status, RunStatus::Completed) << logged.error;
  EXPECT_EQ(plain.final_test_accuracy, logged.final_test_accuracy);
  const auto a = metric_rows(plain_dir), b = metric_rows(logged_dir);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 1; i < a.size(); ++i) {
    // kind..lr equal; phase/calibrated_lr and the calibration columns are filled only when logging.
    const auto prefix = [](const std::string& row) {
      size_t at = 0;
      for (int k = 0; k < 7; ++k)
        at = row.find(',', at) + 1;
      return row.substr(0, at);
    };
    EXPECT_EQ(prefix(a[i]), prefix(b[i])) << i;
    EXPECT_EQ(a[i].substr(a[i].size() - 8), ",,,,,,,,") << "plain signum has empty calibration columns: " << a[i];
    EXPECT_NE(b[i].substr(b[i].size() - 8), ",,,,,,,,") << b[i];
  }
}

TEST(TrainResume, SwatsHybridAcrossTheSwitchContinuingTheMomentum) {
  expect_resume_equals_uninterrupted(
      "hybrid", {"calibration", "swats", "post-switch-momentum", "0.9", "post-switch-init", "momentum"}, 13);
}

TEST(TrainResume, DitheredHybridMidEpoch) {
  expect_resume_equals_uninterrupted("hybrid", {"dither", "true"}, 13);
}
TEST(TrainResume, AdamAtAnEpochBoundary) {
  expect_resume_equals_uninterrupted("adam", {}, 20);
}
TEST(TrainResume, DitheredSignumWithAugmentationAndValidation) {
  expect_resume_equals_uninterrupted("dithered-signum", {"augment", "on", "val-fraction", "0.2"}, 30);
}

TEST(TrainResume, BFloat16SignumWithABFloat16MomentumAndDither) {
  expect_resume_equals_uninterrupted(
      "signum", {"param-dtype", "bfloat16", "momentum-dtype", "parameter", "dither", "true", "rounding-seed", "3"}, 13);
}

// A bfloat16 run trains (its parameters are bfloat16 in the checkpoint) and differs from the float32 run of the
// same seed; round-to-nearest gives another run than stochastic rounding.
TEST(TrainRun, BFloat16SignumLearns) {
  const auto f32_dir = fresh_dir("signum_f32"), b16_dir = fresh_dir("signum_bf16"), near_dir = fresh_dir("signum_near");
  const auto f32 = run_training(small_run("signum", f32_dir));
  auto c = small_run("signum", b16_dir);
  c.param_dtype = "bfloat16";
  const auto b16 = run_training(c);
  c.out = near_dir.string();
  c.rounding = "nearest";
  const auto near = run_training(c);
  for (const auto* o : {&f32, &b16, &near})
    ASSERT_EQ(o->status, RunStatus::Completed) << o->error;
  EXPECT_GT(b16.final_test_accuracy, 60.0);
  EXPECT_NE(metric_rows(b16_dir), metric_rows(f32_dir));
  EXPECT_NE(metric_rows(b16_dir), metric_rows(near_dir));
  const auto checkpoint = signopt::io::read_checkpoint(b16_dir / "checkpoint.pt");
  torch::serialize::InputArchive in;
  in.load_from(checkpoint.payload.data(), checkpoint.payload.size());
  torch::serialize::InputArchive model;
  ASSERT_TRUE(in.try_read("model", model));
  int64_t found = 0;
  const std::function<void(torch::serialize::InputArchive&, const std::string&)> visit =
      [&](torch::serialize::InputArchive& a, const std::string& prefix) {
        for (const auto& key : a.keys()) {
          torch::Tensor t;
          torch::serialize::InputArchive sub;
          if (a.try_read(key, t)) {
            if (t.is_floating_point()) {
              EXPECT_EQ(t.scalar_type(), torch::kBFloat16) << prefix + key;
              ++found;
            }
          } else if (a.try_read(key, sub)) {
            visit(sub, prefix + key + ".");
          }
        }
      };
  visit(model, "");
  EXPECT_GT(found, 0);
}

TEST(TrainRun, NonFiniteLossStopsAndKeepsTheLastCheckpoint) {
  const auto dir = fresh_dir("diverges");
  auto c = small_run("sgd", dir);
  c.lr = 1e6;
  c.lr_schedule = "constant";
  c.checkpoint_every = 1;
  const auto outcome = run_training(c);
  ASSERT_EQ(outcome.status, RunStatus::Failed);
  EXPECT_NE(outcome.error.find("the training loss became"), std::string::npos) << outcome.error;
  EXPECT_NE(outcome.error.find("Try a smaller --lr"), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(read(dir / "summary.json"))["status"], "failed");
  // The checkpoint is the last good one and loads.
  ASSERT_TRUE(fs::exists(dir / "checkpoint.pt"));
  torch::serialize::InputArchive archive;
  const auto checkpoint = signopt::io::read_checkpoint(dir / "checkpoint.pt");
  EXPECT_EQ(checkpoint.header.step, outcome.steps);
  EXPECT_EQ(checkpoint.header.optimizer, "sgd");
  archive.load_from(checkpoint.payload.data(), checkpoint.payload.size());
  c10::IValue step;
  archive.read("loop.step", step);
  EXPECT_EQ(step.toInt(), outcome.steps);
  EXPECT_FALSE(fs::exists(dir / "checkpoint.pt.tmp"));
}

TEST(TrainRun, BadInputLeavesNoRunDirectory) {
  const auto dir = fresh_dir("bad_data");
  auto c = small_run("sgd", dir);
  c.dataset = "cifar10";
  c.data_dir = "/nonexistent/cifar";
  EXPECT_THROW(run_training(c), signopt::data::DataError);
  EXPECT_FALSE(fs::exists(dir));
  c = small_run("sgd", dir);
  c.switch_trigger = "step"; // fine for sgd: ignored
  c.optimizer = "hybrid";
  EXPECT_THROW(run_training(c), ConfigError); // step trigger without --switch-step
  EXPECT_FALSE(fs::exists(dir));
}

TEST(TrainRun, AnExistingRunDirectoryIsNeverOverwritten) {
  const auto dir = fresh_dir("exists");
  fs::create_directories(dir);
  std::ofstream(dir / "notes.txt") << "keep me";
  try {
    run_training(small_run("sgd", dir));
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("already exists"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("--resume"), std::string::npos);
  }
  EXPECT_EQ(read(dir / "notes.txt"), "keep me");
}

TEST(TrainRun, ResumeOfSomethingThatIsNotARunIsAClearError) {
  const auto dir = fresh_dir("not_a_run");
  fs::create_directories(dir);
  try {
    resume_training(dir.string());
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("config.json is missing"), std::string::npos) << e.what();
  }
}

// Issue 14, case 8: --threads 1000 on 2 cores took minutes per step (and 100000 crashed libgomp): more than 8
// threads per core are refused with the limit, before the run directory exists.
TEST(TrainRun, FarMoreThreadsThanCoresAreRefused) {
  const auto dir = fresh_dir("threads");
  auto c = small_run("signum", dir);
  const int64_t cores = std::max(1u, std::thread::hardware_concurrency());
  c.threads = 8 * cores + 1;
  if (c.threads > kMaxThreads)
    GTEST_SKIP() << cores << " cores: the per-core limit is above --threads' own limit";
  try {
    run_training(c);
    FAIL() << "--threads " << c.threads << " was accepted on " << cores << " cores";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("threads per core"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir));
}
