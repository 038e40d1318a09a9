// `signopt report`: grouping of hand-written run directories into configurations, incomplete runs left
// out, pairing by seed, Markdown / CSV / JSON, and plots. The statistics themselves: tests/stats; the
// calibration table and plots: test_report_calibration.cpp.
#include <signopt/report/process.h>
#include <signopt/report/report.h>
#include <signopt/report/stats.h>
#include <signopt/train/trainer.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fake_runs.h"

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
using namespace signopt::test::report_runs;

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

TEST(Report, RoundingSettingsMatterOnlyForSixteenBitRuns) {
  const std::map<std::string, std::string> f32 = {
      {"optimizer", "signum"}, {"param-dtype", "float32"}, {"rounding", "nearest"}, {"rounding-seed", "3"},
      {"momentum-dtype", "parameter"}, {"seed", "3"}};
  EXPECT_EQ(semantic_config(f32), (std::map<std::string, std::string>{{"optimizer", "signum"}, {"param-dtype", "float32"}}));
  auto b16 = f32;
  b16["param-dtype"] = "bfloat16";
  const auto kept = semantic_config(b16);
  EXPECT_EQ(kept.at("rounding"), "nearest");
  EXPECT_EQ(kept.at("momentum-dtype"), "parameter");
  EXPECT_EQ(kept.count("rounding-seed"), 0u) << "the run's own seed by default";
  b16["rounding-seed"] = "9";
  EXPECT_EQ(semantic_config(b16).at("rounding-seed"), "9");
  auto json_text = f32; // config.json's values as the report reads them: JSON text
  json_text["param-dtype"] = "\"float32\"";
  EXPECT_EQ(semantic_config(json_text).count("rounding"), 0u);
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

// The runs of the paired tests below: sgd, hybrid (sgd + 1, 2, 3, 2, 2) and signum (sgd - 0.5, + 0.5, - 1.5, 0,
// - 1) on seeds 0-4; adam on seeds 0-3 and 9; one lion run; two ef-signsgd runs with the same seed.
fs::path make_paired_runs(const std::string& name) {
  const fs::path root = fresh_dir(name);
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
  return root;
}

// The report of make_paired_runs against sgd.
Report paired_report(const std::string& name) {
  const fs::path root = make_paired_runs(name);
  return build_report(find_runs(root.string()), "sgd", root.string());
}

// Paired by seed: sgd (the baseline), hybrid and signum over seeds 0-4, the others not pairable. sgd's
// accuracies spread over 4 points between seeds; hybrid is sgd + {1, 2, 3, 2, 2} (mean 2, sd sqrt(0.5),
// t = 2 sqrt(10), df 4, p = 0.0031982) and signum sgd + {-0.5, 0.5, -1.5, 0, -1} (mean -0.5, sd sqrt(0.625),
// t = -sqrt(2), df 4, p = 0.2302), see PairedTTestByHand. Holm over m = 2: hybrid 2 p = 0.0063964, signum
// max(0.0063964, 0.2302) = 0.2302. Welch's test sees only the spread (hybrid: t = 2, df 8, p = 0.0805).
TEST(Report, PairedBySeedWithHolm) {
  const Report report = paired_report("paired");
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
}

// The paired columns of make_paired_runs' report in Markdown and CSV.
TEST(Report, PairedBySeedInMarkdownAndCsv) {
  const Report report = paired_report("paired-markdown");
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
}

// The paired test of make_paired_runs' report in JSON.
TEST(Report, PairedBySeedInJson) {
  const Report report = paired_report("paired-json");
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
