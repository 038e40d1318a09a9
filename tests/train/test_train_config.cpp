// The trainer's configuration: flags, config files, presets, defaults, errors, round trip,
// the optimizer factory and the learning-rate schedule.
#include <signopt/optim/ef_sign_sgd.h>
#include <signopt/optim/lion.h>
#include <signopt/optim/registry.h>
#include <signopt/optim/sign_sgd.h>
#include <signopt/optim/signum.h>
#include <signopt/train/config.h>
#include <signopt/train/optimizers.h>

#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using namespace signopt::train;

namespace {

// The ConfigError message of `f`, or "" when it does not throw.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

fs::path temp_file(const std::string& name, const std::string& text) {
  const fs::path dir = fs::temp_directory_path() / ("signopt_config_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path path = dir / name;
  std::ofstream(path) << text;
  return path;
}

} // namespace

TEST(TrainConfig, FlagsSetFieldsInBothSpellings) {
  const auto c = parse_train_args(
      {"--optimizer", "signum", "--lr=0.003", "--batch-size", "64", "--dither", "true", "--lr-milestones", "3,5"});
  EXPECT_EQ(c.optimizer, "signum");
  EXPECT_DOUBLE_EQ(c.lr.value(), 0.003);
  EXPECT_EQ(c.batch_size, 64);
  EXPECT_TRUE(c.dither);
  EXPECT_EQ(c.lr_milestones, (std::vector<int64_t>{3, 5}));
}

TEST(TrainConfig, BadValuesNameTheFlagTheValueAndWhatIsValid) {
  EXPECT_EQ(error_of([] { parse_train_args({"--lr", "-1"}); }), "invalid value for --lr: '-1' (expected a number > 0)");
  EXPECT_NE(
      error_of([] {
        parse_train_args({"--epochs", "two"});
      }).find("invalid value for --epochs: 'two'"),
      std::string::npos);
  EXPECT_NE(error_of([] { parse_train_args({"--momentum", "1"}); }).find("a number in [0, 1)"), std::string::npos);
  const auto choice = error_of([] { parse_train_args({"--optimizer", "adagrad"}); });
  EXPECT_NE(choice.find("'adagrad'"), std::string::npos) << choice;
  EXPECT_NE(
      choice.find("sgd, adam, adamw, signsgd, signum, dithered-signum, hybrid, ef-signsgd, lion"), std::string::npos);
  EXPECT_NE(error_of([] { parse_train_args({"--lr"}); }).find("--lr needs a value"), std::string::npos);
  EXPECT_NE(error_of([] { parse_train_args({"--lr-milestones", "5,3"}); }).find("increasing"), std::string::npos);
  EXPECT_NE(error_of([] { parse_train_args({"--seed", "-3"}); }).find("--seed"), std::string::npos);
}

TEST(TrainConfig, UnknownFlagsSuggestTheClosestOption) {
  const auto e = error_of([] { parse_train_args({"--lr-shedule", "cosine"}); });
  EXPECT_NE(e.find("unknown option '--lr-shedule'"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'lr-schedule'"), std::string::npos) << e;
  EXPECT_NE(error_of([] { parse_train_args({"lr", "1"}); }).find("unexpected argument 'lr'"), std::string::npos);
  EXPECT_NE(error_of([] { parse_train_args({"--batch_size", "3"}); }).find("unknown option"), std::string::npos);
}

TEST(TrainConfig, TomlFileThenPresetThenFlags) {
  const auto path = temp_file(
      "run.toml",
      "preset = \"fmnist-cnn\"\noptimizer = \"lion\"\nlr = 0.0005\nepochs = 7\nlr_milestones = [2, 4]\ndither_scale = \"max3sigma\"\n");
  const auto c = parse_train_args({"--config", path.string(), "--epochs", "9"});
  EXPECT_EQ(c.preset, "fmnist-cnn");
  EXPECT_EQ(c.model, "cnn"); // from the preset
  EXPECT_EQ(c.optimizer, "lion"); // the file's keys win over its preset
  EXPECT_DOUBLE_EQ(c.lr.value(), 0.0005);
  EXPECT_EQ(c.epochs, 9); // the flag wins over the file
  EXPECT_EQ(c.lr_milestones, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(c.dither_scale, "max3sigma");
}

TEST(TrainConfig, JsonFileWorksToo) {
  const auto path = temp_file("run.json", R"({"optimizer": "adam", "weight-decay": 0.01, "nesterov": false})");
  const auto c = parse_train_args({"--config", path.string()});
  EXPECT_EQ(c.optimizer, "adam");
  EXPECT_DOUBLE_EQ(c.weight_decay, 0.01);
}

TEST(TrainConfig, BadConfigFilesNameTheFileAndTheProblem) {
  const auto bad_key = temp_file("bad_key.toml", "optimiser = \"sgd\"\n");
  auto e = error_of([&] { parse_train_args({"--config", bad_key.string()}); });
  EXPECT_NE(e.find(bad_key.string() + ": unknown option 'optimiser' (did you mean 'optimizer'?)"), std::string::npos)
      << e;

  const auto bad_value = temp_file("bad_value.toml", "lr = -2.0\n");
  e = error_of([&] { parse_train_args({"--config", bad_value.string()}); });
  EXPECT_NE(e.find(bad_value.string() + ": lr: '-2'"), std::string::npos) << e;

  const auto syntax = temp_file("syntax.toml", "epochs = 3\nlr = = 2\n");
  e = error_of([&] { parse_train_args({"--config", syntax.string()}); });
  EXPECT_NE(e.find(syntax.string() + ":2:"), std::string::npos) << e;
  EXPECT_NE(e.find("invalid TOML"), std::string::npos) << e;

  const auto nested = temp_file("nested.toml", "[optimizer]\nlr = 1.0\n");
  EXPECT_NE(
      error_of([&] {
        parse_train_args({"--config", nested.string()});
      }).find("nested tables"),
      std::string::npos);

  const auto json = temp_file("broken.json", "{\"lr\": ");
  EXPECT_NE(error_of([&] { parse_train_args({"--config", json.string()}); }).find("invalid JSON"), std::string::npos);

  EXPECT_NE(
      error_of([] {
        parse_train_args({"--config", "/nonexistent/run.toml"});
      }).find("cannot be opened"),
      std::string::npos);
  const auto yaml = temp_file("run.yaml", "lr: 1\n");
  EXPECT_NE(
      error_of([&] {
        parse_train_args({"--config", yaml.string()});
      }).find("*.toml or *.json"),
      std::string::npos);
}

TEST(TrainConfig, JsonNumbersOutOfRangeNameTheFileAndTheKey) {
  const auto path = temp_file("huge.json", R"({"epochs": 2, "lr": 1e999})");
  const auto e = error_of([&] { parse_train_args({"--config", path.string()}); });
  EXPECT_NE(e.find(path.string() + ": lr: number out of range"), std::string::npos) << e;
  const auto back = error_of([] { from_json_text(R"({"lr": -1e999})", "x/config.json"); });
  EXPECT_NE(back.find("x/config.json: lr: number out of range"), std::string::npos) << back;
  // TOML (a syntax error there, or an infinite float): a ConfigError naming the file too.
  const auto toml = temp_file("huge.toml", "epochs = 2\nlr = 1e999\n");
  const auto t = error_of([&] { parse_train_args({"--config", toml.string()}); });
  EXPECT_NE(t.find(toml.string()), std::string::npos) << t;
}

TEST(TrainConfig, NullIsRefusedInAUserFileButMeansUnsetInConfigJson) {
  const auto path = temp_file("null.json", R"({"optimizer": "sgd", "lr": null})");
  const auto e = error_of([&] { parse_train_args({"--config", path.string()}); });
  EXPECT_NE(e.find(path.string() + ": lr: null is not a value; leave the key out for the default"), std::string::npos)
      << e;
  // config.json of a config that is not resolved yet writes its unset optional options as null; they read back unset.
  TrainConfig unresolved;
  unresolved.optimizer = "signum";
  const std::string text = to_json_text(unresolved);
  ASSERT_NE(text.find("\"lr\": null"), std::string::npos) << text;
  ASSERT_NE(text.find("\"dither-seed\": null"), std::string::npos) << text;
  const auto back = from_json_text(text, "config.json");
  EXPECT_FALSE(back.lr.has_value());
  EXPECT_FALSE(back.momentum.has_value());
  EXPECT_FALSE(back.decoupled_weight_decay.has_value());
  EXPECT_FALSE(back.dither_seed.has_value());
  EXPECT_EQ(to_json_text(back), text);
  // Only optional options are ever null there.
  const auto epochs = error_of([] { from_json_text(R"({"epochs": null})", "x/config.json"); });
  EXPECT_NE(epochs.find("x/config.json: epochs: null is not a value"), std::string::npos) << epochs;
  // The same text as a user's config file: refused, naming the first null key.
  const auto as_file = temp_file("unresolved.json", text);
  const auto refused = error_of([&] { parse_train_args({"--config", as_file.string()}); });
  EXPECT_NE(refused.find(as_file.string() + ": lr: null is not a value"), std::string::npos) << refused;
}

TEST(TrainConfig, ConfigValuesMustHaveTheOptionsType) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"batch-size": "2"})", "batch-size: expected a whole number, got the string \"2\" (write it without quotes)"},
      {R"({"lr": "0.1"})", "lr: expected a number, got the string \"0.1\""},
      {R"({"lr": true})", "lr: expected a number, got the boolean true"},
      {R"({"optimizer": 3})", "optimizer: expected a string (one of sgd, adam,"},
      {R"({"data-dir": 3})", "data-dir: expected a string, got the whole number 3"},
      {R"({"epochs": true})", "epochs: expected a whole number, got the boolean true"},
      {R"({"epochs": 2.5})", "epochs: expected a whole number, got the number 2.5"},
      {R"({"seed": "7"})", "seed: expected a whole number"},
      {R"({"nesterov": "true"})", "nesterov: expected true or false"},
      {R"({"nesterov": 1})", "nesterov: expected true or false, got the whole number 1"},
      {R"({"lr-milestones": "30,60"})", "lr-milestones: expected a list of whole numbers"},
      {R"({"lr-milestones": [30, 60.5]})", "lr-milestones: expected a list of whole numbers"},
  };
  int n = 0;
  for (const auto& c : cases) {
    const auto path = temp_file("typed" + std::to_string(n++) + ".json", c.first);
    const auto e = error_of([&] { parse_train_args({"--config", path.string()}); });
    EXPECT_NE(e.find(path.string() + ": " + c.second), std::string::npos) << c.first << "\n" << e;
  }
  const auto toml = temp_file("typed.toml", "batch_size = \"2\"\n");
  const auto e = error_of([&] { parse_train_args({"--config", toml.string()}); });
  EXPECT_NE(e.find(toml.string() + ": batch_size: expected a whole number"), std::string::npos) << e;
  // TOML's own integer literals are integers, and a whole number is a fine value for a float option.
  const auto fine = temp_file("fine.toml", "batch_size = 0x10\nlr = 1\n");
  const auto c = parse_train_args({"--config", fine.string()});
  EXPECT_EQ(c.batch_size, 16);
  EXPECT_DOUBLE_EQ(c.lr.value(), 1.0);
}

