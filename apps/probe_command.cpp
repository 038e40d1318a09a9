// `signopt probe-noise`: measure the gradient noise of a model (see docs/theory.md).
#include "args.h"
#include "commands.h"

#include <signopt/experiments/probe_noise.h>

#include <unistd.h>

#include <iostream>

namespace {

const char* kProbeHelp =
    R"(usage: signopt probe-noise [--from RUN_DIR | --model NAME --dataset NAME] [options]

Tests the paper's assumption that per-coordinate minibatch gradient noise is unimodal and symmetric.
At fixed parameters (a fresh model, or the checkpoint of a `signopt train` run) it draws K minibatch
gradients of batch size B, and reports per coordinate the mean, std, SNR S = |mean|/std, skewness and
excess kurtosis; tests symmetry (D'Agostino's skewness test) and unimodality (Hartigan's dip test with
a simulated uniform reference) with Benjamini-Hochberg false-discovery control; compares the wrong-sign
rate of single minibatch gradients (against the sign of the K-draw mean) with the Gauss bound and the
Gaussian prediction, binned by SNR; and reports the SNR-weighted stationarity measure Phi.

Model and data:
  --from DIR           probe the parameters in DIR/checkpoint.pt of a signopt train run; the model,
                       dataset and data folder come from DIR/config.json
  --model NAME         mlp, cnn or resnet18 for a fresh model (default cnn)
  --dataset NAME       fashion-mnist, mnist, cifar10, cifar100 or synthetic (default fashion-mnist)
  --data-dir DIR       where the dataset's files are (default: the dataset's standard folder)
  --synthetic-train N  training images of the synthetic dataset (default 6000)
  --seed N             the fresh model's initialisation and the minibatch order (default 0)
Probe:
  --batch-size B       minibatch size of each gradient draw (default 32)
  --samples K          number of gradient draws, >= 8 (default 100; the tests need ~50+ for power)
  --coords N           coordinates sampled uniformly for the shape tests and wrong-sign rates; 0 = all
                       (default 2000). SNRs and Phi always use every coordinate.
  --fdr Q              Benjamini-Hochberg false-discovery rate of each test (default 0.05). Symmetry:
                       the sign-flip test about the median, valid under heavy tails and atoms at zero
                       (D'Agostino's skewness test is reported beside it, labelled as assuming normal
                       tails); unimodality: Hartigan's dip test
  --symmetry-flips N   most random sign flips per coordinate of the symmetry test, in [20, 10^7]; its
                       smallest p-value is 2/(N+1) with the combined statistic (default 9999)
  --symmetry-statistic S  what the sign-flip test sums: combined (default: the Bonferroni minimum of
                       the two), mean (mean minus median) or signed-rank (Wilcoxon's ranks about the
                       median)
  --calibration N      samples of K draws per known law for the table of the tests' level and power at
                       this K (default 2000; 0 = none)
  --dither-levels A,.. dither levels a (std a x the layer's rms gradient) whose share of out-noised
                       coordinates (dither std > minibatch noise std) is reported (default 0.1,0.3,1)
  --violation-share F  call a shape violated when more than F of the tested coordinates are
                       rejected (default 0.1)
  --inject SHAPE       add known noise to every draw to check the probe: none (default), gaussian,
                       laplace, uniform, bimodal (two modes), skewed (Exp(1) - 1)
  --inject-scale S     std of the injected noise in gradient units (default 1)
Output:
  --out DIR            output folder, must not exist or be empty
                       (default runs/probe-<model>-<dataset>-b<B>)
  --no-plots           skip the gnuplot plots
  --threads N          CPU threads (default 0 = all cores)
  --progress M         auto (a live line on a terminal, else a line per 10%), bar or lines

Writes DIR/report.md (verdict, per-layer table, wrong-sign rate by SNR, plots), summary.json,
layers.csv, snr_bins.csv, coords.csv (every sampled coordinate) and plots/ (snr-histogram,
wrong-sign-vs-snr, noise-histograms as PNG and SVG). Exit status: 0 written, 2 bad options or data,
1 a failure while probing (nothing is left behind).
)";

} // namespace

int probe_command(const std::vector<std::string>& args) {
  signopt::experiments::ProbeNoiseConfig c;
  std::string progress = "auto";
  bool model_given = false;
  ArgCursor a(args, "probe-noise");
  while (a.next()) {
    const std::string& f = a.flag();
    if (f == "--help" || f == "-h") {
      std::cout << kProbeHelp;
      return 0;
    } else if (f == "--from") {
      c.from = a.value();
    } else if (f == "--model") {
      c.model = a.value();
      model_given = true;
    } else if (f == "--dataset") {
      c.dataset = a.value();
    } else if (f == "--data-dir") {
      c.data_dir = a.value();
    } else if (f == "--synthetic-train") {
      c.synthetic_train = a.integer(1);
    } else if (f == "--seed") {
      c.seed = static_cast<uint64_t>(a.integer(0));
    } else if (f == "--batch-size") {
      c.batch_size = a.integer(1);
    } else if (f == "--samples") {
      c.probe.samples = a.integer(8);
    } else if (f == "--coords") {
      c.probe.coords = a.integer(0);
    } else if (f == "--fdr") {
      c.probe.fdr = a.number();
    } else if (f == "--symmetry-flips") {
      c.probe.symmetry_flips = a.integer(20);
    } else if (f == "--symmetry-statistic") {
      try {
        c.probe.symmetry_statistic = signopt::diag::parse_symmetry_statistic(a.value());
      } catch (const std::invalid_argument& e) {
        throw signopt::train::ConfigError(std::string("--symmetry-statistic: ") + e.what());
      }
    } else if (f == "--calibration") {
      c.probe.calibration_replicates = a.integer(0);
    } else if (f == "--dither-levels") {
      c.probe.dither_levels = a.numbers();
    } else if (f == "--violation-share") {
      c.probe.violation_share = a.number();
    } else if (f == "--inject") {
      try {
        c.probe.inject = signopt::diag::parse_injected_noise(a.value());
      } catch (const std::invalid_argument& e) {
        throw signopt::train::ConfigError(std::string("--inject: ") + e.what());
      }
    } else if (f == "--inject-scale") {
      c.probe.inject_scale = a.number();
    } else if (f == "--out") {
      c.out = a.value();
    } else if (f == "--no-plots") {
      c.plots = false;
    } else if (f == "--threads") {
      c.threads = a.integer(0);
    } else if (f == "--progress") {
      progress = a.value();
      if (progress != "auto" && progress != "bar" && progress != "lines")
        throw signopt::train::ConfigError("invalid value for --progress: '" + progress + "' (expected auto, bar or lines)");
    } else {
      a.unknown();
    }
  }
  if (!c.from.empty() && model_given)
    throw signopt::train::ConfigError("--model cannot be combined with --from: the run's own model is probed");
  c.progress_bar = progress == "bar" || (progress == "auto" && ::isatty(STDERR_FILENO));
  signopt::experiments::run_probe_noise(c, std::cerr);
  return 0;
}
