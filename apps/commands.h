// The `signopt` subcommands other than train, each a thin layer over the library: parse the
// arguments, call it, turn the outcome into an exit status.
#pragma once

#include <string>
#include <vector>

/// `signopt sweep CONFIG.toml [--jobs N] [--out DIR] [--dry-run] [--progress auto|bar|lines]`.
int sweep_command(const std::vector<std::string>& args);

/// `signopt report DIR [--baseline NAME] [--format md|csv|json] [--out FILE-or-DIR] [--no-plots]`.
int report_command(const std::vector<std::string>& args);

/// `signopt probe-noise [--from RUN_DIR | --model NAME --dataset NAME] [options]` (gradient-noise probe).
int probe_command(const std::vector<std::string>& args);

/// `signopt theory [--out DIR] [--steps K] [--seeds S] [--batches LIST] [options]` (the theory lab).
int theory_command(const std::vector<std::string>& args);