TEST(TrainConfig, FlagNumbersArePlainDecimals) {
  for (const std::string text :
       {"0x10", "0x1p-3", "inf", "-inf", "nan", "NAN", "1e999", " 0.1", "0.1 ", "1e", ".", "", "1,5"})
    EXPECT_NE(
        error_of([&] {
          parse_train_args({"--lr", text});
        }).find("invalid value for --lr: '" + text + "'"),
        std::string::npos)
        << "'" << text << "'";
  for (const std::string text : {"0x10", " 5", "5 ", "+", "1e3", "5.0", "99999999999999999999"})
    EXPECT_NE(
        error_of([&] {
          parse_train_args({"--batch-size", text});
        }).find("invalid value for --batch-size: '" + text + "'"),
        std::string::npos)
        << "'" << text << "'";
  for (const std::string text : {"0x10", "+3", " 3", "-1", "18446744073709551616"})
    EXPECT_NE(
        error_of([&] {
          parse_train_args({"--seed", text});
        }).find("invalid value for --seed: '" + text + "'"),
        std::string::npos)
        << "'" << text << "'";
  EXPECT_NE(error_of([] { parse_train_args({"--lr-milestones", "3, 5"}); }).find("increasing"), std::string::npos);
  EXPECT_NE(error_of([] { parse_train_args({"--lr-milestones", "3,5,"}); }).find("increasing"), std::string::npos);
  // Plain decimal forms.
  EXPECT_DOUBLE_EQ(parse_train_args({"--lr", "1e-3"}).lr.value(), 1e-3);
  EXPECT_DOUBLE_EQ(parse_train_args({"--lr", ".5"}).lr.value(), 0.5);
  EXPECT_DOUBLE_EQ(parse_train_args({"--lr", "5."}).lr.value(), 5.0);
  EXPECT_DOUBLE_EQ(parse_train_args({"--lr", "+2E+1"}).lr.value(), 20.0);
  EXPECT_EQ(parse_train_args({"--batch-size", "+64"}).batch_size, 64);
  EXPECT_EQ(parse_train_args({"--seed", "18446744073709551615"}).seed, 18446744073709551615ull);
}

