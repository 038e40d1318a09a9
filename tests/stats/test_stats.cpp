// The statistics unit (src/stats) against scipy's values and hand-worked paired tests and Holm corrections.
#include <signopt/stats/stats.h>

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

using namespace signopt::stats;

// Reference values: scipy 1.10.1 / numpy 1.24.2 (Debian 12's python3-scipy), computed offline with
//   scipy.special.betainc(a, b, x), scipy.stats.t.cdf(t, df), 2 * scipy.stats.t.sf(|t|, df),
//   scipy.stats.ttest_ind(a, b, equal_var=False), numpy.mean / numpy.std(ddof=1),
// and pasted here; betainc(50, 0.5, 0.3) was confirmed with mpmath (40 digits).
TEST(ReportStats, IncompleteBetaMatchesScipy) {
  struct Case {
    double a, b, x, expected;
  };
  const Case cases[] = {
      {2, 3, 0.4, 0.5247999999999999},
      {0.5, 0.5, 0.2, 0.29516723530086664},
      {10, 0.5, 0.9, 0.15164090963470997},
      {1.5, 0.5, 0.999, 0.9597433418849682},
      {50, 0.5, 0.3, 6.800825885173812e-28},
      {0.5, 20, 0.01, 0.4713699354850156},
  };
  for (const auto& c : cases)
    EXPECT_NEAR(regularized_incomplete_beta(c.a, c.b, c.x), c.expected, 1e-12 * c.expected)
        << "I_" << c.x << "(" << c.a << ", " << c.b << ")";
  EXPECT_EQ(regularized_incomplete_beta(2, 3, 0), 0);
  EXPECT_EQ(regularized_incomplete_beta(2, 3, 1), 1);
  EXPECT_THROW(regularized_incomplete_beta(0, 1, 0.5), std::invalid_argument);
  EXPECT_THROW(regularized_incomplete_beta(1, 1, 1.5), std::invalid_argument);
}

TEST(ReportStats, StudentTMatchesScipy) {
  struct Case {
    double t, df, cdf, two_sided;
  };
  const Case cases[] = {
      {0, 3, 0.5, 1.0},
      {1.5, 2, 0.8638034375544996, 0.27239312489100087},
      {-2.0, 4.5, 0.05412895359056247, 0.10825790718112493},
      {3.0, 10, 0.9933281724887152, 0.013343655022569565},
      {10, 1, 0.9682744825694464, 0.06345103486110712},
      {-40, 2.7, 3.997819945096105e-05, 7.99563989019221e-05},
      {0.1, 1000, 0.539817815488198, 0.9203643690236042},
      {-6.5, 3.3, 0.0027436963257884877, 0.005487392651576975},
  };
  for (const auto& c : cases) {
    EXPECT_NEAR(student_t_cdf(c.t, c.df), c.cdf, 1e-12 * std::max(c.cdf, 1e-3)) << "t=" << c.t << " df=" << c.df;
    EXPECT_NEAR(student_t_two_sided_p(c.t, c.df), c.two_sided, 1e-11 * c.two_sided) << "t=" << c.t << " df=" << c.df;
  }
  // df = 1 is the Cauchy distribution: cdf = 1/2 + atan(t)/pi.
  EXPECT_NEAR(student_t_cdf(2.5, 1), 0.5 + std::atan(2.5) / M_PI, 1e-14);
  EXPECT_THROW(student_t_cdf(1, 0), std::invalid_argument);
}

TEST(ReportStats, SummaryAndWelchMatchScipy) {
  const std::vector<double> a = {90.12, 90.55, 89.87}, b = {91.2, 91.05, 91.61};
  const auto s = summarize(a);
  EXPECT_EQ(s.n, 3);
  EXPECT_NEAR(s.mean, 90.18, 1e-12);
  EXPECT_NEAR(s.std, 0.3439476704383928, 1e-12);
  EXPECT_EQ(s.min, 89.87);
  EXPECT_EQ(s.max, 90.55);
  struct Case {
    std::vector<double> a, b;
    double t, df, p;
  };
  const Case cases[] = {
      {a, b, -4.261315974971881, 3.888471024137096, 0.013852774011873016},
      {{1, 2, 3, 4, 5}, {2.5, 3.1}, 0.26037782196164794, 4.930594900849859, 0.8050957935715624},
      {{90.0, 90.1, 89.9}, {95.0, 95.2, 94.9, 95.1}, -58.312377188154265, 4.959183673469426, 3.153123891343997e-08},
  };
  for (const auto& c : cases) {
    const auto w = welch_t_test(c.a, c.b);
    ASSERT_TRUE(w.defined);
    EXPECT_NEAR(w.t, c.t, 1e-10 * std::fabs(c.t));
    EXPECT_NEAR(w.df, c.df, 1e-10 * c.df);
    EXPECT_NEAR(w.p, c.p, 1e-9 * c.p);
  }
  // Undefined: a single run, or no spread at all.
  EXPECT_FALSE(welch_t_test({1.0}, {1.0, 2.0}).defined);
  EXPECT_FALSE(welch_t_test({1.0, 1.0}, {2.0, 2.0}).defined);
  EXPECT_TRUE(std::isnan(summarize({5.0}).std));
  EXPECT_THROW(summarize({1.0, NAN}), std::invalid_argument);
}

