// Tests of the symmetry of one coordinate's noise that keep their level under heavy tails and atoms at
// zero (issue 19), and their calibration: rejection rates on symmetric laws shaped like real gradient
// noise (the level) and on skewed and bimodal laws (the power), at the probe's number of draws.
#pragma once

#include <signopt/diag/noise_stats.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace signopt::diag {

/// What the sign-flip test sums over the deviations y_i = x_i - median (zeros dropped).
enum class SymmetryStatistic {
  /// sign(y_i) x the rank of |y_i| (ties share their average rank): Wilcoxon's signed-rank statistic about
  /// the median. Bounded summands, so one huge draw cannot dominate.
  SignedRank,
  /// y_i itself: the mean minus the median; one huge draw can dominate it (and its flips), costing power
  /// on heavy-tailed skewed noise.
  Mean,
  /// Both, Bonferroni-combined: p = min(1, 2 min(p_mean, p_signed_rank)). The default: the mean statistic
  /// has the power on light-tailed skew, the signed ranks where a few huge draws dominate the mean.
  Combined,
};

/// "signed-rank", "mean", "combined".
std::string to_string(SymmetryStatistic s);
/// The inverse of to_string; throws std::invalid_argument listing the names for anything else.
SymmetryStatistic parse_symmetry_statistic(const std::string& name);

/// Options of sign_flip_symmetry_test(): the Monte Carlo p-value of Besag & Clifford (1991), which
/// stops once `stop_after` sign flips reach the observed statistic (p = stop_after / flips), else after
/// `max_flips` flips (p = (1 + reached) / (max_flips + 1)). Either way P(p <= a) <= a under the
/// randomization null for every a, and a coordinate far from symmetric costs max_flips flips.
struct SignFlipOptions {
  /// The most flips drawn; the smallest reachable p is 1 / (max_flips + 1) (2 / (max_flips + 1) for
  /// Combined). In [stop_after, 10^7].
  int64_t max_flips = 9999;
  /// h: the flips reaching the observed statistic before stopping, in [1, 1000]. A larger h gives
  /// p-values with a smaller Monte Carlo error at large p and costs about h / p flips.
  int64_t stop_after = 20;
  /// Seed of the flips (a splitmix64 stream); the same seed gives the same p on every machine.
  uint64_t seed = 0;
  SymmetryStatistic statistic = SymmetryStatistic::Combined;

  /// Throws std::invalid_argument naming the field and the value when out of range.
  void validate() const;
};

/// The sign-flip test of symmetry about the median (the probe's symmetry test since issue 19).
/// Deviations y_i = x_i - median(x) (zeros dropped), each replaced by its signed rank for the SignedRank
/// statistic; p = the two-sided share of random sign flips of the summands whose |sum| reaches the observed
/// one (Monte Carlo, see SignFlipOptions); Combined takes the Bonferroni minimum of the two statistics' p.
/// The reported statistic is T = sum y_i / sqrt(sum y_i^2), the self-normalised mean-minus-median (for
/// SignedRank, the same of the signed ranks). Were the centre known, the test would be
/// exact for every symmetric law, whatever its tails and atoms; with the sample median as the centre it
/// is asymptotically conservative for every unimodal symmetric law with finite variance (the variance of
/// mean - median is sigma^2 + 1/(4 f(m)^2) - E|X - m| / f(m) <= sigma^2, as E|X - m| f(m) >= 1/4 for such
/// laws by Khintchine's representation; equality for the uniform), and it is exact once an atom holds the
/// median. Its finite-sample level is checked on heavy-tailed and zero-inflated nulls by
/// calibrate_shape_tests() and tests/diag/test_shape_tests.cpp. Constant samples give T = 0, p = 1.
/// Needs n >= 8 and finite values.
TestResult sign_flip_symmetry_test(const std::vector<double>& x, const SignFlipOptions& options = {});

/// Whether sign_flip_symmetry_test(x, options).p_value <= alpha, stopping as soon as that is decided (at
/// most about stop_after / alpha flips per statistic, 2 stop_after / alpha for each half of Combined): the
/// calibration's fast path, the same decision as the full p-value.
bool sign_flip_rejects(const std::vector<double>& x, double alpha, const SignFlipOptions& options = {});

/// Miao, Gel & Gastwirth (2006): T = sqrt(n) (mean - median) / J, J = sqrt(pi / 2) mean|x - median|,
/// two-sided p from N(0, 0.5708), the null variance under normality. Kept for the calibration table:
/// its level depends on the tails (it rejects symmetric Laplace noise above its level). Needs n >= 8.
TestResult mgg_symmetry_test(const std::vector<double>& x);

/// The probe's wrong-sign rate of draws x against the sign of their mean: the share of draws whose sign
/// opposes sign(mean), a zero draw counting one half; NaN when mean is 0 or not finite.
double wrong_sign_rate(const std::vector<double>& x, double mean);