TEST(TrainConfig, RepeatedKeysInAConfigFileAreRefused) {
  const auto twice = temp_file("twice.json", R"({"lr": 0.1, "epochs": 2, "lr": 0.2})");
  auto e = error_of([&] { parse_train_args({"--config", twice.string()}); });
  EXPECT_NE(e.find(twice.string() + ": lr: the key appears twice"), std::string::npos) << e;
  const auto spellings = temp_file("spellings.json", R"({"batch-size": 64, "epochs": 2, "batch_size": 32})");
  e = error_of([&] { parse_train_args({"--config", spellings.string()}); });
  EXPECT_NE(e.find(spellings.string() + ": batch_size: the same option as batch-size"), std::string::npos) << e;
  const auto toml = temp_file("spellings.toml", "batch-size = 64\nbatch_size = 32\n");
  e = error_of([&] { parse_train_args({"--config", toml.string()}); });
  EXPECT_NE(e.find(toml.string() + ": "), std::string::npos) << e;
  EXPECT_NE(e.find("the same option as"), std::string::npos) << e;
  // config.json read back: the same rule.
  e = error_of([] { from_json_text(R"({"lr": 0.1, "lr": 0.2})", "x/config.json"); });
  EXPECT_NE(e.find("x/config.json: lr: the key appears twice"), std::string::npos) << e;
}

