// The report's calibration table and plots (hybrid runs that log their calibration), on hand-written runs.
#include <signopt/report/report.h>

#include <gtest/gtest.h>

#include "fake_runs.h"

#include <filesystem>
#include <fstream>
#include <string>

using namespace signopt::test::report_runs;

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
