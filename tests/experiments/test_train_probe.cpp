// The noise probe on real models: `--probe-every` during training (rows, exact resume) and
// run_probe_noise() on a fresh model and on a run's checkpoint (files, classification, errors).
#include <signopt/train/config.h>
#include <signopt/experiments/probe_noise.h>
#include <signopt/train/trainer.h>

#include "support/temp_dirs.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using namespace signopt::train;
using namespace signopt::experiments;
using signopt::test::fresh_dir;
using signopt::test::read_file;

namespace {

const auto* const kCleanUp = signopt::test::remove_when_passed("signopt_probe");

TrainConfig small_run(const fs::path& out) {
  TrainConfig c;
  c.dataset = "synthetic";
  c.synthetic_train = 640;
  c.synthetic_test = 200;
  c.model = "mlp";
  c.optimizer = "signum";
  c.lr = 1e-3;
  c.epochs = 2;
  c.batch_size = 32;
  c.log_every = 5;
  c.probe_every = 4;
  c.threads = 1;
  c.seed = 3;
  c.progress = "none";
  c.out = out.string();
  return c;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

ProbeNoiseConfig quick_probe(const fs::path& out) {
  ProbeNoiseConfig p;
  p.dataset = "synthetic";
  p.synthetic_train = 640;
  p.model = "mlp";
  p.batch_size = 16;
  p.threads = 1;
  p.plots = false;
  p.probe.samples = 40;
  p.probe.coords = 300;
  p.out = out.string();
  return p;
}

} // namespace

TEST(TrainProbe, ProbeEveryWritesRunningEstimates) {
  const auto dir = fresh_dir("signopt_probe", "every");
  const auto outcome = run_training(small_run(dir));
  ASSERT_EQ(outcome.status, RunStatus::Completed) << outcome.error;
  const auto rows = lines(read_file(dir / "probe.csv"));
  ASSERT_EQ(rows.size(), 1u + 40 / 4); // 20 steps per epoch, 2 epochs, a row every 4 steps
  EXPECT_EQ(rows[0].rfind("epoch,step,updates,snr_median", 0), 0u);
  EXPECT_EQ(rows[1].rfind("1,4,4,", 0), 0u) << rows[1];
  EXPECT_EQ(rows.back().rfind("2,40,40,", 0), 0u) << rows.back();
  // Each row's numbers are in range: shares and rates in [0, 1], Phi <= ||m||_1.
  for (size_t i = 1; i < rows.size(); ++i) {
    std::vector<double> v;
    std::istringstream in(rows[i]);
    for (std::string cell; std::getline(in, cell, ',');)
      v.push_back(std::stod(cell));
    ASSERT_EQ(v.size(), 12u);
    EXPECT_TRUE(std::isnan(v[11])) << rows[i]; // dither_share: Signum does not dither
    EXPECT_GE(v[4], 0.0);
    EXPECT_LE(v[4], 1.0);
    EXPECT_LE(v[5], v[6] * (1 + 1e-9));
    for (int k : {8, 9, 10}) {
      EXPECT_GE(v[k], 0.0);
      EXPECT_LE(v[k], 0.5 + 1e-12);
    }
  }
}

// With dithering, dither_share is the share of coordinates whose dither std (alpha_t x the rms of the
// momentum) exceeds their running noise std: in [0, 1], and 1 when the dither is huge.
TEST(TrainProbe, ProbeEveryMeasuresTheDitherShare) {
  double last_share[2] = {0, 0};
  for (const double alpha : {1e-3, 1e3}) {
    const auto dir = fresh_dir("signopt_probe", alpha < 1 ? "dither-small" : "dither-huge");
    auto c = small_run(dir);
    c.optimizer = "dithered-signum";
    c.dither = true;
    c.dither_alpha = alpha;
    c.dither_schedule = "constant";
    ASSERT_EQ(run_training(c).status, RunStatus::Completed);
    const auto rows = lines(read_file(dir / "probe.csv"));
    ASSERT_EQ(rows.size(), 11u);
    for (size_t i = 1; i < rows.size(); ++i) {
      const double share = std::stod(rows[i].substr(rows[i].rfind(',') + 1));
      EXPECT_GE(share, 0.0) << rows[i];
      EXPECT_LE(share, 1.0) << rows[i];
      last_share[alpha < 1 ? 0 : 1] = share;
    }
  }
  EXPECT_LT(last_share[0], 0.5);
  EXPECT_EQ(last_share[1], 1.0);
}

TEST(TrainProbe, ProbeRowsResumeExactly) {
  const auto full = fresh_dir("signopt_probe", "full"), part = fresh_dir("signopt_probe", "part");
  ASSERT_EQ(run_training(small_run(full)).status, RunStatus::Completed);
  auto c = small_run(part);
  request_stop_at_step(17); // checkpoints at step 17, between two probe rows (16 and 20)
  ASSERT_EQ(run_training(c).status, RunStatus::Interrupted);
  // A row written after the checkpoint (as by a process killed later) must be cut off on resume.
  { std::ofstream(part / "probe.csv", std::ios::app) << "1,18,18,0,0,0,0,0,0,0,0\n"; }
  ASSERT_EQ(resume_training(part.string()).status, RunStatus::Completed);
  EXPECT_EQ(read_file(part / "probe.csv"), read_file(full / "probe.csv"));
}

TEST(TrainProbe, ProbeBetaIsChecked) {
  TrainConfig c;
  EXPECT_THROW(set_option(c, "probe-beta", "1", "--probe-beta"), ConfigError);
  EXPECT_THROW(set_option(c, "probe-every", "-1", "--probe-every"), ConfigError);
  set_option(c, "probe_every", "10", "test");
  EXPECT_EQ(c.probe_every, 10);
}

TEST(TrainProbe, ProbesAFreshModelAndWritesItsFiles) {
  const auto dir = fresh_dir("signopt_probe", "fresh");
  std::ostringstream log;
  auto p = quick_probe(dir);
  p.plots = true;
  const auto outcome = run_probe_noise(p, log);
  EXPECT_EQ(outcome.out_dir, dir.string());
  for (const char* f : {"summary.json", "layers.csv", "snr_bins.csv", "coords.csv", "report.md"})
    EXPECT_TRUE(fs::exists(dir / f)) << f;
  const auto j = nlohmann::json::parse(read_file(dir / "summary.json"));
  EXPECT_EQ(j["samples"], 40);
  EXPECT_EQ(j["sampled"], 300);
  EXPECT_EQ(j["dimension"].get<int64_t>(), outcome.result.dimension);
  EXPECT_EQ(j["layers"].size(), 6u); // 3 Linear layers: weight and bias each
  EXPECT_EQ(lines(read_file(dir / "coords.csv")).size(), 301u);
  EXPECT_NE(read_file(dir / "report.md").find("**Verdict:**"), std::string::npos);
  EXPECT_NE(log.str().find("[probe] gradient 40/40"), std::string::npos);
  if (outcome.plots.made) {
    for (const char* f : {"plots/snr-histogram.png", "plots/wrong-sign-vs-snr.svg", "plots/noise-histograms.png"})
      EXPECT_GT(fs::file_size(dir / f), 0u) << f;
  } else {
    EXPECT_NE(outcome.plots.note.find("gnuplot"), std::string::npos) << outcome.plots.note;
  }
}

// Injected noise far larger than the minibatch noise of the real model: the probe must name its shape.
TEST(TrainProbe, ClassifiesInjectedShapesOnARealModel) {
  for (const auto& [shape, symmetric, unimodal] :
       {std::tuple{"gaussian", true, true}, std::tuple{"skewed", false, true}, std::tuple{"bimodal", true, false}}) {
    const auto dir = fresh_dir("signopt_probe", std::string("inject-") + shape);
    auto p = quick_probe(dir);
    p.probe.samples = 120;
    p.probe.inject = signopt::diag::parse_injected_noise(shape);
    p.probe.inject_scale = 1.0;
    std::ostringstream log;
    const auto r = run_probe_noise(p, log).result;
    if (unimodal) // beside multimodal noise the sign-flip test's rejections need not mean asymmetry
      EXPECT_EQ(r.symmetric, symmetric) << shape << ": " << r.verdict;
    EXPECT_EQ(r.unimodal, unimodal) << shape << ": " << r.verdict;
  }
}

TEST(TrainProbe, ProbesARunsCheckpoint) {
  const auto run = fresh_dir("signopt_probe", "trained"), out = fresh_dir("signopt_probe", "from");
  auto c = small_run(run);
  c.probe_every = 0;
  ASSERT_EQ(run_training(c).status, RunStatus::Completed);
  auto p = quick_probe(out);
  p.from = run.string();
  p.model = "cnn"; // ignored: the run's model (mlp) is probed
  std::ostringstream log;
  const auto outcome = run_probe_noise(p, log);
  const auto j = nlohmann::json::parse(read_file(out / "summary.json"));
  EXPECT_EQ(j["model"], "mlp");
  EXPECT_EQ(j["from"], run.string());
  // The trained model has a smaller mean gradient than the fresh one at the same seed.
  const auto fresh_dir_path = fresh_dir("signopt_probe", "fresh-same-seed");
  auto q = quick_probe(fresh_dir_path);
  q.seed = 3;
  std::ostringstream log2;
  const auto fresh = run_probe_noise(q, log2);
  EXPECT_NE(outcome.result.grad_l1, fresh.result.grad_l1);
}

TEST(TrainProbe, BadInputsLeaveNothingBehind) {
  std::ostringstream log;
  const auto dir = fresh_dir("signopt_probe", "bad");
  auto p = quick_probe(dir);
  p.dataset = "cifar10";
  p.data_dir = "/nonexistent/cifar";
  try {
    run_probe_noise(p, log);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/cifar"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir));
  p = quick_probe(dir);
  p.from = "/nonexistent/run";
  EXPECT_THROW(run_probe_noise(p, log), ConfigError);
  p = quick_probe(dir);
  p.probe.samples = 3;
  EXPECT_THROW(run_probe_noise(p, log), ConfigError);
  // An existing non-empty output directory is never overwritten.
  fs::create_directories(dir);
  { std::ofstream(dir / "keep.txt") << "mine"; }
  p = quick_probe(dir);
  try {
    run_probe_noise(p, log);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("not empty"), std::string::npos);
  }
  EXPECT_EQ(read_file(dir / "keep.txt"), "mine");
}