TEST(TrainConfig, CountsHaveNamedUpperLimits) {
  EXPECT_EQ(
      error_of([] {
        parse_train_args({"--epochs", "1152921504606846976"});
      }),
      "invalid value for --epochs: '1152921504606846976' (expected a whole number in 1..100000; more epochs than that "
      "is not a training run, and epochs x steps must fit in 64 bits)");
  const auto threads = error_of([] { parse_train_args({"--threads", "100000"}); });
  EXPECT_NE(
      threads.find("invalid value for --threads: '100000' (expected a whole number in 0..1024; "), std::string::npos)
      << threads;
  EXPECT_NE(threads.find("libgomp"), std::string::npos) << threads;
  const auto nproc = error_of([] { parse_train_args({"--nproc", "1000000"}); });
  EXPECT_NE(nproc.find("invalid value for --nproc: '1000000' (expected a whole number in 1..256; "), std::string::npos)
      << nproc;
  const std::pair<const char*, const char*> limits[] = {
      {"--batch-size", "1..1048576;"},
      {"--eval-batch-size", "1..1048576;"},
      {"--synthetic-train", "1..1048576;"},
      {"--synthetic-test", "1..1048576;"},
      {"--train-subset", "0..16777216;"},
      {"--max-steps", "0..1099511627776;"},
      {"--switch-step", "0..1099511627776;"},
      {"--switch-epoch", "0..100000;"},
      {"--handover-steps", "0..1099511627776;"},
      {"--dither-horizon", "0..1099511627776;"},
      {"--log-every", "1..1099511627776;"},
      {"--probe-every", "0..1099511627776;"},
      {"--checkpoint-every", "0..1099511627776;"},
  };
  for (const auto& [flag, range] : limits) {
    const std::string f = flag, r = range;
    const auto e = error_of([&] { parse_train_args({f, "99999999999999999999"}); }); // past int64 too
    EXPECT_NE(e.find(r), std::string::npos) << f << ": " << e;
  }
  EXPECT_NE(error_of([] { parse_train_args({"--lr-milestones", "10,100001"}); }).find("1..100000"), std::string::npos);
  // The limits themselves are fine.
  EXPECT_EQ(parse_train_args({"--epochs", std::to_string(kMaxEpochs)}).epochs, kMaxEpochs);
  EXPECT_EQ(parse_train_args({"--threads", std::to_string(kMaxThreads)}).threads, kMaxThreads);
  EXPECT_EQ(parse_train_args({"--nproc", std::to_string(kMaxWorkers)}).nproc, kMaxWorkers);
  EXPECT_EQ(parse_train_args({"--batch-size", std::to_string(kMaxBatchSize)}).batch_size, kMaxBatchSize);
  EXPECT_EQ(kMaxEpochs, 100000);
  EXPECT_EQ(kMaxThreads, 1024);
  EXPECT_EQ(kMaxWorkers, 256);
  // In a config file as on the command line.
  const auto path = temp_file("huge_epochs.toml", "epochs = 1152921504606846976\n");
  const auto e = error_of([&] { parse_train_args({"--config", path.string()}); });
  EXPECT_NE(
      e.find(
          "invalid value for " + path.string() +
          ": epochs: '1152921504606846976' (expected a whole number in 1..100000;"),
      std::string::npos)
      << e;
}

TEST(TrainConfig, PresetsSetThePapersRecipe) {
  const auto c = parse_train_args({"--preset", "paper-cifar100"});
  EXPECT_EQ(c.dataset, "cifar100");
  EXPECT_EQ(c.model, "resnet18");
  EXPECT_EQ(c.batch_size, 128);
  EXPECT_EQ(c.lr_schedule, "cosine");
  EXPECT_DOUBLE_EQ(c.weight_decay, 5e-4);
  EXPECT_EQ(c.augment, "on");
  auto resolved = c;
  resolve_defaults(resolved);
  EXPECT_EQ(resolved.optimizer, "hybrid");
  EXPECT_DOUBLE_EQ(resolved.lr.value(), 1e-4); // algorithms.md: gamma0 = 1e-4
  EXPECT_FALSE(resolved.decoupled_weight_decay.value()); // coupled
  EXPECT_EQ(resolved.switch_epoch, 100); // half the epochs
  const auto e = error_of([] { parse_train_args({"--preset", "paper-imagenet"}); });
  EXPECT_NE(
      e.find("unknown preset 'paper-imagenet' (valid presets: paper-cifar10, paper-cifar100, fmnist-cnn)"),
      std::string::npos)
      << e;
}

