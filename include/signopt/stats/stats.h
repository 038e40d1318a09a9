// signopt's one statistics unit, used by the experiment reports (report/), the gradient-noise diagnostics
// (diag/) and the theory lab: summaries over seeds, the Student t and normal distributions and the
// regularized incomplete beta function (Boost.Math's, not hand-written special functions), Welch's and the
// paired t-test, and the Holm and Benjamini-Hochberg corrections for multiple comparisons. Torch-free.
#pragma once

#include <cstdint>
#include <vector>

namespace signopt::stats {

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

/// The regularized incomplete beta function I_x(a, b) for finite a, b > 0 and x in [0, 1]
/// (boost::math::ibeta). Throws std::invalid_argument outside the domain.
double regularized_incomplete_beta(double a, double b, double x);

/// P(T <= t) for Student's t distribution with `df` > 0 degrees of freedom (df need not be whole,
/// as in Welch's test).
double student_t_cdf(double t, double df);

/// The two-sided tail P(|T| >= |t|), computed as a complement (no cancellation of 1 - cdf). NaN for a NaN
/// t, 0 for an infinite one; std::invalid_argument unless df > 0.
double student_t_two_sided_p(double t, double df);

/// The p-quantile of Student's t with `df` > 0 degrees of freedom, p in (0, 1) (std::invalid_argument
/// otherwise): the critical value of a one-sided test at level 1 - p.
double student_t_quantile(double p, double df);

/// The two-sided tail P(|Z| >= |z|) of the standard normal, erfc(|z| / sqrt 2). NaN for a NaN z.
double normal_two_sided_p(double z);

/// Welch's t-test of mean(a) == mean(b) without assuming equal variances.
struct WelchResult {
  double t = 0; ///< (mean(a) - mean(b)) / sqrt(s_a^2/n_a + s_b^2/n_b).
  double df = 0; ///< The Welch-Satterthwaite degrees of freedom.
  double p = 0; ///< Two-sided p-value.
  bool defined = false; ///< False when n < 2 in a sample or both variances are 0 (t undefined); then t, df, p are NaN.
};

/// Welch's two-sample t-test; the same numbers as scipy.stats.ttest_ind(a, b, equal_var=False).
WelchResult welch_t_test(const std::vector<double>& a, const std::vector<double>& b);

/// The paired t-test of mean(a[i] - b[i]) == 0 (a[i] and b[i] measured on the same unit: here two
/// configurations trained with the same seed).
struct PairedResult {
  int64_t n = 0; ///< The number of pairs.
  double mean_difference = 0; ///< mean(a[i] - b[i]); NaN for n = 0.
  double std_difference = 0; ///< Sample standard deviation of the differences (n - 1); NaN for n < 2.
  /// mean_difference / (std_difference / sqrt(n)); NaN for n < 2 or when every difference is 0, +-inf when
  /// every difference is the same non-zero number.
  double t = 0;
  double df = 0; ///< n - 1; NaN for n < 2.
  /// Two-sided p-value (Student t with n - 1 degrees of freedom). Where t has no distribution the
  /// convention is: p = 1 for n < 2 or all differences 0 (no evidence of a difference), p = 0 when all
  /// differences are equal and non-zero (the same difference on every pair, with no noise to weigh).
  double p = 1;
};

/// The paired t-test over (a[i], b[i]); the same t, df and p as scipy.stats.ttest_rel(a, b) wherever the
/// differences vary. Throws std::invalid_argument when a and b differ in length or hold a non-finite value.
PairedResult paired_t_test(const std::vector<double>& a, const std::vector<double>& b);

/// Holm's step-down adjustment of `p_values` for multiple comparisons (controls the family-wise error
/// rate): with the m non-NaN values in ascending order p_(1) <= ... <= p_(m), the adjusted
/// p_(i) = max over j <= i of min(1, (m - j + 1) p_(j)). Returned in the input order; NaN entries are
/// not counted in m and stay NaN. Throws std::invalid_argument for a value outside [0, 1].
std::vector<double> holm_adjusted(const std::vector<double>& p_values);

/// Benjamini-Hochberg step-up procedure at false-discovery rate q in (0, 1]: with p-values sorted
/// p_(1) <= ... <= p_(m), rejects the hypotheses of the k smallest, k = max{i : p_(i) <= i q / m}; one flag
/// per input, in input order. Throws std::invalid_argument for q outside (0, 1] or a p-value outside [0, 1] (NaN
/// included).
std::vector<bool> benjamini_hochberg(const std::vector<double>& p_values, double q);

/// BH-adjusted p-values (q-values): min over j >= i of m p_(j) / j, capped at 1, in input order;
/// benjamini_hochberg(p, q)[i] == (adjusted[i] <= q).
std::vector<double> benjamini_hochberg_adjusted(const std::vector<double>& p_values);

} // namespace signopt::stats
