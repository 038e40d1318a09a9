// signopt's statistics unit: the distributions are Boost.Math's (students_t, normal, ibeta); the tests
// around them (checked against scipy in tests/test_report.cpp and tests/test_noise_stats.cpp) are ours.
#include <signopt/stats/stats.h>

#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>
#include <boost/math/special_functions/beta.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>

namespace signopt::stats {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void check_df(double df, const char* who) {
  if (!(df > 0) || !std::isfinite(df))
    throw std::invalid_argument(
        std::string(who) + ": degrees of freedom must be finite and > 0, got " + std::to_string(df));
}

void check_p_values(const std::vector<double>& p, const char* who) {
  for (size_t i = 0; i < p.size(); ++i)
    if (!(p[i] >= 0 && p[i] <= 1))
      throw std::invalid_argument(
          std::string(who) + ": p-value " + std::to_string(i) + " is " + std::to_string(p[i]) + ", must lie in [0, 1]");
}

} // namespace

SampleSummary summarize(const std::vector<double>& values) {
  SampleSummary s;
  s.n = static_cast<int64_t>(values.size());
  if (values.empty()) {
    s.mean = s.std = s.min = s.max = kNaN;
    return s;
  }
  double sum = 0;
  s.min = s.max = values.front();
  for (const double v : values) {
    if (!std::isfinite(v))
      throw std::invalid_argument("summarize: non-finite value " + std::to_string(v));
    sum += v;
    s.min = std::min(s.min, v);
    s.max = std::max(s.max, v);
  }
  s.mean = sum / static_cast<double>(s.n);
  if (s.n < 2) {
    s.std = kNaN;
    return s;
  }
  // Two passes: the deviations from the mean, not sum(x^2) - n mean^2 (which cancels badly for
  // accuracies near 90 with spreads of 0.1).
  double squares = 0;
  for (const double v : values)
    squares += (v - s.mean) * (v - s.mean);
  s.std = std::sqrt(squares / static_cast<double>(s.n - 1));
  return s;
}

double regularized_incomplete_beta(double a, double b, double x) {
  if (!(a > 0) || !(b > 0) || !std::isfinite(a) || !std::isfinite(b))
    throw std::invalid_argument(
        "regularized_incomplete_beta: a and b must be finite and > 0, got a=" + std::to_string(a) +
        ", b=" + std::to_string(b));
  if (!(x >= 0 && x <= 1))
    throw std::invalid_argument("regularized_incomplete_beta: x must be in [0, 1], got " + std::to_string(x));
  return boost::math::ibeta(a, b, x);
}

double student_t_two_sided_p(double t, double df) {
  check_df(df, "student_t");
  if (std::isnan(t))
    return kNaN;
  if (std::isinf(t))
    return 0;
  return 2 * boost::math::cdf(boost::math::complement(boost::math::students_t(df), std::fabs(t)));
}

double student_t_quantile(double p, double df) {
  check_df(df, "student_t_quantile");
  if (!(p > 0 && p < 1))
    throw std::invalid_argument("student_t_quantile: p must lie in (0, 1), got " + std::to_string(p));
  return boost::math::quantile(boost::math::students_t(df), p);
}

double normal_two_sided_p(double z) {
  if (std::isnan(z))
    return kNaN;
  if (std::isinf(z))
    return 0;
  return 2 * boost::math::cdf(boost::math::complement(boost::math::normal(), std::fabs(z)));
}

double student_t_cdf(double t, double df) {
  const double tail = 0.5 * student_t_two_sided_p(t, df);
  if (std::isnan(tail))
    return kNaN;
  return t > 0 ? 1 - tail : tail;
}