TEST(TrainConfig, DefaultsDependOnTheOptimizer) {
  auto resolved = [](std::vector<std::string> args) {
    auto c = parse_train_args(args);
    resolve_defaults(c);
    return c;
  };
  EXPECT_DOUBLE_EQ(resolved({"--optimizer", "sgd"}).lr.value(), 0.1);
  EXPECT_DOUBLE_EQ(resolved({"--optimizer", "adam"}).lr.value(), 1e-3);
  EXPECT_DOUBLE_EQ(resolved({"--optimizer", "lion"}).beta2.value(), 0.99);
  EXPECT_TRUE(resolved({"--optimizer", "lion"}).decoupled_weight_decay.value());
  EXPECT_DOUBLE_EQ(resolved({"--optimizer", "ef-signsgd"}).momentum.value(), 0.0);
  EXPECT_TRUE(resolved({"--optimizer", "dithered-signum"}).dither);
  EXPECT_EQ(resolved({"--optimizer", "signum", "--seed", "7"}).dither_seed.value(), 7u);
  EXPECT_EQ(resolved({"--epochs", "9"}).switch_epoch, 4);
  EXPECT_EQ(resolved({"--epochs", "1"}).switch_epoch, 1);
  // Distributed aggregation: full-precision averaging for the baselines, the vote for the sign family.
  for (const char* o : {"sgd", "adam", "adamw", "lion"})
    EXPECT_EQ(resolved({"--optimizer", o}).aggregation, "allreduce") << o;
  for (const char* o : {"signsgd", "signum", "dithered-signum", "hybrid"})
    EXPECT_EQ(resolved({"--optimizer", o}).aggregation, "majority-vote") << o;
  EXPECT_EQ(resolved({"--optimizer", "ef-signsgd"}).aggregation, "ef-sign");
  EXPECT_EQ(resolved({"--optimizer", "signum", "--aggregation", "allreduce"}).aggregation, "allreduce");
}

TEST(TrainConfig, InconsistentCombinationsAreRejected) {
  auto resolve_error = [](std::vector<std::string> args) {
    return error_of([&] {
      auto c = parse_train_args(args);
      resolve_defaults(c);
    });
  };
  EXPECT_NE(
      resolve_error({"--optimizer", "adam", "--dither", "true"}).find("--dither is available with"), std::string::npos);
  EXPECT_NE(resolve_error({"--switch-epoch", "9", "--epochs", "4"}).find("after the last epoch"), std::string::npos);
  EXPECT_NE(resolve_error({"--switch-trigger", "step"}).find("--switch-step"), std::string::npos);
  EXPECT_NE(resolve_error({"--lr-schedule", "step"}).find("--lr-milestones"), std::string::npos);
  EXPECT_NE(resolve_error({"--warmup-epochs", "4"}).find("shorter than --epochs"), std::string::npos);
  EXPECT_NE(resolve_error({"--optimizer", "signum", "--nesterov", "true"}).find("--nesterov"), std::string::npos);
  // The hybrid and --log-calibration train 16-bit parameters (issue 18).
  EXPECT_EQ(resolve_error({"--optimizer", "hybrid", "--param-dtype", "bfloat16"}), "");
  EXPECT_EQ(resolve_error({"--optimizer", "signum", "--log-calibration", "true", "--param-dtype", "float16"}), "");
  EXPECT_EQ(resolve_error({"--optimizer", "signum", "--param-dtype", "float16", "--nproc", "2"}), "");
  EXPECT_NE(
      resolve_error({"--optimizer", "signum", "--param-dtype", "float16", "--nproc", "2", "--aggregation", "allreduce"})
          .find("needs --aggregation majority-vote"),
      std::string::npos);
  EXPECT_NE(
      resolve_error({"--optimizer", "ef-signsgd", "--param-dtype", "bfloat16", "--nproc", "2"})
          .find("--aggregation ef-sign"),
      std::string::npos);
  EXPECT_NE(resolve_error({"--param-dtype", "float64"}).find("param-dtype"), std::string::npos);
  EXPECT_NE(resolve_error({"--optimizer", "signum", "--rounding", "up"}).find("rounding"), std::string::npos);
  EXPECT_NE(resolve_error({"--optimizer", "sgd", "--decoupled-weight-decay", "true"}).find("adamw"), std::string::npos);
  EXPECT_NE(
      resolve_error({"--optimizer", "adam", "--aggregation", "majority-vote"}).find("needs a sign optimizer"),
      std::string::npos);
  EXPECT_NE(resolve_error({"--optimizer", "signum", "--aggregation", "ef-sign"}).find("ef-signsgd"), std::string::npos);
  EXPECT_NE(resolve_error({"--nproc", "0"}).find("a whole number in 1..256"), std::string::npos);
  EXPECT_NE(resolve_error({"--dist-timeout", "0"}).find("(0, 86400]"), std::string::npos);
  EXPECT_NE(resolve_error({"--calibration", "fixed"}).find("--fixed-lr"), std::string::npos);
  EXPECT_NE(
      resolve_error({"--calibration", "fixed", "--fixed-lr", "0.1", "--switch-trigger", "auto"}).find("convergence"),
      std::string::npos);
  EXPECT_NE(
      resolve_error({"--optimizer", "sgd", "--log-calibration", "true"}).find("--log-calibration"), std::string::npos);
  EXPECT_NE(error_of([] { parse_train_args({"--calibration", "global"}); }).find("one of swats"), std::string::npos);
}

