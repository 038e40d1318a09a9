// Statistics for experiment reports: summaries over seeds, the Student t distribution (through the
// regularized incomplete beta function) and Welch's unequal-variance t-test.
#pragma once

#include <cstdint>
#include <vector>

namespace signopt::report {

/// n, mean, sample standard deviation (n - 1 in the denominator), min and max of a sample.
/// std is NaN for n < 2; mean, min and max are NaN for n = 0.
struct SampleSummary {
  int64_t n = 0;
  double mean = 0;
  double std = 0;
  double min = 0;
  double max = 0;
};

/// Summarizes `values` (non-finite values are an error: std::invalid_argument).
SampleSummary summarize(const std::vector<double>& values);

/// The regularized incomplete beta function I_x(a, b) for a, b > 0 and x in [0, 1], by Lentz's
/// continued fraction (relative accuracy ~1e-14). Throws std::invalid_argument outside the domain.
double regularized_incomplete_beta(double a, double b, double x);

/// P(T <= t) for Student's t distribution with `df` > 0 degrees of freedom (df need not be whole,
/// as in Welch's test).
double student_t_cdf(double t, double df);

/// The two-sided tail P(|T| >= |t|), computed without the cancellation of 1 - cdf.
double student_t_two_sided_p(double t, double df);

/// Welch's t-test of mean(a) == mean(b) without assuming equal variances.
struct WelchResult {
  double t = 0; ///< (mean(a) - mean(b)) / sqrt(s_a^2/n_a + s_b^2/n_b).
  double df = 0; ///< The Welch-Satterthwaite degrees of freedom.
  double p = 0; ///< Two-sided p-value.
  bool defined = false; ///< False when n < 2 in a sample or both variances are 0 (t undefined); then t, df, p are NaN.
};

/// Welch's two-sample t-test; the same numbers as scipy.stats.ttest_ind(a, b, equal_var=False).
WelchResult welch_t_test(const std::vector<double>& a, const std::vector<double>& b);

} // namespace signopt::report