WelchResult welch_t_test(const std::vector<double>& a, const std::vector<double>& b) {
  WelchResult r;
  r.t = r.df = r.p = kNaN;
  if (a.size() < 2 || b.size() < 2)
    return r;
  const SampleSummary sa = summarize(a), sb = summarize(b);
  const double va = sa.std * sa.std / static_cast<double>(sa.n);
  const double vb = sb.std * sb.std / static_cast<double>(sb.n);
  if (va + vb <= 0)
    return r;
  r.t = (sa.mean - sb.mean) / std::sqrt(va + vb);
  r.df = (va + vb) * (va + vb) / (va * va / static_cast<double>(sa.n - 1) + vb * vb / static_cast<double>(sb.n - 1));
  r.p = student_t_two_sided_p(r.t, r.df);
  r.defined = true;
  return r;
}

PairedResult paired_t_test(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size())
    throw std::invalid_argument(
        "paired_t_test: the samples must pair up, got " + std::to_string(a.size()) + " and " +
        std::to_string(b.size()) + " values");
  std::vector<double> d(a.size());
  for (size_t i = 0; i < d.size(); ++i)
    d[i] = a[i] - b[i];
  const SampleSummary s = summarize(d);
  PairedResult r;
  r.n = s.n;
  r.mean_difference = s.mean;
  r.std_difference = s.std;
  r.t = r.df = kNaN;
  r.p = 1;
  if (r.n < 2)
    return r;
  r.df = static_cast<double>(r.n - 1);
  // Tested on the values, not on std == 0: the mean of equal values can differ from them in the last bit.
  if (std::all_of(d.begin(), d.end(), [&](double x) { return x == d.front(); })) {
    r.mean_difference = d.front();
    r.std_difference = 0;
    if (d.front() != 0) {
      r.t = d.front() > 0 ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
      r.p = 0;
    }
    return r;
  }
  r.t = s.mean / (s.std / std::sqrt(static_cast<double>(s.n)));
  r.p = student_t_two_sided_p(r.t, r.df);
  return r;
}

std::vector<double> holm_adjusted(const std::vector<double>& p_values) {
  std::vector<size_t> order;
  for (size_t i = 0; i < p_values.size(); ++i) {
    const double p = p_values[i];
    if (std::isnan(p))
      continue;
    if (!(p >= 0 && p <= 1))
      throw std::invalid_argument(
          "holm_adjusted: p-value " + std::to_string(i) + " is " + std::to_string(p) + ", must lie in [0, 1]");
    order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p_values[a] < p_values[b]; });
  const size_t m = order.size();
  std::vector<double> adjusted(p_values.size(), kNaN);
  double running = 0; // the max over j <= i keeps the adjusted values in the order of the raw ones
  for (size_t j = 0; j < m; ++j) {
    running = std::max(running, std::min(1.0, static_cast<double>(m - j) * p_values[order[j]]));
    adjusted[order[j]] = running;
  }
  return adjusted;
}

std::vector<double> benjamini_hochberg_adjusted(const std::vector<double>& p) {
  check_p_values(p, "benjamini_hochberg_adjusted");
  const size_t m = p.size();
  std::vector<size_t> order(m);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
  std::vector<double> adjusted(m);
  double running = 1.0;
  for (size_t r = m; r-- > 0;) {
    running = std::min(running, p[order[r]] * static_cast<double>(m) / static_cast<double>(r + 1));
    adjusted[order[r]] = running;
  }
  return adjusted;
}

std::vector<bool> benjamini_hochberg(const std::vector<double>& p, double q) {
  if (!(q > 0 && q <= 1))
    throw std::invalid_argument("benjamini_hochberg: FDR level q must lie in (0, 1], got " + std::to_string(q));
  check_p_values(p, "benjamini_hochberg");
  const size_t m = p.size();
  // Step-up on the raw p-values (not via the adjusted ones, which round differently at the boundary).
  std::vector<size_t> order(m);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
  size_t k = 0;
  for (size_t r = 0; r < m; ++r)
    if (p[order[r]] <= static_cast<double>(r + 1) * q / static_cast<double>(m))
      k = r + 1;
  std::vector<bool> rejected(m, false);
  for (size_t r = 0; r < k; ++r)
    rejected[order[r]] = true;
  return rejected;
}

} // namespace signopt::stats