TEST(TrainConfig, JsonRoundTripIsExact) {
  auto c = parse_train_args(
      {"--optimizer",
       "hybrid",
       "--lr",
       "0.000123456789",
       "--dither",
       "true",
       "--dither-schedule",
       "cosine",
       "--lr-schedule",
       "step",
       "--lr-milestones",
       "1,3",
       "--seed",
       "18446744073709551615",
       "--val-fraction",
       "0.1"});
  resolve_defaults(c);
  const std::string text = to_json_text(c);
  const auto back = from_json_text(text, "config.json");
  EXPECT_EQ(to_json_text(back), text);
  EXPECT_EQ(back.seed, 18446744073709551615ull);
  EXPECT_DOUBLE_EQ(back.lr.value(), 0.000123456789);
  EXPECT_NE(text.find("\"signopt_version\""), std::string::npos);
  EXPECT_NE(
      error_of([] { from_json_text("{\"lr\": \"fast\"}", "x/config.json"); }).find("x/config.json: lr"),
      std::string::npos);
}

TEST(TrainConfig, ARunsConfigJsonIsAValidConfigFile) {
  auto c = parse_train_args({"--optimizer", "lion", "--epochs", "3", "--preset", "fmnist-cnn"});
  resolve_defaults(c);
  const auto path = temp_file("config.json", to_json_text(c));
  auto again = parse_train_args({"--config", path.string(), "--out", "elsewhere"});
  EXPECT_EQ(again.out, "elsewhere");
  again.out = c.out;
  EXPECT_EQ(to_json_text(again), to_json_text(c));
}

TEST(TrainConfig, HelpExplainsEveryOption) {
  const std::string help = train_help();
  for (const auto& option : train_options()) {
    EXPECT_NE(help.find("--" + option.key + " "), std::string::npos) << option.key;
    EXPECT_FALSE(option.help.empty()) << option.key;
  }
  for (const auto& [name, text] : presets())
    EXPECT_NE(help.find(name), std::string::npos);
}

// The trainer takes each optimizer, its defaults, its summary and its exchange from the registry row.
TEST(TrainConfig, EveryRegistryRowIsAnOptimizerWithTheRowsDefaults) {
  std::string help;
  { // --help with its line wrapping undone
    std::istringstream words(train_help());
    std::string w;
    while (words >> w)
      help += w + " ";
  }
  for (const auto& row : signopt::optimizer_registry()) {
    auto c = parse_train_args({"--optimizer", row.name});
    resolve_defaults(c);
    EXPECT_DOUBLE_EQ(c.lr.value(), row.defaults.lr) << row.name;
    EXPECT_DOUBLE_EQ(c.momentum.value(), row.defaults.momentum) << row.name;
    EXPECT_DOUBLE_EQ(c.beta1.value(), row.defaults.beta1) << row.name;
    EXPECT_DOUBLE_EQ(c.beta2.value(), row.defaults.beta2) << row.name;
    EXPECT_DOUBLE_EQ(c.eps.value(), row.defaults.eps) << row.name;
    EXPECT_EQ(c.decoupled_weight_decay.value(), row.defaults.decoupled_weight_decay) << row.name;
    EXPECT_EQ(c.aggregation, signopt::enum_name(row.aggregation)) << row.name;
    EXPECT_EQ(c.dither, row.dither_always) << row.name;
    EXPECT_NE(help.find(row.name + " (" + row.summary + ")"), std::string::npos) << row.name;
    // The option table admits exactly the registry's names.
    EXPECT_NO_THROW(make_optimizer(c, {torch::zeros({2}, torch::requires_grad())}, 10, 100)) << row.name;
  }
  EXPECT_EQ(optimizer_names(), signopt::optimizer_names());
  EXPECT_NE(help.find("signsgd/signum/dithered-signum/hybrid/lion 0.0001"), std::string::npos)
      << "--lr's help lists the registry's defaults";
  // The fmnist-cnn preset's rate for the sign family, and only for it.
  for (const char* name : {"signsgd", "signum", "hybrid", "lion"}) {
    auto c = parse_train_args({"--optimizer", name, "--preset", "fmnist-cnn"});
    resolve_defaults(c);
    EXPECT_DOUBLE_EQ(c.lr.value(), 1e-3) << name;
  }
  auto sgd = parse_train_args({"--optimizer", "sgd", "--preset", "fmnist-cnn"});
  resolve_defaults(sgd);
  EXPECT_DOUBLE_EQ(sgd.lr.value(), 0.1);
}

