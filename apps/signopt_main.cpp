// `signopt`: the command-line program. Subcommands parse their arguments into a config and call
// the library; every error is one clear line on stderr and a non-zero exit status.
#include "args.h"
#include "commands.h"

#include <signopt/comm/process_group.h>

#include <signopt/data/datasets.h>
#include <signopt/train/config.h>
#include <signopt/train/trainer.h>
#include <signopt/version.h>

#include <c10/util/Exception.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

const char* kUsage = R"(usage: signopt <command> [options]

Sign-based optimizers (SignSGD, Signum, dithered Signum, the Signum->SGD hybrid, EF-SignSGD, Lion)
and baselines (SGD, Adam, AdamW) on LibTorch.

commands:
  train      train a model and write a run directory (signopt train --help)
  sweep      run a grid of training runs from a TOML file, resumably (signopt sweep --help)
  report     tables with error bars, t-tests and plots from run directories (signopt report --help)
  probe-noise  measure gradient noise: SNR, symmetry/unimodality tests, wrong signs (signopt probe-noise --help)
  theory     the small-batch SignSGD theory on synthetic problems (signopt theory --help)

options:
  --help     this text
  --version  the signopt version

Exit status: 0 success, 1 the run failed, 2 bad options or data, 4 a worker failed waiting for another one that
failed or hung, 130 interrupted (checkpoint saved).
)";

int train_command(const std::vector<std::string>& args) {
  using namespace signopt::train;
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      std::cout << train_help();
      return 0;
    }
  }
  std::string resume_dir;
  TrainConfig config = parse_train_args(args, &resume_dir);
  // Not started by a launcher, but more than one worker asked for (or saved in the resumed run): this
  // process becomes the launcher and the workers run these same arguments.
  const bool under_launcher = std::getenv("RANK") != nullptr || std::getenv("WORLD_SIZE") != nullptr;
  if (!under_launcher) {
    TrainConfig job = config;
    if (!resume_dir.empty()) {
      const auto saved = std::filesystem::path(resume_dir) / "config.json";
      if (std::filesystem::exists(saved)) {
        std::ifstream in(saved, std::ios::binary);
        std::stringstream text;
        text << in.rdbuf();
        job = from_json_text(text.str(), saved.string());
      }
    }
    if (job.nproc > 1) {
      if (resume_dir.empty())
        resolve_defaults(job); // every worker would reject these options: say so once
      return launch_workers(args, job.nproc, job.dist_timeout);
    }
  }
  install_interrupt_handler();
  RunOutcome outcome;
  if (!resume_dir.empty()) {
    // A resumed run keeps its saved configuration; only threads and progress output may change.
    ResumeOverrides overrides;
    ArgCursor a(args, "train");
    while (a.next()) {
      const std::string key = a.flag();
      if (a.is_option())
        a.value(); // parse_train_args has checked every value; only the keys matter here
      if (key == "--resume")
        continue;
      if (key == "--threads")
        overrides.threads = config.threads;
      else if (key == "--progress")
        overrides.progress = config.progress;
      else
        throw ConfigError(
            key + " cannot be combined with --resume: a resumed run keeps the options in its config.json "
                  "(only --threads and --progress may change)");
    }
    outcome = resume_training(resume_dir, overrides);
  } else {
    outcome = run_training(config);
  }
  // Errors of a distributed job name the rank (the communication errors already do).
  const bool named = outcome.error.rfind("rank ", 0) == 0;
  const std::string who = outcome.world_size > 1 && !named ? "rank " + std::to_string(outcome.rank) + ": " : "";
  if (outcome.rank != 0) {
    // Rank 0 reports the job's result; the other ranks speak only for their own failure.
    if (outcome.status == RunStatus::Failed)
      std::fprintf(stderr, "error: %s%s\n", who.c_str(), outcome.error.c_str());
    return outcome.status == RunStatus::Completed ? 0
        : outcome.status == RunStatus::Interrupted ? 130
        : outcome.peer_failure                     ? 4
                                                   : 1;
  }
  switch (outcome.status) {
    case RunStatus::Completed:
      std::printf(
          "final test accuracy: %.2f%% (best %.2f%%) after %lld steps; run directory %s\n",
          outcome.final_test_accuracy,
          outcome.best_test_accuracy,
          static_cast<long long>(outcome.steps),
          outcome.run_dir.c_str());
      return 0;
    case RunStatus::Interrupted:
      return 130;
    case RunStatus::Failed:
      std::fprintf(stderr, "error: %s%s\n", who.c_str(), outcome.error.c_str());
      return outcome.peer_failure ? 4 : 1;
  }
  return 1;
}

} // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version") {
    std::cout << "signopt " << SIGNOPT_VERSION_STRING << "\n";
    return 0;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  try {
    if (command == "train")
      return train_command(args);
    if (command == "sweep")
      return sweep_command(args);
    if (command == "report")
      return report_command(args);
    if (command == "probe-noise")
      return probe_command(args);
    if (command == "theory")
      return theory_command(args);
    std::fprintf(stderr, "error: unknown command '%s' (see signopt --help)\n", command.c_str());
    return 2;
  } catch (const signopt::train::ConfigError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  } catch (const signopt::data::DataError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  } catch (const signopt::comm::PeerFailure& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 4; // waited for another rank that failed: the launcher blames that one
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
