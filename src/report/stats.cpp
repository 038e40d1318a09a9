// Sample summaries, the Student t distribution and Welch's t-test, written out so that reports do
// not depend on a statistics library (checked against scipy in tests/test_report.cpp).
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

} // namespace signopt::report