// Hand-worked: differences {1, 2, 3} have mean 2 and sd 1, so t = 2 / (1 / sqrt(3)) = 2 sqrt(3) with df 2,
// where the two-sided tail is 1 - t / sqrt(t^2 + 2) = 1 - 2 sqrt(3) / sqrt(14) = 0.0741799002274485; the other
// references are closed forms too (df 3: 1 - (2/pi)(atan(u) + u / (1 + u^2)), u = t / sqrt(3); df 4:
// 1 - sqrt(x)(3 - x) / 2, x = t^2 / (t^2 + 4)). Every p was cross-checked by numerical integration of the
// Student t density with mpmath 1.3.0 (40 digits), independently of signopt's incomplete beta:
//   2 * mpmath.quad(lambda x: gamma((df+1)/2) / (sqrt(df*pi) * gamma(df/2)) * (1 + x*x/df)**(-(df+1)/2),
//                   [abs(t), inf])
// and the accuracy-like case's mean, sd and t were computed there from the doubles' exact values.
TEST(ReportStats, PairedTTestByHand) {
  struct Case {
    std::vector<double> a, b;
    double mean, sd, t, df, p;
  };
  const Case cases[] = {
      {{1, 2, 3}, {0, 0, 0}, 2, 1, 3.4641016151377546, 2, 0.074179900227448538},
      {{0, 0, 0, 0}, {1, 3, 2, 6}, -3, 2.1602468994692867, -2.7774602993176544, 3, 0.069136869264428747},
      {{91, 93, 92, 94, 90},
       {90, 91, 89, 92, 88},
       2,
       0.70710678118654752,
       6.3245553203367587,
       4,
       0.0031982021523353066},
      {{91.2, 91.05, 91.61},
       {90.12, 90.55, 89.87},
       1.1066666666666644,
       0.62042995844279646,
       3.0894750771231214,
       2,
       0.090735090159293916},
  };
  for (const auto& c : cases) {
    const auto r = paired_t_test(c.a, c.b);
    EXPECT_EQ(r.n, static_cast<int64_t>(c.a.size()));
    EXPECT_NEAR(r.mean_difference, c.mean, 1e-12 * std::fabs(c.mean));
    EXPECT_NEAR(r.std_difference, c.sd, 1e-12 * c.sd);
    EXPECT_NEAR(r.t, c.t, 1e-10 * std::fabs(c.t));
    EXPECT_EQ(r.df, c.df);
    EXPECT_NEAR(r.p, c.p, 1e-9 * c.p) << "t=" << c.t << " df=" << c.df;
  }
  // Where t has no distribution: no pair or one pair, and all differences zero, give p = 1; the same
  // non-zero difference on every pair gives p = 0 (t = +-inf).
  const auto none = paired_t_test({}, {});
  EXPECT_EQ(none.n, 0);
  EXPECT_EQ(none.p, 1);
  EXPECT_TRUE(std::isnan(none.mean_difference));
  const auto one = paired_t_test({91.5}, {90.0});
  EXPECT_EQ(one.n, 1);
  EXPECT_EQ(one.mean_difference, 1.5);
  EXPECT_EQ(one.p, 1);
  EXPECT_TRUE(std::isnan(one.t));
  EXPECT_TRUE(std::isnan(one.df));
  EXPECT_TRUE(std::isnan(one.std_difference));
  const auto zero = paired_t_test({2, 3, 4}, {2, 3, 4});
  EXPECT_EQ(zero.p, 1);
  EXPECT_TRUE(std::isnan(zero.t));
  EXPECT_EQ(zero.df, 2);
  EXPECT_EQ(zero.mean_difference, 0);
  EXPECT_EQ(zero.std_difference, 0);
  const auto up = paired_t_test({2, 3, 4}, {1, 2, 3});
  EXPECT_EQ(up.p, 0);
  EXPECT_EQ(up.t, INFINITY);
  EXPECT_EQ(up.mean_difference, 1);
  EXPECT_EQ(up.std_difference, 0);
  const auto down = paired_t_test({0.5, 1.5}, {1, 2});
  EXPECT_EQ(down.p, 0);
  EXPECT_EQ(down.t, -INFINITY);
  EXPECT_THROW(paired_t_test({1, 2}, {1}), std::invalid_argument);
  EXPECT_THROW(paired_t_test({1, NAN}, {1, 2}), std::invalid_argument);
}

// Holm by hand: {0.01, 0.04, 0.03, 0.005} sorted is 0.005, 0.01, 0.03, 0.04; times 4, 3, 2, 1 that is
// 0.02, 0.03, 0.06, 0.04, and the running max makes the last 0.06.
TEST(ReportStats, HolmAdjustment) {
  auto expect_near = [](const std::vector<double>& got, const std::vector<double>& expected) {
    ASSERT_EQ(got.size(), expected.size());
    for (size_t i = 0; i < got.size(); ++i) {
      if (std::isnan(expected[i]))
        EXPECT_TRUE(std::isnan(got[i])) << i;
      else
        EXPECT_NEAR(got[i], expected[i], 1e-15) << i;
    }
  };
  expect_near(holm_adjusted({0.01, 0.04, 0.03, 0.005}), {0.03, 0.06, 0.06, 0.02});
  expect_near(holm_adjusted({0.02, NAN, 0.5}), {0.04, NAN, 0.5}); // m = 2: the NaN is not a comparison
  expect_near(holm_adjusted({0.6, 0.7}), {1, 1}); // capped at 1
  expect_near(holm_adjusted({0.01, 0.01, 0.2}), {0.03, 0.03, 0.2}); // ties get the same value
  expect_near(holm_adjusted({0.3}), {0.3});
  EXPECT_TRUE(holm_adjusted({}).empty());
  EXPECT_THROW(holm_adjusted({0.1, 1.5}), std::invalid_argument);
  EXPECT_THROW(holm_adjusted({-0.1}), std::invalid_argument);
}
