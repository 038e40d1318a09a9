// `signopt report`: the statistics (against scipy's numbers and hand-worked paired tests and Holm
// corrections), grouping of hand-written run directories into configurations, incomplete runs left out,
// pairing by seed, Markdown / CSV / JSON, and plots.
#include <signopt/report/process.h>
#include <signopt/report/report.h>
#include <signopt/report/stats.h>
#include <signopt/train/trainer.h>

#include <gtest/gtest.h>

#include "support/temp_dirs.h"
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

namespace fs = std::filesystem;
using namespace signopt::report;

namespace {

const auto* const kCleanUp = signopt::test::remove_when_passed("signopt_report");

fs::path fresh_dir(const std::string& name) {
  return signopt::test::fresh_dir("signopt_report", name, /*create=*/true);
}

std::string read(const fs::path& path) {
  return signopt::test::read_file(path);
}

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// Runs `signopt ARGS` and returns its exit status; its output goes to `log`.
int run_cli(const std::vector<std::string>& args, const fs::path& log) {
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

const char* const kOldHeader =
    "kind,split,epoch,step,loss,accuracy,lr,phase,calibrated_lr,dither_alpha,img_per_s,elapsed_s";
const char* const kCalibrationColumns =
    ",lambda_swats,lambda_ema_swats,lambda_least_squares,lambda_ema_least_squares,lambda_norm,lambda_ema_norm,"
    "lambda_momentum_ls,lambda_ema_momentum_ls";

// The calibration cells that end a row at `step` ("" without the columns).
std::string calibration_cells(const FakeRun& r, int step) {
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
std::string phase_cells(const FakeRun& r, int step) {
  if (!r.hybrid)
    return ",";
  char cells[64];
  std::snprintf(cells, sizeof cells, "%s,%.8g", step >= r.switch_step ? "sgd" : "sign", 0.03 + 0.001 * r.seed);
  return cells;
}

void make_run(const fs::path& dir, const FakeRun& r) {
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
fs::path make_standard_runs(const std::string& name) {
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

const ConfigurationStats* find_config(const DatasetTable& t, const std::string& label) {
  for (const auto& c : t.configurations)
    if (c.label == label)
      return &c;
  return nullptr;
}

} // namespace

// Reference values: scipy 1.10.1 / numpy 1.24.2 (Debian 12's python3-scipy), computed offline with
//   scipy.special.betainc(a, b, x), scipy.stats.t.cdf(t, df), 2 * scipy.stats.t.sf(|t|, df),
//   scipy.stats.ttest_ind(a, b, equal_var=False), numpy.mean / numpy.std(ddof=1),
// and pasted here; betainc(50, 0.5, 0.3) was confirmed with mpmath (40 digits).
TEST(ReportStats, IncompleteBetaMatchesScipy) {
  struct Case {
    double a, b, x, expected;
  };
  const Case cases[] = {
      {2, 3, 0.4, 0.5247999999999999},
      {0.5, 0.5, 0.2, 0.29516723530086664},
      {10, 0.5, 0.9, 0.15164090963470997},
      {1.5, 0.5, 0.999, 0.9597433418849682},
      {50, 0.5, 0.3, 6.800825885173812e-28},
      {0.5, 20, 0.01, 0.4713699354850156},
  };
  for (const auto& c : cases)
    EXPECT_NEAR(regularized_incomplete_beta(c.a, c.b, c.x), c.expected, 1e-12 * c.expected)
        << "I_" << c.x << "(" << c.a << ", " << c.b << ")";
  EXPECT_EQ(regularized_incomplete_beta(2, 3, 0), 0);
  EXPECT_EQ(regularized_incomplete_beta(2, 3, 1), 1);
  EXPECT_THROW(regularized_incomplete_beta(0, 1, 0.5), std::invalid_argument);
  EXPECT_THROW(regularized_incomplete_beta(1, 1, 1.5), std::invalid_argument);
}

TEST(ReportStats, StudentTMatchesScipy) {
  struct Case {
    double t, df, cdf, two_sided;
  };
  const Case cases[] = {
      {0, 3, 0.5, 1.0},
      {1.5, 2, 0.8638034375544996, 0.27239312489100087},
      {-2.0, 4.5, 0.05412895359056247, 0.10825790718112493},
      {3.0, 10, 0.9933281724887152, 0.013343655022569565},
      {10, 1, 0.9682744825694464, 0.06345103486110712},
      {-40, 2.7, 3.997819945096105e-05, 7.99563989019221e-05},
      {0.1, 1000, 0.539817815488198, 0.9203643690236042},
      {-6.5, 3.3, 0.0027436963257884877, 0.005487392651576975},
  };
  for (const auto& c : cases) {
    EXPECT_NEAR(student_t_cdf(c.t, c.df), c.cdf, 1e-12 * std::max(c.cdf, 1e-3)) << "t=" << c.t << " df=" << c.df;
    EXPECT_NEAR(student_t_two_sided_p(c.t, c.df), c.two_sided, 1e-11 * c.two_sided) << "t=" << c.t << " df=" << c.df;
  }
  // df = 1 is the Cauchy distribution: cdf = 1/2 + atan(t)/pi.
  EXPECT_NEAR(student_t_cdf(2.5, 1), 0.5 + std::atan(2.5) / M_PI, 1e-14);
  EXPECT_THROW(student_t_cdf(1, 0), std::invalid_argument);
}

TEST(ReportStats, SummaryAndWelchMatchScipy) {
  const std::vector<double> a = {90.12, 90.55, 89.87}, b = {91.2, 91.05, 91.61};
  const auto s = summarize(a);
  EXPECT_EQ(s.n, 3);
  EXPECT_NEAR(s.mean, 90.18, 1e-12);
  EXPECT_NEAR(s.std, 0.3439476704383928, 1e-12);
  EXPECT_EQ(s.min, 89.87);
  EXPECT_EQ(s.max, 90.55);
  struct Case {
    std::vector<double> a, b;
    double t, df, p;
  };
  const Case cases[] = {
      {a, b, -4.261315974971881, 3.888471024137096, 0.013852774011873016},
      {{1, 2, 3, 4, 5}, {2.5, 3.1}, 0.26037782196164794, 4.930594900849859, 0.8050957935715624},
      {{90.0, 90.1, 89.9}, {95.0, 95.2, 94.9, 95.1}, -58.312377188154265, 4.959183673469426, 3.153123891343997e-08},
  };
  for (const auto& c : cases) {
    const auto w = welch_t_test(c.a, c.b);
    ASSERT_TRUE(w.defined);
    EXPECT_NEAR(w.t, c.t, 1e-10 * std::fabs(c.t));
    EXPECT_NEAR(w.df, c.df, 1e-10 * c.df);
    EXPECT_NEAR(w.p, c.p, 1e-9 * c.p);
  }
  // Undefined: a single run, or no spread at all.
  EXPECT_FALSE(welch_t_test({1.0}, {1.0, 2.0}).defined);
  EXPECT_FALSE(welch_t_test({1.0, 1.0}, {2.0, 2.0}).defined);
  EXPECT_TRUE(std::isnan(summarize({5.0}).std));
  EXPECT_THROW(summarize({1.0, NAN}), std::invalid_argument);
}

// Hand-worked: differences {1, 2, 3} have mean 2 and sd 1, so t = 2 / (1 / sqrt(3)) = 2 sqrt(3) with df 2,
// where the two-sided tail is 1 - t / sqrt(t^2 + 2) = 1 - 2 sqrt(3) / sqrt(14) = 0.0741799002274485; the other
// references are closed forms too (df 3: 1 - (2/pi)(atan(u) + u / (1 + u^2)), u = t / sqrt(3); df 4:
// 1 - sqrt(x)(3 - x) / 2, x = t^2 / (t^2 + 4)). Every p was cross-checked by numerical integration of the
// Student t density with mpmath 1.3.0 (40 digits), independently of signopt's incomplete beta:
//   2 * mpmath.quad(lambda x: gamma((df+1)/2) / (sqrt(df*pi) * gamma(df/2)) * (1 + x*x/df)**(-(df+1)/2),
//                   [abs(t), inf])
// and the accuracy-like case's mean, sd and t were computed there from the doubles' exact values.
TEST(ReportStats, PairedTTestByHand) {
  struct Case {
    std::vector<double> a, b;
    double mean, sd, t, df, p;
  };
  const Case cases[] = {
      {{1, 2, 3}, {0, 0, 0}, 2, 1, 3.4641016151377546, 2, 0.074179900227448538},
      {{0, 0, 0, 0}, {1, 3, 2, 6}, -3, 2.1602468994692867, -2.7774602993176544, 3, 0.069136869264428747},
      {{91, 93, 92, 94, 90},
       {90, 91, 89, 92, 88},
       2,
       0.70710678118654752,
       6.3245553203367587,
       4,
       0.0031982021523353066},
      {{91.2, 91.05, 91.61},
       {90.12, 90.55, 89.87},
       1.1066666666666644,
       0.62042995844279646,
       3.0894750771231214,
       2,
       0.090735090159293916},
  };
  for (const auto& c : cases) {
    const auto r = paired_t_test(c.a, c.b);
    EXPECT_EQ(r.n, static_cast<int64_t>(c.a.size()));
    EXPECT_NEAR(r.mean_difference, c.mean, 1e-12 * std::fabs(c.mean));
    EXPECT_NEAR(r.std_difference, c.sd, 1e-12 * c.sd);
    EXPECT_NEAR(r.t, c.t, 1e-10 * std::fabs(c.t));
    EXPECT_EQ(r.df, c.df);
    EXPECT_NEAR(r.p, c.p, 1e-9 * c.p) << "t=" << c.t << " df=" << c.df;
  }
  // Where t has no distribution: no pair or one pair, and all differences zero, give p = 1; the same
  // non-zero difference on every pair gives p = 0 (t = +-inf).
  const auto none = paired_t_test({}, {});
  EXPECT_EQ(none.n, 0);
  EXPECT_EQ(none.p, 1);
  EXPECT_TRUE(std::isnan(none.mean_difference));
  const auto one = paired_t_test({91.5}, {90.0});
  EXPECT_EQ(one.n, 1);
  EXPECT_EQ(one.mean_difference, 1.5);
  EXPECT_EQ(one.p, 1);
  EXPECT_TRUE(std::isnan(one.t));
  EXPECT_TRUE(std::isnan(one.df));
  EXPECT_TRUE(std::isnan(one.std_difference));
  const auto zero = paired_t_test({2, 3, 4}, {2, 3, 4});
  EXPECT_EQ(zero.p, 1);
  EXPECT_TRUE(std::isnan(zero.t));
  EXPECT_EQ(zero.df, 2);
  EXPECT_EQ(zero.mean_difference, 0);
  EXPECT_EQ(zero.std_difference, 0);
  const auto up = paired_t_test({2, 3, 4}, {1, 2, 3});
  EXPECT_EQ(up.p, 0);
  EXPECT_EQ(up.t, INFINITY);
  EXPECT_EQ(up.mean_difference, 1);
  EXPECT_EQ(up.std_difference, 0);
  const auto down = paired_t_test({0.5, 1.5}, {1, 2});
  EXPECT_EQ(down.p, 0);
  EXPECT_EQ(down.t, -INFINITY);
  EXPECT_THROW(paired_t_test({1, 2}, {1}), std::invalid_argument);
  EXPECT_THROW(paired_t_test({1, NAN}, {1, 2}), std::invalid_argument);
}

// Holm by hand: {0.01, 0.04, 0.03, 0.005} sorted is 0.005, 0.01, 0.03, 0.04; times 4, 3, 2, 1 that is
// 0.02, 0.03, 0.06, 0.04, and the running max makes the last 0.06.
TEST(ReportStats, HolmAdjustment) {
  auto expect_near = [](const std::vector<double>& got, const std::vector<double>& expected) {
    ASSERT_EQ(got.size(), expected.size());
    for (size_t i = 0; i < got.size(); ++i) {
      if (std::isnan(expected[i]))
        EXPECT_TRUE(std::isnan(got[i])) << i;
      else
        EXPECT_NEAR(got[i], expected[i], 1e-15) << i;
    }
  };
  expect_near(holm_adjusted({0.01, 0.04, 0.03, 0.005}), {0.03, 0.06, 0.06, 0.02});
  expect_near(holm_adjusted({0.02, NAN, 0.5}), {0.04, NAN, 0.5}); // m = 2: the NaN is not a comparison
  expect_near(holm_adjusted({0.6, 0.7}), {1, 1}); // capped at 1
  expect_near(holm_adjusted({0.01, 0.01, 0.2}), {0.03, 0.03, 0.2}); // ties get the same value
  expect_near(holm_adjusted({0.3}), {0.3});
  EXPECT_TRUE(holm_adjusted({}).empty());
  EXPECT_THROW(holm_adjusted({0.1, 1.5}), std::invalid_argument);
  EXPECT_THROW(holm_adjusted({-0.1}), std::invalid_argument);
}

// The exchange's settings separate configurations only between processes: a single-process SGD run
// (allreduce by default) and Signum run (majority-vote) are not confounded by them.
TEST(Report, ExchangeSettingsMatterOnlyForDistributedRuns) {
  const std::map<std::string, std::string> one = {
      {"optimizer", "signum"}, {"nproc", "1"}, {"aggregation", "majority-vote"}, {"vote-ties", "zero"},
      {"vote-zero-sign", "random"}, {"dist-timeout", "300"}, {"seed", "3"}};
  EXPECT_EQ(semantic_config(one), (std::map<std::string, std::string>{{"optimizer", "signum"}, {"nproc", "1"}}));
  auto legacy = one; // config.json without nproc: a single process
  legacy.erase("nproc");
  EXPECT_EQ(semantic_config(legacy), (std::map<std::string, std::string>{{"optimizer", "signum"}}));
  auto four = one;
  four["nproc"] = "4";
  const auto kept = semantic_config(four);
  EXPECT_EQ(kept.at("aggregation"), "majority-vote");
  EXPECT_EQ(kept.at("vote-ties"), "zero");
  EXPECT_EQ(kept.at("vote-zero-sign"), "random");
  EXPECT_EQ(kept.count("dist-timeout"), 0u); // how long to wait for peers changes nothing trained
  EXPECT_EQ(kept.count("seed"), 0u);
}

TEST(Report, GroupsRunsAndLeavesOutIncompleteOnes) {
  const fs::path root = make_standard_runs("group");
  const auto runs = find_runs(root.string());
  ASSERT_EQ(runs.size(), 9u); // 6 completed + interrupted + failed + no summary; .attempts skipped
  const Report report = build_report(runs, "", root.string());
  EXPECT_EQ(report.completed_runs, 6);
  ASSERT_EQ(report.tables.size(), 1u);
  const auto& t = report.tables[0];
  EXPECT_EQ(t.dataset, "fashion-mnist");
  ASSERT_EQ(t.configurations.size(), 2u);
  EXPECT_EQ(t.configurations[0].label, "sgd"); // signopt train's optimizer order
  EXPECT_EQ(t.configurations[1].label, "hybrid");
  EXPECT_EQ(t.baseline, "sgd"); // the default baseline
  const auto& sgd = t.configurations[0];
  EXPECT_EQ(sgd.final_test.summary.n, 3);
  EXPECT_NEAR(sgd.final_test.summary.mean, 90.18, 1e-12);
  EXPECT_NEAR(sgd.final_test.summary.std, 0.3439476704383928, 1e-12);
  EXPECT_NEAR(sgd.best_test.summary.max, 90.55 + 0.1, 1e-12); // seed 1
  EXPECT_TRUE(sgd.is_baseline);
  EXPECT_FALSE(sgd.final_test.vs_baseline.has_value());
  const auto& hybrid = t.configurations[1];
  ASSERT_TRUE(hybrid.final_test.vs_baseline.has_value());
  EXPECT_NEAR(hybrid.final_test.vs_baseline->p, 0.013852774011873016, 1e-9 * 0.0139);
  EXPECT_EQ(hybrid.lr, "0.001");
  ASSERT_EQ(report.not_counted.size(), 3u);
  std::set<std::string> statuses;
  for (const auto& r : report.not_counted)
    statuses.insert(r.status);
  EXPECT_EQ(statuses, (std::set<std::string>{"interrupted", "failed", "no summary"}));
}

TEST(Report, LabelsBaselinesValidationAndDatasets) {
  const fs::path root = fresh_dir("labels");
  for (int seed = 0; seed < 2; ++seed) {
    for (const double lr : {1e-3, 3e-3}) {
      FakeRun h;
      h.optimizer = "hybrid";
      h.lr = lr;
      h.seed = seed;
      h.final_test = lr > 2e-3 ? 91 + seed : 90 + seed;
      h.best_test = h.final_test;
      h.final_val = lr > 2e-3 ? 92.0 + seed : 93.0 + seed; // lr 1e-3 wins on validation
      make_run(root / ("hybrid-lr" + std::to_string(lr) + "-seed" + std::to_string(seed)), h);
    }
    FakeRun a;
    a.optimizer = "adam";
    a.lr = 1e-3;
    a.seed = seed;
    a.epochs = 3; // differs from the others without being in a label
    a.final_test = 89 + seed;
    a.final_val = 90.0;
    make_run(root / ("adam-seed" + std::to_string(seed)), a);
    FakeRun m;
    m.dataset = "mnist";
    m.seed = seed;
    m.final_test = 98 + 0.5 * seed;
    make_run(root / ("mnist-sgd-seed" + std::to_string(seed)), m);
  }
  const auto runs = find_runs(root.string());
  // An optimizer name with several configurations is ambiguous; the label is not.
  EXPECT_THROW(
      {
        try {
          build_report(runs, "hybrid");
        } catch (const std::invalid_argument& e) {
          EXPECT_NE(std::string(e.what()).find("'hybrid lr=0.001', 'hybrid lr=0.003'"), std::string::npos) << e.what();
          throw;
        }
      },
      std::invalid_argument);
  EXPECT_THROW(build_report(runs, "lion"), std::invalid_argument);
  const Report report = build_report(runs, "hybrid lr=0.003");
  ASSERT_EQ(report.tables.size(), 2u);
  const auto& fm = report.tables[0];
  EXPECT_EQ(fm.dataset, "fashion-mnist");
  EXPECT_EQ(fm.baseline, "hybrid lr=0.003");
  EXPECT_TRUE(fm.has_validation);
  const auto* low = find_config(fm, "hybrid lr=0.001");
  const auto* high = find_config(fm, "hybrid lr=0.003");
  const auto* adam = find_config(fm, "adam");
  ASSERT_TRUE(low && high && adam);
  EXPECT_TRUE(low->best_val_of_optimizer);
  EXPECT_FALSE(high->best_val_of_optimizer);
  EXPECT_FALSE(adam->best_val_of_optimizer); // its only configuration: no choice to show
  ASSERT_TRUE(low->final_val.has_value());
  EXPECT_DOUBLE_EQ(low->final_val->summary.mean, 93.5);
  EXPECT_TRUE(high->is_baseline);
  // mnist has no hybrid: no baseline there, and the table says why.
  const auto& mnist = report.tables[1];
  EXPECT_EQ(mnist.dataset, "mnist");
  EXPECT_TRUE(mnist.baseline.empty());
  EXPECT_NE(mnist.baseline_note.find("no configuration of this table matches"), std::string::npos);
  const std::string md = render_markdown(report);
  EXPECT_NE(md.find("| hybrid lr=0.001 | 0.001 | 2 |"), std::string::npos) << md;
  EXPECT_NE(md.find("**93.50 ± 0.71**"), std::string::npos) << md; // the validation choice, in bold
  EXPECT_NE(md.find("- epochs (adam: 3, hybrid lr=0.001: 2, hybrid lr=0.003: 2)"), std::string::npos) << md;
}

TEST(Report, MarkdownCsvAndJson) {
  const fs::path root = make_standard_runs("formats");
  ReportOptions options;
  options.runs_dir = root.string();
  options.plots = false;
  const auto md = write_report(options);
  EXPECT_EQ(md.table_file, (root / "report" / "report.md").string());
  const std::string text = read(md.table_file);
  EXPECT_NE(text.find("| sgd | 0.1 | 3 | 90.18 ± 0.34 | 89.87 | 90.55 | baseline |"), std::string::npos) << text;
  EXPECT_NE(text.find("| hybrid | 0.001 | 3 | 91.29 ± 0.29 | 91.05 | 91.61 | 0.014 |"), std::string::npos) << text;
  EXPECT_NE(text.find("## Runs not counted"), std::string::npos);
  EXPECT_NE(text.find("| `sgd-seed8` | failed | the training loss became NaN"), std::string::npos) << text;
  EXPECT_NE(text.find("| `sgd-seed7` | interrupted |"), std::string::npos) << text;

  options.format = "csv";
  options.out = (root / "tables" / "summary.csv").string();
  const auto csv = write_report(options);
  EXPECT_EQ(csv.table_file, options.out);
  std::istringstream lines(read(csv.table_file));
  std::string header, sgd, hybrid, extra;
  std::getline(lines, header);
  std::getline(lines, sgd);
  std::getline(lines, hybrid);
  EXPECT_FALSE(std::getline(lines, extra)); // one row per configuration
  EXPECT_EQ(header.rfind("dataset,configuration,optimizer,lr,n,final_test_mean,final_test_std,", 0), 0u);
  EXPECT_EQ(sgd.rfind("fashion-mnist,sgd,sgd,0.1,3,90.18,0.343948,89.87,90.55,,", 0), 0u) << sgd;
  EXPECT_NE(hybrid.find(",0.0138528,"), std::string::npos) << hybrid;

  options.format = "json";
  options.out = (root / "json").string(); // a directory
  const auto js = write_report(options);
  EXPECT_EQ(js.table_file, (root / "json" / "report.json").string());
  const auto j = nlohmann::json::parse(read(js.table_file));
  const auto& configs = j["datasets"][0]["configurations"];
  ASSERT_EQ(configs.size(), 2u);
  EXPECT_EQ(configs[1]["label"], "hybrid");
  EXPECT_NEAR(configs[1]["final_test_accuracy"]["p_value"].get<double>(), 0.013852774011873016, 1e-12);
  EXPECT_EQ(configs[0]["final_test_accuracy"]["values"].size(), 3u);
  EXPECT_EQ(configs[0]["config"]["batch-size"], 128);
  EXPECT_FALSE(configs[0]["config"].contains("seed"));
  EXPECT_EQ(j["not_counted"].size(), 3u);

  options.format = "md";
  options.out = (root / "x.csv").string();
  EXPECT_THROW(write_report(options), std::invalid_argument); // .csv file with --format md
  options.out = "";
  options.runs_dir = (root / "missing").string();
  EXPECT_THROW(write_report(options), std::invalid_argument);
}

// Paired by seed: sgd (the baseline), hybrid and signum over seeds 0-4, the others not pairable. sgd's
// accuracies spread over 4 points between seeds; hybrid is sgd + {1, 2, 3, 2, 2} (mean 2, sd sqrt(0.5),
// t = 2 sqrt(10), df 4, p = 0.0031982) and signum sgd + {-0.5, 0.5, -1.5, 0, -1} (mean -0.5, sd sqrt(0.625),
// t = -sqrt(2), df 4, p = 0.2302), see PairedTTestByHand. Holm over m = 2: hybrid 2 p = 0.0063964, signum
// max(0.0063964, 0.2302) = 0.2302. Welch's test sees only the spread (hybrid: t = 2, df 8, p = 0.0805).
TEST(Report, PairedBySeedWithHolm) {
  const fs::path root = fresh_dir("paired");
  const double sgd[] = {90.0, 91.0, 89.0, 92.0, 88.0};
  const double hybrid_diff[] = {1, 2, 3, 2, 2}, signum_diff[] = {-0.5, 0.5, -1.5, 0, -1};
  for (int seed = 0; seed < 5; ++seed) {
    const std::string name = "-seed" + std::to_string(seed);
    FakeRun s;
    s.seed = seed;
    s.final_test = s.best_test = sgd[seed];
    make_run(root / ("sgd" + name), s);
    FakeRun h;
    h.optimizer = "hybrid";
    h.lr = 1e-3;
    h.hybrid = true;
    h.seed = seed;
    h.final_test = h.best_test = sgd[seed] + hybrid_diff[seed];
    make_run(root / ("hybrid" + name), h);
    FakeRun g;
    g.optimizer = "signum";
    g.lr = 1e-3;
    g.seed = seed;
    g.final_test = g.best_test = sgd[seed] + signum_diff[seed];
    make_run(root / ("signum" + name), g);
    FakeRun a; // seeds 0, 1, 2, 3 and 9: seed 9 has no sgd run
    a.optimizer = "adam";
    a.lr = 1e-3;
    a.seed = seed < 4 ? seed : 9;
    a.final_test = a.best_test = 91;
    make_run(root / ("adam-seed" + std::to_string(a.seed)), a);
  }
  FakeRun lion; // one run: one pair
  lion.optimizer = "lion";
  lion.lr = 1e-4;
  lion.final_test = 90;
  make_run(root / "lion-seed0", lion);
  for (const char* dir : {"a", "b"}) {
    FakeRun e; // two runs with seed 1
    e.optimizer = "ef-signsgd";
    e.seed = 1;
    e.final_test = 89;
    make_run(root / dir / "ef-signsgd-seed1", e);
  }
  const Report report = build_report(find_runs(root.string()), "sgd", root.string());
  ASSERT_EQ(report.tables.size(), 1u);
  const auto& t = report.tables[0];
  EXPECT_EQ(t.paired_m, 2); // hybrid and signum
  const auto* base = find_config(t, "sgd");
  const auto* hybrid = find_config(t, "hybrid");
  const auto* signum = find_config(t, "signum");
  const auto* adam = find_config(t, "adam");
  const auto* one = find_config(t, "lion");
  const auto* repeats = find_config(t, "ef-signsgd");
  ASSERT_TRUE(base && hybrid && signum && adam && one && repeats);
  EXPECT_FALSE(base->paired_final_test.has_value());
  EXPECT_EQ(adam->seeds, (std::vector<std::string>{"0", "1", "2", "3", "9"}));
  ASSERT_TRUE(hybrid->paired_final_test.has_value());
  const auto& hp = *hybrid->paired_final_test;
  EXPECT_EQ(hp.note, "");
  EXPECT_EQ(hp.seeds, (std::vector<std::string>{"0", "1", "2", "3", "4"}));
  EXPECT_EQ(hp.test.n, 5);
  EXPECT_NEAR(hp.test.mean_difference, 2, 1e-12);
  EXPECT_NEAR(hp.test.std_difference, 0.70710678118654752, 1e-12);
  EXPECT_NEAR(hp.test.t, 6.3245553203367587, 1e-10);
  EXPECT_EQ(hp.test.df, 4);
  EXPECT_NEAR(hp.test.p, 0.0031982021523353066, 1e-9 * 0.0032);
  EXPECT_NEAR(hp.holm_p, 0.0063964043046706132, 1e-9 * 0.0064);
  EXPECT_NEAR(hybrid->final_test.vs_baseline->p, 0.080516237957262671, 1e-9 * 0.08); // Welch, as before
  ASSERT_TRUE(signum->paired_final_test.has_value());
  const auto& sp = *signum->paired_final_test;
  EXPECT_EQ(sp.note, "");
  EXPECT_NEAR(sp.test.mean_difference, -0.5, 1e-12);
  EXPECT_NEAR(sp.test.std_difference, 0.79056941504209483, 1e-12);
  EXPECT_NEAR(sp.test.p, 0.23019964108049898, 1e-9 * 0.23);
  EXPECT_NEAR(sp.holm_p, 0.23019964108049898, 1e-9 * 0.23); // the running max: not 2 p (m would be 3 or more)
  for (const auto* c : {adam, one, repeats}) {
    ASSERT_TRUE(c->paired_final_test.has_value()) << c->label;
    EXPECT_TRUE(std::isnan(c->paired_final_test->holm_p)) << c->label;
  }
  EXPECT_EQ(adam->paired_final_test->note, "unpaired: seeds differ");
  EXPECT_EQ(one->paired_final_test->note, "n/a: fewer than 2 pairs");
  EXPECT_EQ(repeats->paired_final_test->note, "unpaired: a seed repeats");

  const std::string md = render_markdown(report);
  EXPECT_NE(
      md.find(
          "| configuration | lr | n | final test | min | max | Welch p | paired diff | paired p | Holm p | best test "
          "| min | max | Welch p |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"),
      std::string::npos)
      << md;
  EXPECT_NE(
      md.find("| sgd | 0.1 | 5 | 90.00 ± 1.58 | 88.00 | 92.00 | baseline | baseline |  |  | 90.00 ± 1.58 | 88.00 | "
              "92.00 | baseline |\n"),
      std::string::npos)
      << md;
  EXPECT_NE(
      md.find("| hybrid | 0.001 | 5 | 92.00 ± 1.58 | 90.00 | 94.00 | 0.081 | +2.00 ± 0.71 | 0.0032 | 0.0064 | 92.00 ± "
              "1.58 | 90.00 | 94.00 | 0.081 |\n"),
      std::string::npos)
      << md;
  EXPECT_NE(
      md.find(
          "| signum | 0.001 | 5 | 89.50 ± 2.26 | 87.00 | 92.00 | 0.7 | -0.50 ± 0.79 | 0.23 | 0.23 | 89.50 ± 2.26 |"),
      std::string::npos)
      << md;
  EXPECT_NE(
      md.find(
          "| adam | 0.001 | 5 | 91.00 ± 0.00 | 91.00 | 91.00 | 0.23 | unpaired: seeds differ |  |  | 91.00 ± 0.00 |"),
      std::string::npos)
      << md;
  EXPECT_NE(
      md.find("| lion | 0.0001 | 1 | 90.00 | 90.00 | 90.00 | n/a | n/a: fewer than 2 pairs |  |  |"), std::string::npos)
      << md;
  EXPECT_NE(md.find(" | unpaired: a seed repeats |  |  | "), std::string::npos) << md;
  EXPECT_NE(
      md.find("Holm p that p after Holm's step-down correction for the m = 2 configurations compared with sgd by seed "
              "in this table"),
      std::string::npos)
      << md;

  std::istringstream lines(render_csv(report));
  std::string header, line;
  std::getline(lines, header);
  EXPECT_NE(header.find(",final_test_p,"), std::string::npos); // the Welch column keeps its name and place
  const std::string new_columns =
      ",baseline,best_val_of_optimizer,final_test_paired_n,final_test_paired_diff_mean,final_test_paired_diff_std,"
      "final_test_paired_p,final_test_holm_p,final_test_holm_m,final_test_paired_note";
  ASSERT_GE(header.size(), new_columns.size());
  EXPECT_EQ(header.substr(header.size() - new_columns.size()), new_columns) << header;
  std::map<std::string, std::string> rows;
  while (std::getline(lines, line))
    rows[line.substr(0, line.find(',', line.find(',') + 1))] = line;
  auto ends_with = [](const std::string& text, const std::string& end) {
    return text.size() >= end.size() && text.compare(text.size() - end.size(), end.size(), end) == 0;
  };
  EXPECT_TRUE(ends_with(rows["fashion-mnist,sgd"], ",true,false,,,,,,,")) << rows["fashion-mnist,sgd"];
  EXPECT_TRUE(ends_with(rows["fashion-mnist,hybrid"], ",false,false,5,2,0.707107,0.0031982,0.0063964,2,"))
      << rows["fashion-mnist,hybrid"];
  EXPECT_NE(rows["fashion-mnist,hybrid"].find(",0.0805162,"), std::string::npos) << rows["fashion-mnist,hybrid"];
  EXPECT_TRUE(ends_with(rows["fashion-mnist,signum"], ",false,false,5,-0.5,0.790569,0.2302,0.2302,2,"))
      << rows["fashion-mnist,signum"];
  EXPECT_TRUE(ends_with(rows["fashion-mnist,adam"], ",false,false,,,,,,,unpaired: seeds differ"))
      << rows["fashion-mnist,adam"];

  const auto j = nlohmann::json::parse(render_json(report));
  const auto& tj = j["datasets"][0];
  EXPECT_EQ(tj["paired_test"]["m"], 2);
  EXPECT_EQ(tj["paired_test"]["correction"], "holm");
  EXPECT_EQ(tj["paired_test"]["metric"], "final_test_accuracy");
  int checked = 0;
  for (const auto& c : tj["configurations"]) {
    const auto& ft = c["final_test_accuracy"];
    if (c["label"] == "sgd") {
      EXPECT_FALSE(ft.contains("paired_test"));
      ++checked;
    } else if (c["label"] == "hybrid") {
      const auto& pj = ft["paired_test"];
      EXPECT_EQ(pj["paired"], true);
      EXPECT_EQ(pj["note"], "");
      EXPECT_EQ(pj["seeds"], nlohmann::json::parse(R"(["0", "1", "2", "3", "4"])"));
      EXPECT_EQ(pj["n"], 5);
      EXPECT_NEAR(pj["mean_difference"].get<double>(), 2, 1e-12);
      EXPECT_NEAR(pj["std_difference"].get<double>(), 0.70710678118654752, 1e-12);
      EXPECT_NEAR(pj["t"].get<double>(), 6.3245553203367587, 1e-10);
      EXPECT_EQ(pj["df"], 4.0);
      EXPECT_NEAR(pj["p"].get<double>(), 0.0031982021523353066, 1e-12);
      EXPECT_NEAR(pj["holm_p"].get<double>(), 0.0063964043046706132, 1e-12);
      EXPECT_EQ(pj["holm_m"], 2);
      EXPECT_NEAR(ft["p_value"].get<double>(), 0.080516237957262671, 1e-12); // still Welch's
      ++checked;
    } else if (c["label"] == "adam") {
      EXPECT_EQ(ft["paired_test"], nlohmann::json::parse(R"({"paired": false, "note": "unpaired: seeds differ"})"));
      ++checked;
    }
  }
  EXPECT_EQ(checked, 3);
}

TEST(Report, PlotsAreMadeWithGnuplot) {
  if (find_program("gnuplot").empty())
    GTEST_SKIP() << "gnuplot is not installed (apt-get install gnuplot-nox)";
  const fs::path root = make_standard_runs("plots");
  FakeRun d;
  d.optimizer = "dithered-signum";
  d.lr = 1e-3;
  d.dither = true;
  d.final_test = 88;
  d.final_val = 89.0;
  make_run(root / "ds-seed0", d);
  ReportOptions options;
  options.runs_dir = root.string();
  const auto files = write_report(options);
  EXPECT_TRUE(files.report.plots.made) << files.report.plots.note;
  const fs::path plots = root / "report" / "plots";
  for (const char* stem :
       {"fashion-mnist-test-accuracy",
        "fashion-mnist-train-loss",
        "fashion-mnist-val-accuracy",
        "fashion-mnist-hybrid-calibrated-lr",
        "fashion-mnist-dither-alpha"}) {
    for (const char* ext : {".png", ".svg"}) {
      const fs::path f = plots / (std::string(stem) + ext);
      ASSERT_TRUE(fs::exists(f)) << f;
      EXPECT_GT(fs::file_size(f), 1000u) << f;
    }
  }
  EXPECT_EQ(read(plots / "fashion-mnist-test-accuracy.png").substr(1, 3), "PNG");
  EXPECT_NE(read(plots / "fashion-mnist-test-accuracy.svg").find("<svg"), std::string::npos);
  // The data behind the accuracy plot: epoch, mean, min, max over the sgd seeds.
  EXPECT_NE(read(plots / "fashion-mnist-test-accuracy.dat").find("2 90.18 89.87 90.55"), std::string::npos);
  EXPECT_NE(
      read(root / "report" / "report.md").find("![fashion-mnist-test-accuracy](plots/fashion-mnist-test-accuracy.svg)"),
      std::string::npos);
}

TEST(Report, TablesWithoutGnuplotSayPlotsWereSkipped) {
  const fs::path root = make_standard_runs("nognuplot");
  ReportOptions options;
  options.runs_dir = root.string();
  options.gnuplot = "/nonexistent/gnuplot";
  const auto files = write_report(options);
  EXPECT_FALSE(files.report.plots.made);
  const std::string md = read(files.table_file);
  EXPECT_NE(md.find("| sgd | 0.1 | 3 |"), std::string::npos);
  EXPECT_NE(md.find("Plots were skipped: gnuplot was not found"), std::string::npos) << md;
  EXPECT_TRUE(fs::exists(root / "report" / "plots" / "plots.gp"));
  EXPECT_TRUE(fs::exists(root / "report" / "plots" / "fashion-mnist-test-accuracy.dat"));
  EXPECT_FALSE(fs::exists(root / "report" / "plots" / "fashion-mnist-test-accuracy.png"));
}

TEST(Report, MetricsReaderToleratesATruncatedLastLineOnly) {
  const fs::path dir = fresh_dir("metrics");
  const std::string header =
      "kind,split,epoch,step,loss,accuracy,lr,phase,calibrated_lr,dither_alpha,img_per_s,elapsed_s\n";
  write(dir / "metrics.csv", header + "step,train,1,1,2.3,10,0.1,,,,100.0,0.1\nstep,train,1,2,2.");
  const auto rows = read_metrics(dir.string());
  ASSERT_EQ(rows.size(), 1u); // the line cut by a crash is dropped
  EXPECT_TRUE(std::isnan(rows[0].calibrated_lr));
  write(dir / "metrics.csv", header + "step,train,1,1,2.3\nstep,train,1,2,2.1,10,0.1,,,,100.0,0.1\n");
  try {
    read_metrics(dir.string());
    FAIL() << "a short line in the middle must be an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("metrics.csv:2: 5 fields, expected 12"), std::string::npos) << e.what();
  }
}

TEST(Report, MetricsReaderReadsTheCalibrationColumns) {
  const fs::path dir = fresh_dir("metrics-calibration");
  // The trainer's column order (bytes_sent, ... before img_per_s), the calibration columns last.
  write(
      dir / "metrics.csv",
      std::string(
          "kind,split,epoch,step,loss,accuracy,lr,phase,calibrated_lr,dither_alpha,bytes_sent,bytes_received,") +
          "comm_s,img_per_s,elapsed_s" + kCalibrationColumns + "\n" +
          "step,train,1,1,2.3,10,0.1,sign,0.02,,,,,100.0,0.1,0.5,0.25,1.5,0.75,,,4e-3,2e-3\n" +
          "step,train,1,2,2.2,11,0.1,sgd,0.02,,,,,100.0,0.2,,,,,,,,\n" +
          "final,test,1,2,0.5,80,0.1,,,,,,,0.0,0.3,,,,,,,,\n");
  const auto rows = read_metrics(dir.string());
  ASSERT_EQ(rows.size(), 3u);
  ASSERT_EQ(calibration_estimators(), (std::vector<std::string>{"swats", "least_squares", "norm", "momentum_ls"}));
  // The names the trainer writes: lambda_<name>, lambda_ema_<name> per estimator, in this order, just
  // before the timing columns.
  const auto& columns = signopt::train::metrics_columns();
  std::vector<std::string> calibration_columns;
  for (const auto& name : calibration_estimators()) {
    calibration_columns.push_back("lambda_" + name);
    calibration_columns.push_back("lambda_ema_" + name);
  }
  calibration_columns.push_back("img_per_s");
  calibration_columns.push_back("elapsed_s");
  ASSERT_GE(columns.size(), calibration_columns.size());
  EXPECT_EQ(
      std::vector<std::string>(columns.end() - static_cast<std::ptrdiff_t>(calibration_columns.size()), columns.end()),
      calibration_columns);
  ASSERT_EQ(rows[0].lambda.size(), 4u);
  ASSERT_EQ(rows[0].lambda_ema.size(), 4u);
  EXPECT_EQ(rows[0].lambda[0], 0.5);
  EXPECT_EQ(rows[0].lambda_ema[0], 0.25);
  EXPECT_EQ(rows[0].lambda[1], 1.5);
  EXPECT_EQ(rows[0].lambda_ema[1], 0.75);
  EXPECT_TRUE(std::isnan(rows[0].lambda_ema[2])); // an empty cell
  EXPECT_EQ(rows[0].lambda_ema[3], 2e-3);
  EXPECT_TRUE(rows[0].has_calibration());
  EXPECT_FALSE(rows[1].has_calibration());
  EXPECT_EQ(rows[1].lambda_ema.size(), 4u);
  EXPECT_EQ(rows[0].calibrated_lr, 0.02);
  // The switch is the first step or epoch row in the SGD phase, even without values of its own.
  const auto point = calibration_point(rows);
  ASSERT_NE(point.row, nullptr);
  EXPECT_TRUE(point.switched);
  EXPECT_EQ(point.row->step, 2);

  // Older files have no such columns: the vectors stay empty and nothing is a calibration point.
  write(dir / "metrics.csv", std::string(kOldHeader) + "\nstep,train,1,1,2.3,10,0.1,sgd,0.02,,100.0,0.1\n");
  const auto old_rows = read_metrics(dir.string());
  ASSERT_EQ(old_rows.size(), 1u);
  EXPECT_TRUE(old_rows[0].lambda.empty());
  EXPECT_TRUE(old_rows[0].lambda_ema.empty());
  EXPECT_FALSE(old_rows[0].has_calibration());
  EXPECT_EQ(calibration_point(old_rows).row, nullptr);

  // Without a switch (signum with --log-calibration), the last step or epoch row with values.
  std::vector<MetricRow> signum(4);
  for (size_t i = 0; i < signum.size(); ++i) {
    signum[i].kind = i == 3 ? "final" : "step";
    signum[i].step = static_cast<int64_t>(i + 1);
    signum[i].lambda_ema = {0.1 * static_cast<double>(i + 1), NAN, NAN, NAN};
  }
  signum[2].lambda_ema = {NAN, NAN, NAN, NAN};
  const auto last = calibration_point(signum);
  ASSERT_NE(last.row, nullptr);
  EXPECT_FALSE(last.switched);
  EXPECT_EQ(last.row->step, 2); // not 3 (no values) nor 4 (a final row)
}

namespace {

// The lines of plots.gp that draw `stem` (from its PNG output to its SVG output).
std::string script_of(const std::string& script, const std::string& stem) {
  const size_t begin = script.find("set output '" + stem + ".png'");
  const size_t end = script.find("set output '" + stem + ".svg'");
  if (begin == std::string::npos || end == std::string::npos)
    return "";
  return script.substr(begin, end - begin);
}

// Two hybrid configurations and a calibration-logging signum in the new metrics format, and sgd runs
// whose new-format files leave the calibration empty.
fs::path make_calibration_runs(const std::string& name) {
  const fs::path root = fresh_dir(name);
  for (int seed = 0; seed < 3; ++seed) {
    FakeRun h; // switches at step 5, every step logged
    h.optimizer = "hybrid";
    h.lr = 1e-3;
    h.seed = seed;
    h.final_test = 91;
    h.hybrid = true;
    h.calibration = true;
    make_run(root / ("hybrid-seed" + std::to_string(seed)), h);
    FakeRun s;
    s.seed = seed;
    s.final_test = 90;
    s.calibration_columns = true;
    make_run(root / ("sgd-seed" + std::to_string(seed)), s);
  }
  FakeRun late; // switches at step 4, which only an epoch row logs (step rows at 3 and 6)
  late.optimizer = "hybrid";
  late.lr = 3e-3;
  late.final_test = 91;
  late.hybrid = true;
  late.calibration = true;
  late.switch_step = 4;
  late.log_every = 3;
  make_run(root / "hybrid-lr0.003-seed0", late);
  for (int seed = 0; seed < 2; ++seed) {
    FakeRun g; // --log-calibration: values, no phase, no switch
    g.optimizer = "signum";
    g.lr = 1e-3;
    g.seed = seed;
    g.final_test = 89;
    g.calibration = true;
    make_run(root / ("signum-seed" + std::to_string(seed)), g);
  }
  return root;
}

} // namespace

TEST(Report, CalibrationTableAtTheSwitch) {
  const fs::path root = make_calibration_runs("calibration-table");
  ReportOptions options;
  options.runs_dir = root.string();
  options.plots = false;
  const auto files = write_report(options);
  ASSERT_EQ(files.report.tables.size(), 1u);
  const auto& t = files.report.tables[0];
  const auto* sgd = find_config(t, "sgd");
  const auto* hybrid = find_config(t, "hybrid lr=0.001");
  const auto* late = find_config(t, "hybrid lr=0.003");
  const auto* signum = find_config(t, "signum");
  ASSERT_TRUE(sgd && hybrid && late && signum);
  EXPECT_FALSE(sgd->calibration.has_value()); // the columns, but no values
  ASSERT_TRUE(hybrid->calibration.has_value());
  const auto& c = *hybrid->calibration;
  EXPECT_EQ(c.runs.size(), 3u);
  EXPECT_EQ(c.steps, (std::vector<int64_t>{5, 5, 5}));
  EXPECT_EQ(c.switched, (std::vector<bool>{true, true, true}));
  ASSERT_EQ(c.estimates.size(), 5u);
  EXPECT_EQ(c.estimates[0].name, "swats");
  EXPECT_EQ(c.estimates[4].name, "calibrated_lr");
  // swats at step 5: 0.005 (1 + seed).
  EXPECT_EQ(c.estimates[0].summary.n, 3);
  EXPECT_NEAR(c.estimates[0].summary.mean, 0.01, 1e-15);
  EXPECT_NEAR(c.estimates[0].summary.std, 0.005, 1e-15);
  EXPECT_NEAR(c.estimates[0].summary.min, 0.005, 1e-15);
  EXPECT_NEAR(c.estimates[0].summary.max, 0.015, 1e-15);
  EXPECT_NEAR(c.estimates[3].summary.mean, 0.04, 1e-15); // momentum_ls: 0.02 (1 + seed)
  EXPECT_NEAR(c.estimates[4].summary.mean, 0.031, 1e-15); // the calibrated rate: 0.03 + 0.001 seed
  ASSERT_TRUE(late->calibration.has_value());
  EXPECT_EQ(late->calibration->steps, (std::vector<int64_t>{4})); // the epoch row, not step row 6
  EXPECT_NEAR(late->calibration->estimates[0].summary.mean, 0.004, 1e-15);
  ASSERT_TRUE(signum->calibration.has_value());
  EXPECT_EQ(signum->calibration->switched, (std::vector<bool>{false, false}));
  EXPECT_EQ(signum->calibration->steps, (std::vector<int64_t>{8, 8})); // the last logged row
  EXPECT_EQ(signum->calibration->estimates.size(), 4u); // no calibrated_lr without the hybrid

  const std::string md = read(files.table_file);
  EXPECT_EQ(md.find("### sgd: learning-rate calibration"), std::string::npos) << md;
  const size_t section = md.find("### hybrid lr=0.001: learning-rate calibration");
  ASSERT_NE(section, std::string::npos) << md;
  EXPECT_NE(md.find("step 5 in all 3 runs", section), std::string::npos) << md;
  EXPECT_NE(md.find("| estimator | n | lambda_ema | min | max |", section), std::string::npos) << md;
  EXPECT_NE(md.find("| swats | 3 | 0.01 ± 0.005 | 0.005 | 0.015 |", section), std::string::npos) << md;
  EXPECT_NE(md.find("| least_squares | 3 | 0.02 ± 0.01 | 0.01 | 0.03 |", section), std::string::npos) << md;
  EXPECT_NE(md.find("| norm | 3 | 0.03 ± 0.015 | 0.015 | 0.045 |", section), std::string::npos) << md;
  EXPECT_NE(md.find("| momentum_ls | 3 | 0.04 ± 0.02 | 0.02 | 0.06 |", section), std::string::npos) << md;
  EXPECT_NE(
      md.find("| calibrated_lr (the run's rate) | 3 | 0.031 ± 0.001 | 0.03 | 0.032 |", section), std::string::npos)
      << md;
  const size_t late_section = md.find("### hybrid lr=0.003: learning-rate calibration");
  ASSERT_NE(late_section, std::string::npos) << md;
  EXPECT_NE(md.find("in the SGD phase: step 4)", late_section), std::string::npos) << md;
  EXPECT_NE(md.find("| swats | 1 | 0.004 | 0.004 | 0.004 |", late_section), std::string::npos) << md;
  const size_t signum_section = md.find("### signum: learning-rate calibration");
  ASSERT_NE(signum_section, std::string::npos) << md;
  EXPECT_NE(
      md.find("at the last logged step (step 8; none of the 2 runs switched to SGD)", signum_section),
      std::string::npos)
      << md;
  EXPECT_NE(md.find("| swats | 2 | 0.012 ± 0.005657 | 0.008 | 0.016 |", signum_section), std::string::npos) << md;
  const std::string signum_text = md.substr(signum_section, md.find("\n#", signum_section + 1) - signum_section);
  EXPECT_EQ(signum_text.find("calibrated_lr (the run's rate)"), std::string::npos) << signum_text;

  options.format = "json";
  options.out = (root / "json").string();
  const auto j = nlohmann::json::parse(read(write_report(options).table_file));
  int checked = 0;
  for (const auto& config : j["datasets"][0]["configurations"]) {
    if (config["label"] == "sgd")
      EXPECT_FALSE(config.contains("calibration"));
    if (config["label"] != "hybrid lr=0.001")
      continue;
    ++checked;
    const auto& cj = config["calibration"];
    EXPECT_EQ(cj["steps"], nlohmann::json::parse("[5, 5, 5]"));
    EXPECT_NEAR(cj["lambda_ema"]["swats"]["mean"].get<double>(), 0.01, 1e-15);
    EXPECT_EQ(cj["lambda_ema"]["norm"]["values"].size(), 3u);
    EXPECT_NEAR(cj["calibrated_lr"]["max"].get<double>(), 0.032, 1e-15);
  }
  EXPECT_EQ(checked, 1);
}

TEST(Report, CalibrationPlotPerConfiguration) {
  const fs::path root = make_calibration_runs("calibration-plot");
  ReportOptions options;
  options.runs_dir = root.string();
  options.gnuplot = "/nonexistent/gnuplot"; // the data and the script are written all the same
  write_report(options);
  const fs::path plots = root / "report" / "plots";
  const std::string script = read(plots / "plots.gp");
  const std::string hybrid = script_of(script, "fashion-mnist-hybrid_lr_0.001-calibration");
  ASSERT_FALSE(hybrid.empty()) << script;
  EXPECT_NE(hybrid.find("set logscale y\n"), std::string::npos) << hybrid;
  EXPECT_NE(hybrid.find("set arrow from 5, graph 0 to 5, graph 1 nohead"), std::string::npos) << hybrid;
  EXPECT_NE(hybrid.find("title 'swats'"), std::string::npos) << hybrid;
  EXPECT_NE(hybrid.find("title 'momentum_ls'"), std::string::npos) << hybrid;
  EXPECT_NE(
      hybrid.find("index 4 using 1:2 with lines dt 2 lw 2 lc rgb 'black' title 'calibrated_lr (the run''s rate)'"),
      std::string::npos)
      << hybrid;
  // Step rows only: mean, min and max over the seeds per step.
  const std::string data = read(plots / "fashion-mnist-hybrid_lr_0.001-calibration.dat");
  EXPECT_EQ(data.rfind("# swats\n# x mean min max\n1 0.002 0.001 0.003\n", 0), 0u) << data;
  EXPECT_NE(data.find("\n5 0.01 0.005 0.015\n"), std::string::npos) << data;
  EXPECT_NE(data.find("# calibrated_lr (the run's rate)\n# x mean min max\n1 0.031 0.03 0.032\n"), std::string::npos)
      << data;
  const std::string late = script_of(script, "fashion-mnist-hybrid_lr_0.003-calibration");
  EXPECT_NE(late.find("set arrow from 4, graph 0 to 4, graph 1 nohead"), std::string::npos) << late;
  EXPECT_EQ(
      read(plots / "fashion-mnist-hybrid_lr_0.003-calibration.dat").find("\n4 "), std::string::npos); // no step row 4
  const std::string signum = script_of(script, "fashion-mnist-signum-calibration");
  ASSERT_FALSE(signum.empty()) << script;
  EXPECT_EQ(signum.find("set arrow"), std::string::npos) << signum; // no switch
  EXPECT_EQ(signum.find("calibrated_lr"), std::string::npos) << signum;
  EXPECT_EQ(script.find("sgd-calibration"), std::string::npos);
  EXPECT_FALSE(fs::exists(plots / "fashion-mnist-sgd-calibration.dat"));

  if (find_program("gnuplot").empty())
    GTEST_SKIP() << "gnuplot is not installed (apt-get install gnuplot-nox)";
  options.gnuplot = "gnuplot";
  const auto files = write_report(options);
  EXPECT_TRUE(files.report.plots.made) << files.report.plots.note;
  EXPECT_EQ(files.report.plots.note, "") << read(plots / "gnuplot.log"); // gnuplot accepted every line
  for (const char* stem :
       {"fashion-mnist-hybrid_lr_0.001-calibration",
        "fashion-mnist-hybrid_lr_0.003-calibration",
        "fashion-mnist-signum-calibration"}) {
    for (const char* ext : {".png", ".svg"}) {
      const fs::path f = plots / (std::string(stem) + ext);
      ASSERT_TRUE(fs::exists(f)) << f;
      EXPECT_GT(fs::file_size(f), 1000u) << f;
    }
  }
  EXPECT_NE(
      read(files.table_file)
          .find("![fashion-mnist-hybrid_lr_0.001-calibration](plots/fashion-mnist-hybrid_lr_0.001-calibration.svg)"),
      std::string::npos);
}

TEST(Report, RunsWithoutCalibrationColumnsReportWithoutTheTable) {
  const fs::path root = make_standard_runs("calibration-old"); // metrics.csv from before the columns
  ReportOptions options;
  options.runs_dir = root.string();
  options.gnuplot = "/nonexistent/gnuplot";
  const auto files = write_report(options);
  ASSERT_EQ(files.report.tables.size(), 1u);
  for (const auto& c : files.report.tables[0].configurations)
    EXPECT_FALSE(c.calibration.has_value()) << c.label;
  const std::string md = read(files.table_file);
  EXPECT_NE(md.find("| hybrid | 0.001 | 3 | 91.29 ± 0.29 |"), std::string::npos) << md;
  EXPECT_EQ(md.find("learning-rate calibration"), std::string::npos) << md;
  EXPECT_EQ(md.find("Some metrics could not be read"), std::string::npos) << md;
  const fs::path plots = root / "report" / "plots";
  EXPECT_TRUE(fs::exists(plots / "fashion-mnist-hybrid-calibrated-lr.dat")); // the older plot is still made
  EXPECT_FALSE(fs::exists(plots / "fashion-mnist-hybrid-calibration.dat"));
  EXPECT_EQ(read(plots / "plots.gp").find("-calibration."), std::string::npos);
}

TEST(Report, CommandLine) {
  const fs::path root = make_standard_runs("cli");
  const fs::path log = root.parent_path() / "cli.log";
  EXPECT_EQ(run_cli({"report", root.string(), "--out", (root / "t.json").string(), "--no-plots"}, log), 0) << read(log);
  EXPECT_EQ(nlohmann::json::parse(read(root / "t.json"))["completed_runs"], 6);
  EXPECT_NE(read(log).find("report: 6 completed runs in 1 dataset table; 3 run(s) not completed"), std::string::npos)
      << read(log);
  EXPECT_EQ(run_cli({"report", root.string(), "--format", "xml"}, log), 2);
  EXPECT_NE(read(log).find("error: --format xml: expected md, csv or json"), std::string::npos) << read(log);
  EXPECT_EQ(run_cli({"report", (root / "nope").string()}, log), 2);
  EXPECT_NE(read(log).find("is not a directory"), std::string::npos) << read(log);
  EXPECT_EQ(run_cli({"report", root.string(), "--baseline", "lion"}, log), 2);
  EXPECT_NE(
      read(log).find("--baseline lion matches no configuration; the configurations are 'sgd', 'hybrid'"),
      std::string::npos)
      << read(log);
}
