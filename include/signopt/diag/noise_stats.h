// Per-coordinate gradient-noise statistics (issue 7): moments, symmetry and unimodality tests, FDR control.
#pragma once

#include <signopt/stats/stats.h>

#include <cstdint>
#include <vector>

namespace signopt::diag {

/// Sample moments of one coordinate's K noise draws.
struct SampleMoments {
  int64_t n = 0; ///< number of samples
  double mean = 0; ///< arithmetic mean
  double std = 0; ///< sample standard deviation (divisor n - 1)
  /// Adjusted Fisher-Pearson skewness G1 = g1 sqrt(n (n - 1)) / (n - 2), g1 = m3 / m2^1.5
  /// (scipy.stats.skew(bias=False)). NaN when the sample is constant (m2 = 0).
  double skewness = 0;
  /// Bias-corrected excess kurtosis G2 = ((n^2 - 1) m4 / m2^2 - 3 (n - 1)^2) / ((n - 2)(n - 3))
  /// (scipy.stats.kurtosis(bias=False)); 0 for a normal population. NaN when the sample is constant.
  double excess_kurtosis = 0;
};

/// Mean, sample std, skewness and excess kurtosis of x. Needs n >= 4 (the bias-corrected kurtosis
/// divides by (n - 2)(n - 3)) and finite values; throws std::invalid_argument otherwise.
SampleMoments sample_moments(const std::vector<double>& x);

/// Result of a two-sided hypothesis test.
struct TestResult {
  double statistic = 0; ///< the test statistic (z for the skewness test, the dip for the dip test)
  double p_value = 1; ///< two-sided p-value (one-sided upper tail for the dip test)
};

/// D'Agostino's skewness test (scipy.stats.skewtest, two-sided): H0 = the population is normal-symmetric
/// in the third moment. Uses the biased skewness g1 and D'Agostino's (1970) normalising transform to z.
/// Needs n >= 8 (as scipy) and finite values. A constant sample has g1 := 0, so z = 0 and p = 1
/// (scipy returns NaN there; a constant coordinate carries no evidence of asymmetry).
TestResult skewness_test(const std::vector<double>& x);

/// Hartigan's dip statistic (Hartigan & Hartigan 1985, algorithm AS 217 as revised in the R package
/// diptest): the sup-distance between the empirical CDF and the closest unimodal CDF. For n >= 2 values lie in
/// [1 / (2n), 1/4]; uniform samples give about 1/(2n) .. O(1/sqrt(n)), two well separated equal
/// clusters approach 1/4. Invariant under increasing affine maps. x need not be sorted; n >= 1, finite.
double dip_statistic(const std::vector<double>& x);

/// Monte Carlo null distribution of the dip for samples of size n drawn from Uniform(0, 1), the least
/// favourable unimodal distribution (Hartigan & Hartigan 1985), so p-values are conservative for
/// other unimodal shapes. Deterministic: replicate r uses a std::mt19937_64 seeded from (seed, n).
class DipReference {
 public:
  /// Simulates `replicates` dips of n uniform samples. Needs n >= 4 and replicates >= 100.
  DipReference(int64_t n, int64_t replicates, uint64_t seed);

  /// P(dip_null >= dip) estimated as (1 + #{simulated >= dip}) / (replicates + 1), which is never 0
  /// and has Monte Carlo standard error about sqrt(p (1 - p) / replicates).
  double p_value(double dip) const;

  int64_t n() const {
    return n_;
  }
  int64_t replicates() const {
    return static_cast<int64_t>(sorted_dips_.size());
  }
  /// The simulated null dips in increasing order.
  const std::vector<double>& sorted_dips() const {
    return sorted_dips_;
  }

 private:
  int64_t n_;
  std::vector<double> sorted_dips_;
};

/// Default Monte Carlo size of the dip reference: 2000 replicates give p-values with standard error
/// <= 0.011 (at p = 0.5) and about 0.005 at p = 0.05; the smallest reachable p is 1/2001.
constexpr int64_t kDefaultDipReplicates = 2000;
/// Default seed of the dip reference, so every run and test sees the same null table.
constexpr uint64_t kDefaultDipSeed = 20260701;

/// The process-wide reference for sample size n with the default replicates and seed, simulated once on
/// first use and cached (thread-safe). All coordinates of a probe share K, so one table serves them all.
const DipReference& default_dip_reference(int64_t n);

/// Hartigan's dip test of unimodality: statistic = dip_statistic(x), p_value from
/// default_dip_reference(x.size()). Small p = evidence of multimodality. Needs n >= 4.
TestResult dip_test(const std::vector<double>& x);

/// The false-discovery-rate control of the probe's verdicts: signopt's stats unit (signopt/stats/stats.h).
using stats::benjamini_hochberg;
using stats::benjamini_hochberg_adjusted;

} // namespace signopt::diag
