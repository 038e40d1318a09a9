// The `signopt` subcommands other than train, each a thin layer over the library: parse the
// arguments, call it, turn the outcome into an exit status.
#pragma once

#include <cstdint>
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

/// The built-in launcher of `signopt train --nproc N`: starts N copies of this program as `signopt train
/// <train_args>` with RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1 and MASTER_PORT
/// (the environment's, or a free port) set, forwards SIGINT/SIGTERM once per signal, and when a worker fails
/// gives the others dist_timeout + 10 s before killing them. Returns 0 when every worker succeeded, 130 when
/// the job was interrupted (checkpoint saved), 2 when every worker rejected its options, else 1.
int launch_workers(const std::vector<std::string>& train_args, int64_t nproc, double dist_timeout);
