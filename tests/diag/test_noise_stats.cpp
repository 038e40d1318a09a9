// The noise-probe statistics against scipy values, the dip statistic's known properties and hand-worked BH.
#include <signopt/diag/noise_stats.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

namespace signopt::diag {
namespace {

const std::vector<double> kSampleA = {1.2, -0.7, 3.5, 0.1, 2.2, -1.9, 0.4, 5.8, -0.3, 1.1};
const std::vector<double> kSampleB = {0.5, 0.9, 1.3, 1.7, 2.0, 2.1, 2.2, 2.3, 2.35, 2.4, 2.42, 2.44};

// Expected values from Debian's python3-scipy 1.10.1:
//   x = np.array(sample); x.mean(), x.std(ddof=1), scipy.stats.skew(x, bias=False),
//   scipy.stats.kurtosis(x, bias=False), scipy.stats.skewtest(x).statistic, .pvalue
TEST(NoiseStats, MomentsMatchScipy) {
  const SampleMoments a = sample_moments(kSampleA);
  EXPECT_EQ(a.n, 10);
  EXPECT_NEAR(a.mean, 1.14, 1e-13);
  EXPECT_NEAR(a.std, 2.2296985346803178, 1e-13);
  EXPECT_NEAR(a.skewness, 0.9608779978897377, 1e-12);
  EXPECT_NEAR(a.excess_kurtosis, 1.016221890131633, 1e-12);

  const SampleMoments b = sample_moments(kSampleB);
  EXPECT_NEAR(b.mean, 1.884166666666667, 1e-13);
  EXPECT_NEAR(b.std, 0.6516755792616911, 1e-13);
  EXPECT_NEAR(b.skewness, -1.2345153478420308, 1e-12);
  EXPECT_NEAR(b.excess_kurtosis, 0.39151101582243664, 1e-12);
}

TEST(NoiseStats, SkewnessTestMatchesScipy) {
  const TestResult a = skewness_test(kSampleA);
  EXPECT_NEAR(a.statistic, 1.4160707343596823, 1e-12);
  EXPECT_NEAR(a.p_value, 0.15675479559436803, 1e-12);
  const TestResult b = skewness_test(kSampleB);
  EXPECT_NEAR(b.statistic, -1.9192065874196813, 1e-12);
  EXPECT_NEAR(b.p_value, 0.054958194190641185, 1e-12);
}

TEST(NoiseStats, SkewnessTestSeparatesSymmetricFromSkewedNoise) {
  std::mt19937_64 gen(7);
  std::normal_distribution<double> normal(0, 1);
  std::exponential_distribution<double> expo(1);
  std::vector<double> sym(500), skewed(500);
  for (auto& v : sym) {
    v = normal(gen);
  }
  for (auto& v : skewed) {
    v = expo(gen);
  }
  EXPECT_GT(skewness_test(sym).p_value, 0.01);
  EXPECT_LT(skewness_test(skewed).p_value, 1e-6);
  EXPECT_GT(skewness_test(skewed).statistic, 0);
}

TEST(NoiseStats, ConstantSampleHasUndefinedShapeButNoAsymmetry) {
  const std::vector<double> c(16, 0.1);
  const SampleMoments m = sample_moments(c);
  EXPECT_NEAR(m.mean, 0.1, 1e-16);
  EXPECT_NEAR(m.std, 0.0, 1e-16);
  EXPECT_TRUE(std::isnan(m.skewness));
  EXPECT_TRUE(std::isnan(m.excess_kurtosis));
  const TestResult t = skewness_test(c);
  EXPECT_EQ(t.statistic, 0.0);
  EXPECT_EQ(t.p_value, 1.0);
}

TEST(NoiseStats, BadSamplesAreRejected) {
  EXPECT_THROW(sample_moments({1.0, 2.0, 3.0}), std::invalid_argument);
  EXPECT_THROW(skewness_test({1, 2, 3, 4, 5, 6, 7}), std::invalid_argument);
  EXPECT_THROW(sample_moments({1.0, 2.0, NAN, 3.0}), std::invalid_argument);
  EXPECT_THROW(dip_statistic({}), std::invalid_argument);
  EXPECT_THROW(dip_statistic({1.0, INFINITY}), std::invalid_argument);
  EXPECT_THROW(DipReference(3, 1000, 1), std::invalid_argument);
  EXPECT_THROW(DipReference(10, 10, 1), std::invalid_argument);
}

TEST(NoiseStats, DipOfAUniformGridIsHalfAJump) {
  for (int n : {4, 5, 10, 37, 100, 1000}) {
    std::vector<double> x(n);
    for (int i = 0; i < n; ++i) {
      x[i] = i;
    }
    EXPECT_NEAR(dip_statistic(x), 1.0 / (2 * n), 1e-12) << "n = " << n;
  }
  EXPECT_DOUBLE_EQ(dip_statistic({3.0}), 0.5);
  EXPECT_DOUBLE_EQ(dip_statistic({2.0, 2.0, 2.0, 2.0}), 1.0 / 8);
}

// Reference values: the checks in the R package diptest's tests/ex1.R (dip(c(1,1,2,2)) == 1/4,
// dip(cumsum(0:3)) == 1/8, mirror symmetry of c(1, rep(2, 9))) and the values, to 7 decimals, asserted by
// cluspy's tests (cluspy/utils tests of dip_test, a port of diptest's C code that reports the same
// 1/(2n)-floored dip), including the statfaculty data.
TEST(NoiseStats, DipMatchesReferenceImplementationValues) {
  EXPECT_DOUBLE_EQ(dip_statistic({1, 1, 2, 2}), 0.25);
  EXPECT_DOUBLE_EQ(dip_statistic({0, 1, 3, 6}), 1.0 / 8);
  EXPECT_DOUBLE_EQ(dip_statistic({0, -1, -3, -6}), 1.0 / 8);
  const std::vector<double> x2 = {1, 2, 2, 2, 2, 2, 2, 2, 2, 2};
  std::vector<double> x2_mirrored;
  for (double v : x2) {
    x2_mirrored.push_back(3 - v);
  }
  EXPECT_DOUBLE_EQ(dip_statistic(x2), dip_statistic(x2_mirrored));
  std::vector<double> two_atoms(10, 1.0);
  two_atoms.resize(20, 2.0);
  EXPECT_NEAR(dip_statistic(two_atoms), 0.25, 5e-8);
  EXPECT_NEAR(dip_statistic({1, 1, 1, 2, 2, 2, 2, 2, 2.5, 2.5, 2.5}), 0.1363636, 5e-8);
  const std::vector<double> statfaculty = {1, 0, 0, 1, 0, 1, 1, 2, 0, 5, 4, 1, 1, 3, 2, 2, 2, 2, 3, 1, 2, 1,
                                           2, 5, 2, 0, 0, 2, 0, 1, 3, 4, 4, 1, 0, 0, 1, 0, 0, 0, 1, 0, 2};
  EXPECT_NEAR(dip_statistic(statfaculty), 0.1395349, 5e-8);
  const std::vector<double> spread = {-2, 0, 0.25, 0.5, 1, 1.1, 1.2, 1.3, 1.4, 1.5, 2, 3, 4, 4.5};
  EXPECT_NEAR(dip_statistic(spread), 0.0535714, 5e-8);
}

TEST(NoiseStats, DipOfTwoSeparatedEqualClustersApproachesAQuarter) {
  std::mt19937_64 gen(11);
  std::uniform_real_distribution<double> jitter(0, 1e-3);
  for (int m : {50, 500}) {
    std::vector<double> x;
    for (int i = 0; i < m; ++i) {
      x.push_back(jitter(gen));
      x.push_back(10 + jitter(gen));
    }
    const double dip = dip_statistic(x);
    EXPECT_LE(dip, 0.25 + 1e-12);
    // Within each cluster the ECDF climbs 1/2 over a negligible width; the best unimodal fit misses by
    // 1/4 minus O(1/n) discreteness.
    EXPECT_GT(dip, 0.25 - 2.0 / (2 * m)) << "m = " << m;
  }
  // Exactly two atoms of equal mass: dip = 1/4.
  EXPECT_NEAR(dip_statistic({0, 0, 0, 0, 1, 1, 1, 1}), 0.25, 1e-12);
}

TEST(NoiseStats, DipIsInRangeAndInvariantUnderIncreasingAffineMaps) {
  std::mt19937_64 gen(3);
  std::normal_distribution<double> normal(0, 1);
  std::bernoulli_distribution coin(0.3);
  for (int trial = 0; trial < 40; ++trial) {
    const int n = 5 + trial * 7;
    std::vector<double> x(n), y(n), shuffled;
    for (int i = 0; i < n; ++i) {
      x[i] = normal(gen) + (coin(gen) ? 2.5 : 0.0);
      y[i] = 3.0 * x[i] - 7.0;
    }
    shuffled = x;
    std::shuffle(shuffled.begin(), shuffled.end(), gen);
    const double dip = dip_statistic(x);
    EXPECT_GE(dip, 1.0 / (2 * n) - 1e-15);
    EXPECT_LE(dip, 0.25 + 1e-15);
    EXPECT_NEAR(dip_statistic(y), dip, 1e-12) << "n = " << n;
    EXPECT_DOUBLE_EQ(dip_statistic(shuffled), dip);
    // A reflection x -> -x maps unimodal CDFs to unimodal CDFs, so the dip is unchanged too.
    for (auto& v : y) {
      v = -v;
    }
    EXPECT_NEAR(dip_statistic(y), dip, 1e-12) << "n = " << n;
  }
}

TEST(NoiseStats, DipReferenceIsDeterministicAndCalibratedUnderTheNull) {
  const int64_t n = 50;
  const DipReference a(n, 1000, 42), b(n, 1000, 42), c(n, 1000, 43);
  EXPECT_EQ(a.sorted_dips(), b.sorted_dips());
  EXPECT_NE(a.sorted_dips(), c.sorted_dips());
  EXPECT_EQ(a.replicates(), 1000);
  EXPECT_TRUE(std::is_sorted(a.sorted_dips().begin(), a.sorted_dips().end()));
  EXPECT_GE(a.sorted_dips().front(), 1.0 / (2 * n) - 1e-15);
  EXPECT_DOUBLE_EQ(a.p_value(0.0), 1.0);
  EXPECT_DOUBLE_EQ(a.p_value(1.0), 1.0 / 1001);

  // Fresh uniform samples (another generator) must give roughly uniform p-values: about 5% below 0.05.
  std::mt19937_64 gen(99);
  std::uniform_real_distribution<double> unif(-2, 5);
  int below_05 = 0, below_50 = 0;
  const int trials = 400;
  for (int t = 0; t < trials; ++t) {
    std::vector<double> x(n);
    for (auto& v : x) {
      v = unif(gen);
    }
    const double p = a.p_value(dip_statistic(x));
    below_05 += p < 0.05;
    below_50 += p < 0.5;
  }
  // Binomial(400, 0.05): sd 4.4; Binomial(400, 0.5): sd 10. Bounds are about 3.5 sd wide.
  EXPECT_GE(below_05, 5);
  EXPECT_LE(below_05, 36);
  EXPECT_GE(below_50, 165);
  EXPECT_LE(below_50, 235);
}

TEST(NoiseStats, DipTestAcceptsNormalAndRejectsBimodalNoise) {
  std::mt19937_64 gen(5);
  std::normal_distribution<double> normal(0, 1);
  std::bernoulli_distribution coin(0.5);
  const int n = 200;
  int small_p_normal = 0;
  for (int t = 0; t < 20; ++t) {
    std::vector<double> x(n);
    for (auto& v : x) {
      v = normal(gen);
    }
    small_p_normal += dip_test(x).p_value < 0.05;
  }
  // The uniform null is least favourable, so normal samples almost never reach p < 0.05.
  EXPECT_LE(small_p_normal, 2);

  std::vector<double> mix(n);
  for (auto& v : mix) {
    v = normal(gen) + (coin(gen) ? 3.0 : -3.0);
  }
  const TestResult t = dip_test(mix);
  EXPECT_LT(t.p_value, 0.01);
  EXPECT_GT(t.statistic, 0.05);
  // The cached table is the one dip_test used.
  EXPECT_EQ(&default_dip_reference(n), &default_dip_reference(n));
  EXPECT_EQ(default_dip_reference(n).replicates(), kDefaultDipReplicates);
}

// m = 6, q = 0.05: sorted p = .005 .01 .03 .032 .04 .20 against i q / m = .0083 .0167 .025 .0333 .0417 .05.
// .03 fails its own threshold but .032 and .04 pass theirs, so the step-up rejects the 5 smallest.
TEST(NoiseStats, BenjaminiHochbergHandWorkedExample) {
  const std::vector<double> p = {0.01, 0.04, 0.03, 0.005, 0.20, 0.032};
  EXPECT_EQ(benjamini_hochberg(p, 0.05), (std::vector<bool>{true, true, true, true, false, true}));
  // q = 0.04: thresholds .0067 .0133 .02 .0267 .0333 .04; only the two smallest pass, nothing later does.
  EXPECT_EQ(benjamini_hochberg(p, 0.04), (std::vector<bool>{true, false, false, true, false, false}));
  // Adjusted: m p_(i) / i = .03 .03 .06 .048 .048 .2, then running minima from the top.
  const std::vector<double> expected = {0.03, 0.048, 0.048, 0.03, 0.2, 0.048};
  const std::vector<double> adjusted = benjamini_hochberg_adjusted(p);
  ASSERT_EQ(adjusted.size(), expected.size());
  for (size_t i = 0; i < p.size(); ++i) {
    EXPECT_NEAR(adjusted[i], expected[i], 1e-15) << i;
  }
  EXPECT_TRUE(benjamini_hochberg({}, 0.1).empty());
  EXPECT_THROW(benjamini_hochberg(p, 0.0), std::invalid_argument);
  EXPECT_THROW(benjamini_hochberg({0.5, 1.5}, 0.1), std::invalid_argument);
  EXPECT_THROW(benjamini_hochberg({0.5, NAN}, 0.1), std::invalid_argument);
}

} // namespace
} // namespace signopt::diag