// The presets are the files in configs/presets, compiled in: one preset per file, each applying its
// file's options, and the file's lr_by_family read by resolve_defaults (above) and preset_lr.
TEST(TrainConfig, PresetsAreTheShippedFiles) {
  std::vector<std::string> on_disk, compiled;
  for (const auto& entry : fs::directory_iterator(SIGNOPT_PRESETS_DIR))
    if (entry.path().extension() == ".toml")
      on_disk.push_back(entry.path().stem().string());
  for (const auto& [name, text] : presets()) {
    compiled.push_back(name);
    EXPECT_FALSE(text.empty()) << name;
  }
  std::sort(on_disk.begin(), on_disk.end());
  std::sort(compiled.begin(), compiled.end());
  EXPECT_EQ(on_disk, compiled);

  const auto c = parse_train_args({"--preset", "fmnist-cnn"});
  EXPECT_EQ(c.dataset, "fashion-mnist");
  EXPECT_EQ(c.model, "cnn");
  EXPECT_EQ(c.batch_size, 128);
  EXPECT_EQ(c.epochs, 4);
  EXPECT_EQ(c.lr_schedule, "cosine");
  EXPECT_DOUBLE_EQ(c.post_switch_momentum, 0.9);
  EXPECT_EQ(preset_lr("fmnist-cnn", signopt::OptimizerFamily::Sign), std::optional<double>(1e-3));
  EXPECT_FALSE(preset_lr("fmnist-cnn", signopt::OptimizerFamily::Baseline).has_value());
  EXPECT_FALSE(preset_lr("fmnist-cnn", signopt::OptimizerFamily::ErrorFeedback).has_value());
  EXPECT_FALSE(preset_lr("paper-cifar10", signopt::OptimizerFamily::Sign).has_value());
  EXPECT_FALSE(preset_lr("", signopt::OptimizerFamily::Sign).has_value());
  const auto cifar = parse_train_args({"--preset", "paper-cifar10"});
  EXPECT_EQ(cifar.model, "resnet18");
  EXPECT_EQ(cifar.epochs, 200);
  EXPECT_DOUBLE_EQ(cifar.weight_decay, 5e-4);
  EXPECT_EQ(cifar.augment, "on");
}

// A config value that bypassed the option table (a hand-edited TrainConfig) is an error naming the key,
// never a silent fallback to the default.
TEST(TrainOptimizers, AnEnumValueOutsideItsTableIsAnError) {
  auto c = parse_train_args({"--optimizer", "signum", "--dither", "true"});
  resolve_defaults(c);
  c.dither_scale = "rsm";
  try {
    make_optimizer(c, {torch::zeros({2}, torch::requires_grad())}, 10, 100);
    ADD_FAILURE() << "a misspelt dither scale was accepted";
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("--dither-scale"), std::string::npos) << what;
    EXPECT_NE(what.find("'rsm'"), std::string::npos) << what;
  }
  c.dither_scale = "rms";
  c.optimizer = "signum2";
  EXPECT_THROW(make_optimizer(c, {torch::zeros({2}, torch::requires_grad())}, 10, 100), ConfigError);
}

TEST(TrainSchedule, WarmupCosineAndStep) {
  TrainConfig c;
  c.lr = 0.1;
  c.epochs = 10;
  c.lr_schedule = "cosine";
  EXPECT_DOUBLE_EQ(scheduled_lr(c, 0, 10, 100), 0.1);
  EXPECT_NEAR(scheduled_lr(c, 50, 10, 100), 0.05, 1e-15);
  EXPECT_NEAR(scheduled_lr(c, 100, 10, 100), 0.0, 1e-15);
  c.min_lr = 0.01;
  EXPECT_NEAR(scheduled_lr(c, 100, 10, 100), 0.01, 1e-15);
  c.warmup_epochs = 1; // 10 steps: lr/10, 2lr/10, ..., lr, then cosine over the remaining 90
  EXPECT_NEAR(scheduled_lr(c, 0, 10, 100), 0.01, 1e-15);
  EXPECT_NEAR(scheduled_lr(c, 9, 10, 100), 0.1, 1e-15);
  EXPECT_NEAR(scheduled_lr(c, 10, 10, 100), 0.1, 1e-15);
  EXPECT_NEAR(scheduled_lr(c, 55, 10, 100), 0.01 + 0.5 * 0.09, 1e-15);
  c = TrainConfig{};
  c.lr = 1.0;
  c.lr_schedule = "step";
  c.lr_milestones = {2, 4};
  c.lr_decay = 0.5;
  EXPECT_DOUBLE_EQ(scheduled_lr(c, 19, 10, 100), 1.0);
  EXPECT_DOUBLE_EQ(scheduled_lr(c, 20, 10, 100), 0.5);
  EXPECT_DOUBLE_EQ(scheduled_lr(c, 45, 10, 100), 0.25);
  c.lr_schedule = "constant";
  EXPECT_DOUBLE_EQ(scheduled_lr(c, 99, 10, 100), 1.0);
}

TEST(TrainOptimizers, EachWorkerDithersWithItsOwnStream) {
  // A distributed run passes the rank as the dither stream: the same gradient dithers differently on two
  // ranks, identically on one rank twice.
  auto c = parse_train_args({"--optimizer", "dithered-signum", "--dither-alpha", "3"});
  resolve_defaults(c);
  auto step = [&](int64_t stream) {
    auto w = torch::zeros({4096}, torch::requires_grad());
    auto h = make_optimizer(c, {w}, 10, 100, stream);
    const auto* so = &static_cast<const signopt::SignumOptions&>(h.optimizer->defaults());
    EXPECT_EQ(so->dither()->stream(), stream);
    w.mutable_grad() = torch::full({4096}, 1e-3);
    h.optimizer->step();
    return w.detach().clone();
  };
  EXPECT_TRUE(torch::equal(step(0), step(0)));
  EXPECT_FALSE(torch::equal(step(0), step(1)));
}