/// The probe's "above the Gauss bound" rule: the measured rate exceeds gauss_wrong_sign_bound(snr) by more
/// than 2 binomial standard errors of a K-draw rate at the bound. False for a NaN rate; K must be >= 1.
bool wrong_sign_above_bound(double rate, double snr, int64_t K);

/// A noise law of the calibration, standardized to mean 0 (the centre of symmetry for symmetric laws).
enum class CalibrationLaw {
  Normal, ///< N(0, 1)
  Laplace, ///< Laplace, scale 1
  StudentT3, ///< Student t, 3 degrees of freedom (infinite kurtosis)
  StudentT5, ///< Student t, 5 degrees of freedom
  Uniform, ///< U(-1, 1): light tails, where the median-centred sign-flip test is exactly at its level
  ZeroInflatedT3Half, ///< 0 with probability 1/2, else Student t3 (dead-unit atoms, heavy tails)
  ZeroInflatedT3Most, ///< 0 with probability 9/10, else Student t3 (a sparse ReLU layer's gradients)
  Exponential, ///< Exp(1) - 1: skewness 2
  Lognormal, ///< exp(N(0, 1/4)) minus its mean: skewness 1.75
  SkewNormal, ///< skew-normal with shape 4 minus its mean: skewness 0.78
  ZeroInflatedExponential, ///< 0 with probability 9/10, else Exp(1) - 1
  Mixture2, ///< equal mixture of N(-1, 1) and N(1, 1): 2 SD apart, still unimodal (the boundary)
  Mixture3, ///< equal mixture of N(-1.5, 1) and N(1.5, 1): bimodal, 3 SD apart
  Mixture4, ///< equal mixture of N(-2, 1) and N(2, 1): 4 SD apart
  Mixture5, ///< equal mixture of N(-2.5, 1) and N(2.5, 1): 5 SD apart
};

/// Every law of the calibration, in the order above.
const std::vector<CalibrationLaw>& calibration_laws();
/// "normal", "laplace", "student-t3", "student-t5", "uniform", "zero-inflated-t3-50", "zero-inflated-t3-90",
/// "exponential", "lognormal", "skew-normal", "zero-inflated-exponential-90", "mixture-2sd" .. "mixture-5sd".
std::string to_string(CalibrationLaw law);
/// Whether the law is symmetric (about 0) / unimodal.
bool law_is_symmetric(CalibrationLaw law);
bool law_is_unimodal(CalibrationLaw law);
/// One draw of the law from `rng`.
double draw_law(CalibrationLaw law, std::mt19937_64& rng);

/// Rejection rates of the shape tests on one law at one sample size.
struct CalibrationRow {
  CalibrationLaw law = CalibrationLaw::Normal;
  bool symmetric = true, unimodal = true;
  int64_t replicates = 0;
  double sign_flip = 0; ///< share rejected by sign_flip_symmetry_test at alpha (SymmetryStatistic::Combined)
  double sign_flip_mean = 0, sign_flip_rank = 0; ///< the same with the Mean and the SignedRank statistic alone
  double skewness = 0; ///< share rejected by D'Agostino's skewness_test at alpha (assumes normal tails)
  double mgg = 0; ///< share rejected by mgg_symmetry_test at alpha
  double dip = 0; ///< share rejected by dip_test at alpha
  /// share flagged by wrong_sign_above_bound (the probe's check against the Gauss bound; not a level-alpha
  /// test: its false rate on symmetric laws is what the calibration measures)
  double above_bound = 0;
};

/// The calibration of the shape tests at n draws per coordinate.
struct ShapeTestCalibration {
  int64_t samples = 0; ///< n, the probe's K
  int64_t replicates = 0; ///< samples of n draws per law
  double alpha = 0.05; ///< the per-coordinate level the rates are measured at
  /// A rate on a null law is within the level when it is at most alpha + 3 sqrt(alpha (1 - alpha) / replicates).
  double tolerance = 0;
  std::vector<CalibrationRow> rows;
};

/// Rejection rates of every test on every law of calibration_laws(): `replicates` samples of n draws per
/// law (law l, replicate r from a std::mt19937_64 seeded by (seed, l, r)). The sign-flip test is the one
/// `flips` describes (its max_flips, stop_after and statistic; the seed is replaced per replicate), and its
/// Mean and SignedRank parts alone beside it, so the result is deterministic and independent of threads
/// (the laws run in parallel). Needs n >= 8, replicates in [100, 10^6], alpha in (0, 1). Costs about
/// 15 laws x replicates x n x (a few hundred flips on each sample, up to 4 stop_after / alpha) operations.
ShapeTestCalibration calibrate_shape_tests(
    int64_t n,
    int64_t replicates,
    double alpha,
    uint64_t seed,
    const SignFlipOptions& flips = {});

} // namespace signopt::diag
