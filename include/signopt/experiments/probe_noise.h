// `signopt probe-noise`: the gradient-noise probe (signopt/diag/probe.h) on a zoo model and dataset,
// fresh or from a run's checkpoint, written out as summary.json, CSV tables, a Markdown report and plots.
#pragma once

#include <signopt/diag/probe.h>
#include <signopt/report/report.h>

#include <cstdint>
#include <ostream>
#include <string>

namespace signopt::experiments {

/// What to probe and how. Defaults: a fresh `cnn` on Fashion-MNIST, K = 100 gradients of batch 32,
/// 2000 sampled coordinates, FDR 0.05.
struct ProbeNoiseConfig {
  /// A run directory of `signopt train`: its config.json names the model and dataset, and the
  /// parameters come from its checkpoint.pt. "" = a fresh model initialised with `seed`.
  std::string from;
  std::string dataset = "fashion-mnist";
  std::string data_dir; ///< "" = the dataset's default directory (or the run's, with `from`)
  std::string model = "cnn"; ///< ignored with `from` (the run's model is used)
  int64_t synthetic_train = 6000; ///< sizes of the synthetic dataset
  int64_t batch_size = 32; ///< B, the minibatch size of every gradient draw
  uint64_t seed = 0; ///< the fresh model's initialisation and the minibatch order
  int64_t threads = 0; ///< 0 = all cores
  std::string out; ///< output directory; "" = runs/probe-<model>-<dataset>-b<B>
  bool plots = true;
  bool progress_bar = false; ///< a live line (terminal) instead of one line per 10% of the draws
  diag::ProbeOptions probe; ///< K, sampled coordinates, FDR, injected noise...

  /// Throws ConfigError naming the option and the value for out-of-range values.
  void validate() const;
};

/// Where the results went.
struct ProbeNoiseOutcome {
  std::string out_dir;
  diag::NoiseProbeResult result;
  report::PlotOutcome plots;
};

/// Loads the data and the model, draws the gradients (training-mode forward pass, mean cross-entropy,
/// the minibatches of a shuffled BatchLoader without augmentation), probes them and writes into the
/// output directory: summary.json, layers.csv, snr_bins.csv, coords.csv, report.md and plots/
/// (snr-histogram, wrong-sign-vs-snr, noise-histograms as PNG and SVG). Progress goes to `log`.
/// Throws ConfigError for bad options, a missing dataset or run, an existing non-empty output directory;
/// nothing is left behind on failure.
ProbeNoiseOutcome run_probe_noise(const ProbeNoiseConfig& config, std::ostream& log);

} // namespace signopt::experiments
