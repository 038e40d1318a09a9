// The gradient-noise probe (issue 7): per-coordinate noise statistics of K minibatch gradients, the
// symmetry and unimodality tests of the paper's assumption, wrong-sign rates against the theory, and
// a cheap running monitor for training. Model-agnostic: gradients come from a callback.
#pragma once

#include <signopt/diag/shape_tests.h>

#include <torch/serialize/archive.h>
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace signopt::diag {

/// Known noise added to every probed gradient, to check that the probe classifies a shape correctly.
/// Each is zero-mean with unit variance before scaling: Gaussian; Laplace (b = 1/sqrt 2); Uniform on
/// [-sqrt 3, sqrt 3]; Bimodal, the equal mixture of N(+-0.95, 0.0975) (two modes 6 stds apart);
/// Skewed, Exp(1) - 1 (skewness 2).
enum class InjectedNoise { None, Gaussian, Laplace, Uniform, Bimodal, Skewed };

/// "none", "gaussian", "laplace", "uniform", "bimodal", "skewed".
std::string to_string(InjectedNoise v);
/// The inverse of to_string; throws std::invalid_argument listing the names for anything else.
InjectedNoise parse_injected_noise(const std::string& name);

/// Fills `out` with n unit-variance draws of `kind` (None gives zeros) from a std::mt19937_64 seeded
/// with `seed`; the same seed gives the same values on every machine.
void draw_injected_noise(InjectedNoise kind, uint64_t seed, double* out, int64_t n);

/// Options of probe_gradient_noise(). Defaults: K = 100 draws, 2000 sampled coordinates, FDR 0.05.
struct ProbeOptions {
  /// K, the number of minibatch gradients drawn (>= 8: the skewness test needs 8 values).
  int64_t samples = 100;
  /// How many coordinates, chosen uniformly at random without replacement, get the full per-draw record
  /// used by the shape tests and the wrong-sign rates (0 = all). The means, stds, SNRs and Phi always
  /// cover every coordinate.
  int64_t coords = 2000;
  /// Benjamini-Hochberg false-discovery rate for the symmetry and the unimodality tests, in (0, 1).
  double fdr = 0.05;
  /// A shape is called violated when more than this share of the tested coordinates is rejected, in (0, 1).
  double violation_share = 0.1;
  /// Seed of the coordinate sample and of the injected noise.
  uint64_t seed = 0;
  InjectedNoise inject = InjectedNoise::None;
  /// Standard deviation of the injected noise (absolute, in gradient units), > 0 when inject != None.
  double inject_scale = 1.0;
  /// How many sampled coordinates keep their standardized draws for histograms (spread over the SNR range).
  int64_t histogram_coords = 6;
  /// The sign-flip symmetry test's most flips per coordinate (SignFlipOptions::max_flips): its smallest
  /// p is 1 / (symmetry_flips + 1), 2 / (symmetry_flips + 1) for the Combined statistic. BH at the FDR over
  /// M tested coordinates rejects the k smallest p only when the k-th is <= k fdr / M, so few rejections
  /// among many coordinates need many flips. In [20, 10^7].
  int64_t symmetry_flips = 9999;
  /// The sign-flip test's statistic (SymmetryStatistic; Combined by default).
  SymmetryStatistic symmetry_statistic = SymmetryStatistic::Combined;
  /// Samples of K draws per law in the calibration of the shape tests at this K (calibrate_shape_tests,
  /// reported beside the verdicts); 0 skips it, else in [100, 10^6].
  int64_t calibration_replicates = 2000;
  /// Dither levels a (the alpha_t of an rms-scaled dither, s = a x the layer's rms gradient): for each,
  /// the share of coordinates whose dither std exceeds their minibatch noise std (NoiseProbeResult::dither).
  /// Each finite and > 0; at most kMaxDitherLevels.
  std::vector<double> dither_levels = {0.1, 0.3, 1.0};

  /// Throws std::invalid_argument naming the field and the value when an option is out of range.
  void validate() const;
};

/// A named block of coordinates, e.g. one parameter tensor.
struct ProbeLayer {
  std::string name;
  int64_t numel = 0;
};

/// Draw k (0 <= k < K): one gradient per layer, in layer order, each with the layer's numel (any shape,
/// any floating dtype, CPU or not). Called exactly once per k, in increasing k.
using GradientDraw = std::function<std::vector<torch::Tensor>(int64_t k)>;

/// Statistics of one sampled coordinate over the K draws.
struct CoordinateNoise {
  int64_t layer = 0; ///< index into the layers
  int64_t index = 0; ///< flat index inside the layer
  double mean = 0, std = 0; ///< sample mean and std (divisor K - 1) of the draws
  double snr = 0; ///< |mean| / std; +inf when std = 0 and mean != 0; 0 when both are 0
  double skewness = 0, excess_kurtosis = 0; ///< bias-corrected (NaN for a constant coordinate)
  /// The sign-flip test of symmetry about the median (sign_flip_symmetry_test): its self-normalised
  /// mean-minus-median T and p-value.
  double symmetry_t = 0, symmetry_p = 1;
  double skew_p = 1, dip = 0, dip_p = 1; ///< D'Agostino skewness test (assumes normal tails) and Hartigan dip test
  /// Rejected by BH at the FDR over all tested coordinates: `asymmetric` by the sign-flip test,
  /// `multimodal` by the dip test, `skew_rejected` by D'Agostino's test (not valid under heavy tails).
  bool asymmetric = false, multimodal = false, skew_rejected = false;
  /// Share of draws whose sign opposes sign(mean), a zero draw counting one half, so 1 - 2 wrong_sign =
  /// mean of sign(draw) sign(mean) as in the descent lemma. NaN when mean = 0.
  double wrong_sign = 0;
  double zero_share = 0; ///< share of draws exactly 0 (sparse gradients, dead units)
  bool constant = false; ///< all K draws equal: untestable, excluded from the tests
};

/// Aggregates of one layer.
struct LayerNoise {
  std::string name;
  int64_t numel = 0;
  int64_t sampled = 0, constant = 0, tested = 0; ///< sampled coordinates; constant ones; tested = sampled - constant
  double snr_median = 0; ///< over all coordinates of the layer
  double snr_above_share = 0; ///< share of the layer's coordinates with S > 2/sqrt 3 (the Gauss bound's knee)
  double phi = 0; ///< the layer's part of Phi
  double grad_l1 = 0; ///< ||mean gradient||_1 over the layer
  double mean_abs_skewness = 0, median_excess_kurtosis = 0; ///< over tested coordinates (NaN if none)
  double asymmetric_share = 0, multimodal_share = 0; ///< BH rejections / tested
  double skew_rejected_share = 0; ///< D'Agostino's BH rejections / tested (assumes normal tails)
  double wrong_sign = 0, gaussian_prediction = 0, gauss_bound = 0; ///< means over sampled coordinates with mean != 0
  double rms_gradient = 0; ///< sqrt of the mean over the draws and the layer's coordinates of g^2
  std::vector<double> dither_share; ///< per ProbeOptions::dither_levels a: share of the layer's coordinates with a x rms_gradient > std
};

/// The most dither levels a probe reports.
constexpr size_t kMaxDitherLevels = 32;

/// Does an rms-scaled dither of level a out-noise the minibatch noise? (issue 19)
struct DitherShare {
  double level = 0; ///< a, the dither std relative to each layer's rms gradient
  /// Share of all coordinates whose dither std a x rms_gradient(layer) exceeds their minibatch noise std:
  /// where it does, the injected noise and not the minibatch decides the dithered sign.
  double share = 0;
};

/// Sampled coordinates grouped by their SNR.
struct SnrBin {
  double lo = 0, hi = 0; ///< S in [lo, hi)
  int64_t count = 0;
  double mean_snr = 0;
  double wrong_sign = 0; ///< mean measured rate
  double wrong_sign_se = 0; ///< its standard error (std of the per-coordinate rates / sqrt(count))
  double gaussian_prediction = 0; ///< mean of 0.5 erfc(S / sqrt 2) at each coordinate's S
  double gauss_bound = 0; ///< mean of the Gauss bound at each coordinate's S
};

/// Standardized draws (x - mean) / std of one sampled coordinate, for a histogram.
struct CoordinateSample {
  std::string label; ///< e.g. "conv1.weight[17] S=0.42 skew=0.10"
  std::vector<double> standardized;
};

/// Everything probe_gradient_noise() measures.
struct NoiseProbeResult {
  int64_t samples = 0; ///< K
  int64_t dimension = 0; ///< d, all coordinates
  int64_t sampled = 0, constant = 0, tested = 0;
  /// Phi = sum_i |mean_i| phi(S_i) over all coordinates (algorithms.md section 6), with S_i measured at
  /// the probed batch size; phi_ratio = Phi / ||mean||_1 in [0, 1] (1 = every sign reliable).
  double phi = 0, grad_l1 = 0, phi_ratio = 0;
  double snr_median = 0, snr_p10 = 0, snr_p90 = 0, snr_above_share = 0; ///< over all coordinates
  double mean_abs_skewness = 0, median_excess_kurtosis = 0;
  double asymmetric_share = 0, multimodal_share = 0; ///< sign-flip test and dip test, BH at the FDR
  double skew_rejected_share = 0; ///< D'Agostino's test, BH at the FDR (assumes normal tails: not a verdict)
  bool symmetric = true, unimodal = true; ///< shares <= violation_share
  std::string verdict; ///< one line, e.g. "consistent with unimodal symmetric noise"
  double wrong_sign = 0, gaussian_prediction = 0, gauss_bound = 0; ///< means over sampled coordinates
  /// Share of sampled coordinates whose measured rate exceeds the Gauss bound by more than 2 binomial standard
  /// errors, sqrt(bound (1 - bound) / K): about 2.3% or less arise by chance when every rate is within the bound.
  double bound_violation_share = 0;
  /// The shape tests' level and power at this K (empty rows when ProbeOptions::calibration_replicates = 0).
  ShapeTestCalibration calibration;
  std::vector<DitherShare> dither; ///< one per ProbeOptions::dither_levels, over every coordinate
  std::vector<double> snr_all; ///< S of every coordinate (for the SNR histogram)
  std::vector<LayerNoise> layers;
  std::vector<SnrBin> bins;
  std::vector<CoordinateNoise> coords;
  std::vector<CoordinateSample> histograms;
};

/// Draws K gradients and measures their noise. `progress(done, K)` is called after each draw.
/// Memory: 3 doubles per coordinate plus K doubles per sampled coordinate.
/// Throws std::invalid_argument for bad options, no layers, a draw with the wrong number of tensors or
/// elements (naming the layer and the draw), and non-finite gradient values.
NoiseProbeResult probe_gradient_noise(
    const std::vector<ProbeLayer>& layers,
    const GradientDraw& draw,
    const ProbeOptions& options,
    const std::function<void(int64_t, int64_t)>& progress = {});

/// The SNR bin edges used by probe_gradient_noise(): 0, 1/8, 1/4, 1/2, 3/4, 1, 2/sqrt 3, 3/2, 2, 3, 5, +inf.
const std::vector<double>& snr_bin_edges();

/// One row of the running monitor (`signopt train --probe-every N`).
struct RunningNoiseSnapshot {
  int64_t updates = 0; ///< gradients seen so far
  double snr_median = 0, snr_above_share = 0; ///< over all coordinates
  double phi = 0, grad_l1 = 0, phi_ratio = 0;
  double wrong_sign = 0; ///< share of the current gradient's signs opposing the running mean's (zeros count 1/2)
  double gaussian_prediction = 0, gauss_bound = 0; ///< means over coordinates with a nonzero running mean
  /// Share of coordinates whose dither std exceeds their running noise std (RunningNoiseMonitor::dither_share);
  /// NaN without dithering.
  double dither_share = std::numeric_limits<double>::quiet_NaN();
};

/// Cheap running estimates of the gradient noise during training: per-coordinate exponential moving
/// averages of g and g^2 (bias-corrected, beta close to 1), so mean_i ~ m_i and sigma_i^2 ~ v_i - m_i^2.
/// Unlike probe_gradient_noise() the draws come from a moving model, so sigma also absorbs the drift of
/// the mean gradient over the averaging window (~1 / (1 - beta) steps): it over-estimates the noise,
/// more so early in training. It costs two fused passes over the gradients per step.
class RunningNoiseMonitor {
 public:
  /// beta in (0, 1).
  explicit RunningNoiseMonitor(double beta = 0.98);

  /// Folds in one step's gradients (one tensor per parameter, same shapes every call).
  void update(const std::vector<torch::Tensor>& grads);

  /// Statistics of the running estimates; `current` (the latest gradients) gives the wrong-sign rate.
  /// Requires at least one update. Its dither_share is NaN: see dither_share().
  RunningNoiseSnapshot snapshot(const std::vector<torch::Tensor>& current) const;

  /// The share of coordinates whose dither std exceeds their running noise std: `dither_std` has one entry
  /// per tensor (the std of the noise a dithered optimizer added before the sign), NaN for a tensor to leave
  /// out (not dithered or not reported); NaN when every entry is. Throws for a wrong count or a negative or
  /// infinite std. Requires at least one update.
  double dither_share(const std::vector<double>& dither_std) const;

  int64_t updates() const {
    return updates_;
  }
  double beta() const {
    return beta_;
  }

  /// Saves and restores the averages under keys `prefix`.* so that a resumed run continues them exactly.
  void save(torch::serialize::OutputArchive& archive, const std::string& prefix) const;
  /// Returns false (and leaves the monitor untouched) when the archive has no such keys.
  bool load(torch::serialize::InputArchive& archive, const std::string& prefix);

 private:
  // Tensor i's running noise std given the bias correction 1 - beta^updates and its corrected mean m_i / correction.
  torch::Tensor sigma_of(size_t i, double correction, const torch::Tensor& mean) const;

  double beta_;
  int64_t updates_ = 0;
  std::vector<torch::Tensor> m_, v_; // float64, flat
};

} // namespace signopt::diag
