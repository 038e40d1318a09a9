// `signopt sweep`: runs a grid of training runs declared in a TOML file (see docs/report.md).
#include "args.h"
#include "commands.h"

#include <signopt/experiments/sweep.h>
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
  signopt::experiments::SweepOptions options;
  ArgCursor a(args, "sweep");
  while (a.next()) {
    const std::string& flag = a.flag();
    if (flag == "--help" || flag == "-h") {
      std::cout << kSweepHelp;
      return 0;
    } else if (flag == "--jobs" || flag == "-j") {
      options.jobs = static_cast<int>(a.integer(1, 1024));
    } else if (flag == "--out") {
      options.out_dir = a.value();
    } else if (flag == "--dry-run") {
      options.dry_run = true;
    } else if (flag == "--progress") {
      options.progress = a.value();
    } else if (a.is_option()) {
      a.unknown();
    } else if (options.config_file.empty()) {
      options.config_file = flag;
    } else {
      throw signopt::train::ConfigError(
          "unexpected argument '" + flag + "': signopt sweep takes one sweep file (see signopt sweep --help)");
    }
  }
  if (options.config_file.empty())
    throw signopt::train::ConfigError("signopt sweep needs a sweep file: signopt sweep CONFIG.toml (see --help)");
  return signopt::experiments::run_sweep(options, std::cout);
}
