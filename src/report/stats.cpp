// Sample summaries, the Student t distribution, Welch's and the paired t-test and Holm's correction,
// written out so that reports do not depend on a statistics library (checked against scipy and mpmath
// in tests/test_report.cpp).
#include <signopt/report/stats.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace signopt::report {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The continued fraction of I_x(a, b) (Numerical Recipes' betacf, evaluated with the modified Lentz
// method); converges quickly for x < (a + 1) / (a + b + 2).
double beta_continued_fraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300;
  constexpr double kEps = 1e-16;
  const double qab = a + b, qap = a + 1, qam = a - 1;
  double c = 1, d = 1 - qab * x / qap;
  if (std::fabs(d) < kTiny)
    d = kTiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= 10000; ++m) {
    const double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < kTiny)
      d = kTiny;
    c = 1 + aa / c;
    if (std::fabs(c) < kTiny)
      c = kTiny;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < kTiny)
      d = kTiny;
    c = 1 + aa / c;
    if (std::fabs(c) < kTiny)
      c = kTiny;
    d = 1 / d;
    const double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1) < kEps)
      return h;
  }
  return h; // 10000 iterations are far more than any (a, b) of a t-test needs
}

// I_x(a, b) given both x and y = 1 - x, so that callers can pass a y computed without cancellation.
double incomplete_beta(double a, double b, double x, double y) {
  if (x <= 0)
    return 0;
  if (y <= 0)
    return 1;
  const double log_front = std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log(y);
  const double front = std::exp(log_front);
  if (x < (a + 1) / (a + b + 2))
    return front * beta_continued_fraction(a, b, x) / a;
  return 1 - front * beta_continued_fraction(b, a, y) / b;
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
  return incomplete_beta(a, b, x, 1 - x);
}

double student_t_two_sided_p(double t, double df) {
  if (!(df > 0))
    throw std::invalid_argument("student_t: degrees of freedom must be > 0, got " + std::to_string(df));
  if (std::isnan(t))
    return kNaN;
  if (std::isinf(t))
    return 0;
  // P(|T| >= |t|) = I_{df/(df+t^2)}(df/2, 1/2); 1 - x = t^2/(df+t^2) is formed directly.
  const double t2 = t * t;
  return incomplete_beta(df / 2, 0.5, df / (df + t2), t2 / (df + t2));
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

} // namespace signopt::report
