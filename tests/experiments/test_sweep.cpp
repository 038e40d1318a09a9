// `signopt sweep`: the sweep file's schema and its errors, grid expansion and run names, the
// validation-based selection, and real sweeps of tiny synthetic runs: completion, skipping
// finished runs, resuming an interrupted one, failing runs, Ctrl-C.
#include <signopt/report/process.h>
#include <signopt/report/runs.h>
#include <signopt/experiments/sweep.h>
#include <signopt/train/config.h>
#include <signopt/train/trainer.h>

#include <gtest/gtest.h>

#include "support/temp_dirs.h"
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;
using namespace signopt::report;
using namespace signopt::experiments;
using signopt::train::ConfigError;

namespace {

const auto* const kCleanUp = signopt::test::remove_when_passed("signopt_sweep");

fs::path fresh_dir(const std::string& name) {
  return signopt::test::fresh_dir("signopt_sweep", name, /*create=*/true);
}

std::string read(const fs::path& path) {
  return signopt::test::read_file(path);
}

fs::path write_file(const fs::path& path, const std::string& text) {
  std::ofstream(path) << text;
  return path;
}

// The tiny synthetic run every real sweep here uses (~1 s per run on 2 cores).
const std::string kTiny =
    "dataset = \"synthetic\"\nsynthetic_train = 256\nsynthetic_test = 64\nmodel = \"mlp\"\nbatch_size = 64\n"
    "log_every = 1\n";

// Runs a sweep in this process (the runs are `signopt` child processes); returns status and output.
// One core by default: on a busy 2-core machine two OpenMP threads per run can be 10x slower.
// `dry_run`: print the plan only.
std::pair<int, std::string> sweep(
    const fs::path& file, const fs::path& out, int jobs = 1, int cores = 1, bool dry_run = false) {
  SweepOptions options;
  options.config_file = file.string();
  options.out_dir = out.string();
  options.jobs = jobs;
  options.dry_run = dry_run;
  options.progress = "lines";
  options.binary = SIGNOPT_CLI_BINARY;
  options.cores = cores;
  std::ostringstream text;
  const int status = run_sweep(options, text);
  return {status, text.str()};
}

std::vector<std::string> names(const std::vector<SweepRun>& runs) {
  std::vector<std::string> out;
  for (const auto& r : runs)
    out.push_back(r.name);
  return out;
}

// The message of the ConfigError that parsing (and validating) `toml` throws; "" if none.
std::string schema_error(const std::string& toml) {
  try {
    auto spec = parse_sweep(toml, "s.toml");
    auto runs = expand_sweep(spec);
    validate_runs(spec, runs);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

// metrics.csv without the timing columns (img_per_s, elapsed_s).
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

nlohmann::json sweep_state(const fs::path& out) {
  return nlohmann::json::parse(read(out / "sweep.json"));
}

const nlohmann::json& run_state(const nlohmann::json& state, const std::string& name) {
  for (const auto& r : state["runs"])
    if (r["name"] == name)
      return r;
  throw std::runtime_error("no run " + name + " in sweep.json");
}

} // namespace

TEST(SweepSpec, ExpandsTheGridWithPerOptimizerOverrides) {
  const auto spec = parse_sweep(
      "preset = \"fmnist-cnn\"\nepochs = 2\noptimizer = [\"sgd\", \"signum\", \"hybrid\"]\nlr = [1e-3, 3e-3]\n"
      "seed = [0, 1]\n\n[by_optimizer.sgd]\nlr = [0.03, 0.1]\nmomentum = 0.8\n\n[by_optimizer.hybrid]\nlr = 1e-3\n"
      "switch_epoch = [1, 2]\n",
      "s.toml");
  const auto runs = expand_sweep(spec);
  EXPECT_EQ(
      names(runs),
      (std::vector<std::string>{
          "sgd-lr0.03-seed0",
          "sgd-lr0.03-seed1",
          "sgd-lr0.1-seed0",
          "sgd-lr0.1-seed1",
          "signum-lr0.001-seed0",
          "signum-lr0.001-seed1",
          "signum-lr0.003-seed0",
          "signum-lr0.003-seed1",
          "hybrid-switch_epoch1-seed0",
          "hybrid-switch_epoch1-seed1",
          "hybrid-switch_epoch2-seed0",
          "hybrid-switch_epoch2-seed1"}));
  EXPECT_EQ(
      runs[3].train_args("d", 3),
      (std::vector<std::string>{
          "--preset",
          "fmnist-cnn",
          "--epochs",
          "2",
          "--momentum",
          "0.8",
          "--optimizer",
          "sgd",
          "--lr",
          "0.1",
          "--seed",
          "1",
          "--out",
          "d",
          "--threads",
          "3"}));
  EXPECT_EQ(runs[8].option("lr"), "0.001"); // the hybrid's scalar replaced the lr axis
  EXPECT_EQ(runs[8].option("momentum"), ""); // sgd's override stays with sgd
  EXPECT_EQ(runs[0].stage, "");

  // Outer axes name themselves; list options vary as lists of lists; threads given = threads used.
  const auto spec2 = parse_sweep(
      "dataset = [\"mnist\", \"fashion-mnist\"]\noptimizer = \"adam\"\nthreads = 1\nlr = [1e-05]\n"
      "lr_schedule = \"step\"\nlr_milestones = [[1], [1, 2]]\n",
      "s.toml");
  const auto runs2 = expand_sweep(spec2);
  EXPECT_EQ(
      names(runs2),
      (std::vector<std::string>{
          "mnist-lr1e-05-lr_milestones1",
          "mnist-lr1e-05-lr_milestones1_2",
          "fashion-mnist-lr1e-05-lr_milestones1",
          "fashion-mnist-lr1e-05-lr_milestones1_2"}));
  EXPECT_EQ(runs2[1].option("lr-milestones"), "1,2");
  const auto args = runs2[0].train_args("d", 4);
  EXPECT_EQ(std::count(args.begin(), args.end(), "--threads"), 1);
  EXPECT_EQ(args[std::find(args.begin(), args.end(), "--threads") - args.begin() + 1], "1");

  // A single run without axes.
  EXPECT_EQ(names(expand_sweep(parse_sweep("optimizer = \"sgd\"\n", "s.toml"))), std::vector<std::string>{"run"});
}

TEST(SweepSpec, SchemaErrorsNameTheKey) {
  const std::pair<std::string, std::string> cases[] = {
      {"lrr = 0.1\n", "s.toml: unknown option 'lrr' (did you mean 'lr'?)"},
      {"lr = []\n", "s.toml: lr: an empty list gives no runs"},
      {"seed = [0, 0]\n", "s.toml: seed: the value 0 appears twice"},
      {"lr = [0.1, \"x\"]\n", "s.toml: lr: the list mixes types"},
      {"lr = -1.0\n", "invalid value for s.toml: lr: '-1' (expected a number > 0)"},
      {"optimizer = [\"sgd\", \"adamm\"]\n", "invalid value for s.toml: optimizer: 'adamm' (expected one of sgd,"},
      {"optimizer = [\"sgd\"]\n[by_optimizer.lion]\nlr = 1e-4\n",
       "s.toml: by_optimizer.lion: the sweep does not run lion (its optimizers: sgd)"},
      {"[by_optimizer.foo]\nlr = 1.0\n", "s.toml: by_optimizer.foo: 'foo' is not an optimizer"},
      {"[optimizer.hybrid]\nlr = [1e-3]\n", "(per-optimizer settings go in [by_optimizer.NAME])"},
      {"[grid]\nlr = [1e-3]\n", "s.toml: [grid]: unknown table"},
      {"out = \"x\"\n", "s.toml: out: the sweep names each run directory itself"},
      {"optimizer = [\"sgd\"]\n[by_optimizer.sgd]\nlrr = 1.0\n",
       "s.toml: by_optimizer.sgd: unknown option 'lrr' (did you mean 'lr'?)"},
      {"optimizer = [\"sgd\"]\n[by_optimizer.sgd]\nlr = [0.1, -1.0]\n",
       "invalid value for s.toml: by_optimizer.sgd.lr: '-1' (expected a number > 0)"},
      {"optimizer = [\"sgd\"]\n[by_optimizer.sgd]\noptimizer = \"adam\"\n",
       "by_optimizer.sgd.optimizer: the optimizer is"},
      {"lr = [1e-3, 3e-3]\n[select]\nmetric = \"final_test_accuracy\"\naxes = [\"lr\"]\n",
       "s.toml: select.metric: 'final_test_accuracy' would choose on the test set"},
      {"lr = [1e-3, 3e-3]\n[select]\naxes = [\"momentum\"]\n",
       "s.toml: select.axes: 'momentum' is not a list anywhere in the sweep file"},
      {"lr = [1e-3, 3e-3]\n[select]\naxes = [\"lr\"]\n[select.final]\nepochs = [1, 2]\n",
       "s.toml: select.final.epochs: only seed may be a list here"},
      {"lr = [1e-3, 3e-3]\n[select]\naxes = [\"lr\"]\nmetrc = 1\n", "s.toml: select.metrc: unknown key"},
      {"lr = [1e-3, 3e-3]\n[select]\naxes = [\"lr\"]\n",
       "[select] chooses on the validation split, but this run has "
       "val_fraction 0"},
      {"lr = [1e-3\n", "s.toml:1:"},
      {"lr_schedule = \"step\"\nlr_milestones = [[1, 2], [0]]\n", "invalid value for s.toml: lr_milestones: '0'"},
      {"epochs = 2\noptimizer = [\"hybrid\"]\n[by_optimizer.hybrid]\nswitch_epoch = [1, 9]\n",
       "s.toml: run hybrid-switch_epoch9: --switch-epoch 9 is after the last epoch (2)"},
      {"config = \"base.toml\"\n", "s.toml: config: a sweep file cannot include a config file"},
      // Values of the wrong type, as `signopt train --config` refuses them.
      {"batch_size = \"64\"\n", "s.toml: batch_size: expected a whole number, got the string \"64\" (write it without quotes)"},
      {"epochs = 2.0\n", "s.toml: epochs: expected a whole number, got the number 2.0"},
      {"seed = [0, 1.5]\n", "s.toml: seed: expected a whole number, got the number 1.5"},
      {"lr = true\n", "s.toml: lr: expected a number, got the boolean true"},
      {"lr = [\"0.1\", \"0.2\"]\n", "s.toml: lr: expected a number, got the string \"0.1\""},
      {"optimizer = 3\n", "s.toml: optimizer: expected a string (one of sgd, adam,"},
      {"nesterov = \"true\"\n", "s.toml: nesterov: expected true or false"},
      {"lr_schedule = \"step\"\nlr_milestones = 30\n", "s.toml: lr_milestones: expected a list of whole numbers"},
      // One option in two spellings.
      {"batch_size = 64\nbatch-size = 32\n", "s.toml: batch-size: the same option as batch_size, which the file also sets"},
      {"optimizer = [\"sgd\"]\n[by_optimizer.sgd]\nweight_decay = 0.1\nweight-decay = [0.2]\n",
       "s.toml: by_optimizer.sgd.weight-decay: the same option as by_optimizer.sgd.weight_decay"},
      // Counts past their limits.
      {"epochs = 1152921504606846976\n", "invalid value for s.toml: epochs: '1152921504606846976' (expected a whole number in 1..100000;"},
      {"threads = [1, 100000]\n", "invalid value for s.toml: threads: '100000' (expected a whole number in 0..1024;"},
  };
  for (const auto& [toml, expected] : cases) {
    const std::string message = schema_error(toml);
    EXPECT_NE(message.find(expected), std::string::npos) << "file:\n" << toml << "message: " << message;
  }
  EXPECT_EQ(schema_error(kTiny + "optimizer = [\"sgd\", \"lion\"]\nseed = [0, 1]\n"), "");
  // TOML's own integer forms are integers; a whole number is a fine value for a float option.
  const auto spec = parse_sweep("batch_size = 0x40\nlr = [1, 0.5]\n", "s.toml");
  EXPECT_EQ(spec.fixed, (std::vector<OptionValue>{{"batch-size", "64"}}));
  ASSERT_EQ(spec.axes.size(), 1u);
  EXPECT_EQ(spec.axes[0].values, (std::vector<std::string>{"1", "0.5"}));
}

TEST(SweepSpec, AResumeNeverChangesTheThreadCount) {
  // Only the run directory: the run keeps the threads its config.json recorded when it started.
  EXPECT_EQ(resume_train_args("out/sgd-seed0"), (std::vector<std::string>{"--resume", "out/sgd-seed0"}));
}

TEST(SweepSpec, SelectionPicksTheBestMeanValidationAccuracyPerGroup) {
  const auto spec = parse_sweep(
      "val_fraction = 0.1\noptimizer = [\"signum\", \"hybrid\"]\nlr = [1e-3, 3e-3]\nseed = [0, 1]\n"
      "[select]\nmetric = \"final_val_accuracy\"\naxes = [\"lr\"]\n[select.final]\nval_fraction = 0.0\nseed = [7, 8]\n",
      "s.toml");
  auto first = expand_sweep(spec);
  ASSERT_EQ(first.size(), 8u);
  EXPECT_EQ(first[0].stage, "select");
  const std::map<std::string, std::optional<double>> metrics = {
      {"signum-lr0.001-seed0", 90.0},
      {"signum-lr0.001-seed1", 91.0},
      {"signum-lr0.003-seed0", 92.0}, // the same mean 90.5: a tie goes to the first listed value
      {"signum-lr0.003-seed1", 89.0},
      {"hybrid-lr0.001-seed0", 95.0},
      {"hybrid-lr0.001-seed1", std::nullopt}, // did not complete: the candidate is left out
      {"hybrid-lr0.003-seed0", 80.0},
      {"hybrid-lr0.003-seed1", 81.0},
  };
  const auto [choices, finals] = select_final_runs(spec, first, metrics);
  ASSERT_EQ(choices.size(), 2u);
  EXPECT_EQ(choices[0].group, "signum");
  EXPECT_EQ(choices[0].chosen, (std::vector<OptionValue>{{"lr", "0.001"}}));
  EXPECT_DOUBLE_EQ(choices[0].mean, 90.5);
  EXPECT_EQ(choices[1].chosen, (std::vector<OptionValue>{{"lr", "0.003"}}));
  EXPECT_NE(choices[1].notes[0].find("lr=0.001: left out"), std::string::npos) << choices[1].notes[0];
  EXPECT_EQ(
      names(finals),
      (std::vector<std::string>{
          "signum-lr0.001-seed7", "signum-lr0.001-seed8", "hybrid-lr0.003-seed7", "hybrid-lr0.003-seed8"}));
  EXPECT_EQ(finals[0].stage, "final");
  EXPECT_EQ(finals[0].option("val-fraction"), "0");
  EXPECT_EQ(finals[3].option("seed"), "8");
}

TEST(SweepSpec, ShippedConfigsAreValid) {
  const fs::path dir = SIGNOPT_CONFIGS_DIR;
  for (const char* paper : {"paper-cifar10", "paper-cifar100"}) {
    auto spec = load_sweep((dir / (std::string(paper) + ".toml")).string());
    auto runs = expand_sweep(spec);
    validate_runs(spec, runs);
    ASSERT_EQ(runs.size(), 15u) << paper; // 5 optimizers x 3 seeds
    EXPECT_EQ(runs[0].name, "sgd-seed0");
    EXPECT_EQ(runs[14].name, "hybrid-seed2");
    EXPECT_NE(runs[14].config_json.find("\"epochs\": 200"), std::string::npos);
  }
  auto spec = load_sweep((dir / "fmnist-cpu.toml").string());
  auto runs = expand_sweep(spec);
  validate_runs(spec, runs);
  ASSERT_EQ(runs.size(), 50u); // 7 optimizers x 3 learning rates x 2 seeds + 4 more rates (sgd, adam, ef-signsgd, lion)
  std::set<std::string> optimizers;
  std::map<std::string, std::optional<double>> metrics;
  for (const auto& r : runs) {
    optimizers.insert(r.option("optimizer"));
    EXPECT_EQ(r.stage, "select");
    EXPECT_EQ(r.option("val-fraction"), "0.1");
    EXPECT_EQ(r.option("preset"), "fmnist-cnn");
    metrics[r.name] = std::stod(r.option("lr")); // any complete metric will do
  }
  EXPECT_EQ(optimizers.size(), 7u);
  EXPECT_TRUE(optimizers.count("ef-signsgd") && optimizers.count("lion"));
  auto [choices, finals] = select_final_runs(spec, runs, metrics);
  validate_runs(spec, finals);
  ASSERT_EQ(finals.size(), 21u); // 7 optimizers x 3 fresh seeds
  EXPECT_EQ(finals[0].name, "sgd-lr0.3-seed100"); // the largest lr "won" with this metric
  EXPECT_EQ(finals[0].option("val-fraction"), "0");
}

TEST(Sweep, CompletesSkipsFinishedRunsAndChecksTheirConfiguration) {
  const fs::path dir = fresh_dir("complete");
  const fs::path file =
      write_file(dir / "s.toml", kTiny + "epochs = 1\noptimizer = [\"sgd\", \"signum\"]\nseed = [3]\n");
  const fs::path out = dir / "out";
  const auto [status, text] = sweep(file, out, 2, 2);
  ASSERT_EQ(status, 0) << text;
  EXPECT_NE(text.find("[sweep] start sgd-seed3"), std::string::npos) << text;
  EXPECT_NE(text.find("(2/2 done, 0 running, 0 failed, 0 waiting)"), std::string::npos) << text;
  for (const char* name : {"sgd-seed3", "signum-seed3"}) {
    const auto r = read_run((out / name).string());
    EXPECT_EQ(r.status, "completed") << name;
    EXPECT_EQ(r.value("seed"), "3");
    EXPECT_EQ(r.value("threads"), "1"); // 2 cores / 2 jobs
    EXPECT_NE(read(out / name / "train.log").find("final test accuracy:"), std::string::npos);
  }
  EXPECT_FALSE(fs::exists(out / ".logs")); // the logs moved into the run directories
  auto state = sweep_state(out);
  EXPECT_EQ(state["status"], "completed");
  EXPECT_EQ(state["counts"]["completed"], 2);
  EXPECT_EQ(run_state(state, "signum-seed3")["state"], "completed");
  EXPECT_EQ(run_state(state, "signum-seed3")["values"]["optimizer"], "signum");

  // A rerun starts nothing.
  const auto written = fs::last_write_time(out / "sgd-seed3" / "summary.json");
  const auto [status2, text2] = sweep(file, out);
  EXPECT_EQ(status2, 0) << text2;
  EXPECT_NE(text2.find("2 of 2 runs already completed; skipping them"), std::string::npos) << text2;
  EXPECT_EQ(text2.find("[sweep] start"), std::string::npos) << text2;
  EXPECT_EQ(fs::last_write_time(out / "sgd-seed3" / "summary.json"), written);
  EXPECT_EQ(run_state(sweep_state(out), "sgd-seed3")["action"], "skip");

  // The same names with another configuration: refused, nothing is overwritten.
  write_file(file, kTiny + "epochs = 2\noptimizer = [\"sgd\", \"signum\"]\nseed = [3]\n");
  try {
    sweep(file, out);
    FAIL() << "a run directory with another configuration must stop the sweep";
  } catch (const ConfigError& e) {
    EXPECT_NE(
        std::string(e.what()).find(
            "sgd-seed3 holds a run with another configuration (epochs: 1 there, 2 in the sweep)"),
        std::string::npos)
        << e.what();
  }
  // A second sweep in the same folder at the same time is refused.
  {
    write_file(file, kTiny + "epochs = 1\noptimizer = [\"sgd\", \"signum\"]\nseed = [3]\n");
    const int fd = ::open((out / ".lock").c_str(), O_RDWR);
    ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
    try {
      sweep(file, out);
      FAIL() << "a locked sweep folder must stop the sweep";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("another `signopt sweep` is running in"), std::string::npos) << e.what();
    }
    ::close(fd);
  }
  // Something else in the way.
  write_file(file, kTiny + "epochs = 1\noptimizer = [\"sgd\", \"adam\"]\nseed = [3]\n");
  fs::create_directories(out / "adam-seed3");
  write_file(out / "adam-seed3" / "notes.txt", "mine");
  try {
    sweep(file, out);
    FAIL() << "a foreign directory must stop the sweep";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("adam-seed3 exists but is not a signopt run directory"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(read(out / "adam-seed3" / "notes.txt"), "mine");
}

TEST(Sweep, ResumesAnInterruptedRunExactly) {
  const fs::path dir = fresh_dir("resume");
  const fs::path file =
      write_file(dir / "s.toml", kTiny + "epochs = 2\noptimizer = \"signum\"\nlr = 1e-3\nseed = [4]\n");
  const fs::path out = dir / "out";
  auto spec = load_sweep(file.string());
  auto runs = expand_sweep(spec);
  ASSERT_EQ(runs.size(), 1u);
  // The run as the sweep would start it (1 core, 1 job: 1 thread), stopped at step 3 of 8.
  auto config = signopt::train::parse_train_args(runs[0].train_args((out / runs[0].name).string(), 1));
  config.progress = "none";
  signopt::train::request_stop_at_step(3);
  ASSERT_EQ(signopt::train::run_training(config).status, signopt::train::RunStatus::Interrupted);
  // The same run without interruption, for comparison.
  auto reference = config;
  reference.out = (dir / "reference").string();
  ASSERT_EQ(signopt::train::run_training(reference).status, signopt::train::RunStatus::Completed);

  // This sweep has 4 cores for its one job (4 threads for a new run), but the resume keeps the run's 1 thread:
  // the planned command has no --threads.
  {
    const auto [planned, text] = sweep(file, out, 1, 4, /*dry_run=*/true);
    ASSERT_EQ(planned, 0) << text;
    EXPECT_NE(text.find(" train --resume " + (out / "seed4").string() + "\n"), std::string::npos) << text;
    EXPECT_EQ(text.find("--threads"), std::string::npos) << text;
  }
  // Resumed with 2 cores for the one job: still the run's 1 thread, so exactly the uninterrupted run's metrics.
  const auto [status, text] = sweep(file, out, 1, 2);
  ASSERT_EQ(status, 0) << text;
  EXPECT_NE(text.find("[sweep] resume seed4: interrupted at step 3"), std::string::npos) << text;
  const auto r = read_run((out / "seed4").string());
  EXPECT_EQ(r.status, "completed");
  EXPECT_EQ(r.steps, 8);
  EXPECT_EQ(r.value("threads"), "1");
  EXPECT_EQ(metric_rows(out / "seed4"), metric_rows(dir / "reference"));
  EXPECT_NE(read(out / "seed4" / "train.log").find("resuming"), std::string::npos);
  const auto sweep_json = sweep_state(out);
  const auto& state = run_state(sweep_json, "seed4");
  EXPECT_EQ(state["action"], "resume");
  EXPECT_EQ(state["train_args"], nlohmann::json::array({"--resume", (out / "seed4").string()}));
}

TEST(Sweep, ThePlanNamesTheThreadsItsRunsStartWith) {
  // A sweep with 4 cores for 1 job gives a new run 4 threads, unless the file sets `threads`: the first line
  // names what the runs get, not the default they do not use.
  const fs::path dir = fresh_dir("threads");
  const auto first_line = [&](const std::string& name, const std::string& toml) {
    const fs::path file = write_file(dir / (name + ".toml"), kTiny + "epochs = 1\nseed = [0]\n" + toml);
    const auto [status, text] = sweep(file, dir / name, 1, 4, /*dry_run=*/true);
    EXPECT_EQ(status, 0) << text;
    return text.substr(0, text.find('\n'));
  };
  EXPECT_NE(first_line("file", "optimizer = \"signum\"\nthreads = 1\n").find("1 at a time with 1 thread each"),
            std::string::npos);
  EXPECT_NE(first_line("default", "optimizer = \"signum\"\n").find("1 at a time with 4 threads each"),
            std::string::npos);
  EXPECT_NE(first_line("mixed", "optimizer = [\"sgd\", \"signum\"]\n[by_optimizer.sgd]\nthreads = 1\n")
                .find("1 at a time with 1-4 threads each"),
            std::string::npos);
}

TEST(Sweep, FailedRunsAreReportedAndTheOthersFinish) {
  const fs::path dir = fresh_dir("failing");
  // sgd with lr 1e6 diverges (NaN loss); adam points at missing data and fails before it starts.
  const fs::path file = write_file(
      dir / "s.toml",
      kTiny +
          "epochs = 1\noptimizer = [\"sgd\", \"signum\", \"adam\"]\n[by_optimizer.sgd]\nlr = 1e6\n"
          "[by_optimizer.adam]\ndataset = \"fashion-mnist\"\ndata_dir = \"/nonexistent/fmnist\"\n");
  const fs::path out = dir / "out";
  const auto [status, text] = sweep(file, out, 2);
  EXPECT_EQ(status, 1) << text;
  EXPECT_NE(text.find("FAILED sgd: the training loss became NaN"), std::string::npos) << text;
  EXPECT_NE(text.find("FAILED adam: "), std::string::npos) << text;
  EXPECT_NE(text.find("/nonexistent/fmnist"), std::string::npos) << text;
  EXPECT_NE(text.find("1 completed, 2 failed"), std::string::npos) << text;
  EXPECT_EQ(read_run((out / "signum").string()).status, "completed");
  EXPECT_NE(read(out / "sgd" / "train.log").find("error: the training loss became NaN"), std::string::npos);
  EXPECT_NE(read(out / "adam" / "train.log").find("/nonexistent/fmnist"), std::string::npos);
  auto state = sweep_state(out);
  EXPECT_EQ(state["status"], "failed");
  EXPECT_EQ(run_state(state, "sgd")["state"], "failed");
  EXPECT_EQ(run_state(state, "sgd")["exit_status"], 1);
  EXPECT_EQ(run_state(state, "adam")["exit_status"], 2);
  EXPECT_NE(run_state(state, "sgd")["error"].get<std::string>().find("NaN"), std::string::npos);

  // A rerun tries the failed runs again, says so, and keeps the failed attempts.
  const auto [status2, text2] = sweep(file, out, 2);
  EXPECT_EQ(status2, 1) << text2;
  EXPECT_NE(text2.find("rerun sgd: the previous attempt failed: the training loss became NaN"), std::string::npos)
      << text2;
  EXPECT_NE(text2.find("rerun adam: the previous attempt failed before it started"), std::string::npos) << text2;
  EXPECT_NE(text2.find("1 of 3 runs already completed"), std::string::npos) << text2;
  EXPECT_TRUE(fs::exists(out / ".attempts" / "sgd.1" / "summary.json"));
  EXPECT_TRUE(fs::exists(out / ".attempts" / "adam.1" / "train.log"));
}

TEST(Sweep, SelectionStageRerunsTheBestLearningRate) {
  const fs::path dir = fresh_dir("select");
  const fs::path file = write_file(
      dir / "s.toml",
      kTiny +
          "epochs = 1\nval_fraction = 0.25\noptimizer = \"signum\"\nlr = [1e-4, 3e-3]\nseed = [0, 1]\n"
          "[select]\nmetric = \"final_val_accuracy\"\naxes = [\"lr\"]\n[select.final]\nval_fraction = 0.0\n"
          "seed = [5]\n");
  const fs::path out = dir / "out";
  const auto [status, text] = sweep(file, out, 2);
  ASSERT_EQ(status, 0) << text;
  double mean[2] = {0, 0};
  const char* lrs[2] = {"0.0001", "0.003"};
  for (int i = 0; i < 2; ++i) {
    for (int seed = 0; seed < 2; ++seed) {
      const auto r =
          read_run((out / "select" / ("lr" + std::string(lrs[i]) + "-seed" + std::to_string(seed))).string());
      ASSERT_EQ(r.status, "completed") << r.dir;
      ASSERT_TRUE(r.final_val_accuracy.has_value()) << r.dir;
      mean[i] += *r.final_val_accuracy / 2;
    }
  }
  ASSERT_NE(mean[0], mean[1]);
  const std::string chosen = mean[1] > mean[0] ? lrs[1] : lrs[0];
  const auto final_run = read_run((out / "final" / ("lr" + chosen + "-seed5")).string());
  EXPECT_EQ(final_run.status, "completed");
  EXPECT_EQ(final_run.value("val-fraction"), "0.0");
  EXPECT_EQ(final_run.value("lr"), chosen);
  EXPECT_NE(text.find("selection for the sweep: lr " + chosen), std::string::npos) << text;
  auto state = sweep_state(out);
  EXPECT_EQ(state["selection"]["choices"][0]["chosen"]["lr"], chosen);
  EXPECT_EQ(state["counts"]["completed"], 5);
  // Rerun: nothing to do in either stage.
  const auto [status2, text2] = sweep(file, out);
  EXPECT_EQ(status2, 0) << text2;
  EXPECT_NE(text2.find("4 of 4 runs already completed"), std::string::npos) << text2;
  EXPECT_NE(text2.find("1 of 1 runs already completed"), std::string::npos) << text2;
}

TEST(Sweep, CtrlCCheckpointsTheRunsAndTheSweepContinues) {
  const fs::path dir = fresh_dir("sigint");
  // Long enough to be interrupted mid-run (750 steps).
  const fs::path file = write_file(
      dir / "s.toml",
      "dataset = \"synthetic\"\nsynthetic_train = 4000\nmodel = \"mlp\"\noptimizer = \"signum\"\nepochs = 3\n"
      "batch_size = 16\nlog_every = 10\nthreads = 1\nseed = [0]\n");
  const fs::path out = dir / "out";
  ProcessSpec spec;
  spec.program = SIGNOPT_CLI_BINARY;
  spec.args = {"sweep", file.string(), "--out", out.string(), "--progress", "lines"};
  spec.log_file = (dir / "sweep.log").string();
  const pid_t pid = start_process(spec);
  const auto metrics = out / "seed0" / "metrics.csv";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  auto lines = [&] {
    const std::string text = read(metrics);
    return std::count(text.begin(), text.end(), '\n');
  };
  while (std::chrono::steady_clock::now() < deadline && (!fs::exists(metrics) || lines() < 3))
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_GE(lines(), 3) << read(dir / "sweep.log");
  ::kill(pid, SIGINT);
  const auto exit = wait_process(pid);
  const std::string log = read(dir / "sweep.log");
  EXPECT_EQ(exit.code, 130) << log;
  EXPECT_NE(log.find("interrupted: asking 1 running run(s) to checkpoint and stop"), std::string::npos) << log;
  EXPECT_NE(log.find("continues: completed runs are skipped, interrupted ones resumed"), std::string::npos) << log;
  const auto r = read_run((out / "seed0").string());
  EXPECT_EQ(r.status, "interrupted");
  EXPECT_LT(r.steps, 750);
  EXPECT_TRUE(fs::exists(out / "seed0" / "checkpoint.pt"));
  EXPECT_EQ(sweep_state(out)["status"], "interrupted");
  EXPECT_EQ(run_state(sweep_state(out), "seed0")["state"], "interrupted");

  const auto [status, text] = sweep(file, out);
  EXPECT_EQ(status, 0) << text;
  EXPECT_NE(text.find("resume seed0"), std::string::npos) << text;
  const auto done = read_run((out / "seed0").string());
  EXPECT_EQ(done.status, "completed");
  EXPECT_EQ(done.steps, 750);
}

TEST(Sweep, CommandLineErrors) {
  const fs::path dir = fresh_dir("cli");
  auto run = [&](const std::vector<std::string>& args) {
    ProcessSpec spec;
    spec.program = SIGNOPT_CLI_BINARY;
    spec.args = args;
    spec.log_file = (dir / "out.log").string();
    const int code = wait_process(start_process(spec)).code;
    return std::make_pair(code, read(dir / "out.log"));
  };
  auto [code, text] = run({"sweep"});
  EXPECT_EQ(code, 2);
  EXPECT_NE(text.find("error: signopt sweep needs a sweep file"), std::string::npos) << text;
  std::tie(code, text) = run({"sweep", (dir / "missing.toml").string()});
  EXPECT_EQ(code, 2);
  EXPECT_NE(text.find("missing.toml cannot be opened"), std::string::npos) << text;
  const fs::path file = write_file(dir / "s.toml", kTiny + "optimizer = [\"sgd\"]\n");
  std::tie(code, text) = run({"sweep", file.string(), "--jobs", "0"});
  EXPECT_EQ(code, 2);
  EXPECT_NE(text.find("error: invalid value for --jobs: '0'"), std::string::npos) << text;
  std::tie(code, text) = run({"sweep", file.string(), "--out", (dir / "o").string(), "--dry-run"});
  EXPECT_EQ(code, 0) << text;
  EXPECT_NE(text.find("start   " + (dir / "o" / "sgd").string()), std::string::npos) << text;
  EXPECT_NE(text.find(" train --dataset synthetic"), std::string::npos) << text;
  EXPECT_FALSE(fs::exists(dir / "o")); // a dry run writes nothing
}