TEST(TrainOptimizers, FactoryBuildsEachOptimizerWithItsOptions) {
  auto w = torch::zeros({3}, torch::requires_grad());
  auto make = [&](std::vector<std::string> args) {
    auto c = parse_train_args(args);
    resolve_defaults(c);
    return make_optimizer(c, {w}, 10, 100);
  };
  EXPECT_NE(dynamic_cast<torch::optim::SGD*>(make({"--optimizer", "sgd"}).optimizer.get()), nullptr);
  EXPECT_NE(dynamic_cast<torch::optim::Adam*>(make({"--optimizer", "adam"}).optimizer.get()), nullptr);
  EXPECT_NE(dynamic_cast<torch::optim::AdamW*>(make({"--optimizer", "adamw"}).optimizer.get()), nullptr);
  EXPECT_NE(dynamic_cast<signopt::SignSGD*>(make({"--optimizer", "signsgd"}).optimizer.get()), nullptr);
  EXPECT_NE(dynamic_cast<signopt::EFSignSGD*>(make({"--optimizer", "ef-signsgd"}).optimizer.get()), nullptr);
  EXPECT_NE(dynamic_cast<signopt::Lion*>(make({"--optimizer", "lion"}).optimizer.get()), nullptr);
  auto dithered = make(
      {"--optimizer", "dithered-signum", "--momentum", "0.8", "--dither-scale", "absolute", "--dither-alpha", "0.5"});
  auto* signum = dynamic_cast<signopt::Signum*>(dithered.optimizer.get());
  ASSERT_NE(signum, nullptr);
  const auto& so = static_cast<const signopt::SignumOptions&>(signum->defaults());
  EXPECT_DOUBLE_EQ(so.momentum(), 0.8);
  ASSERT_TRUE(so.dither().has_value());
  EXPECT_EQ(so.dither()->scale(), signopt::DitherScale::Absolute);
  EXPECT_DOUBLE_EQ(so.dither()->alpha(), 0.5);
  auto hybrid = make({"--optimizer", "hybrid", "--epochs", "6", "--post-switch-momentum", "0.9"});
  ASSERT_NE(hybrid.hybrid, nullptr);
  const auto& ho = static_cast<const signopt::HybridSignSGDOptions&>(hybrid.hybrid->defaults());
  EXPECT_EQ(ho.trigger(), signopt::SwitchTrigger::Epoch);
  EXPECT_EQ(ho.switch_epoch(), 3);
  EXPECT_EQ(ho.steps_per_epoch(), 10);
  EXPECT_DOUBLE_EQ(ho.post_switch_momentum(), 0.9);
  EXPECT_EQ(ho.calibration(), signopt::CalibrationEstimator::Norm) << "the default of docs/results.md's study";
  auto swats = make(
      {"--optimizer",
       "hybrid",
       "--calibration",
       "swats",
       "--calibration-scope",
       "per-tensor",
       "--calibration-scale",
       "0.5",
       "--auto-criterion",
       "swats",
       "--post-switch-convention",
       "undampened",
       "--post-switch-init",
       "momentum"});
  const auto& sw = static_cast<const signopt::HybridSignSGDOptions&>(swats.hybrid->defaults());
  EXPECT_EQ(sw.calibration(), signopt::CalibrationEstimator::Swats);
  EXPECT_EQ(sw.calibration_scope(), signopt::CalibrationScope::PerTensor);
  EXPECT_DOUBLE_EQ(sw.calibration_scale(), 0.5);
  EXPECT_EQ(sw.auto_criterion(), signopt::SwitchCriterion::Swats);
  EXPECT_EQ(sw.post_switch_convention(), signopt::SgdConvention::Undampened);
  EXPECT_EQ(sw.post_switch_init(), signopt::SgdMomentumInit::Momentum);
  auto fixed = make({"--optimizer", "hybrid", "--calibration", "fixed", "--fixed-lr", "0.2"});
  EXPECT_DOUBLE_EQ(static_cast<const signopt::HybridSignSGDOptions&>(fixed.hybrid->defaults()).fixed_lr(), 0.2);
  // Signum that logs its calibration is the hybrid that never switches, with Signum's momentum.
  auto logged = make({"--optimizer", "signum", "--momentum", "0.8", "--log-calibration", "true"});
  ASSERT_NE(logged.hybrid, nullptr);
  const auto& lo = static_cast<const signopt::HybridSignSGDOptions&>(logged.hybrid->defaults());
  EXPECT_EQ(lo.trigger(), signopt::SwitchTrigger::Never);
  EXPECT_DOUBLE_EQ(lo.beta1(), 0.8);
  // The linear dither schedule spans the whole run by default.
  auto linear = make({"--optimizer", "signum", "--dither", "true", "--dither-schedule", "linear"});
  EXPECT_EQ(static_cast<const signopt::SignumOptions&>(linear.optimizer->defaults()).dither()->horizon(), 100);
}
