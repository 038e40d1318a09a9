// `signopt sweep`: runs a grid of training runs declared in a TOML file (see docs/report.md).
#include "commands.h"

#include <signopt/report/sweep.h>
#include <signopt/train/config.h>

#include <cstdlib>
#include <iostream>

namespace {

const char* kSweepHelp =
    R"(usage: signopt sweep CONFIG.toml [--jobs N] [--out DIR] [--dry-run] [--progress auto|bar|lines]

Runs every point of the grid declared in CONFIG.toml as its own `signopt train` process, N at a time,
each in DIR/<run name> (e.g. runs/fmnist-cpu/signum-lr0.001-seed1) with its output in train.log there.
Rerunning the same command continues the sweep: completed runs are skipped, interrupted ones resumed
(--resume), failed ones rerun (the failed attempt is kept in DIR/.attempts/). DIR/sweep.json lists
every run and its state. The file format (fixed options, lists as axes, [by_optimizer.NAME],
[select]) is described in docs/report.md.

  --jobs N       runs at a time (default 1); each gets max(1, cores / N) threads unless the file sets threads
  --out DIR      the sweep's folder (default runs/<CONFIG file name without .toml>)
  --dry-run      print the runs and what would happen to each, start nothing
  --progress M   auto: one live status line on a terminal, plain lines otherwise (default auto)

Ctrl-C asks every running run to checkpoint and stop (a second Ctrl-C stops them at once); rerun
the command to continue. Exit status: 0 every run completed, 1 some run failed, 2 bad sweep file
or options, 130 interrupted.
)";

} // namespace

int sweep_command(const std::vector<std::string>& args) {
  signopt::report::SweepOptions options;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i], value;
    bool has_value = false;
    if (const auto eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
      has_value = true;
    }
    auto take = [&]() -> std::string {
      if (has_value)
        return value;
      if (i + 1 >= args.size())
        throw signopt::train::ConfigError(flag + " needs a value (see signopt sweep --help)");
      return args[++i];
    };
    if (flag == "--help" || flag == "-h") {
      std::cout << kSweepHelp;
      return 0;
    } else if (flag == "--jobs" || flag == "-j") {
      const std::string text = take();
      char* end = nullptr;
      const long n = std::strtol(text.c_str(), &end, 10);
      if (text.empty() || *end != '\0' || n < 1 || n > 1024)
        throw signopt::train::ConfigError("invalid value for --jobs: '" + text + "' (expected a whole number >= 1)");
      options.jobs = static_cast<int>(n);
    } else if (flag == "--out") {
      options.out_dir = take();
    } else if (flag == "--dry-run") {
      options.dry_run = true;
    } else if (flag == "--progress") {
      options.progress = take();
    } else if (flag.rfind("-", 0) == 0) {
      throw signopt::train::ConfigError("unknown option '" + flag + "' for signopt sweep (see signopt sweep --help)");
    } else if (options.config_file.empty()) {
      options.config_file = flag;
    } else {
      throw signopt::train::ConfigError(
          "unexpected argument '" + flag + "': signopt sweep takes one sweep file (see signopt sweep --help)");
    }
  }
  if (options.config_file.empty())
    throw signopt::train::ConfigError("signopt sweep needs a sweep file: signopt sweep CONFIG.toml (see --help)");
  return signopt::report::run_sweep(options, std::cout);
}
